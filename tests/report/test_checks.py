from __future__ import annotations

from typing import Any

import pytest

from report import template as tpl
from report.checks import check_flags, prose_facts, run_checks, soft_checks
from report.readings import Number, ReportFormat
from tests.report.conftest import SAMPLES, numeric_truth, truth_for

F21 = ReportFormat.V2021


@pytest.fixture
def huaian() -> dict[str, Any]:
    return numeric_truth(truth_for(SAMPLES / "huaian_2024_layout.txt"))


def _failing(values: dict[str, Number | None]) -> list[tuple[str, str, Number | None]]:
    return [(r.name, r.scope, r.difference) for r in run_checks(values, F21) if r.passed is False]


def test_every_identity_is_checked_per_column_row_and_group(huaian: dict[str, Any]) -> None:
    results = run_checks(huaian, F21)
    names = [(r.name, r.scope) for r in results]
    assert len(names) == 7 + 7 + 25 + 3  # balance and outcomes per column, one per row, one per group
    assert ("applications.outcomes", "legal_service_institution") in names
    assert ("review_litigation.group_total", "litigation_after_review") in names
    assert all(r.passed for r in results)


def test_all_truths_satisfy_the_identities() -> None:
    for truth_file in SAMPLES.glob("*.truth.json"):
        values = numeric_truth(truth_for(SAMPLES / (truth_file.name[: -len(".truth.json")] + ".x")))
        assert _failing(values) == [], truth_file.name


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "applications.granted.commercial_enterprise",
            {
                ("applications.outcomes", "commercial_enterprise", 5),
                ("applications.row_total", "granted", 5),
            },
        ),
        (
            "applications.new_received.total",
            {("applications.balance", "total", -5), ("applications.row_total", "new_received", -5)},
        ),
        (
            "applications.total_handled.natural_person",
            {
                ("applications.balance", "natural_person", 5),
                ("applications.outcomes", "natural_person", -5),
                ("applications.row_total", "total_handled", 5),
            },
        ),
        (
            "review_litigation.litigation_direct.pending",
            {("review_litigation.group_total", "litigation_direct", 5)},
        ),
    ],
)
def test_corrupting_one_cell_fails_exactly_the_checks_naming_it(
    huaian: dict[str, Any], key: str, expected: set[tuple[str, str, int]]
) -> None:
    values = dict(huaian)
    values[key] = (values[key] or 0) + 5
    assert set(_failing(values)) == expected
    flags = check_flags(run_checks(values, F21))
    assert len(flags) == len(expected)
    assert all(key in f.fields and f.reason == "check_failed" for f in flags)


def test_failing_outcomes_flag_every_cell_involved(huaian: dict[str, Any]) -> None:
    values = dict(huaian)
    values["applications.total_handled.other_organization"] = (
        values["applications.total_handled.other_organization"] + 18
    )
    flags = check_flags(run_checks(values, F21))
    (flag,) = [f for f in flags if f.detail.startswith("applications.outcomes [other_organization]")]
    assert set(flag.fields) == {
        tpl.app_key(r, "other_organization") for r in (*tpl.TEMPLATE_2021.outcome_keys, "total_handled")
    }
    assert "difference -18" in flag.detail


def test_blank_counts_as_zero_and_stays_null(huaian: dict[str, Any]) -> None:
    values: dict[str, Number | None] = dict(huaian)
    zeros = [k for k, v in values.items() if v == 0]
    for k in zeros:
        values[k] = None
    assert _failing(values) == []
    assert all(values[k] is None for k in zeros)


def test_missing_cells_are_not_evaluated(huaian: dict[str, Any]) -> None:
    found = set(huaian) - {"review_litigation.review.upheld"}
    results = {(r.name, r.scope): r for r in run_checks(huaian, F21, found)}
    assert results[("review_litigation.group_total", "review")].passed is None
    assert results[("review_litigation.group_total", "litigation_direct")].passed is True


def test_prose_totals_and_soft_warnings(huaian: dict[str, Any]) -> None:
    overview = (
        "全市共受理政府信息公开申请 3119 件，答复 3050 件"
        "（含上年度结转申请 34 件，另有 103 件顺延到下年度答复）。"
        "政府信息公开行政复议 351 件，其中结果维持 72 件，结果纠正 64 件，其他结果 178 件，尚未审结 37 件；"
        "政府信息公开行政诉讼 46 件，其中结果维持 25 件，结果纠正 5 件，其他结果 9 件，尚未审结 7 件。"
    )
    facts = {f.keys: f.value for f in prose_facts(overview)}
    assert facts[("applications.new_received.total",)] == 3119
    assert facts[("applications.carried_forward.total",)] == 103
    lit = ("review_litigation.litigation_direct.upheld", "review_litigation.litigation_after_review.upheld")
    assert facts[lit] == 25
    assert soft_checks(huaian, F21, prose_facts(overview)) == []
    values = dict(huaian)
    values["review_litigation.litigation_after_review.upheld"] = 1
    (warning,) = soft_checks(values, F21, prose_facts(overview))
    assert warning.name == "prose_vs_table" and (warning.expected, warning.actual) == (25, 14)


def test_negative_count_in_2021_is_a_warning(huaian: dict[str, Any]) -> None:
    values = dict(huaian)
    values["active_disclosure.penalty.decisions"] = -3
    (w,) = soft_checks(values, F21, [])
    assert w.name == "negative_count" and w.fields == ["active_disclosure.penalty.decisions"]


def test_trial_format_uses_its_single_other_row() -> None:
    names = {(r.name, r.scope) for r in run_checks({}, ReportFormat.TRIAL_2019)}
    assert ("applications.row_total", "other") in names
    assert ("applications.row_total", "other_other") not in names


def test_carried_over_against_last_years_report(huaian: dict[str, Any]) -> None:
    from report.checks import previous_year_check

    last_year = {
        tpl.app_key("carried_forward", c.key): huaian[tpl.app_key("carried_over", c.key)]
        for c in tpl.APPLICANT_COLUMNS
    }
    assert previous_year_check(huaian, last_year) == []
    last_year[tpl.app_key("carried_forward", "total")] += 2
    (w,) = previous_year_check(huaian, last_year)
    assert w.fields == ["applications.carried_over.total"] and w.expected == w.actual + 2
