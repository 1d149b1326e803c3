"""Skew, ruling lines, table finding and ruling-line erasure on drawn pages: the cheap forms (a
coarse skew grid ranked at half size, an opening dilating only the rows or columns left by its
erosion, a shrunk mask, per-table crops) against what they stand for (every angle scored at full
size, OpenCV's opening, the full-size mask, the whole-page formula)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from extract.ocr import (
    U8,
    _open_lines,
    binarize,
    erase_lines,
    estimate_skew,
    find_tables,
    rotate_gray,
    ruling_lines,
)


def ruled_page(tables: list[tuple[int, int, int, int, int, int]], gap: int = 0, seed: int = 0) -> U8:
    """A white 300-dpi A4 page with grids (x0, y0, x1, y1, rows, cols) of 2-px lines, a `gap`
    (px) cut into every horizontal line, and some text-like ink."""
    page = np.full((3508, 2481), 255, np.uint8)
    rng = np.random.default_rng(seed)
    for x0, y0, x1, y1, rows, cols in tables:
        for y in np.linspace(y0, y1, rows + 1).astype(int):
            cv2.line(page, (x0, y), (x1, y), 0, 2)
            if gap:
                page[y - 2 : y + 3, (x0 + x1) // 2 : (x0 + x1) // 2 + gap] = 255
        for x in np.linspace(x0, x1, cols + 1).astype(int):
            cv2.line(page, (x, y0), (x, y1), 0, 2)
    for _ in range(400):  # glyph-sized blobs, some inside the tables
        x, y = int(rng.integers(0, 2440)), int(rng.integers(0, 3470))
        cv2.rectangle(page, (x, y), (x + int(rng.integers(8, 30)), y + int(rng.integers(8, 30))), 0, 2)
    return page


def tables_of(page: U8) -> list[tuple[int, int, int, int, int, int]]:
    horiz, vert = ruling_lines(binarize(page), 300)
    return [(t.x0, t.y0, t.x1, t.y1, t.nrows, t.ncols) for t in find_tables(horiz, vert)]


def test_tables_are_found_with_their_rows_and_columns() -> None:
    page = ruled_page([(200, 300, 2200, 1300, 8, 5), (200, 1700, 2200, 2300, 3, 7)])
    found = tables_of(page)
    assert [(r, c) for *_, r, c in found] == [(8, 5), (3, 7)]
    for (x0, y0, x1, y1, *_), (ex0, ey0, ex1, ey1) in zip(
        found, [(200, 300, 2200, 1300), (200, 1700, 2200, 2300)], strict=True
    ):
        assert max(abs(x0 - ex0), abs(y0 - ey0), abs(x1 - ex1), abs(y1 - ey1)) <= 3


def test_a_line_broken_by_a_few_pixels_still_joins_one_table() -> None:
    whole = tables_of(ruled_page([(200, 300, 2200, 1300, 8, 5)]))
    broken = tables_of(ruled_page([(200, 300, 2200, 1300, 8, 5)], gap=3))
    assert [t[4:] for t in broken] == [t[4:] for t in whole] == [(8, 5)]


@pytest.mark.parametrize("apart", [60, 16])
def test_tables_a_little_apart_stay_two(apart: int) -> None:
    found = tables_of(ruled_page([(200, 300, 2200, 1000, 4, 4), (200, 1000 + apart, 2200, 1700, 4, 4)]))
    assert [(r, c) for *_, r, c in found] == [(4, 4), (4, 4)]


@pytest.mark.parametrize(
    "tables",
    [
        [(200, 300, 2200, 1300, 8, 5), (200, 1700, 2200, 2300, 3, 7)],
        [(2, 2, 2478, 900, 5, 6)],  # against the page's top, left and right edges
        [(100, 2600, 2300, 3505, 6, 3)],  # against the bottom edge
    ],
)
def test_lines_are_erased_inside_tables_exactly_as_over_the_whole_page(
    tables: list[tuple[int, int, int, int, int, int]],
) -> None:
    gray = ruled_page(tables, seed=len(tables))
    horiz, vert = ruling_lines(binarize(gray), 300)
    found = find_tables(horiz, vert)
    assert found
    lines = cv2.dilate(cv2.bitwise_or(horiz, vert), np.ones((3, 3), np.uint8))
    in_table = np.zeros_like(lines)
    for t in found:
        in_table[max(0, t.y0 - 8) : t.y1 + 9, max(0, t.x0 - 8) : t.x1 + 9] = 1
    expected = gray.copy()
    expected[(lines > 0) & (in_table > 0)] = 255
    erased = erase_lines(gray, horiz, vert, found)
    assert np.array_equal(erased, expected)
    assert np.count_nonzero(erased != gray) > 1000  # it did erase
    assert np.array_equal(gray, ruled_page(tables, seed=len(tables)))  # the page itself untouched


def skew_scoring_every_angle(gray: U8) -> float:
    """estimate_skew's search with all 25 coarse angles scored on the 800-px page."""
    h, w = gray.shape
    small = cv2.resize(gray, (800, int(h * 800 / w)), interpolation=cv2.INTER_AREA)
    _, bw = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)

    def score(angle: float) -> float:
        m = cv2.getRotationMatrix2D((bw.shape[1] / 2, bw.shape[0] / 2), angle, 1.0)
        rot = cv2.warpAffine(bw, m, (bw.shape[1], bw.shape[0]), flags=cv2.INTER_NEAREST, borderValue=0)
        return float(np.var(rot.sum(axis=1, dtype=np.float64)))

    best = max(np.arange(-3.0, 3.01, 0.25), key=score)
    return float(max(np.arange(best - 0.25, best + 0.26, 0.05), key=score))


@pytest.mark.parametrize("angle", [-2.9, -1.3, -0.4, 0.15, 0.85, 2.6])
def test_skew_ranked_at_half_size_is_the_angle_every_angle_gives(angle: float) -> None:
    page = ruled_page([(200, 300, 2200, 1300, 8, 5), (200, 1700, 2200, 2300, 3, 7)], seed=3)
    for y in range(2500, 3300, 60):  # lines of text-like ink under the tables
        page[y : y + 30 : 3, 250:2100] = 0
    tilted = rotate_gray(page, angle)
    found = estimate_skew(tilted)
    assert found == pytest.approx(skew_scoring_every_angle(tilted), abs=1e-9)
    assert abs(found + angle) <= 0.1


@pytest.mark.parametrize(
    "tables",
    [
        [(200, 300, 2200, 1300, 8, 5), (200, 1700, 2200, 2300, 3, 7)],
        [(0, 0, 2480, 900, 5, 6)],  # lines along and against every edge: the kernels' borders
        [],  # glyph-like ink only: nothing survives the erosion
    ],
)
def test_line_openings_are_opencvs(tables: list[tuple[int, int, int, int, int, int]]) -> None:
    bw = binarize(ruled_page(tables, gap=2, seed=5))
    for size in [(83, 1), (1, 50), (40, 1), (1, 30)]:
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, size)
        want = cv2.morphologyEx(bw, cv2.MORPH_OPEN, kernel)
        assert np.array_equal(_open_lines(bw, kernel), want)
        if max(size) > 40:  # longer than any glyph's stroke: only table rules survive
            assert (np.count_nonzero(want) > 0) == bool(tables)
