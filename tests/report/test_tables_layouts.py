"""Layout quirks of real reports, on small texts made from the samples and the DOMAIN examples."""

from __future__ import annotations

import itertools
import re

import pytest

from report.cells import parse_number
from report.document import Grid
from report.readings import CellSource
from report.tables import read_tables
from report.template import all_keys
from tests.report.conftest import SAMPLES, numeric_truth, truth_for
from tests.report.tables_util import same, truth_grids, wrong_cells


def test_cell_values() -> None:
    assert parse_number("96171.6") == 96171.6
    assert parse_number("12.345678") == 12.345678
    assert parse_number("0.000000") == 0
    assert parse_number("251000元") == 251000
    assert parse_number("3,119") == 3119
    assert parse_number("\u00a00") == 0
    assert parse_number("-8") == -8
    for blank in ("", "/", "-", "—", "无", " ／ "):
        assert parse_number(blank) is None, blank
    assert parse_number("-4-") is None  # a page footer is not a number


TRIAL_T2 = """二、主动公开政府信息情况
| 第二十条第（一）项 | | | |
| 信息内容 | 本年新制作数量 | 本年新公开数量 | 对外公开总数量 |
| 规章 | 1 | 1 | 12 |
| 规范性文件 | 3 | 3 | 40 |
| 第二十条第（五）项 | | | |
| 信息内容 | 上一年项目数量 | 本年增/减 | 处理决定数量 |
| 行政许可 | 20 | -3 | 1500 |
| 其他对外管理服务事项 | 5 | 0 | 7 |
| 第二十条第（六）项 | | | |
| 信息内容 | 上一年项目数量 | 本年增/减 | 处理决定数量 |
| 行政处罚 | 30 | -8 | 211 |
| 行政强制 | 4 | — | 9 |
| 第二十条第（八）项 | | | |
| 信息内容 | 上一年项目数量 | 本年增/减 | |
| 行政事业性收费 | 2 | -1 | |
| 第二十条第（九）项 | | | |
| 信息内容 | 采购项目数量 | 采购总金额 | |
| 政府集中采购 | 6 | 251000元 | |
三、收到和处理政府信息公开申请情况
"""


def test_trial_table2_negatives_units_and_dashes() -> None:
    r = read_tables(TRIAL_T2, "2019-trial")
    v = {k.split(".", 1)[1]: c.value for k, c in r.cells.items() if k.startswith("active_disclosure")}
    assert v["licensing.change"] == -3 and v["penalty.change"] == -8 and v["fees.change"] == -1
    assert v["enforcement.change"] is None and r.cells["active_disclosure.enforcement.change"].raw == "—"
    assert v["procurement.amount_yuan"] == 251000
    assert r.cells["active_disclosure.procurement.amount_yuan"].raw == "251000元"
    assert v["other_admin_services.decisions"] == 7 and v["normative_documents.total_published"] == 40
    assert "active_disclosure" not in r.missing and not r.ambiguities


def test_markdown_and_tabs_of_the_same_table_agree() -> None:
    path = SAMPLES / "synthetic_001_pipes.txt"
    truth = truth_for(path)
    md = path.read_text("utf-8")
    tabs = "\n".join(
        "\t".join(c.strip() for c in line.strip().strip("|").split("|")) if line.startswith("|") else line
        for line in md.splitlines()
        if not re.fullmatch(r"\|(-{3}\|)+", line.strip())
    )
    assert "\t" in tabs and "|" not in tabs.split("三、收到")[1].split("四、政府")[0]
    for text in (md, tabs):
        assert wrong_cells(read_tables(text, "2021"), truth, allow_ambiguous=False) == []


def test_page_footer_and_repeated_header_inside_table3() -> None:
    path = SAMPLES / "synthetic_huaian_2024_pipes.txt"
    truth = truth_for(path)
    lines = path.read_text("utf-8").splitlines()
    at = next(i for i, x in enumerate(lines) if "2.没有现成信息" in x)
    header = [x for x in lines if x.startswith("| 自然人") or x.startswith("| 商业企业")]
    assert len(header) == 2
    broken = [*lines[:at], "", "- 4 -", "", *header, *lines[at:]]
    assert wrong_cells(read_tables("\n".join(broken), "2021"), truth, allow_ambiguous=False) == []


def test_page_footer_between_the_cells_of_a_row() -> None:
    # one cell per line across a page break: the footer sits among a row's cells
    path = SAMPLES / "synthetic_huaian_2024_cells.txt"
    truth = truth_for(path)
    lines = path.read_text("utf-8").splitlines()
    at = next(i for i, x in enumerate(lines) if "2.没有现成信息" in x) + 3
    for footer in ("- 4 -", "-4-"):
        broken = [*lines[:at], footer, *lines[at:]]
        assert wrong_cells(read_tables("\n".join(broken), "2021"), truth, allow_ambiguous=False) == []


