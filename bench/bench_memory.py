"""Memory: peak RSS of the API and of the worker (each process tree, and its largest single process)
over a batch of large scans; then the API's peak RSS while it ingests a ~1 GB archive streamed
from disk (issue 5: it must stay flat, whatever the archive's size).

Starts its own stack (redis-server, S3, a Celery worker with 2 processes, the API) with
`gongkai.stack.Stack`, and samples the stack's pids and their children with psutil every 0.1 s.
The scans are the huaian_2024 truth rendered with `render_pdf.py --seed S` and scanned with
`make_scan.py --dpi 300` (A4, 300 dpi). The archive is a ZIP of incompressible members
(os.urandom, stored) written to a temp file at bench time; the worker is stopped while it is
uploaded, so only the API's ingestion is measured.

    .venv/bin/python bench/bench_memory.py [--scans 4] [--archive-mb 1024] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import zipfile
from pathlib import Path

import _common
from _client import make_client

MB = 1024 * 1024


def make_archive(path: Path, total_mb: int, member_mb: int = 32) -> int:
    """A ZIP of random (incompressible) members, stored, written in 1 MB chunks; its size in bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        left, i = total_mb, 0
        while left > 0:
            size = min(member_mb, left)
            with zf.open(f"noise/{i:04d}.bin", "w", force_zip64=True) as member:
                for _ in range(size):
                    member.write(os.urandom(MB))
            left -= size
            i += 1
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scans", type=int, default=4, help="scanned reports in the batch")
    ap.add_argument("--archive-mb", type=int, default=1024, help="size of the archive to ingest")
    ap.add_argument("--smoke", action="store_true", help="1 one-page scan, a 16 MB archive")
    args = ap.parse_args(argv)
    if args.smoke:
        args.scans, args.archive_mb = 1, 16
    _common.machine("before")
    rows: list[tuple[str, str]] = []

    def row(what: str, value: str) -> None:
        rows.append((what, value))
        print(f"  {what:<66} {value}", flush=True)

    with tempfile.TemporaryDirectory(prefix="gongkai-membench-") as tmp:
        folder = Path(tmp)
        scans = [_common.scanned_pdf(folder, seed=3 + i) for i in range(min(args.scans, 2))]
        if args.smoke:
            from bench_ocr_service import npages_of, one_page_pdf

            scans = [one_page_pdf(scans[0], npages_of(scans[0]), folder / "one-page.pdf")]
        files = [(f"scan{i}.pdf", scans[i % len(scans)].read_bytes()) for i in range(args.scans)]
        size_scans = sum(len(d) for _, d in files)
        with _common.running_stack(worker_concurrency=2) as (stack, _):
            client = make_client(stack.settings)
            with _common.RssSampler(stack) as rss:
                response = client.post("/v1/batches", files=[("files", f) for f in files])
                assert response.status_code == 202, response.text
                batch_id = response.json()["id"]
                while not client.get(f"/v1/batches/{batch_id}", params={"limit": 0}).json()["finished"]:
                    time.sleep(0.5)
            status = client.get(f"/v1/batches/{batch_id}", params={"limit": 0}).json()
            row(f"batch of {args.scans} scans (300 dpi, {size_scans / MB:.1f} MB): succeeded / failed",
                f"{status['counts']['succeeded']} / {status['counts']['failed']}")  # fmt: skip
            for name in ("api", "worker"):
                row(f"  {name}: RSS at start → peak, MB (whole process tree)",
                    f"{rss.first.get(name, 0) / MB:.0f} → {rss.peak[name] / MB:.0f}")  # fmt: skip
            row("  worker: peak RSS of one pool process, MB", f"{rss.peak_child['worker'] / MB:.0f}")

            archive = folder / "big.zip"
            t = time.perf_counter()
            size = make_archive(archive, args.archive_mb)
            print(f"  archive of {size / MB:.0f} MB written in {time.perf_counter() - t:.1f} s", flush=True)
            _common.restart_worker(stack, None)  # measure the API alone; the archive stays queued
            with _common.RssSampler(stack, services=("api",), interval=0.05) as rss, archive.open("rb") as fh:
                t = time.perf_counter()
                response = client.post("/v1/batches", files=[("files", ("big.zip", fh, "application/zip"))])
                wall = time.perf_counter() - t
            assert response.status_code == 202, response.text
            row(f"POST /v1/batches, one {size / MB:.0f} MB archive streamed from disk: s, MB/s",
                f"{wall:.1f}, {size / MB / wall:.0f}")  # fmt: skip
            row("  API RSS at start → peak, MB (growth / archive size)",
                f"{rss.first['api'] / MB:.0f} → {rss.peak['api'] / MB:.0f} "
                f"(+{(rss.peak['api'] - rss.first['api']) / MB:.0f} MB for {size / MB:.0f} MB, "
                f"{(rss.peak['api'] - rss.first['api']) / size * 100:.1f} %)")  # fmt: skip
    _common.machine("after")
    print("\n| measure | value |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
