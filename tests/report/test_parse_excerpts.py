"""Excerpts (real layouts, cut off mid-table), generated reports of both national formats, a
pre-2019 fixture, and text that is no report at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from report import NotAReportError, parse_text
from report.model import Report
from tests.report.conftest import (
    EXCERPTS,
    FIXTURES,
    SAMPLES,
    TABLES,
    covered,
    numeric_truth,
    run_tool,
)

EXCERPT_FILES = sorted(EXCERPTS.glob("*.txt"))


def _parse(name: str) -> Report:
    return parse_text((EXCERPTS / name).read_text("utf-8"))


def _unaccounted(report: Report) -> list[str]:
    """Keys with no value, no placeholder text and no flag: a silent hole."""
    flags = report.to_canonical()["flags"]
    return [k for k, c in report.cells.items() if c.value is None and c.raw is None and not covered(k, flags)]


@pytest.mark.parametrize("path", EXCERPT_FILES, ids=[p.name for p in EXCERPT_FILES])
def test_excerpt_parses_and_leaves_no_silent_hole(path: Path) -> None:
    report = parse_text(path.read_text("utf-8"))
    canonical = report.to_canonical()
    json.dumps(canonical, ensure_ascii=False)  # serialisable
    assert _unaccounted(report) == []
    assert canonical["needs_review"] is True  # every excerpt is cut off somewhere


# (excerpt, {key: value read by eye from the excerpt})
EYEBALLED: list[tuple[str, dict[str, Any]]] = [
    (
        "longgang_2024_pipe_excerpt.txt",
        {
            "active_disclosure.normative_documents.issued": 5,
            "active_disclosure.normative_documents.repealed": 1,
            "active_disclosure.normative_documents.in_force": 25,
            "applications.new_received.natural_person": 58,
            "applications.new_received.commercial_enterprise": 7,
            "applications.new_received.legal_service_institution": 1,
            "applications.new_received.total": 66,
            "applications.carried_over.total": 2,
            "applications.partially_granted.natural_person": 16,
            "applications.partially_granted.total": 17,
            "applications.denied_internal_affairs.total": 1,
        },
    ),
    ("haizhu_guanzhou_2023_pipe_excerpt.txt", {"active_disclosure.penalty.decisions": 1472}),
    (
        "hanyang_2022_cells_excerpt.txt",
        {
            "active_disclosure.normative_documents.issued": 5,
            "active_disclosure.normative_documents.repealed": 12,
            "active_disclosure.normative_documents.in_force": 8,
            "active_disclosure.regulations.in_force": None,
            "applications.new_received.natural_person": 8,
            "applications.new_received.total": 8,
        },
    ),
    (
        "district_stats_bureau_2023_cells_blanks_excerpt.txt",
        {
            "active_disclosure.regulations.issued": None,
            "active_disclosure.normative_documents.in_force": 0,
            "applications.new_received.natural_person": None,
            "applications.new_received.total": 0,
        },
    ),
    (
        "jiuyuan_2022_pipe_colspan_excerpt.txt",
        {
            "applications.new_received.natural_person": 1,
            "applications.new_received.total": 1,
            "applications.denied_state_secret.total": 0,
        },
    ),
    (
        "huaian_2024_pypdf_fragment_excerpt.txt",
        {
            "active_disclosure.penalty.decisions": 3985758,
            "active_disclosure.enforcement.decisions": 88283,
            "active_disclosure.fees.amount_10k_yuan": 96171.6,
            "applications.new_received.natural_person": 3001,
            "applications.new_received.total": 3119,
            "applications.granted.total": 1362,
        },
    ),
    (
        "wuhan_sthjj_2020_trial_traditional_excerpt.txt",
        {
            "active_disclosure.normative_documents.new_made": 2,
            "active_disclosure.normative_documents.total_published": 19,
            "active_disclosure.licensing.decisions": 93,
            "active_disclosure.other_admin_services.previous_year": 117,
            "active_disclosure.penalty.previous_year": 90,
            "active_disclosure.enforcement.decisions": None,
        },
    ),
]


@pytest.mark.parametrize(("name", "cells"), EYEBALLED, ids=[e[0] for e in EYEBALLED])
def test_excerpt_cells_read_by_eye(name: str, cells: dict[str, Any]) -> None:
    report = _parse(name)
    got = {k: report.value(k) for k in cells}
    assert got == cells
    # a blank the excerpt prints is a found cell (raw placeholder), not a missing one
    for k, v in cells.items():
        if v is None:
            assert not [f for f in report.flagged(k) if f.reason == "missing"], k


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        (
            "longgang_2024_pipe_excerpt.txt",
            ["applications.carried_forward.total", "review_litigation.review.total"],
        ),
        ("haizhu_guanzhou_2023_pipe_excerpt.txt", ["applications.total_handled.total"]),
        (
            "jiuyuan_2022_pipe_colspan_excerpt.txt",
            ["applications.denied_third_party_rights.total", "review_litigation"],
        ),
    ],
)
def test_rows_after_the_cut_are_flagged_missing(name: str, missing: list[str]) -> None:
    report = _parse(name)
    for key in missing:
        reasons = {f.reason for f in report.flagged(key)}
        assert "missing" in reasons, key


def test_traditional_excerpt_is_2019_trial() -> None:
    report = _parse("wuhan_sthjj_2020_trial_traditional_excerpt.txt")
    assert report.format == "2019-trial"
    assert report.year == 2020


def test_guihuaping_tables_as_images_are_missing_and_flagged() -> None:
    report = _parse("guihuaping_2020_tables_missing_excerpt.txt")
    canonical = report.to_canonical()
    assert (report.agency, report.year) == ("桂花坪街道", 2020)
    for table in TABLES:
        assert any(table in f["fields"] and f["reason"] == "missing" for f in canonical["flags"]), table
    assert all(v is None for v in numeric_truth(canonical).values())
    assert any(f["fields"] == ["format"] for f in canonical["flags"])  # guessed from the year, flagged
    assert "桂花坪街道在做好疫情防控" in (canonical["sections"]["overview"] or "")


def test_zhengyang_arabic_headings_and_repeated_title() -> None:
    report = _parse("zhengyang_2023_misnumbered_headings_excerpt.txt")
    assert (report.agency, report.year) == ("正阳街道办事处", 2023)
    assert (report.sections["overview"] or "").startswith("2023年度,正阳街道")


def test_pre_2019_report_is_recognised_not_rejected() -> None:
    report = parse_text((FIXTURES / "pre2019_report.txt").read_text("utf-8"))
    canonical = report.to_canonical()
    assert (canonical["format"], canonical["agency"], canonical["year"]) == (
        "pre-2019",
        "某某县人民政府办公室",
        2016,
    )
    assert canonical["needs_review"] is True
    assert {t for f in canonical["flags"] if f["reason"] == "missing" for t in f["fields"]} >= set(TABLES)
    # its own numbering (六、存在的主要问题…, 七、其他需要报告的事项) still finds the texts
    assert canonical["sections"] == {
        "overview": "2016年,县政府办公室认真贯彻落实《条例》,全年主动公开政府信息356条。",
        "problems_and_improvements": "政府信息公开的及时性有待提高。",
        "other_matters": "无。",
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "今天天气很好，我们去公园散步。\n明天继续。",
        "关于召开2024年度安全生产工作会议的通知\n各科室：定于下周一召开会议。",
    ],
)
def test_not_a_report(text: str) -> None:
    with pytest.raises(NotAReportError) as err:
        parse_text(text)
    assert err.value.code == "not_a_report"
    assert "政府信息公开工作年度报告" in str(err.value)


def _generated(tmp_path: Path, fmt: str, seed: int, layout: str) -> tuple[dict[str, Any], Report]:
    truth_file = tmp_path / f"t-{fmt}-{seed}.json"
    run_tool("make_truth.py", "--format", fmt, "--seed", str(seed), "-o", truth_file)
    text = run_tool("render_text_layouts.py", truth_file, "--layout", layout).stdout
    return json.loads(truth_file.read_text("utf-8")), parse_text(text)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_2019_trial_report_is_recognised_and_read(tmp_path: Path, seed: int) -> None:
    truth, report = _generated(tmp_path, "2019-trial", seed, "pipes")
    assert (report.format, report.agency, report.year) == ("2019-trial", truth["agency"], truth["year"])
    _assert_no_silent_error(truth, report)


@pytest.mark.parametrize("layout", ["pipes", "cells", "flattened"])
@pytest.mark.parametrize("seed", [4, 5])
def test_generated_2021_reports_have_no_silent_error(tmp_path: Path, seed: int, layout: str) -> None:
    truth, report = _generated(tmp_path, "2021", seed, layout)
    assert (report.format, report.agency, report.year) == ("2021", truth["agency"], truth["year"])
    _assert_no_silent_error(truth, report)


def _assert_no_silent_error(truth: dict[str, Any], report: Report) -> None:
    canonical = report.to_canonical()
    want, have = numeric_truth(truth), numeric_truth(canonical)
    assert set(have) == set(want)
    silent = {k: (v, have[k]) for k, v in want.items() if have[k] != v and not covered(k, canonical["flags"])}
    assert silent == {}


def test_low_confidence_ocr_cells_are_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    import report.parse as parse_module
    from report.readings import CellSource

    real = parse_module.read_tables
    key = "applications.granted.natural_person"

    def ocr_like(*args: Any, **kwargs: Any) -> Any:
        readings = real(*args, **kwargs)
        for k, cell in readings.cells.items():
            confidence = 0.41 if k == key else 0.97
            readings.cells[k] = cell.model_copy(update={"source": CellSource.OCR, "confidence": confidence})
        return readings

    monkeypatch.setattr(parse_module, "read_tables", ocr_like)
    report = parse_text((SAMPLES / "synthetic_001_pipes.txt").read_text("utf-8"))
    (flag,) = report.flags
    assert (flag.reason, flag.fields) == ("low_confidence", [key])
    assert report.to_canonical()["provenance"][key] == "ocr"


@pytest.mark.parametrize(("confidence", "flagged"), [(0.55, True), (0.93, False)])
def test_cells_from_poorly_recognised_ocr_text_are_flagged(confidence: float, flagged: bool) -> None:
    from report import parse_document
    from report.document import Document, Page, PageMethod

    text = (SAMPLES / "synthetic_001_pipes.txt").read_text("utf-8")
    doc = Document(
        media_type="image/png",
        pages=[Page(number=1, text=text, method=PageMethod.OCR, confidence=confidence)],
    )
    report = parse_document(doc)
    key = "applications.granted.total"
    assert report.value(key) == 1
    assert ({f.reason for f in report.flagged(key)} == {"low_confidence"}) is flagged


def test_empty_text_is_not_a_report() -> None:
    with pytest.raises(NotAReportError, match="no text"):
        parse_text(" \n\f ")


_FRAGMENTS = [
    "一、总体情况",
    "二、主动公开政府信息情况",
    "三、收到和处理政府信息公开申请情况",
    "四、政府信息公开行政复议、行政诉讼情况",
    "五、存在的主要问题及改进情况",
    "六、其他需要报告的事项",
    "某区财政局2023年政府信息公开工作年度报告",
    "第二十条第（一）项",
    "信息内容 | 本年制发件数 | 本年废止件数 | 现行有效件数 |",
    "规章 | 0 | 1 | 2 |",
    "行政规范性文件 | 3 | / | 5 |",
    "（七）总计 | 1 | 0 | 0 | 0 | 0 | 0 | 1 |",
    "(一)予以公开 | 2 | 0 | 0 | 0 | 0 | 0 | 2",
    "3.其他",
    "- 4 -",
    "行政复议 351 件，其中结果维持 72 件",
    "12 1 1 6 20",
    "1211620",
    "|",
    "",
]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=12), max_size=30))
def test_any_text_gives_a_report_without_silent_holes_or_a_not_a_report_error(parts: list[str]) -> None:
    try:
        report = parse_text("\n".join(parts))
    except NotAReportError:
        return
    assert _unaccounted(report) == []
    assert report.to_canonical()["needs_review"] == bool(report.flags)