def test_a_broken_identity_is_read_as_printed() -> None:
    # the report's own arithmetic is wrong: the reader must not "fix" it (the checks flag it)
    path = SAMPLES / "synthetic_huaian_2024_pipes.txt"
    text = path.read_text("utf-8").replace("| （七）总计 | 2932 |", "| （七）总计 | 2939 |")
    r = read_tables(text, "2021")
    assert r.cells["applications.total_handled.natural_person"].value == 2939
    assert not r.ambiguities


def test_glued_domain_example_row() -> None:
    # DOMAIN: "…本机关不掌握相关政府信息2200003252.没有现成…" is 22|0|0|0|0|3|25 + the label "2.没有现成…"
    path = SAMPLES / "synthetic_001_flattened.txt"
    truth = truth_for(path)
    want = numeric_truth(truth)
    row = [want[f"applications.unable_not_held.{c}"] for c in ("natural_person", "total")]
    text = path.read_text("utf-8")
    r = read_tables(text, "2021")
    assert [r.cells[f"applications.unable_not_held.{c}"].value for c in ("natural_person", "total")] == row
    assert all(r.cells[k].source == CellSource.SPLIT for k in all_keys("2021"))


def test_grids_win_over_text_only_when_more_complete() -> None:
    path = SAMPLES / "huaian_2024_layout.txt"
    truth = truth_for(path)
    text = path.read_text("utf-8")
    grids = truth_grids(truth)
    # table 三 only as a grid (e.g. the other tables were images): the text still gives 二 and 四
    r = read_tables(text, "2021", grids=[grids[1]])
    assert wrong_cells(r, truth, allow_ambiguous=False) == []
    assert r.cells["applications.granted.total"].source == CellSource.GRID
    assert r.cells["review_litigation.review.total"].source == CellSource.LAYOUT
    # OCR confidence is carried through
    g = Grid.model_validate(grids[1].model_dump())
    for row in g.rows:
        for cell in row:
            cell.confidence = 0.5
    r = read_tables("", "2021", grids=[g])
    assert r.cells["applications.granted.total"].confidence == 0.5
    assert "review_litigation" in r.missing and "active_disclosure" in r.missing


def test_pre2019_and_empty_text() -> None:
    assert set(read_tables("一、总体情况", "pre-2019").missing) == {
        "active_disclosure",
        "applications",
        "review_litigation",
    }
    assert read_tables("", "2021").cells == {}


def test_a_run_broken_by_unknown_text_is_missing_not_guessed() -> None:
    path = SAMPLES / "synthetic_huaian_2024_flattened.txt"
    truth = truth_for(path)
    text = path.read_text("utf-8")
    label = "1.本机关不掌握相关政府信息"
    at = text.index(label) + len(label)
    broken = text[: at + 3] + "件" + text[at + 3 :]  # "746件12001017692.没有现成…"
    r = read_tables(broken, "2021")
    assert "applications.unable_not_held" in r.missing
    assert not any(k.startswith("applications.unable_not_held.") for k in r.cells)
    want = numeric_truth(truth)
    ambiguous = {f for a in r.ambiguities for f in a.fields}
    for key, cell in r.cells.items():  # everything else: right, or flagged as ambiguous
        assert same(cell.value, want[key]) or key in ambiguous, key


def test_tables_flattened_with_single_spaces() -> None:
    # a crawler that joins cells with one space: each table is one long line
    path = SAMPLES / "synthetic_huaian_2024_cells.txt"
    truth = truth_for(path)
    text = path.read_text("utf-8")
    starts = ("二、主动公开", "三、收到和处理", "四、政府信息公开行政复议", "五、存在")
    heads = [text.index(h) for h in starts]
    out = text[: heads[0]]
    for a, b in itertools.pairwise(heads):
        head, _, body = text[a:b].partition("\n")
        out += head + "\n" + " ".join(body.split()) + "\n"
    out += text[heads[-1] :]
    assert out.count("\n") < text.count("\n") - 200
    assert wrong_cells(read_tables(out, "2021"), truth, allow_ambiguous=False) == []


def test_markdown_emphasis_in_cells() -> None:
    path = SAMPLES / "synthetic_001_pipes.txt"
    truth = truth_for(path)
    text = re.sub(r"\| ([^|\n]+?) (?=\|)", r"| **\1** ", path.read_text("utf-8"))
    assert "**规章**" in text and "**0**" in text
    assert wrong_cells(read_tables(text, "2021"), truth, allow_ambiguous=False) == []


def test_heading_variants() -> None:
    path = SAMPLES / "synthetic_huaian_2024_cells.txt"
    truth = truth_for(path)
    text = path.read_text("utf-8")
    for old, new in [
        ("二、主动公开政府信息情况", "2、主动公开政府信息情况"),
        ("四、政府信息公开行政复议、行政诉讼情况", "四、因政府信息公开工作被申请行政复议和提起行政诉讼情况"),
        ("五、存在的主要问题及改进情况", "五、政府信息公开工作存在的主要问题及改进情况\n2024\n12"),
    ]:
        assert old in text
        text = text.replace(old, new)
    r = read_tables(text, "2021")
    assert wrong_cells(r, truth, allow_ambiguous=False) == []
    # one cell per line, ten of them blank: the numbers after heading 五 are not table 四's cells
    cut = text.replace("\n".join(["13", "4", "8", "1", "26", "12", "1", "1", "6", "20"]), "\n" * 9)
    assert cut != text
    r = read_tables(cut, "2021")
    got = [r.cells[k].value for k in all_keys("2021") if k.startswith("review_litigation.")]
    assert got == [72, 64, 178, 37, 351] + [None] * 10


