"""Every benchmark runs end to end on a tiny input (`--smoke`), as a subprocess, and prints its
figures: the scripts keep working as the code changes. Nothing here is timed (figures live in
bench/RESULTS.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# script → patterns its output must contain (a figure: a number next to what it measures)
FIGURES: dict[str, list[str]] = {
    "bench_parse.py": [r"reports/s", r"\d+ parses of \d+ text samples in [\d.]+ s: [\d.]+ reports/s"],
    "bench_tables.py": [r"\d+ reports in [\d.]+ ms: [\d.]+ reports/s, \d+ cells/s"],
    "bench_extract.py": [
        r"pipeline extract_document .*: [\d.]+ pages/s",
        r"bare pdfplumber .*: [\d.]+ pages/s",
    ],
    "bench_markup.py": [r"\| html \(GBK, chrome\) \| \d+ \| \d+ \| 0 \|"],
    "stress_silent.py": [r"SILENT_CELLS 0 "],
    "bench_ocr.py": [
        r"bare `tesseract PNG - -l chi_sim`: [\d.]+ s/page",
        r"pipeline extract.ocr.ocr_page: +[\d.]+ s/page",
    ],
    "bench_service.py": [
        r"\(b\) c=1: jobs/s upload → all succeeded \(median of \d+\) +\| [\d.]+",
        r"\(e\) text: in-process reports/s / service reports/s \(1 worker process\) +\| [\d.]+×",
        r"\(d\) c=1: PDF: jobs/s upload → all succeeded +\| [\d.]+",
    ],
    "bench_ocr_service.py": [
        r"\| OCR overhead: service s/page / bare \(300 dpi PNG\) s/page \| [\d.]+× \|",
        r"\| scaling 2 processes / 1 \| [\d.]+× \|",
        r"machine after: nproc \d+, load average [\d.]+",
    ],
    "bench_latency.py": [
        r"\| GET /v1/jobs/\{id\}, 50 clients honouring Retry-After, .* p99 ms \| [\d.]+ / [\d.]+ / [\d.]+ \|",
        r"\| GET /v1/jobs/\{id\}, 50 clients closed loop, .* p99 ms \| [\d.]+ / [\d.]+ / [\d.]+ \|",
        r"\| POST /v1/documents, \d+ concurrent small uploads: p50 / p95 / p99 ms \| [\d.]+ / [\d.]+ /",
        r"\|   same: requests, requests/s, errors \| \d+, \d+, 0 \|",
    ],
    "bench_memory.py": [
        r"\|   worker: peak RSS of one pool process, MB \| [1-9]\d* \|",
        r"\|   API RSS at start → peak, MB \(growth / archive size\) \| \d+ → \d+ ",
    ],
    "bench_exports.py": [r"^\s+10\s+[\d.]+\s+\d+\s"],
    "bench_sweep.py": [
        r"sweep through the deadline index \(find \+ settle 5\): [\d.]+ ms",
        r"finding them by scanning 205 job records: +[\d.]+ ms",
    ],
    "bench_growth.py": [
        r"\| GET /v1/jobs/\{id\} for every job \| [\d.]+ \| [\d.]+ \|",
        r"\| export csv \| [\d.]+ \| [\d.]+ \|",
        r"\| change feed /v1/results\?since= \| ([\d.]+|n/a on this build) \|",
    ],
}


def test_every_benchmark_has_a_smoke_check() -> None:
    scripts = {p.name for p in (REPO / "bench").glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(FIGURES)


@pytest.mark.parametrize("script", sorted(FIGURES))
def test_benchmark_smoke_run_prints_its_figures(script: str) -> None:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--smoke"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for pattern in FIGURES[script]:
        assert re.search(pattern, run.stdout, re.MULTILINE), (
            f"{script}: no line matching {pattern!r} in\n{run.stdout[-3000:]}"
        )
