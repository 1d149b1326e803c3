from __future__ import annotations

from pathlib import Path

import pytest

from report.metadata import detect_format, extract_metadata
from report.normalize import normalize_text
from report.readings import ReportFormat
from report.sections import find_sections
from tests.report.conftest import EXCERPTS, FIXTURES, SAMPLES, sample_documents, truth_for

TEXTS = [p for p in sample_documents() if p.suffix == ".txt"]


def _meta(text: str) -> tuple[str | None, int | None]:
    norm = normalize_text(text)
    s = find_sections(norm.text)
    m = extract_metadata(norm.text, s.preamble, s.plain(1), norm.removed)
    return m.agency, m.year


def _format(text: str) -> ReportFormat | None:
    return detect_format(normalize_text(text).text).format


@pytest.mark.parametrize("path", TEXTS, ids=[p.name for p in TEXTS])
def test_agency_year_format_match_every_truth(path: Path) -> None:
    text, truth = path.read_text("utf-8"), truth_for(path)
    assert _meta(text) == (truth["agency"], truth["year"])
    assert _format(text) == ReportFormat(truth["format"])


@pytest.mark.parametrize(
    ("text", "agency", "year"),
    [
        (
            "本年度报告由津市市工业和信息化局(以下简称“市工信局”)编制。2024年,共收到申请0件。",
            "津市市工业和信息化局",
            2024,
        ),
        (
            "工业信息和科技局 2023 年政府信息公开工作年度报告\n发布日期:2024-01-20\n一、总体情况\n",
            "工业信息和科技局",
            2023,
        ),
        ("淮安市人民政府\n2024 年政府信息公开工作年度报告\n一、总体情况\n", "淮安市人民政府", 2024),
        ("会宁县工业和信息化局关于2021年度政府信息公开工作年度报告\n", "会宁县工业和信息化局", 2021),
        ("# 牧野区工业和信息化局 2024 年政府信息公开工作年度报告\n", "牧野区工业和信息化局", 2024),
        ("根据《条例》规定,现公布区统计局2023年政府信息公开工作年度报告。\n一、总体情况\n", "区统计局", 2023),
        ("2023年度淮安市人民政府办公室政府信息公开工作年度报告\n", "淮安市人民政府办公室", 2023),
        ("某某县2022年政府信息公开工作年度报告\n本报告由某某县人民政府办公室编制。", "某某县", 2022),
        ("某某市财政局政府信息公开工作年度报告（2022年度）\n", "某某市财政局", 2022),
        ("2023年,在区委领导下,官洲街道办事处认真贯彻落实《条例》。", "官洲街道办事处", 2023),
    ],
)
def test_agency_and_year_phrasings(text: str, agency: str, year: int) -> None:
    assert _meta(text) == (agency, year)


def test_year_reported_on_not_publication_year() -> None:
    text = (
        "一、总体情况\n2023年,我局主动公开信息20条。2023年未收到申请。\n2024年1月将继续改进。\n"
        "某局\n2024年1月15日\n"
    )
    assert _meta(text)[1] == 2023


def test_seed_002_without_full_header_is_2021() -> None:
    text = (SAMPLES / "002_64184a962bfd4335.txt").read_text("utf-8")
    assert "本年制发件数" not in text and "现行有效件数" not in text
    guess = detect_format(normalize_text(text).text)
    assert guess.format == ReportFormat.V2021
    assert any("补正" in e or "缴纳费用" in e for e in guess.evidence)


def test_traditional_trial_excerpt_is_2019_trial() -> None:
    text = (EXCERPTS / "wuhan_sthjj_2020_trial_traditional_excerpt.txt").read_text("utf-8")
    assert _format(text) == ReportFormat.TRIAL_2019


def test_pre_2019_fixture() -> None:
    text = (FIXTURES / "pre2019_report.txt").read_text("utf-8")
    assert _format(text) == ReportFormat.PRE_2019
    assert _meta(text) == ("某某县人民政府办公室", 2016)


def test_format_never_from_year_alone() -> None:
    assert _format("某局2020年政府信息公开工作年度报告\n一、总体情况\n本年无变化。") is None
    assert _format("某局2016年政府信息公开工作年度报告\n本年制发件数 本年废止件数 现行有效件数") == (
        ReportFormat.V2021
    )
