"""Reports parsed per second on the shared samples (text files; the PDF via its layout text).

usage: .venv/bin/python bench/bench_parse.py [--samples DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from report import parse_text

DEFAULT_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    files = sorted(args.samples.glob("*.txt")) + sorted((args.samples / "excerpts").glob("*.txt"))
    texts = [(p.name, p.read_text("utf-8")) for p in files]
    if not texts:
        raise SystemExit(f"no samples in {args.samples}")
    for _, text in texts:  # warm up: OpenCC tables, regex caches
        parse_text(text)
    per_file: dict[str, float] = {}
    start = time.perf_counter()
    for _ in range(args.rounds):
        for name, text in texts:
            t0 = time.perf_counter()
            parse_text(text)
            per_file[name] = per_file.get(name, 0.0) + time.perf_counter() - t0
    elapsed = time.perf_counter() - start
    n = args.rounds * len(texts)
    for name, total in sorted(per_file.items(), key=lambda kv: -kv[1]):
        print(f"{total / args.rounds * 1000:8.1f} ms  {name}")
    print(f"{n} parses of {len(texts)} samples in {elapsed:.2f} s: {n / elapsed:.1f} reports/s")


if __name__ == "__main__":
    main()
