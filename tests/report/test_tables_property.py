"""Round trips: random consistent truths (make_truth.py, both formats) rendered in every text layout
(render_text_layouts.py) and as grids must read back exactly; crawler-flattened text must read
back exactly or with the truth among the candidates of an Ambiguity.

The tools run as subprocesses (nothing is imported from ../shared); their output is cached per
(format, seed, layout, null text) for the session, since they are deterministic.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from report.tables import read_tables
from tests.report.conftest import numeric_truth, run_tool
from tests.report.tables_util import truth_grids, wrong_cells

FORMATS = ("2021", "2019-trial")
SEEDS = st.integers(min_value=1, max_value=1_000_000)
# a blank cell as printed: empty, or a placeholder (render_text_layouts --null)
NULLS = st.sampled_from(["", "/", "-", "—", "无"])
_SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,  # CI: the same seeds every run; a failure names its seed
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tables_roundtrip")


def _truth(cache: Path, fmt: str, seed: int) -> tuple[Path, dict[str, Any]]:
    path = cache / f"{fmt}-{seed}.json"
    if not path.exists():
        run_tool("make_truth.py", "--format", fmt, "--seed", str(seed), "-o", path)
    return path, json.loads(path.read_text("utf-8"))


def _render(cache: Path, truth_path: Path, layout: str, null: str = "") -> str:
    out = cache / f"{truth_path.stem}-{layout}-{null.encode().hex()}.txt"
    if not out.exists():
        args: list[str | Path] = [truth_path, "--layout", layout]
        if null:
            args += ["--null", null]
        out.write_text(run_tool("render_text_layouts.py", *args).stdout, "utf-8")
    return out.read_text("utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", ["pipes", "cells", "grid"])
@_SETTINGS
@given(seed=SEEDS)
def test_separated_layouts_read_back_exactly(cache: Path, fmt: str, layout: str, seed: int) -> None:
    path, truth = _truth(cache, fmt, seed)
    readings = read_tables(_render(cache, path, layout), fmt)
    assert wrong_cells(readings, truth, allow_ambiguous=False) == []
    assert readings.missing == []


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", ["pipes", "cells"])
@_SETTINGS
@given(seed=SEEDS, null=NULLS.filter(bool))
def test_placeholders_read_back_as_blank(cache: Path, fmt: str, layout: str, seed: int, null: str) -> None:
    path, truth = _truth(cache, fmt, seed)
    readings = read_tables(_render(cache, path, layout, null), fmt)
    assert wrong_cells(readings, truth, allow_ambiguous=False) == []


@pytest.mark.parametrize("fmt", FORMATS)
@_SETTINGS
@given(seed=SEEDS, null=NULLS)
def test_flattened_reads_back_or_is_flagged(cache: Path, fmt: str, seed: int, null: str) -> None:
    path, truth = _truth(cache, fmt, seed)
    readings = read_tables(_render(cache, path, "flattened", null), fmt)
    assert wrong_cells(readings, truth, allow_ambiguous=True) == []
    assert readings.missing == []


@pytest.mark.parametrize("fmt", FORMATS)
@settings(_SETTINGS, max_examples=25)  # no rendering: cheap, and spans left empty need variety
@given(seed=SEEDS, repeat=st.booleans(), null=st.sampled_from(["", "/"]))
def test_grids_read_back_exactly(cache: Path, fmt: str, seed: int, repeat: bool, null: str) -> None:
    _, truth = _truth(cache, fmt, seed)
    grids = truth_grids(truth, repeat_merged=repeat, null=null)
    readings = read_tables("", fmt, grids=grids)
    assert wrong_cells(readings, truth, allow_ambiguous=False) == []
    assert readings.missing == []
    assert all(c.source == "grid" for c in readings.cells.values())


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
@pytest.mark.parametrize(("fmt", "seed"), [("2021", 1), ("2021", 4), ("2019-trial", 1), ("2019-trial", 3)])
def test_rendered_pdf_text_reads_back_or_is_missing(cache: Path, fmt: str, seed: int) -> None:
    """A PDF of the truth (render_pdf.py), as `pdftotext -layout` and in reading order: every cell
    exact when nothing is blank; with blank cells (invisible in PDF text) a cell may be flagged
    ambiguous (the truth among the candidates) or, in reading order, missing, but never wrong."""
    path, truth = _truth(cache, fmt, seed)
    pdf = cache / f"{path.stem}.pdf"
    if not pdf.exists():
        run_tool("render_pdf.py", path, "--seed", str(seed), "-o", pdf)
    has_blanks = any(v is None for v in numeric_truth(truth).values())
    for args in (["-layout"], []):
        text = subprocess.run(["pdftotext", *args, str(pdf), "-"], capture_output=True, check=True).stdout
        readings = read_tables(text.decode("utf-8"), fmt)
        if not has_blanks:
            assert wrong_cells(readings, truth, allow_ambiguous=not args) == [], args
            assert readings.missing == []
            continue
        # every reading is right or has the truth among its candidates
        assert [w for w in wrong_cells(readings, truth, allow_ambiguous=True) if "not read" not in w] == []
        if args:  # -layout prints a row on a line: blank cells are placed by the identities
            assert readings.missing == []


_PIECES = [
    "规章", "行政规范性文件", "行政许可", "行政处罚", "行政事业性收费", "第二十条", "信息内容",
    "三、收到和处理政府信息公开申请情况", "一、本年新收政府信息公开申请数量", "（一）予以公开", "部分公开",
    "1.属于国家秘密", "不掌握", "另行制作", "3.其他", "（七）总计", "四、结转下年度继续办理",
    "四、政府信息公开行政复议、行政诉讼情况", "结果维持", "总计", "五、存在的主要问题",
    "0", "1", "12", "305", "96171.6", "-8", "/", "—", "无", " | ", "\t", "\n", "\n\n", "  ", " ", "-4-",
]  # fmt: skip


@settings(max_examples=60, deadline=None, derandomize=True)
@given(pieces=st.lists(st.sampled_from(_PIECES), max_size=120), fmt=st.sampled_from(FORMATS))
def test_any_text_gives_readings_of_template_cells(pieces: list[str], fmt: str) -> None:
    from report.template import all_keys

    readings = read_tables("".join(pieces), fmt)
    keys = set(all_keys(fmt))
    assert set(readings.cells) <= keys
    for amb in readings.ambiguities:
        assert set(amb.fields) <= keys and amb.candidates and 0 <= amb.chosen < len(amb.candidates)
        assert all(len(c) == len(amb.fields) for c in amb.candidates)
    for key, cell in readings.cells.items():
        assert cell.value is None or isinstance(cell.value, int | float), key


@pytest.mark.parametrize("fmt", FORMATS)
@_SETTINGS
@given(seed=SEEDS)
def test_cells_separated_by_blank_lines_read_back_exactly(cache: Path, fmt: str, seed: int) -> None:
    # one cell per line with a blank line after every line (like sample 002): an empty cell is
    # then three empty lines in a row
    path, truth = _truth(cache, fmt, seed)
    text = "\n\n".join(_render(cache, path, "cells").split("\n"))
    readings = read_tables(text, fmt)
    assert wrong_cells(readings, truth, allow_ambiguous=False) == []
    assert readings.missing == []
