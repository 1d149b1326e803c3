"""`interleavings`: the orders of table 四's 15 numbers that pdftotext's reading order allows."""

from __future__ import annotations

import pytest

from report.resolve import groups_ok, interleavings


def test_raw_reading_order_of_huaian_recovers_the_printed_groups() -> None:
    # huaian_2024_raw.txt prints table 四 as 72 64 178 37 / 12 1 1 6 / 351 / 13 4 8 1 26 / 20
    vals = [72, 64, 178, 37, 12, 1, 1, 6, 351, 13, 4, 8, 1, 26, 20]
    orders = interleavings(vals)
    readings = [[vals[i] for i in o] for o in orders]
    assert [72, 64, 178, 37, 351, 13, 4, 8, 1, 26, 12, 1, 1, 6, 20] in readings
    assert all(groups_ok(r) and sorted(r) == sorted(vals) for r in readings)


# OCR'd pages full of zeros make most 5-subsequences add up; a search over triples of them never
# finished. The limit guards against that hang, it is not a speed goal.
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "vals",
    [[0] * 12 + [1, 1, 2], [0, 0, 0, 0, 0, 3, 0, 0, 3, 0, 1, 0, 1, 2, 0], [0] * 14 + [5]],
)
def test_mostly_zero_sequences_terminate_with_valid_orders(vals: list[int]) -> None:
    for order in interleavings(vals):
        assert sorted(order) == list(range(15))
        assert groups_ok([vals[i] for i in order])
