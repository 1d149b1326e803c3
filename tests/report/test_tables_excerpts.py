"""The table reader on the real excerpts (cut mid-table, no truth files): the cells that are
printed are read as printed (values read by eye from the excerpts), the rows that are cut off are
`missing`, never filled in."""

from __future__ import annotations

from typing import Any

import opencc
import pytest

from report.readings import TableReadings
from report.tables import read_tables
from tests.report.conftest import EXCERPTS

COLS = [
    "natural_person",
    "commercial_enterprise",
    "research_institution",
    "social_welfare_organization",
    "legal_service_institution",
    "other_organization",
    "total",
]


def _read(name: str, fmt: str = "2021", *, simplify: bool = False) -> TableReadings:
    text = (EXCERPTS / name).read_text("utf-8")
    if simplify:  # P2's normaliser does this before the reader; the excerpt is Traditional
        text = opencc.OpenCC("t2s").convert(text)
    return read_tables(text, fmt)


def _row(r: TableReadings, row: str) -> list[Any]:
    return [r.cells[f"applications.{row}.{c}"].value for c in COLS]


def _t2(r: TableReadings, row: str, fields: list[str]) -> list[Any]:
    return [r.cells[f"active_disclosure.{row}.{f}"].value for f in fields]


def _absent(r: TableReadings, prefix: str) -> bool:
    return prefix in r.missing and not any(k.startswith(prefix + ".") for k in r.cells)


def test_longgang_pipes_cut_in_row_7() -> None:
    r = _read("longgang_2024_pipe_excerpt.txt")
    assert _t2(r, "normative_documents", ["issued", "repealed", "in_force"]) == [5, 1, 25]
    assert _row(r, "new_received") == [58, 7, 0, 0, 1, 0, 66]
    assert _row(r, "carried_over") == [2, 0, 0, 0, 0, 0, 2]
    assert _row(r, "granted") == [2, 1, 0, 0, 0, 0, 3]
    assert _row(r, "partially_granted") == [16, 1, 0, 0, 0, 0, 17]
    assert _row(r, "denied_internal_affairs") == [1, 0, 0, 0, 0, 0, 1]
    # "7.属于行政执法案卷" shows six cells before the cut: not a row of seven
    for row in ("denied_law_enforcement_files", "unable_not_held", "total_handled", "carried_forward"):
        assert _absent(r, f"applications.{row}"), row
    assert "review_litigation" in r.missing


def test_haizhu_pipes() -> None:
    r = _read("haizhu_guanzhou_2023_pipe_excerpt.txt")
    assert _t2(r, "penalty", ["decisions"]) == [1472]
    assert _row(r, "new_received") == [1, 0, 0, 0, 0, 0, 1]
    assert _absent(r, "applications.total_handled")


def test_district_cells_with_blanks_and_slashes() -> None:
    r = _read("district_stats_bureau_2023_cells_blanks_excerpt.txt")
    reg = [r.cells[f"active_disclosure.regulations.{f}"] for f in ("issued", "repealed", "in_force")]
    assert [(c.value, c.raw) for c in reg] == [(None, "/")] * 3
    assert _t2(r, "normative_documents", ["issued", "repealed", "in_force"]) == [0, 0, 0]
    # blank cells for zero while 总计 says 0
    assert _row(r, "new_received") == [None] * 6 + [0]
    assert _row(r, "carried_over") == [None] * 6 + [0]
    assert _absent(r, "applications.partially_granted")


def test_jiuyuan_colspan_runs() -> None:
    r = _read("jiuyuan_2022_pipe_colspan_excerpt.txt")
    assert _row(r, "new_received") == [1, 0, 0, 0, 0, 0, 1]
    assert _row(r, "denied_state_secret") == [0] * 7
    assert _absent(r, "applications.denied_third_party_rights")


def test_hanyang_cells_between_pipe_lines_after_prose() -> None:
    r = _read("hanyang_2022_cells_excerpt.txt")
    assert _t2(r, "normative_documents", ["issued", "repealed", "in_force"]) == [5, 12, 8]
    cell = r.cells["active_disclosure.regulations.in_force"]
    assert (cell.value, cell.raw) == (None, "")  # printed blank
    # the prose before 表三 ("予以公开2件,部分公开2件…") is not a table row
    assert _row(r, "new_received") == [8, 0, 0, 0, 0, 0, 8]
    assert _row(r, "carried_over") == [0] * 7
    assert _absent(r, "applications.granted")


def test_pypdf_fragment_label_and_numbers_on_one_line() -> None:
    r = _read("huaian_2024_pypdf_fragment_excerpt.txt")
    assert _t2(r, "penalty", ["decisions"]) == [3985758]
    assert _t2(r, "fees", ["amount_10k_yuan"]) == [96171.6]
    assert _row(r, "new_received") == [3001, 53, 0, 0, 61, 4, 3119]
    assert _row(r, "partially_granted") == [447, 7, 0, 0, 0, 0, 454]
    assert _row(r, "unable_not_held") == [746, 12, 0, 0, 10, 1, 769]
    assert _absent(r, "active_disclosure.regulations")  # the fragment starts after it
    assert _absent(r, "applications.unable_needs_creation")


@pytest.mark.parametrize("simplify", [True, False], ids=["normalised", "as-is"])
def test_trial_traditional_mirror(simplify: bool) -> None:
    r = _read("wuhan_sthjj_2020_trial_traditional_excerpt.txt", "2019-trial", simplify=simplify)
    assert _t2(r, "regulations", ["new_made", "new_published", "total_published"]) == [0, 0, 0]
    # 规范性檔案 (文件→檔案 mis-conversion); the extra row 其他主动公开档案 (186/86/255) is not it
    assert _t2(r, "normative_documents", ["new_made", "new_published", "total_published"]) == [2, 2, 19]
    assert _t2(r, "licensing", ["previous_year", "change", "decisions"]) == [8, 5, 93]
    # its label's note names 行政处罚 and 行政强制: those rows are still their own
    assert _t2(r, "other_admin_services", ["previous_year", "change", "decisions"]) == [117, 0, 165]
    assert _t2(r, "penalty", ["previous_year", "change", "decisions"]) == [90, 0, 22]
    assert _t2(r, "enforcement", ["previous_year", "change", "decisions"]) == [4, 4, None]
    assert r.cells["active_disclosure.enforcement.decisions"].raw == "-"
    assert _t2(r, "fees", ["previous_year", "change"]) == [None, None]  # an empty row
    assert "active_disclosure.procurement" in r.missing
    assert "applications" in r.missing


def test_tables_absent_from_text() -> None:
    r = _read("guihuaping_2020_tables_missing_excerpt.txt")
    assert r.cells == {}
    assert set(r.missing) == {"active_disclosure", "applications", "review_litigation"}


def test_no_tables_in_excerpt() -> None:
    r = _read("zhengyang_2023_misnumbered_headings_excerpt.txt")
    assert r.cells == {}
