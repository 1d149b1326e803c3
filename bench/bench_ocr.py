"""OCR benchmark: speed of the pipeline vs the bare `tesseract` command on the same page images, and
field accuracy of scanned reports through extract → parse at several scan qualities.

    .venv/bin/python bench/bench_ocr.py                 # speed + accuracy (≈ 5 min on 2 cores)
    .venv/bin/python bench/bench_ocr.py --skip-accuracy  # speed only

Test documents are made with ../shared/tools (render_pdf.py, make_truth.py, make_scan.py) into a
temporary folder. Accuracy counts the 200-ish numeric fields of tables 二/三/四 per report:
right, wrong but flagged (a flag covers the key: the product's contract), wrong and silent.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared"
TOOLS = SHARED / "tools"

from PIL import Image  # noqa: E402

from extract import extract_document  # noqa: E402
from extract.ocr import ocr_page  # noqa: E402

CONDITIONS: list[tuple[str, list[str]]] = [
    ("300 dpi clean", ["--dpi", "300"]),
    ("200 dpi clean", ["--dpi", "200"]),
    ("200 dpi light", ["--dpi", "200", "--degrade", "light", "--seed", "1"]),
    ("200 dpi heavy", ["--dpi", "200", "--degrade", "heavy", "--seed", "1"]),
]
SECTIONS = ("active_disclosure", "applications", "review_litigation")


def tool(name: str, *args: str) -> None:
    subprocess.run([sys.executable, str(TOOLS / name), *args], check=True, capture_output=True)


def make_docs(work: Path, smoke: bool = False) -> list[tuple[str, Path, Path]]:
    """(name, truth, text-layer pdf) for a real report's truth and two random ones."""
    docs = []
    huaian = SHARED / "samples" / "huaian_2024.truth.json"
    tool("render_pdf.py", str(huaian), "--seed", "3", "-o", str(work / "huaian.pdf"))
    docs.append(("huaian_2024 (seed 3)", huaian, work / "huaian.pdf"))
    if smoke:
        return docs
    for fmt, seed in (("2021", "21"), ("2019-trial", "22")):
        truth = work / f"t-{fmt}.json"
        tool("make_truth.py", "--format", fmt, "--seed", seed, "-o", str(truth))
        tool("render_pdf.py", str(truth), "--seed", seed, "-o", str(work / f"t-{fmt}.pdf"))
        docs.append((f"make_truth {fmt} seed {seed}", truth, work / f"t-{fmt}.pdf"))
    return docs


def speed(pdf: Path, pages: list[int], work: Path, smoke: bool = False) -> None:
    scan = work / "speed-scan.pdf"
    tool("make_scan.py", str(pdf), "-o", str(scan), "--dpi", "300")
    pngs = []
    for p in pages:
        prefix = work / f"speed-{p}"
        subprocess.run(
            ["pdftoppm", "-r", "300", "-gray", "-png", "-f", str(p), "-l", str(p), str(scan), str(prefix)],
            check=True,
        )
        pngs.append(next(work.glob(f"speed-{p}-*.png")))
    from extract.engine import OcrEngine, TesseractEngine, default_engine

    engines: dict[str, OcrEngine] = {"in-process libtesseract": default_engine()}
    if not smoke:
        engines["tesseract program per call"] = TesseractEngine()
    warm = Image.open(pngs[0])
    warm.load()
    ocr_page(warm, 1, engine=engines["in-process libtesseract"])  # loads the models once, as a worker does
    wall = dict.fromkeys(["bare", *engines], 0.0)
    cpu = dict(wall)
    for png in pngs:
        c, t = _cpu(), time.perf_counter()
        subprocess.run(["tesseract", str(png), "-", "-l", "chi_sim"], check=True, capture_output=True)
        wall["bare"] += time.perf_counter() - t
        cpu["bare"] += _cpu() - c
        image = Image.open(png)
        image.load()
        for name, engine in engines.items():
            c, t = _cpu(), time.perf_counter()
            page = ocr_page(image, 1, engine=engine)
            wall[name] += time.perf_counter() - t
            cpu[name] += _cpu() - c
        print(f"  {png.name}: tables {[(len(g.rows), len(g.rows[0])) for g in page.tables]}", flush=True)
    n = len(pngs)
    print(
        f"pages: {n} (300 dpi, A4, {pdf.name} pages {pages}); "
        f"OMP_THREAD_LIMIT={os.environ['OMP_THREAD_LIMIT']}; CPU = this process + its children"
    )
    print(f"bare `tesseract PNG - -l chi_sim`: {wall['bare'] / n:.2f} s/page (CPU {cpu['bare'] / n:.2f})")
    for name in engines:
        print(
            f"pipeline extract.ocr.ocr_page:      {wall[name] / n:.2f} s/page (CPU {cpu[name] / n:.2f}), "
            f"engine: {name}; ratio to bare: wall {wall[name] / wall['bare']:.2f}×, "
            f"CPU {cpu[name] / cpu['bare']:.2f}×"
        )


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _covered(key: str, flags: list[dict[str, Any]]) -> bool:
    return any(key == f or key.startswith(f + ".") for fl in flags for f in fl.get("fields", []))


def _value(node: Any) -> Any:
    return node.get("value") if isinstance(node, dict) else node


