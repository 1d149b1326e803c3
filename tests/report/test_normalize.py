from __future__ import annotations

from report.normalize import is_traditional, normalize_label, normalize_text
from tests.report.conftest import EXCERPTS, SAMPLES


def test_full_width_characters_become_ascii() -> None:
    out = normalize_text("第二十条第（一）项\n本年收费金额（单位：万元）\n１２３\u3000").text
    assert out == "第二十条第(一)项\n本年收费金额(单位:万元)\n123 "


def test_page_footers_removed_and_table_rows_join_across_the_break() -> None:
    text = "行政处罚 | 3 |\n- 4 -\n行政强制 | 5 |\n          -5-\n第 6 页\n\f(七)总计 | 9 |"
    norm = normalize_text(text)
    assert norm.text.split("\n") == ["行政处罚 | 3 |", "行政强制 | 5 |", "", "(七)总计 | 9 |"]
    assert norm.removed == ["- 4 -", "-5-", "第 6 页"]


def test_a_bare_number_line_is_a_cell_not_a_footer() -> None:
    # one-cell-per-line layouts print values alone on a line: never drop them
    assert normalize_text("规章\n4\n0\n12").text == "规章\n4\n0\n12"


def test_page_chrome_and_metadata_table_removed() -> None:
    text = (
        "当前位置：首页 > 政务公开 > 年报\n字号：大 中 小\n索引号：001/2024-01\n发布机构：某某局\n"
        "某某局2024年政府信息公开工作年度报告\n一、总体情况\n来源：本局统计\n"
    )
    norm = normalize_text(text)
    assert norm.text.startswith("某某局2024年政府信息公开工作年度报告\n一、总体情况\n来源:本局统计")
    assert "索引号:001/2024-01" in norm.removed
    assert len(norm.removed) == 4


def test_simplified_text_is_left_alone() -> None:
    text = "乾县人民政府办公室2023年政府信息公开工作年度报告,发布于乾县。"
    assert not is_traditional(text)
    assert normalize_text(text).text == text  # t2s would write 干县


def test_traditional_mirror_is_converted_and_the_file_misconversion_undone() -> None:
    raw = (EXCERPTS / "wuhan_sthjj_2020_trial_traditional_excerpt.txt").read_text("utf-8")
    norm = normalize_text(raw)
    assert norm.traditional
    assert "规范性文件(行政机关制定发布的决定" in norm.text
    assert "本年新 制作数量" in norm.text
    assert "檔" not in norm.text and "档案" not in norm.text


def test_samples_are_not_mistaken_for_traditional() -> None:
    for p in SAMPLES.glob("*.txt"):
        assert not normalize_text(p.read_text("utf-8")).traditional, p.name


def test_labels_flatten_whitespace_numbering_and_quotes() -> None:
    assert normalize_label("（二）部分公开（区分处理的，只计这一情\n形，不计其他情形）") == (
        "(二)部分公开(区分处理的,只计这一情形,不计其他情形)"
    )
    assert normalize_label("1、 本机关不掌握相关政府信息") == "1.本机关不掌握相关政府信息"
    assert normalize_label("3.危及“三安全一稳定”") == '3.危及"三安全一稳定"'
    assert normalize_label("商业企\n业") == "商业企业"
    assert normalize_label("規範性檔案") == "规范性档案"


def test_taiwan_phrases_mapped_back_but_archive_bureaus_kept() -> None:
    text = "某市檔案局2023年政府資訊公開工作年度報告\n規範性檔案 | 2 | 2 | 19 |\n本局檔案館開放。"
    out = normalize_text(text).text
    assert out.split("\n") == [
        "某市档案局2023年政府信息公开工作年度报告",
        "规范性文件 | 2 | 2 | 19 |",
        "本局档案馆开放。",
    ]
