"""Table-reader speed: `report.tables.read_tables` on every sample text with a truth file.

    .venv/bin/python bench/bench_tables.py [--repeat 5]

Prints, per sample, the best of --repeat runs in milliseconds, cells read per second and the
number of ambiguities; then reports/second and cells/second over all samples.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SAMPLES = REPO.parent / "shared" / "samples"

from report.tables import read_tables  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="one run per sample (a quick check)")
    a = ap.parse_args()
    if a.smoke:
        a.repeat = 1
    docs = []
    for path in sorted(SAMPLES.glob("*.txt")):
        truth = path.parent / (path.stem + ".truth.json")
        if truth.exists():
            docs.append((path.stem, path.read_text("utf-8"), json.loads(truth.read_text("utf-8"))["format"]))
    total_s, total_cells = 0.0, 0
    print(f"{'sample':40s} {'ms':>8s} {'cells/s':>10s} {'ambiguous':>9s}")
    for name, text, fmt in docs:
        best = float("inf")
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            r = read_tables(text, fmt)
            best = min(best, time.perf_counter() - t0)
        total_s += best
        total_cells += len(r.cells)
        print(f"{name:40s} {best * 1000:8.2f} {len(r.cells) / best:10.0f} {len(r.ambiguities):9d}")
    print(
        f"{len(docs)} reports in {total_s * 1000:.1f} ms: {len(docs) / total_s:.1f} reports/s, "
        f"{total_cells / total_s:.0f} cells/s"
    )


if __name__ == "__main__":
    main()
