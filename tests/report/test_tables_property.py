"""Round trips: random consistent truths (make_truth.py, both formats) rendered in every text layout
(render_text_layouts.py) and as grids must read back exactly; crawler-flattened text must read
back exactly or with the truth among the candidates of an Ambiguity.

The tools run as subprocesses (nothing is imported from ../shared); their output is cached per
(format, seed, layout, null text) for the session, since they are deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from report.tables import read_tables
from tests.report.conftest import needs_shared, run_tool
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


@needs_shared
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", ["pipes", "cells", "grid"])
@_SETTINGS
@given(seed=SEEDS)
def test_separated_layouts_read_back_exactly(cache: Path, fmt: str, layout: str, seed: int) -> None:
    path, truth = _truth(cache, fmt, seed)
    readings = read_tables(_render(cache, path, layout), fmt)
    assert wrong_cells(readings, truth, allow_ambiguous=False) == []
    assert readings.missing == []


@needs_shared
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", ["pipes", "cells"])
@_SETTINGS
@given(seed=SEEDS, null=NULLS.filter(bool))
def test_placeholders_read_back_as_blank(cache: Path, fmt: str, layout: str, seed: int, null: str) -> None:
    path, truth = _truth(cache, fmt, seed)
    readings = read_tables(_render(cache, path, layout, null), fmt)
    assert wrong_cells(readings, truth, allow_ambiguous=False) == []


@needs_shared
@pytest.mark.parametrize("fmt", FORMATS)
@_SETTINGS
@given(seed=SEEDS, null=NULLS)
def test_flattened_reads_back_or_is_flagged(cache: Path, fmt: str, seed: int, null: str) -> None:
    path, truth = _truth(cache, fmt, seed)
    readings = read_tables(_render(cache, path, "flattened", null), fmt)
    assert wrong_cells(readings, truth, allow_ambiguous=True) == []
    assert readings.missing == []


@needs_shared
@pytest.mark.parametrize("fmt", FORMATS)
@_SETTINGS
@given(seed=SEEDS, repeat=st.booleans(), null=st.sampled_from(["", "/"]))
def test_grids_read_back_exactly(cache: Path, fmt: str, seed: int, repeat: bool, null: str) -> None:
    _, truth = _truth(cache, fmt, seed)
    grids = truth_grids(truth, repeat_merged=repeat, null=null)
    readings = read_tables("", fmt, grids=grids)
    assert wrong_cells(readings, truth, allow_ambiguous=False) == []
    assert readings.missing == []
    assert all(c.source == "grid" for c in readings.cells.values())