def score(canon: dict[str, Any], truth: dict[str, Any]) -> dict[str, int]:
    flags = canon.get("flags", [])
    out = {"fields": 0, "right": 0, "wrong_flagged": 0, "wrong_silent": 0, "right_flagged": 0}
    for sec in SECTIONS:
        for key, fields in truth[sec].items():
            for field, want in fields.items():
                dotted = f"{sec}.{key}.{field}"
                got = _value(((canon.get(sec) or {}).get(key) or {}).get(field))
                ok = got == want or (
                    isinstance(got, int | float) and isinstance(want, int | float) and abs(got - want) < 1e-6
                )
                out["fields"] += 1
                if ok:
                    out["right"] += 1
                    out["right_flagged"] += _covered(dotted, flags)
                elif _covered(dotted, flags):
                    out["wrong_flagged"] += 1
                else:
                    out["wrong_silent"] += 1
    return out


PARSE_TIMEOUT_S = 60


def _parse_with_timeout(parse: Any, doc: Any, seconds: int) -> dict[str, Any]:
    """The parser's search can blow up on some OCR output; a report it cannot finish scores as
    all fields wrong (silent), and the bench goes on."""

    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        result: dict[str, Any] = parse(doc).to_canonical()
        return result
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def grid_score(doc: Any, truth: dict[str, Any]) -> dict[str, int]:
    """The extractor alone: each truth field's grid cell (tables found by shape and label, as in
    tests/extract/gridtruth.py): right, wrong but below LOW_CONFIDENCE, wrong and confident, or
    not found (the table's structure was not recovered)."""
    from extract.ocr import LOW_CONFIDENCE
    from tests.extract.gridtruth import cell_number, readings

    out = {"cells": 0, "right": 0, "doubtful": 0, "silent": 0, "not_found": 0, "right_doubtful": 0}
    try:
        rs = readings(doc, truth)
    except AssertionError:
        n = sum(len(v) for sec in SECTIONS for v in truth[sec].values())
        out["cells"] = out["not_found"] = n
        return out
    for r in rs:
        out["cells"] += 1
        low = r.cell is not None and (r.cell.confidence or 0) < LOW_CONFIDENCE
        if r.cell is None:
            out["not_found"] += 1
        elif cell_number(r.cell.text) == r.expected:
            out["right"] += 1
            out["right_doubtful"] += low
        elif low:
            out["doubtful"] += 1
        else:
            out["silent"] += 1
    return out


def accuracy(docs: list[tuple[str, Path, Path]], work: Path) -> None:
    from report import parse_document

    grid_rows = []
    print("| scan | fields | right | wrong, flagged | wrong, silent | right but flagged | s/page |")
    print("|---|---|---|---|---|---|---|")
    for label, args in CONDITIONS:
        total = {"fields": 0, "right": 0, "wrong_flagged": 0, "wrong_silent": 0, "right_flagged": 0}
        gtotal = {"cells": 0, "right": 0, "doubtful": 0, "silent": 0, "not_found": 0, "right_doubtful": 0}
        pages = timeouts = 0
        seconds = 0.0
        for name, truth_path, pdf in docs:
            scan = work / f"{pdf.stem}-{'-'.join(args)}.pdf"
            tool("make_scan.py", str(pdf), "-o", str(scan), *args)
            t = time.perf_counter()
            doc = extract_document(scan.read_bytes())
            seconds += time.perf_counter() - t
            pages += len(doc.pages)
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
            try:
                canon = _parse_with_timeout(parse_document, doc, PARSE_TIMEOUT_S)
            except TimeoutError:
                print(f"<!-- {label} / {name}: parser timed out after {PARSE_TIMEOUT_S} s -->", flush=True)
                timeouts += 1
                canon = {}
            s = score(canon, truth)
            g = grid_score(doc, truth)
            print(f"<!-- {label} / {name}: parsed {s}; grid {g} -->", flush=True)
            for k in total:
                total[k] += s[k]
            for k in gtotal:
                gtotal[k] += g[k]
        f = total["fields"]
        print(
            f"| {label} | {f} | {total['right']} ({100 * total['right'] / f:.1f} %) "
            f"| {total['wrong_flagged']} | {total['wrong_silent']} | {total['right_flagged']} "
            f"| {seconds / pages:.2f} |"
            + (f" parser timed out on {timeouts} report(s) |" if timeouts else ""),
            flush=True,
        )
        c = gtotal["cells"]
        grid_rows.append(
            f"| {label} | {c} | {gtotal['right']} ({100 * gtotal['right'] / c:.1f} %) | {gtotal['doubtful']} "
            f"| {gtotal['silent']} | {gtotal['not_found']} | {gtotal['right_doubtful']} |"
        )
    print()
    print("Grid cells (extractor only; doubtful = confidence below LOW_CONFIDENCE):")
    print("| scan | cells | right | wrong, doubtful | wrong, confident | not found | right but doubtful |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(grid_rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", default="2,3,4", help="pages of the huaian render for the speed test")
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="speed on one page, no accuracy (a quick check)")
    args = ap.parse_args()
    if args.smoke:
        args.pages, args.skip_accuracy = "5", True  # the last, shortest page
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        docs = make_docs(work, args.smoke)
        if not args.skip_speed:
            speed(docs[0][2], [int(p) for p in args.pages.split(",")], work, args.smoke)
        if not args.skip_accuracy:
            accuracy(docs, work)


if __name__ == "__main__":
    main()
