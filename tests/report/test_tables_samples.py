"""The table reader on every sample text with a truth file: every cell compared with the truth.

The only cells allowed to differ are those the truth itself lists as `uncertain` (not determinable
from the text); those must be covered by an Ambiguity that has the true reading among its
candidates. Raw texts must be the printed cell text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from report.cells import clean
from report.readings import CellSource
from report.tables import read_tables
from report.template import all_keys
from tests.report.conftest import SAMPLES, numeric_truth, truth_for
from tests.report.tables_util import same, wrong_cells


def _texts() -> list[Path]:
    return [p for p in sorted(SAMPLES.glob("*.txt")) if (p.parent / (p.stem + ".truth.json")).exists()]


@pytest.mark.parametrize("path", _texts(), ids=lambda p: p.stem)
def test_every_cell_matches_the_truth(path: Path) -> None:
    truth = truth_for(path)
    readings = read_tables(path.read_text("utf-8"), truth["format"])
    uncertain = set(truth.get("uncertain") or [])
    wrong = wrong_cells(readings, truth, allow_ambiguous=bool(uncertain) or "raw" in path.stem)
    assert wrong == []
    assert readings.missing == []
    want = numeric_truth(truth)
    # a cell that differs from the truth must be one the truth calls undeterminable
    differing = {k for k in all_keys(truth["format"]) if not same(readings.cells[k].value, want[k])}
    assert differing <= uncertain
    ambiguous = {f for a in readings.ambiguities for f in a.fields}
    assert uncertain <= ambiguous


@pytest.mark.parametrize("path", _texts(), ids=lambda p: p.stem)
def test_raw_text_is_the_printed_cell(path: Path) -> None:
    truth = truth_for(path)
    readings = read_tables(path.read_text("utf-8"), truth["format"])
    raw = truth.get("raw_cells") or {}
    uncertain = set(truth.get("uncertain") or [])
    checked = 0
    for key, text in raw.items():
        if key in uncertain or key not in readings.cells:
            continue
        cell = readings.cells[key]
        assert cell.raw is not None and clean(cell.raw) == clean(text), key
        checked += 1
    assert checked == len([k for k in raw if k not in uncertain])


def test_flattened_sample_splits_come_from_identities() -> None:
    path = SAMPLES / "synthetic_huaian_2024_flattened.txt"
    truth = truth_for(path)
    readings = read_tables(path.read_text("utf-8"), truth["format"])
    cell = readings.cells["applications.unable_needs_creation.natural_person"]
    assert cell.source == CellSource.SPLIT and cell.value == 11  # the column identities decide
    # 表四's after-review group stays ambiguous with exactly the three splits the README lists
    amb = next(
        a for a in readings.ambiguities if "review_litigation.litigation_after_review.upheld" in a.fields
    )
    i = amb.fields.index("review_litigation.litigation_after_review.upheld")
    group = [c[i : i + 5] for c in amb.candidates]
    assert sorted(group) == sorted([[12, 1, 1, 6, 20], [1, 2, 11, 6, 20], [1, 2, 1, 16, 20]])
    # table 二's undeterminable runs: all splits offered
    reg = next(a for a in readings.ambiguities if "active_disclosure.regulations.issued" in a.fields)
    assert sorted(reg.candidates) == [[1, 0, 11], [10, 1, 1]]
    assert readings.cells["active_disclosure.regulations.in_force"].value == 11  # in force ≥ issued


def test_raw_reading_order_table4_is_flagged_with_the_truth_first() -> None:
    path = SAMPLES / "huaian_2024_raw.txt"
    truth = truth_for(path)
    readings = read_tables(path.read_text("utf-8"), truth["format"])
    assert wrong_cells(readings, truth, allow_ambiguous=False) == [
        f"unexpected ambiguity review_litigation.review.upheld… run {readings.ambiguities[0].run!r}"
    ]
    amb = readings.ambiguities[0]
    assert amb.chosen == 0 and len(amb.candidates) > 1
    want = numeric_truth(truth)
    assert [want[f] for f in amb.fields] == amb.candidates[0]
