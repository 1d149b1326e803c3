"""Splitting glued digit runs: well-formed pieces, identity-checked splits, blank cells."""

from __future__ import annotations

from report.glued import free_splits, sum_splits, values


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
