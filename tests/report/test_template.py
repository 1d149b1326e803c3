"""The template as data: keys match the truth files, identities hold on real and generated truths,
and every row's fuzzy label keys name that row and no other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from report.cells import clean
from report.readings import ReportFormat
from report.template import (
    TEMPLATES,
    all_keys,
    application_keys,
    identities,
    identity_holds,
    template,
)
from tests.report.conftest import SAMPLES, numeric_truth, run_tool

FORMATS = [ReportFormat.V2021, ReportFormat.TRIAL_2019]


def _truth_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.truth.json"))


@pytest.mark.parametrize("path", _truth_files(), ids=lambda p: p.name)
def test_all_keys_are_the_truth_files_keys(path: Path) -> None:
    truth = json.loads(path.read_text("utf-8"))
    keys = all_keys(truth["format"])
    assert len(keys) == len(set(keys))
    assert set(keys) == set(numeric_truth(truth))


def test_key_counts() -> None:
    assert len(all_keys("2021")) == 200
    # 2019-trial: 22 table-二 cells, 23 rows × 7, 15 table-四 cells
    assert len(all_keys("2019-trial")) == 22 + 23 * 7 + 15
    assert "applications.other.total" in all_keys("2019-trial")
    assert "applications.other_other.total" not in all_keys("2019-trial")
    assert "active_disclosure.procurement.amount_yuan" in all_keys("2019-trial")


def test_pre2019_has_no_template() -> None:
    with pytest.raises(KeyError):
        template(ReportFormat.PRE_2019)


@pytest.mark.parametrize("fmt", FORMATS)
def test_identity_cells_are_template_cells(fmt: ReportFormat) -> None:
    keys = set(all_keys(fmt))
    ids = identities(fmt)
    checks = {i.check for i in ids}
    assert checks == {
        "applications.balance",
        "applications.outcomes",
        "applications.row_total",
        "review_litigation.group_total",
    }
    for i in ids:
        assert set(i.keys) <= keys, i
    n_rows = len(template(fmt).application_rows)
    assert sum(i.check == "applications.row_total" for i in ids) == n_rows
    assert len(application_keys(fmt)) == n_rows * 7


@pytest.mark.parametrize("path", _truth_files(), ids=lambda p: p.name)
def test_identities_hold_on_sample_truths_and_break_when_a_cell_moves(path: Path) -> None:
    truth = json.loads(path.read_text("utf-8"))
    values = numeric_truth(truth)
    ids = identities(truth["format"])
    assert all(identity_holds(i, values) for i in ids)
    for i in ids:  # one more in any involved cell breaks that identity
        moved = dict(values)
        key = i.rhs[0]
        moved[key] = (moved[key] or 0) + 1
        assert not identity_holds(i, moved), (i.check, i.scope)


@pytest.mark.parametrize("fmt", FORMATS)
def test_identities_hold_on_generated_truths(fmt: ReportFormat, tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        out = tmp_path / f"{seed}.json"
        run_tool("make_truth.py", "--format", fmt.value, "--seed", str(seed), "-o", out)
        truth = json.loads(out.read_text("utf-8"))
        assert set(numeric_truth(truth)) == set(all_keys(fmt))
        assert all(identity_holds(i, numeric_truth(truth)) for i in identities(fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzzy_keys_name_their_row_only(fmt: ReportFormat) -> None:
    t = TEMPLATES[fmt]
    rows = t.application_rows
    for row in rows:
        full = clean(row.full_label)
        assert any(clean(k) in full for k in row.match), row.key
        for other in rows:
            if other is row:
                continue
            for k in row.match:
                # short keys ("其他") are only accepted as a whole cell; see report.tables
                if len(clean(k)) > 2:
                    assert clean(k) not in clean(other.full_label), (row.key, k, other.key)


@pytest.mark.parametrize("fmt", FORMATS)
def test_outcome_rows(fmt: ReportFormat) -> None:
    t = TEMPLATES[fmt]
    outs = t.outcome_keys
    assert "total_handled" not in outs and "granted" in outs and "new_received" not in outs
    assert ("other" in outs) == (fmt == ReportFormat.TRIAL_2019)
    assert ("other_other" in outs) == (fmt == ReportFormat.V2021)


def test_decimal_and_signed_keys() -> None:
    assert TEMPLATES[ReportFormat.V2021].decimal_keys == {"active_disclosure.fees.amount_10k_yuan"}
    assert not TEMPLATES[ReportFormat.V2021].signed_keys
    trial = TEMPLATES[ReportFormat.TRIAL_2019]
    assert trial.signed_keys <= set(all_keys(ReportFormat.TRIAL_2019))
    assert all(k.endswith(".change") for k in trial.signed_keys) and len(trial.signed_keys) == 5
