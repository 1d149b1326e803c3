"""Silent errors under stress: random consistent truths rendered every way the shared tools can,
parsed back with `report`, scored cell by cell. Prints counts per combination; not a timed test.

usage: .venv/bin/python bench/stress_silent.py [--seeds N] [--first S] [--extract-seeds M]
           [--only SUBSTR ...] [--cache DIR] [--jobs J] [--details OUT.json]

A combination is format × source, the sources being
  flattened | pipes | cells | grid   (render_text_layouts.py, blank cells printed empty)
  <layout>/null=X                    (the same with --null X, X in --nulls: / - — by default)
  pdf-layout | pdf-plain             (render_pdf.py, read back with `pdftotext -layout` / `pdftotext`)
  pdf-extract                        (the product's extract.extract_document on the PDF bytes;
                                      only the first --extract-seeds seeds)
for seeds first..first+N-1 (make_truth.py --seed; render_pdf.py gets the same seed).

Correctness is evaluate.py's own (imported from ../shared/tools): a truth null matches null or 0
(the latter also counted as null-vs-0), a number matches a number within 1e-6. A wrong cell is
*flagged* when a flag field equals its key or is a dotted prefix of it, else *silent*. A parse that
raises counts as `failed` (the product reports an error, not values). `meta` counts wrong
agency/year/format values, `meta!` those of them not covered by a flag. Generated files are cached in
--cache (deterministic tools), so a re-run only parses.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

SHARED = Path(os.environ.get("GONGKAI_SHARED", Path(__file__).resolve().parents[2] / "shared"))
TOOLS = SHARED / "tools"
FORMATS = ("2021", "2019-trial")
LAYOUTS = ("flattened", "pipes", "cells", "grid")
NULLS = ("/", "-", "—")  # placeholders printed for blank cells besides empty (--nulls)
PDF_SOURCES = ("pdf-layout", "pdf-plain", "pdf-extract")


def _tool(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(TOOLS))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(TOOLS))
    return mod


def sources(nulls: tuple[str, ...] = NULLS) -> list[str]:
    out = []
    for layout in LAYOUTS:
        out += [layout, *(f"{layout}/null={n}" for n in nulls)]
    return out + list(PDF_SOURCES)


# ------------------------------------------------------------------ generation (cached)
def truth_path(cache: Path, fmt: str, seed: int) -> Path:
    return cache / fmt / f"s{seed:04d}.truth.json"


def make_truth(cache: Path, fmt: str, seed: int) -> None:
    p = truth_path(cache, fmt, seed)
    if not p.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        subprocess.run(
            [
                sys.executable,
                str(TOOLS / "make_truth.py"),
                "--format",
                fmt,
                "--seed",
                str(seed),
                "-o",
                str(tmp),
            ],
            check=True,
            capture_output=True,
        )
        tmp.rename(p)


_RTL: ModuleType | None = None


def text_layout(cache: Path, fmt: str, seed: int, source: str) -> str:
    """render_text_layouts.py output (run in-process: stdlib only, deterministic), cached."""
    global _RTL
    layout, _, null = source.partition("/null=")
    name = {"": "empty", "/": "slash", "-": "dash", "—": "emdash"}.get(null) or null.encode().hex()
    p = cache / fmt / f"s{seed:04d}.{layout}.{name}.txt"
    if not p.exists():
        if _RTL is None:
            _RTL = _tool("render_text_layouts")
        buf = io.StringIO()
        args = [str(truth_path(cache, fmt, seed)), "--layout", layout]
        if null:
            args += ["--null", null]
        with contextlib.redirect_stdout(buf):
            _RTL.main(args)
        p.write_text(buf.getvalue(), "utf-8")
    return p.read_text("utf-8")


def pdf_path(cache: Path, fmt: str, seed: int) -> Path:
    return cache / fmt / f"s{seed:04d}.pdf"


def make_pdf(cache: Path, fmt: str, seed: int) -> None:
    p = pdf_path(cache, fmt, seed)
    if not p.exists():
        tmp = p.with_suffix(".tmp.pdf")
        subprocess.run(
            [
                sys.executable,
                str(TOOLS / "render_pdf.py"),
                str(truth_path(cache, fmt, seed)),
                "--seed",
                str(seed),
                "-o",
                str(tmp),
            ],
            check=True,
            capture_output=True,
        )
        tmp.rename(p)


def pdftotext(cache: Path, fmt: str, seed: int, layout: bool) -> str:
    p = cache / fmt / f"s{seed:04d}.pdf.{'layout' if layout else 'plain'}.txt"
    if not p.exists():
        args = ["pdftotext", *(["-layout"] if layout else []), str(pdf_path(cache, fmt, seed)), "-"]
        p.write_bytes(subprocess.run(args, check=True, capture_output=True).stdout)
    return p.read_text("utf-8")


# ------------------------------------------------------------------ one document
_EVAL: ModuleType | None = None


def _evaluate() -> ModuleType:
    global _EVAL
    if _EVAL is None:
        _EVAL = _tool("evaluate")
    return _EVAL


def canonical(cache: Path, fmt: str, seed: int, source: str) -> dict[str, Any]:
    from report import parse_document, parse_text

    if source == "pdf-extract":
        from extract.dispatch import extract_document

        report = parse_document(extract_document(pdf_path(cache, fmt, seed).read_bytes()))
    elif source.startswith("pdf-"):
        report = parse_text(pdftotext(cache, fmt, seed, source == "pdf-layout"))
    else:
        report = parse_text(text_layout(cache, fmt, seed, source))
    out: dict[str, Any] = report.to_canonical()
    return out


def score(cache: Path, fmt: str, seed: int, source: str) -> dict[str, Any]:
    ev = _evaluate()
    truth = json.loads(truth_path(cache, fmt, seed).read_text("utf-8"))
    row: dict[str, Any] = {"format": fmt, "seed": seed, "source": source}
    try:
        pred = canonical(cache, fmt, seed, source)
    except Exception as e:  # the product answers with an error, never with values
        row.update(failed=f"{type(e).__name__}: {e}"[:300])
        return row
    flags = ev.flagged_keys(pred)
    r = ev.score_doc(truth, ev.unwrap(pred))
    wrong = r["mismatches"]
    silent = [m for m in wrong if not ev.is_flagged(m["key"], flags)]
    row.update(
        cells=r["fields"],
        exact=r["matches"],
        null_vs_0=len(r["null_vs_0"]),
        flagged_wrong=len(wrong) - len(silent),
        silent=[{**m, "predicted": m["predicted"]} for m in silent],
        meta_errors=[k for k in ("agency", "year", "format") if not r["meta"][k]],
        meta_silent=[k for k in ("agency", "year", "format") if not r["meta"][k] and k not in flags],
        meta=r["meta_values"],
    )
    return row


def _job(args: tuple[str, str, int, str]) -> dict[str, Any]:
    cache, fmt, seed, source = args
    return score(Path(cache), fmt, seed, source)


def _gen(args: tuple[str, str, int, bool]) -> str | None:
    """Makes the truth (and PDF); the error of a tool that fails on this seed, else None."""
    cache, fmt, seed, pdf = args
    make_truth(Path(cache), fmt, seed)
    if pdf:
        try:
            make_pdf(Path(cache), fmt, seed)
        except subprocess.CalledProcessError as e:  # e.g. a reportlab LayoutError in render_pdf.py
            last = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:]
            return f"{fmt} seed {seed}: render_pdf.py failed: {' '.join(last)[:160]}"
    return None


# ------------------------------------------------------------------ main
def run(
    cache: Path,
    seeds: list[int],
    extract_seeds: list[int],
    wanted: Callable[[str, str], bool],
    jobs: int,
    nulls: tuple[str, ...] = NULLS,
) -> list[dict[str, Any]]:
    combos = [(f, s) for f in FORMATS for s in sources(nulls) if wanted(f, s)]
    need_pdf = any(s.startswith("pdf-") for _, s in combos)
    with ProcessPoolExecutor(jobs) as pool:
        gen = [(str(cache), f, seed, need_pdf) for f in FORMATS for seed in seeds]
        no_pdf = set()
        for (_, f, seed, _), err in zip(gen, pool.map(_gen, gen), strict=True):
            if err:
                print("skipped (tool failure):", err)
                no_pdf.add((f, seed))
        work = [
            (str(cache), f, seed, s)
            for f, s in combos
            for seed in (extract_seeds if s == "pdf-extract" else seeds)
            if not (s.startswith("pdf-") and (f, seed) in no_pdf)
        ]
        return list(pool.map(_job, work, chunksize=4))


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        t = table.setdefault(
            (r["format"], r["source"]),
            {
                "format": r["format"],
                "source": r["source"],
                "documents": 0,
                "failed": 0,
                "cells": 0,
                "exact": 0,
                "null_vs_0": 0,
                "flagged_wrong": 0,
                "silent": 0,
                "meta_errors": 0,
                "meta_silent": 0,
            },
        )
        t["documents"] += 1
        if "failed" in r:
            t["failed"] += 1
            continue
        for k in ("cells", "exact", "null_vs_0", "flagged_wrong"):
            t[k] += r[k]
        t["silent"] += len(r["silent"])
        t["meta_errors"] += len(r["meta_errors"])
        t["meta_silent"] += len(r["meta_silent"])
    return list(table.values())


def print_table(summary: list[dict[str, Any]]) -> None:
    head = (
        f"{'format':<11}{'source':<18}{'docs':>5}{'fail':>5}{'cells':>8}{'exact%':>9}"
        f"{'null-0':>7}{'flagged':>8}{'SILENT':>7}{'meta':>5}{'meta!':>6}"
    )
    print(head)
    tot = {
        k: 0
        for k in (
            "documents",
            "failed",
            "cells",
            "exact",
            "null_vs_0",
            "flagged_wrong",
            "silent",
            "meta_errors",
            "meta_silent",
        )
    }
    for t in summary:
        pct = 100.0 * t["exact"] / t["cells"] if t["cells"] else 0.0
        print(
            f"{t['format']:<11}{t['source']:<18}{t['documents']:>5}{t['failed']:>5}{t['cells']:>8}"
            f"{pct:>9.3f}{t['null_vs_0']:>7}{t['flagged_wrong']:>8}{t['silent']:>7}{t['meta_errors']:>5}"
            f"{t['meta_silent']:>6}"
        )
        for k in tot:
            tot[k] += t[k]
    pct = 100.0 * tot["exact"] / tot["cells"] if tot["cells"] else 0.0
    print(
        f"{'TOTAL':<29}{tot['documents']:>5}{tot['failed']:>5}{tot['cells']:>8}{pct:>9.3f}"
        f"{tot['null_vs_0']:>7}{tot['flagged_wrong']:>8}{tot['silent']:>7}{tot['meta_errors']:>5}"
        f"{tot['meta_silent']:>6}"
    )
    print(
        f"SILENT_CELLS {tot['silent']}  META_ERRORS {tot['meta_errors']} (unflagged {tot['meta_silent']})"
        f"  FAILED {tot['failed']}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=60)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--extract-seeds", type=int, default=10)
    ap.add_argument(
        "--only", nargs="*", default=[], help="keep combinations whose 'format source' contains one"
    )
    ap.add_argument(
        "--nulls", nargs="*", default=list(NULLS), help="blank-cell placeholders (default: / - —)"
    )
    ap.add_argument("--cache", type=Path, default=Path("/tmp/gongkai_stress"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--details", type=Path, help="write every silent / failed / meta-error document here")
    ap.add_argument("--smoke", action="store_true", help="seed 1 only, PDF pipeline layouts only, own cache")
    a = ap.parse_args()
    if a.smoke:
        a.seeds, a.extract_seeds, a.jobs = 1, 1, 1
        a.only = a.only or ["pipes", "pdf-extract"]
        a.cache = Path(tempfile.mkdtemp(prefix="gongkai-stress-smoke-"))
    seeds = list(range(a.first, a.first + a.seeds))
    extract_seeds = seeds[: a.extract_seeds]

    def wanted(fmt: str, source: str) -> bool:
        return not a.only or any(o in f"{fmt} {source}" for o in a.only)

    t0 = time.perf_counter()
    rows = run(a.cache, seeds, extract_seeds, wanted, a.jobs, tuple(a.nulls))
    print_table(summarise(rows))
    print(f"({time.perf_counter() - t0:.0f} s)")
    if a.details:
        bad = [r for r in rows if r.get("failed") or r.get("silent") or r.get("meta_silent")]
        a.details.write_text(json.dumps(bad, ensure_ascii=False, indent=1), "utf-8")


if __name__ == "__main__":
    main()
