"""Splitting glued digit runs: well-formed pieces, identity-checked splits, blank cells."""

from __future__ import annotations

import json

from report.glued import free_splits, sum_splits, values
from report.readings import ReportFormat
from report.resolve import Vec, column_filter, interleavings, vec
from report.template import APPLICANT_COLUMNS, TEMPLATES, Template
from tests.report.conftest import SAMPLES


def test_domain_example_row_run() -> None:
    # "…不掌握相关政府信息2200003252.没有现成…": the final "2" is the next label's number
    got = [values(s) for s in sum_splits("220000325", [6])]
    assert [22, 0, 0, 0, 0, 3, 25] in got
    assert all(sum(v or 0 for v in s[:-1]) == s[-1] for s in got)


def test_domain_example_group_run_has_three_splits() -> None:
    got = sorted(tuple(values(s)) for s in sum_splits("1211620", [4]))
    assert got == sorted([(12, 1, 1, 6, 20), (1, 2, 11, 6, 20), (1, 2, 1, 16, 20)])


def test_table4_run_of_the_huaian_flattened_sample() -> None:
    got = [values(s) for s in sum_splits("72641783735113481261211620", [4, 4, 4])]
    assert len(got) == 3
    assert all(s[:10] == [72, 64, 178, 37, 351, 13, 4, 8, 1, 26] for s in got)


def test_free_splits_enumerate_every_well_formed_split() -> None:
    assert sorted(values(s) for s in free_splits("1011", 3)) == [[1, 0, 11], [10, 1, 1]]
    assert len(free_splits("82666", 3)) == 6
    # "5845546" has no checksum: every split into three is a candidate, none has a leading zero
    splits = free_splits("5845546", 3)
    assert len(splits) == 15
    assert all(not (p.startswith("0") and len(p) > 1) for s in splits for p in s)


def test_leading_zero_is_never_a_cell() -> None:
    assert free_splits("05", 1) == []
    assert values(free_splits("00", 2)[0]) == [0, 0]
    assert sum_splits("0505", [1]) == []


def test_decimal_and_sign_only_where_allowed() -> None:
    assert free_splits("96171.6", 1) == []
    assert values(free_splits("96171.6", 1, decimal=[True])[0]) == [96171.6]
    assert free_splits("-8", 1) == []
    assert values(free_splits("-8", 1, signed=[True])[0]) == [-8]
    assert [values(s) for s in free_splits("-8", 2)] == [[None, 8]]  # unsigned: "-" is a blank cell
    got = [values(s) for s in free_splits("5-893", 3, signed=[False, True, False])]
    assert got == [[5, -89, 3], [5, -8, 93], [5, None, 893]]  # "-" alone is a blank cell


def test_placeholders_are_cells() -> None:
    got = [values(s) for s in sum_splits("3/////3", [6])]
    assert got == [[3, None, None, None, None, None, 3]]
    assert [values(s) for s in sum_splits("///////", [6])] == [[None] * 7]


def test_blank_cells_lost_in_the_run() -> None:
    # zero printed as an empty cell leaves no trace: "33" is 3 in any of six columns, total 3
    got = [values(s) for s in sum_splits("33", [6], blanks=True)]
    assert len(got) == 6
    assert all(s[-1] == 3 and sum(v or 0 for v in s[:-1]) == 3 for s in got)
    assert sum_splits("33", [6]) == []  # without blanks there is no split
    # a zero is never a part in blank mode; a blank row is all empty
    assert [values(s) for s in sum_splits("", [6], blanks=True)] == [[None] * 7]


def _huaian_rows() -> tuple[Template, dict[str, list[Vec]]]:
    """Every table-三 row of the 淮安 truth as a single candidate."""
    truth = json.loads((SAMPLES / "huaian_2024.truth.json").read_text("utf-8"))
    t = TEMPLATES[ReportFormat.V2021]
    cols = [c.key for c in APPLICANT_COLUMNS]
    return t, {r: [vec([truth["applications"][r][c] for c in cols])] for r in t.application_keys}


def test_column_identities_pick_the_true_split() -> None:
    t, rows = _huaian_rows()
    # the README's case: 2.没有现成信息需要另行制作 "110000011" is 11|0|0|0|0|0|11 or 1|10|0|0|0|0|11
    rows["unable_needs_creation"] = [(1, 10, 0, 0, 0, 0, 11), (11, 0, 0, 0, 0, 0, 11)]
    alive = column_filter(t, rows)
    assert alive is not None and alive["unable_needs_creation"] == {1}
    # two rows whose swaps cancel out stay ambiguous: both readings kept
    rows["unable_needs_creation"] = [(11, 0, 0, 0, 0, 0, 11)]
    rows["granted"] = [rows["granted"][0], (1287, 22, 0, 0, 50, 3, 1362)]
    rows["partially_granted"] = [rows["partially_granted"][0], (448, 6, 0, 0, 0, 0, 454)]
    alive = column_filter(t, rows)
    assert alive is not None and alive["granted"] == {0, 1} and alive["partially_granted"] == {0, 1}
    # no reading adds up: None (the caller flags the rows)
    rows["granted"] = [(1, 0, 0, 0, 0, 0, 1)]
    assert column_filter(t, rows) is None


def test_interleavings_of_table4_in_reading_order() -> None:
    raw = [72, 64, 178, 37, 12, 1, 1, 6, 351, 13, 4, 8, 1, 26, 20]  # huaian_2024_raw.txt
    orders = interleavings(raw)
    readings = [[raw[i] for i in o] for o in orders]
    assert len({tuple(r) for r in readings}) == len(readings) > 1
    assert readings[0] == [72, 64, 178, 37, 351, 13, 4, 8, 1, 26, 12, 1, 1, 6, 20]
    assert all(sum(r[g * 5 : g * 5 + 4]) == r[g * 5 + 4] for r in readings for g in range(3))