def test_pdf_layout_with_blank_zeros() -> None:
    # pdftotext -layout of a table printing zero as blank: the blanks leave no trace, the numbers
    # keep their columns. Each row's placements are flagged; the most plausible (by the columns the
    # numbers are printed in) is the right one.
    path = SAMPLES / "huaian_2024_layout.txt"
    truth = truth_for(path)
    for row in truth["applications"].values():
        for col, v in row.items():
            row[col] = None if v == 0 else v
    text = path.read_text("utf-8")
    a, b = text.index("一、本年新收"), text.index("四、政府信息公开行政复议")
    blanked = text[:a] + re.sub(r"(?<=\s)0(?=\s)", " ", text[a:b]) + text[b:]
    assert blanked.count(" 0 ") < text.count(" 0 ")
    r = read_tables(blanked, "2021")
    assert wrong_cells(r, truth, allow_ambiguous=True) == [] and r.missing == []
    assert r.ambiguities  # "2 … 2" could be any column's: flagged
    want = numeric_truth(truth)
    assert [k for k in all_keys("2021") if not same(r.cells[k].value, want[k])] == []


def test_grid_table4_blank_cells_under_spans_left_empty() -> None:
    # a grid whose merged header cells are left empty where they span, and a value row with blanks:
    # the header's empty cells must not shift the numbers (they would still add up, shifted)
    truth = truth_for(SAMPLES / "huaian_2024_layout.txt")
    truth["review_litigation"] = {
        "review": {"upheld": 21, "corrected": 2, "other": 6, "pending": 3, "total": 32},
        "litigation_direct": {"upheld": None, "corrected": None, "other": 1, "pending": None, "total": 1},
        "litigation_after_review": dict.fromkeys(("upheld", "corrected", "other", "pending", "total")),
    }
    r = read_tables("", "2021", grids=truth_grids(truth, repeat_merged=False))
    assert wrong_cells(r, truth, allow_ambiguous=False) == []


def test_pdf_layout_table2_blank_cell() -> None:
    # 规章's 本年废止件数 printed blank in pdftotext -layout: no checksum, so every placement is a
    # candidate; the one under the right header is chosen
    path = SAMPLES / "huaian_2024_layout.txt"
    row = "规章            1          0        11"
    text = path.read_text("utf-8")
    assert row in text
    r = read_tables(text.replace(row, "规章            1                   11"), "2021")
    keys = [f"active_disclosure.regulations.{f}" for f in ("issued", "repealed", "in_force")]
    assert [r.cells[k].value for k in keys] == [1, None, 11]
    amb = next(a for a in r.ambiguities if a.fields == keys)
    assert sorted(amb.candidates, key=str) == sorted([[1, None, 11], [1, 11, None], [None, 1, 11]], key=str)
    assert r.cells["active_disclosure.normative_documents.in_force"].value == 66


@pytest.mark.parametrize("at_label", ["3.其他", "（七）总计", "1.属于国家秘密"])
def test_grid_table3_continued_on_next_page_with_header_repeated(at_label: str) -> None:
    # a table broken across pages repeats its header rows, whose cells include a bare "其他"
    truth = truth_for(SAMPLES / "huaian_2024_layout.txt")
    t2, t3, t4 = (g.texts() for g in truth_grids(truth, repeat_merged=False))
    cut = next(i for i, row in enumerate(t3) if at_label in row)
    pages = [t2, t3[:cut], t3[:3] + t3[cut:], t4]
    r = read_tables("", "2021", grids=[Grid.from_texts(p) for p in pages])  # type: ignore[arg-type]
    assert wrong_cells(r, truth, allow_ambiguous=False) == []
    assert r.missing == []


def test_grid_cell_with_leaked_punctuation_and_unreadable_cell() -> None:
    # pdfplumber sometimes puts the "、" ending a label into the next cell ("、6"); a cell that is
    # not a number at all leaves its row short, and the next row's empty label cells must not fill it
    truth = truth_for(SAMPLES / "huaian_2024_layout.txt")
    t2, t3, t4 = (g.texts() for g in truth_grids(truth, repeat_merged=False))
    row = next(i for i, r in enumerate(t3) if any("缴纳费用" in c for c in r))
    assert t3[row][3] == "6"
    t3[row][3] = "、6"
    r = read_tables("", "2021", grids=[Grid.from_texts(t) for t in (t2, t3, t4)])  # type: ignore[arg-type]
    assert wrong_cells(r, truth, allow_ambiguous=False) == []
    t3[row][3] = "※"
    r = read_tables("", "2021", grids=[Grid.from_texts(t) for t in (t2, t3, t4)])  # type: ignore[arg-type]
    assert "applications.other_unpaid_fee" in r.missing
    assert not any(k.startswith("applications.other_unpaid_fee.") for k in r.cells)
