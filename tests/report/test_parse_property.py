"""End-to-end properties of `parse_text` on random consistent reports (make_truth.py, both formats):
tab-separated tables read back exactly, and one corrupted cell makes exactly the right checks fail,
naming that cell's row or column, with the cell flagged and kept as printed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from report import parse_text
from tests.report.conftest import covered, numeric_truth, run_tool

FORMATS = ("2021", "2019-trial")
_SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parse_property")


def _truth(cache: Path, fmt: str, seed: int) -> dict[str, Any]:
    path = cache / f"{fmt}-{seed}.json"
    if not path.exists():
        run_tool("make_truth.py", "--format", fmt, "--seed", str(seed), "-o", path)
    truth: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return truth


def _pipes(cache: Path, truth: dict[str, Any], name: str) -> str:
    path = cache / f"{name}.json"
    path.write_text(json.dumps(truth, ensure_ascii=False), "utf-8")
    return run_tool("render_text_layouts.py", path, "--layout", "pipes").stdout


def _tabs(pipes: str) -> str:
    """The pipe tables as tab-separated rows, as word processors export them."""
    out = []
    for line in pipes.splitlines():
        if re.fullmatch(r"\s*\|?[\s:|-]*-[\s:|-]*\|?\s*", line):  # a markdown separator row
            continue
        if line.lstrip().startswith("|"):
            line = "\t".join(c.strip() for c in line.strip().strip("|").split("|"))
        out.append(line)
    return "\n".join(out)


def _numbers(canonical: dict[str, Any]) -> dict[str, Any]:
    return numeric_truth(
        {t: canonical[t] for t in ("active_disclosure", "applications", "review_litigation")}
    )


def _plain(v: Any) -> Any:
    return v.get("value") if isinstance(v, dict) else v


@pytest.mark.parametrize("fmt", FORMATS)
@_SETTINGS
@given(seed=st.integers(min_value=1, max_value=1_000_000))
def test_tab_separated_tables_parse_back_exactly(cache: Path, fmt: str, seed: int) -> None:
    truth = _truth(cache, fmt, seed)
    got = parse_text(_tabs(_pipes(cache, truth, f"{fmt}-{seed}"))).to_canonical()
    assert (got["agency"], got["year"], got["format"]) == (truth["agency"], truth["year"], truth["format"])
    have = {k: _plain(v) for k, v in _numbers(got).items()}
    want = numeric_truth(truth)
    assert {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v} == {}
    assert all(c["passed"] for c in got["checks"])


def _cells_of(truth: dict[str, Any], table: str) -> list[tuple[str, str]]:
    return [(row, col) for row, cols in truth[table].items() for col in cols]


@pytest.mark.parametrize("fmt", FORMATS)
@_SETTINGS
@given(
    seed=st.integers(min_value=1, max_value=1_000_000),
    table=st.sampled_from(["applications", "review_litigation"]),
    pick=st.integers(min_value=0, max_value=10_000),
    delta=st.integers(min_value=1, max_value=9),
)
def test_one_corrupted_cell_fails_the_checks_naming_it(
    cache: Path, fmt: str, seed: int, table: str, pick: int, delta: int
) -> None:
    truth = _truth(cache, fmt, seed)
    cells = _cells_of(truth, table)
    row, col = cells[pick % len(cells)]
    bad = (truth[table][row][col] or 0) + delta
    corrupted = json.loads(json.dumps(truth))
    corrupted[table][row][col] = bad
    key = f"{table}.{row}.{col}"

    got = parse_text(_pipes(cache, corrupted, f"{fmt}-{seed}-bad")).to_canonical()
    assert _plain(_numbers(got)[key]) == bad  # kept as printed, never "fixed"
    failed = [c for c in got["checks"] if c["passed"] is False]
    assert failed, f"corrupting {key} broke no check"
    assert all(key in c["cells"] for c in failed), [c["name"] + ":" + c["scope"] for c in failed]
    # each failing check names the corrupted cell's row or column (or its table-四 group)
    assert all(c["scope"] in (row, col) for c in failed), [c["scope"] for c in failed]
    assert all(abs(c["difference"]) == delta for c in failed)
    assert covered(key, got["flags"]) and got["needs_review"]
