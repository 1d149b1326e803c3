"""Text-layer extraction speed: the pipeline (`extract.extract_document`) vs bare pdfplumber on the
same PDFs.

    .venv/bin/python bench/bench_extract.py [--repeat 3]

PDFs: ../shared/samples/huaian_2024.pdf and render_pdf.py renders of its truth (seeds 1–6) and of
two make_truth.py reports. Best of --repeat runs, pages per second over all pages.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
TOOLS = SHARED / "tools"

import pdfplumber  # noqa: E402

from extract import extract_document  # noqa: E402
from report.document import PageMethod  # noqa: E402


def tool(name: str, *args: str) -> None:
    subprocess.run([sys.executable, str(TOOLS / name), *args], check=True, capture_output=True)


def make_pdfs(work: Path, smoke: bool = False) -> list[bytes]:
    huaian = SHARED / "samples" / "huaian_2024.truth.json"
    paths = [SHARED / "samples" / "huaian_2024.pdf"]
    if smoke:
        return [p.read_bytes() for p in paths]
    for n in range(1, 7):
        out = work / f"h{n}.pdf"
        tool("render_pdf.py", str(huaian), "--seed", str(n), "-o", str(out))
        paths.append(out)
    for fmt, seed in (("2021", "31"), ("2019-trial", "32")):
        truth = work / f"t{seed}.json"
        tool("make_truth.py", "--format", fmt, "--seed", seed, "-o", str(truth))
        tool("render_pdf.py", str(truth), "--seed", seed, "-o", str(work / f"t{seed}.pdf"))
        paths.append(work / f"t{seed}.pdf")
    return [p.read_bytes() for p in paths]


def pipeline(data: bytes) -> int:
    doc = extract_document(data)
    assert all(p.method == PageMethod.TEXT_LAYER for p in doc.pages)
    return len(doc.pages)


def bare_text(data: bytes) -> int:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            page.extract_text()
        return len(pdf.pages)


def bare_text_tables(data: bytes) -> int:
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            page.extract_text()
            page.extract_tables()
        return len(pdf.pages)


def best_rate(fn: Callable[[bytes], int], pdfs: list[bytes], repeat: int) -> tuple[float, int]:
    best = float("inf")
    pages = 0
    for _ in range(repeat):
        t = time.perf_counter()
        pages = sum(fn(d) for d in pdfs)
        best = min(best, time.perf_counter() - t)
    return pages / best, pages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="the sample PDF only, once (a quick check)")
    args = ap.parse_args()
    if args.smoke:
        args.repeat = 1
    with tempfile.TemporaryDirectory() as tmp:
        pdfs = make_pdfs(Path(tmp), args.smoke)
    for label, fn in (
        ("pipeline extract_document (judge + text + grids)", pipeline),
        ("bare pdfplumber extract_text()", bare_text),
        ("bare pdfplumber extract_text() + extract_tables()", bare_text_tables),
    ):
        rate, pages = best_rate(fn, pdfs, args.repeat)
        print(f"{label}: {rate:.1f} pages/s ({pages} pages in {len(pdfs)} PDFs, best of {args.repeat})")


if __name__ == "__main__":
    main()
