"""Reports parsed per second on the shared samples; optionally writes their predictions for
shared/tools/evaluate.py.

usage: .venv/bin/python bench/bench_parse.py [--samples DIR] [--rounds N] [--predictions OUT]

With --predictions, every sample with a truth file (the PDF through the product's extractor) is
parsed once and written as OUT/<stem>.truth.json, named after its truth file so that
`python ../shared/tools/evaluate.py ../shared/samples OUT` pairs them directly.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from extract.dispatch import extract_document
from report import parse_document, parse_text

DEFAULT_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def write_predictions(samples: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for truth in sorted(samples.glob("*.truth.json")):
        stem = truth.name[: -len(".truth.json")]
        txt, pdf = samples / f"{stem}.txt", samples / f"{stem}.pdf"
        if txt.exists():
            report = parse_text(txt.read_text("utf-8"))
        elif pdf.exists():
            report = parse_document(extract_document(pdf.read_bytes()))
        else:
            continue
        canonical = json.dumps(report.to_canonical(), ensure_ascii=False, indent=1)
        (out / truth.name).write_text(canonical, "utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--predictions", type=Path)
    ap.add_argument("--smoke", action="store_true", help="one round (a quick check)")
    args = ap.parse_args()
    if args.smoke:
        args.rounds = 1
    files = sorted(args.samples.glob("*.txt")) + sorted((args.samples / "excerpts").glob("*.txt"))
    texts = [(p.name, p.read_text("utf-8")) for p in files]
    if not texts:
        raise SystemExit(f"no samples in {args.samples}")
    if args.predictions:
        write_predictions(args.samples, args.predictions)
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
    print(f"{n} parses of {len(texts)} text samples in {elapsed:.2f} s: {n / elapsed:.1f} reports/s")


if __name__ == "__main__":
    main()
