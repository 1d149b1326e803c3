"""OCR-garbled row labels (report.fuzzy): placed by similarity only when unambiguous, with provenance
and, when not sure, a flag; a label too garbled to place is missing, never guessed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from report import parse
from report.document import Cell, Document, Grid, Page, PageMethod
from report.model import FlagReason
from report.tables import read_tables
from tests.report.conftest import SAMPLES, covered, numeric_truth, run_tool, truth_for
from tests.report.tables_util import truth_grids, wrong_cells

SAMPLE_2021 = SAMPLES / "000_6cd8fdb8270bcb50.txt"


def _ocr(grids: list[Grid], confidence: float = 0.95) -> list[Grid]:
    """The grids as an OCR extractor hands them: every cell with a confidence."""
    return [Grid(rows=[[Cell(text=c.text, confidence=confidence) for c in r] for r in g.rows]) for g in grids]


def _garble(grid: Grid, old: str, new: str) -> None:
    hit = False
    for row in grid.rows:
        for c in row:
            if old in c.text:
                c.text = c.text.replace(old, new)
                hit = True
    assert hit, old


def _truth() -> dict[str, Any]:
    return truth_for(SAMPLE_2021)


@pytest.mark.parametrize(
    ("table", "old", "new", "prefix"),
    [
        (1, "予以公开", "予以公升", "applications.granted"),  # a character misread
        (1, "属于国家秘密", "属于国家秘", "applications.denied_state_secret"),  # one dropped
        (1, "本年新收政府信息公开申请数量", "本年新牧政府信息公开申请数量", "applications.new_received"),
        (0, "行政许可", "行政许司", "active_disclosure.licensing"),
    ],
)
def test_garbled_label_lands_in_its_row(table: int, old: str, new: str, prefix: str) -> None:
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    _garble(grids[table], old, new)
    r = read_tables("", truth["format"], grids)
    assert wrong_cells(r, truth, allow_ambiguous=True) == []
    assert r.missing == []
    assert [m.prefix for m in r.label_matches] == [prefix]
    row_cells = {k: c for k, c in r.cells.items() if k.startswith(prefix + ".")}
    assert row_cells and all(c.fuzzy_label is not None and new in c.fuzzy_label for c in row_cells.values())
    assert all(c.fuzzy_label is None for k, c in r.cells.items() if k not in row_cells)


def test_several_garbled_rows() -> None:
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    for old, new in (("予以公开", "予以公升"), ("属于国家秘密", "属于国家秘蜜"), ("上年结转", "上年结砖")):
        _garble(grids[1], old, new)
    r = read_tables("", truth["format"], grids)
    assert wrong_cells(r, truth, allow_ambiguous=True) == []
    assert len(r.label_matches) == 3


@pytest.mark.parametrize(
    ("old", "new", "row"),
    [
        # close to another row's label, which another grid row names already: not read twice
        ("（一）予以公开", "（二）部分公开", "applications.granted"),
    ],
)
def test_unplaceable_label_is_missing(old: str, new: str, row: str) -> None:
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    _garble(grids[1], old, new)
    r = read_tables("", truth["format"], grids)
    assert row in r.missing
    assert not any(k.startswith(row + ".") for k in r.cells)
    assert not any(m.prefix == row for m in r.label_matches)


def test_grids_without_confidence_are_not_repaired() -> None:
    """Text-layer and markup grids print their labels as text: a differing label is not OCR noise."""
    truth = _truth()
    grids = truth_grids(truth)
    _garble(grids[1], "予以公开", "予以公升")
    r = read_tables("", truth["format"], grids)
    assert "applications.granted" in r.missing
    assert r.label_matches == []


def test_out_of_order_label_is_not_placed() -> None:
    """A label that resembles a row whose place is elsewhere in the table is left alone."""
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    rows = grids[1].rows
    first = next(i for i, r in enumerate(rows) if any("本年新收" in c.text for c in r))
    last = next(i for i, r in enumerate(rows) if any("结转下年度继续办理" in c.text for c in r))
    # the last row's label garbled, and the row moved to the top of the table
    moved = rows.pop(last)
    for c in moved:
        if "结转下年度继续办理" in c.text:
            c.text = c.text.replace("结转下年度继续办理", "结转下年度继续力理")
    rows.insert(first, moved)
    r = read_tables("", truth["format"], grids)
    assert r.label_matches == []
    assert "applications.carried_forward" in r.missing


def _report(grids: list[Grid]) -> Document:
    text = "某某市人民政府办公室2023年政府信息公开工作年度报告\n一、总体情况\n二、主动公开政府信息情况\n"
    page = Page(number=1, text=text, method=PageMethod.OCR, tables=grids, confidence=0.9)
    return Document(media_type="application/pdf", pages=[page])


def test_parse_flags_unsure_fuzzy_rows_and_keeps_provenance() -> None:
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    _garble(grids[0], "行政许可", "行政许司")  # 0.75: placed, but not sure
    _garble(grids[1], "属于国家秘密", "属于国家秘")  # close and anchored on both sides: sure
    rep = parse.parse_document(_report(grids))
    assert rep.cells["active_disclosure.licensing.decisions"].fuzzy_label == "行政许司"
    assert rep.cells["applications.denied_state_secret.total"].fuzzy_label == "1.属于国家秘"
    amb = [f for f in rep.flags if f.reason == FlagReason.AMBIGUOUS and "garbled" in f.detail]
    assert [f.fields for f in amb] == [["active_disclosure.licensing"]]
    assert "行政许司" in rep.evidence["fuzzy_labels"]
    assert "applications.denied_state_secret" in rep.evidence["fuzzy_labels"]


def test_low_confidence_threshold_is_the_extractors() -> None:
    from extract.ocr import LOW_CONFIDENCE

    assert parse.LOW_CONFIDENCE == LOW_CONFIDENCE


@pytest.mark.parametrize(("confidence", "flagged"), [(0.7, False), (0.59, True)])
def test_low_confidence_flag(confidence: float, flagged: bool) -> None:
    truth = _truth()
    rep = parse.parse_document(_report(_ocr(truth_grids(truth), confidence)))
    low = [f for f in rep.flags if f.reason == FlagReason.LOW_CONFIDENCE]
    assert bool(low) == flagged


def test_doubtful_number_with_a_speck_keeps_its_row() -> None:
    """OCR gives up on a "0" and returns ".0" at confidence 0: read as a number in its column, flagged
    `low_confidence`, instead of a label that leaves the row missing."""
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    row = next(r for r in grids[1].rows if any("予以公开" in c.text for c in r))
    row[4] = Cell(text="." + row[4].text, confidence=0.0)
    rep = parse.parse_document(_report(grids))
    key = "applications.granted.commercial_enterprise"
    assert rep.cells[key].raw == row[4].text[1:]
    assert all(rep.cells[k].raw is not None for k in rep.cells if k.startswith("applications.granted."))
    assert [f.fields for f in rep.flags if f.reason == FlagReason.LOW_CONFIDENCE] == [[key]]
    # a confident ".5" is not touched (the speck rule is for cells the OCR already doubts)
    grids2 = _ocr(truth_grids(truth))
    row2 = next(r for r in grids2[1].rows if any("予以公开" in c.text for c in r))
    row2[4] = Cell(text="." + row2[4].text, confidence=0.95)
    assert "applications.granted" in read_tables("", truth["format"], grids2).missing


def test_real_heavy_scan(tmp_path: Path) -> None:
    """Real OCR output (≈ 20 s): the huaian report rendered with --seed 3 and scanned at 200 dpi with
    heavy degradation (as in bench/bench_ocr.py) reads 以公开 for （一）予以公开. The row is placed
    with its printed label recorded, its values are right, and no field is wrong without a flag."""
    from extract import extract_document

    truth_path = SAMPLES / "huaian_2024.truth.json"
    pdf, scan = tmp_path / "r.pdf", tmp_path / "s.pdf"
    run_tool("render_pdf.py", truth_path, "--seed", "3", "-o", pdf)
    run_tool("make_scan.py", pdf, "-o", scan, "--dpi", "200", "--degrade", "heavy", "--seed", "1")
    rep = parse.parse_document(extract_document(scan.read_bytes()))
    truth = json.loads(truth_path.read_text("utf-8"))
    want = numeric_truth(truth)
    canon = rep.to_canonical()
    flags = canon.get("flags", [])
    silent = [
        k
        for k, v in want.items()
        if k.split(".")[0] in ("active_disclosure", "applications", "review_litigation")
        and k in rep.cells
        and rep.cells[k].value != v
        and not covered(k, flags)
    ]
    assert silent == []
    granted = {k: c for k, c in rep.cells.items() if k.startswith("applications.granted.")}
    assert all(c.value == want[k] for k, c in granted.items())
    if any(c.fuzzy_label for c in granted.values()):  # the OCR engine's reading of the label
        assert "fuzzy_labels" in rep.evidence


def test_a_garbled_table_two_label_is_always_flagged() -> None:
    # Table 二 has no identity that would catch a row read for another: however close the match,
    # the placed row is flagged for review.
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    _garble(grids[0], "行政事业性收费", "行政事业性收赞")  # close (0.86) and anchored on both sides
    r = read_tables("", truth["format"], grids)
    [match] = r.label_matches
    assert match.prefix == "active_disclosure.fees" and match.ratio >= 0.85 and not match.sure
    flags = parse.parse_document(_report(grids)).to_canonical()["flags"]
    assert covered("active_disclosure.fees.amount_10k_yuan", flags)


def _junk_row(grid: Grid, label: str) -> None:
    """The label cells of the row printed `label` read as junk."""
    row = next(r for r in grid.rows if any(label in c.text for c in r))
    for c in row:
        if label in c.text:
            c.text = "口口口"


def test_junk_label_between_anchors_is_placed_by_position_and_flagged() -> None:
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    _junk_row(grids[1], "属于国家秘密")
    r = read_tables("", truth["format"], grids)
    assert wrong_cells(r, truth, allow_ambiguous=True) == []
    assert r.missing == []
    [m] = r.label_matches
    assert m.prefix == "applications.denied_state_secret" and m.printed == "口口口" and not m.sure
    assert all(c.fuzzy_label == "口口口" for k, c in r.cells.items() if k.startswith(m.prefix + "."))
    rep = parse.parse_document(_report(grids))
    flags = rep.to_canonical()["flags"]
    assert covered("applications.denied_state_secret.total", flags)
    assert "口口口" in rep.evidence["fuzzy_labels"]


def test_two_adjacent_junk_rows_are_not_placed() -> None:
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    _junk_row(grids[1], "属于国家秘密")
    _junk_row(grids[1], "其他法律行政法规禁止公开")
    r = read_tables("", truth["format"], grids)
    assert r.label_matches == []
    for row in ("applications.denied_state_secret", "applications.denied_prohibited_by_law"):
        assert row in r.missing
        assert not any(k.startswith(row + ".") for k in r.cells)


def test_junk_row_without_an_anchor_below_is_missing() -> None:
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    _junk_row(grids[1], "结转下年度继续办理")  # the last row of the table
    r = read_tables("", truth["format"], grids)
    assert r.label_matches == []
    assert "applications.carried_forward" in r.missing
    assert not any(k.startswith("applications.carried_forward.") for k in r.cells)


def test_label_too_garbled_for_similarity_is_placed_by_position_unsure() -> None:
    truth = _truth()
    grids = _ocr(truth_grids(truth))
    _garble(grids[1], "予以公开", "子口公廾")  # 0.57: no similarity match
    r = read_tables("", truth["format"], grids)
    assert wrong_cells(r, truth, allow_ambiguous=True) == []
    [m] = r.label_matches
    assert m.prefix == "applications.granted" and m.ratio < 0.7 and not m.sure
