"""OCR path through the service: seconds per scanned page, against the bare `tesseract` command on
the same page images (same language, one process), and throughput with 1 and 2 worker processes.

Starts its own stack (redis-server, S3, a Celery worker, the API) with `gongkai.stack.Stack`. The
scan is `../shared/samples/huaian_2024.truth.json` rendered with `render_pdf.py --seed 3` and
scanned with `make_scan.py --dpi 300`; the service renders its pages at 300 dpi (pypdfium2, grey),
and the bare command reads exactly those renders, written as PNG:
  - "bare, 300 dpi in the PNG": `tesseract PAGE.png - -l chi_sim` (the file says 300 dpi);
  - "bare, no dpi in the PNG": the same pixels without a resolution, as the pipeline hands them
    to Tesseract (which then estimates the resolution itself: a different, cheaper run).
The overhead ratio is service s/page over the first (the pre-existing baseline of RESULTS.md). The
bare figures are the median of --rounds passes over the pages; the service's, the median of as many
sequential jobs after a first one that loads the models. Then the same PNG files bare reads are
uploaded as image documents (one job per page): the same page images on both sides, each decoding
the PNG itself; the service's figure is the median of --rounds such passes.

    .venv/bin/python bench/bench_ocr_service.py [--jobs 4] [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import _common
import pypdfium2 as pdfium
from _client import make_client


def page_images(pdf: Path, pages: list[int], folder: Path) -> list[tuple[Path, Path]]:
    """(png with 300 dpi, png without dpi) per page, rendered as extract/pdf.py renders for OCR."""
    doc = pdfium.PdfDocument(str(pdf))
    out = []
    for number in pages:
        image = doc[number - 1].render(scale=300 / 72, grayscale=True).to_pil()
        with_dpi, without = folder / f"p{number}-300dpi.png", folder / f"p{number}-nodpi.png"
        image.save(with_dpi, dpi=(300, 300))
        image.save(without)
        out.append((with_dpi, without))
    return out


def one_page_pdf(pdf: Path, number: int, out: Path) -> Path:
    src = pdfium.PdfDocument(str(pdf))
    dst = pdfium.PdfDocument.new()
    dst.import_pages(src, [number - 1])
    buffer = io.BytesIO()
    dst.save(buffer)
    out.write_bytes(buffer.getvalue())
    return out


def npages_of(pdf: Path) -> int:
    return len(pdfium.PdfDocument(str(pdf)))


def bare(pngs: list[Path], rounds: int) -> tuple[float, float]:
    """Wall and CPU seconds per page of `tesseract PNG - -l chi_sim`, one page after the other: the
    median of `rounds` passes over the pages (the machine is shared; one pass can catch a busy spell)."""
    passes: list[tuple[float, float]] = []
    for _ in range(rounds):
        wall = cpu = 0.0
        for png in pngs:
            before = os.times()
            t = time.perf_counter()
            subprocess.run(["tesseract", str(png), "-", "-l", "chi_sim"], check=True, capture_output=True)
            wall += time.perf_counter() - t
            after = os.times()
            cpu += after.children_user + after.children_system - before.children_user - before.children_system
        passes.append((wall / len(pngs), cpu / len(pngs)))
    return statistics.median(w for w, _ in passes), statistics.median(c for _, c in passes)


def ocr_ran(status: dict[str, object], npages: int) -> None:
    """Every page went through the pipeline (a lone page of a report may still fail `not_a_report`)."""
    progress = status["progress"]
    assert isinstance(progress, dict) and progress["pages_done"] == npages, status
    error = status["error"]
    assert status["state"] == "succeeded" or (isinstance(error, dict) and error["code"] == "not_a_report"), (
        status
    )


def run_time(status: dict[str, object]) -> float:
    started, finished = status["started"], status["finished"]
    assert isinstance(started, str) and isinstance(finished, str), status
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=4, help="scanned reports per throughput run")
    ap.add_argument(
        "--rounds", type=int, default=3, help="passes of bare tesseract, and warm sequential service jobs"
    )
    ap.add_argument("--smoke", action="store_true", help="one page, one job per run (a quick check)")
    args = ap.parse_args(argv)
    _common.machine("before")
    rows: list[tuple[str, str]] = []

    def row(what: str, value: str) -> None:
        rows.append((what, value))
        print(f"  {what:<62} {value}", flush=True)

    with tempfile.TemporaryDirectory(prefix="gongkai-ocrbench-") as tmp:
        folder = Path(tmp)
        scan = _common.scanned_pdf(folder)
        if args.smoke:
            scan = one_page_pdf(scan, npages_of(scan), folder / "one-page.pdf")  # the shortest page
            args.jobs = 1
        npages = npages_of(scan)
        pngs = page_images(scan, list(range(1, npages + 1)), folder)
        rounds = 1 if args.smoke else args.rounds
        b300_wall, b300_cpu = bare([p for p, _ in pngs], rounds)
        bno_wall, bno_cpu = bare([p for _, p in pngs], rounds)
        row(f"bare `tesseract PNG - -l chi_sim`, 300 dpi in the PNG ({npages} pages): s/page",
            f"{b300_wall:.2f} (CPU {b300_cpu:.2f})")  # fmt: skip
        row("bare, the same pixels with no dpi in the PNG: s/page", f"{bno_wall:.2f} (CPU {bno_cpu:.2f})")
        data = scan.read_bytes()
        with _common.running_stack(worker_concurrency=1) as (stack, _):
            client = make_client(stack.settings)

            def submit(n: int) -> list[str]:
                files = [("files", (f"scan{i}.pdf", data)) for i in range(n)]
                response = client.post("/v1/documents", files=files)
                assert response.status_code == 202, response.text
                return [j["id"] for j in response.json()["jobs"]]

            # Sequential jobs on one worker process: the first one loads the OCR models.
            per_page, cpu_page = [], []
            worker = stack.pid("worker")
            assert worker is not None
            for _ in range(1 if args.smoke else args.rounds + 1):
                cpu = _common.tree_cpu(worker)
                (status,) = _common.wait_jobs(client, submit(1))
                cpu_page.append((_common.tree_cpu(worker) - cpu) / npages)
                ocr_ran(status, npages)
                per_page.append(run_time(status) / npages)
            warm = statistics.median(per_page[1:] or per_page)
            warm_cpu = statistics.median(cpu_page[1:] or cpu_page)
            row("service, 1 worker process, one job at a time: s/page (first job)",
                f"{warm:.2f} ({per_page[0]:.2f})")  # fmt: skip
            row("  same: worker CPU s/page (first job)", f"{warm_cpu:.2f} ({cpu_page[0]:.2f})")
            row("OCR overhead: service s/page / bare (300 dpi PNG) s/page", f"{warm / b300_wall:.2f}×")
            row("  same in CPU time (robust to the machine's load)", f"{warm_cpu / b300_cpu:.2f}×")
            row("same against bare with no dpi in the PNG: wall, CPU",
                f"{warm / bno_wall:.2f}×, {warm_cpu / bno_cpu:.2f}×")  # fmt: skip

            # The same page images both ways: the 300-dpi PNGs bare reads, uploaded as image
            # documents (one job per page, one after the other on the one worker process).
            image_page, image_cpu = [], []
            for _ in range(1 if args.smoke else args.rounds):
                cpu = _common.tree_cpu(worker)
                files = [("files", (png.name, png.read_bytes())) for png, _ in pngs]
                response = client.post("/v1/documents", files=files)
                assert response.status_code == 202, response.text
                statuses = _common.wait_jobs(client, [j["id"] for j in response.json()["jobs"]])
                image_cpu.append((_common.tree_cpu(worker) - cpu) / npages)
                for status in statuses:
                    ocr_ran(status, 1)
                image_page.append(sum(run_time(s) for s in statuses) / npages)
            img_wall, img_cpu = statistics.median(image_page), statistics.median(image_cpu)
            row("service, the same PNG page images uploaded as images: s/page (worker CPU)",
                f"{img_wall:.2f} ({img_cpu:.2f})")  # fmt: skip
            row("OCR overhead on the same page images: service / bare (300 dpi PNG), wall, CPU",
                f"{img_wall / b300_wall:.2f}×, {img_cpu / b300_cpu:.2f}×")  # fmt: skip

            rates = {}
            for concurrency in (1, 2):
                if concurrency != stack.settings.worker_concurrency:
                    _common.restart_worker(stack, concurrency)
                if not args.smoke:  # one warm-up job per process: both runs measure warm engines
                    _common.wait_jobs(client, submit(concurrency))
                t = time.perf_counter()
                statuses = _common.wait_jobs(client, submit(args.jobs), interval=0.1)
                wall = time.perf_counter() - t
                for status in statuses:
                    ocr_ran(status, npages)
                ok = sum(1 for s in statuses if s["state"] == "succeeded")
                rates[concurrency] = args.jobs * npages / wall
                row(f"throughput, {concurrency} worker process(es), {args.jobs} jobs × {npages} pages: "
                    "pages/s", f"{rates[concurrency]:.3f} ({ok}/{args.jobs} ok, {wall:.1f} s)")  # fmt: skip
            row("scaling 2 processes / 1", f"{rates[2] / rates[1]:.2f}×")
    _common.machine("after")
    print("\n| measure | value |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
