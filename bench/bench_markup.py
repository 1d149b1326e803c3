"""HTML and Word uploads: field accuracy and extraction time over many truth files.

usage: .venv/bin/python bench/bench_markup.py [--seeds N] [--repeat N]

Every shared sample truth (2021 and 2019-trial) plus `make_truth.py` truths for seeds 1..N in both
formats is laid out as documents the way portals publish them (tests/extract/markup_docs.py:
real rowspans/colspans, merged Word cells, GBK with <meta charset=gb2312>, page chrome), then
extracted and parsed. Variants of the HTML: label cells broken with <br>, table 三 split in two
tables with a page number between, every cell a <th>, the article inside layout tables. A field is
wrong when it differs from the truth, silent when no flag covers it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo, for tests.* (no PYTHONPATH needed)

from extract.dispatch import extract_document
from report import parse_document
from tests.extract.markup_docs import report_docx, report_html, report_word_html
from tests.report.conftest import SAMPLES, TOOLS, covered, numeric_truth


def _br(h: str) -> str:
    for a, b in (
        ("（区分处理的", "<br>（区分处理的"),
        ("商业企业", "商业<br>企业"),
        ("本年度办理结果", "本年度<br>办理结果"),
    ):
        h = h.replace(a, b)
    return h


def _split(h: str) -> str:
    j = h.rfind("<tr>", 0, h.find("1.本机关不掌握"))
    return h[:j] + "</table>\n<p>- 4 -</p>\n<table border=1>" + h[j:]


def _layout(h: str) -> str:
    body = h.split("<body>", 1)[1].split("</body>", 1)[0]
    inner = f"<table><tr><td>{body}</td></tr></table>"
    return f"<html><body><table><tr><td>导航</td></tr><tr><td>{inner}</td></tr></table>"


def _html(f: Callable[[str], str]) -> Callable[[dict[str, Any]], bytes]:
    return lambda t: f(report_html(t, chrome=True, encoding="utf-8", meta="utf-8").decode()).encode()


KINDS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "html (GBK, chrome)": lambda t: report_html(t, chrome=True),
    "docx (merged cells)": report_docx,
    "html, Word export (GB2312)": report_word_html,
    "html, <br> in labels": _html(_br),
    "html, table 三 split": _html(_split),
    "html, all <th>": _html(lambda h: h.replace("<td", "<th").replace("</td>", "</th>")),
    "html, layout tables": _html(_layout),
}


def truths(seeds: int) -> list[dict[str, Any]]:
    out = [json.loads(p.read_text("utf-8")) for p in sorted(SAMPLES.glob("*.truth.json"))]
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("2021", "2019-trial"):
            for seed in range(1, seeds + 1):
                path = Path(tmp) / f"{fmt}-{seed}.json"
                cmd = [sys.executable, str(TOOLS / "make_truth.py"), "--format", fmt, "--seed", str(seed)]
                subprocess.run([*cmd, "-o", str(path)], check=True, capture_output=True)
                out.append(json.loads(path.read_text("utf-8")))
    return [t for t in out if t["format"] in ("2021", "2019-trial")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=20, help="runs of the one-page timing")
    ap.add_argument("--smoke", action="store_true", help="one generated seed (a quick check)")
    args = ap.parse_args()
    if args.smoke:
        args.seeds, args.repeat = 1, 2
    ts = truths(args.seeds)
    if args.smoke:
        ts = ts[:2]
    print(f"{len(ts)} reports\n")
    print(
        "| input | fields | wrong | silent | agency/year/format wrong | kB (median) | extract ms (median) |"
    )
    print("|---|---|---|---|---|---|---|")
    for kind, make in KINDS.items():
        fields = wrong = silent = meta = 0
        times: list[float] = []
        sizes: list[int] = []
        for truth in ts:
            data = make(truth)
            sizes.append(len(data))
            t0 = time.perf_counter()
            doc = extract_document(data)
            times.append((time.perf_counter() - t0) * 1000)
            got = parse_document(doc).to_canonical()
            want, have = numeric_truth(truth), numeric_truth(got)
            bad = [k for k, v in want.items() if have.get(k, "<missing>") != v]
            fields += len(want)
            wrong += len(bad)
            silent += sum(1 for k in bad if not covered(k, got["flags"]))
            meta += [got[k] for k in ("agency", "year", "format")] != [
                truth[k] for k in ("agency", "year", "format")
            ]
        times.sort()
        sizes.sort()
        print(
            f"| {kind} | {fields} | {wrong} | {silent} | {meta} | {sizes[len(sizes) // 2] / 1000:.0f}"
            f" | {times[len(times) // 2]:.1f} |",
            flush=True,
        )
    one_page(ts[0], args.repeat)


def one_page(truth: dict[str, Any], repeat: int) -> None:
    """One Word-exported page, timed `repeat` times: extraction alone, then extraction + parse."""
    data = report_word_html(truth)
    extract_ms: list[float] = []
    total_ms: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        doc = extract_document(data)
        t1 = time.perf_counter()
        parse_document(doc)
        t2 = time.perf_counter()
        extract_ms.append((t1 - t0) * 1000)
        total_ms.append((t2 - t0) * 1000)
    extract_ms.sort()
    total_ms.sort()
    print(
        f"\nWord-exported page of {truth['agency']} {truth['year']}: {len(data) / 1000:.0f} kB,"
        f" {repeat} runs;"
        f" extract median {extract_ms[repeat // 2]:.1f} ms (max {extract_ms[-1]:.1f}),"
        f" extract + parse median {total_ms[repeat // 2]:.1f} ms (max {total_ms[-1]:.1f})"
    )


if __name__ == "__main__":
    main()
