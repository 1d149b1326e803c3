"""OCR of one page image → a `Page` with text in reading order and tables rebuilt from geometry.

Steps: orientation (optional, engine OSD) → deskew (projection profile) → ruling lines by
morphology → cell lattice per table (merged cells where a boundary line is missing) → one
whole-page recognition with the table rules erased (text, and words assigned to cells) → a
digits-only pass over a mosaic of the value-cell crops (whole-page recognition drops lone "0"
cells and misreads digits next to rules) → a second reading of doubtful label/header cells from
their crops (the parser finds rows by these labels) → per-cell text and confidence.

Three or four engine calls a page, whatever the number of cells: crops are stacked into one
mosaic image per pass, since each Tesseract start costs ≈ 0.1–0.5 s.

A value cell whose two readings disagree, or that has ink but no reading, gets a confidence below
`LOW_CONFIDENCE`, so the parser can flag it instead of trusting it.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from extract.engine import OcrEngine, OcrFailure, Word, default_engine
from report.document import Box, Cell, Grid, Page, PageMethod

# Cells below this confidence are doubtful: the parser should flag them `low_confidence`.
LOW_CONFIDENCE = 0.6
# Label cells read below this mean confidence are read again from their crop.
_GOOD_LABEL = 0.85
# What a cell whose readings disagree gets, at most.
_DOUBT = 0.4
# OSD orientation confidence (Tesseract's scale) below which the page is left as it is.
_MIN_OSD_CONFIDENCE = 2.0

U8 = npt.NDArray[np.uint8]

# OpenCV's own threads cost more than they save here, as Tesseract's OpenMP ones do (extract/engine):
# a page's morphology, warps and thresholds are a few ms each, and the cores are busy with the other
# worker process or the engine. Measured on 2 cores with other jobs running: 130–155 ms of CPU a
# 300-dpi page for this module's steps on one thread, 165–210 ms on two, and no less wall time on
# two. Same pixels either way.
cv2.setNumThreads(1)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass
class _Cell:
    x0: int
    y0: int
    x1: int
    y1: int
    positions: list[tuple[int, int]] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)


@dataclass
class _Table:
    x0: int
    y0: int
    x1: int
    y1: int
    nrows: int
    ncols: int
    cells: list[_Cell]


# ---------------------------------------------------------------- image geometry


def to_gray(image: Image.Image | U8) -> U8:
    """8-bit grey pixels; an array (a PDF page render) is already that and is not copied."""
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image, dtype=np.uint8)
    return np.asarray(image if image.mode == "L" else image.convert("L"), dtype=np.uint8)


def _as_pil(image: Image.Image | U8) -> Image.Image:
    return image if isinstance(image, Image.Image) else Image.fromarray(image)


# How many coarse skew angles (of 25) are scored at full size after a half-size pass ranks them.
_SKEW_CANDIDATES = 3


def estimate_skew(gray: U8) -> float:
    """Skew angle in degrees (rotate by it to straighten) by maximising the row-projection variance
    of a downscaled binarised page: text lines and ruling lines give sharp peaks when level."""
    h, w = gray.shape
    scale = 800 / max(w, 1)
    small = (
        cv2.resize(gray, (800, max(1, int(h * scale))), interpolation=cv2.INTER_AREA) if scale < 1 else gray
    )
    _, bw = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if int(np.count_nonzero(bw)) < 100:
        return 0.0

    def scorer(img: cv2.typing.MatLike) -> Callable[[float], float]:
        ih, iw = img.shape

        def score(angle: float) -> float:
            m = cv2.getRotationMatrix2D((iw / 2, ih / 2), angle, 1.0)
            rot = cv2.warpAffine(img, m, (iw, ih), flags=cv2.INTER_NEAREST, borderValue=0)
            # Integer row sums: the same values as a float64 numpy sum of 0/255 pixels, 20× faster.
            rows = cv2.reduce(rot, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)
            return float(np.var(rows.astype(np.float64)))

        return score

    score = scorer(bw)
    coarse = list(np.arange(-3.0, 3.01, 0.25))
    if scale < 1:
        # A page: the coarse grid is ranked on it at half this size (a quarter of the cost) and only
        # its best few are scored at full size. The same angle as scoring all 25 at full size on
        # each of 553 pages tried (the OCR bench's scans and text pages, upright and turned up to
        # ±2.9°). Smaller images (crops) are cheap to score in full.
        half = cv2.resize(bw, (400, max(1, bw.shape[0] // 2)), interpolation=cv2.INTER_AREA)
        coarse = sorted(sorted(coarse, key=scorer(half), reverse=True)[:_SKEW_CANDIDATES])
    best = max(coarse, key=score)
    fine = max(np.arange(best - 0.25, best + 0.26, 0.05), key=score)
    return float(fine)


def rotate_gray(gray: U8, angle: float) -> U8:
    h, w = gray.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(gray, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    return np.asarray(out, dtype=np.uint8)


def binarize(gray: U8) -> U8:
    """Ink = 255. Adaptive, so uneven scan backgrounds do not turn into ink."""
    block = max(15, (min(gray.shape) // 60) | 1)
    bw = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 15)
    return np.asarray(bw, dtype=np.uint8)


def ruling_lines(bw: U8, dpi: float | None = None) -> tuple[U8, U8]:
    """Horizontal and vertical ruling-line masks. Kernels are longer than any stroke of a
    character at body sizes (≈ 10 pt, 40 px at 300 dpi) and shorter than a table cell: 20 pt and
    12 pt at a known resolution, else guessed from the image as if it were a whole A4 page."""
    h, w = bw.shape
    if dpi:
        hlen, vlen = round(20 * dpi / 72), round(12 * dpi / 72)
    else:
        hlen, vlen = w // 30, h // 70
    hk = cv2.getStructuringElement(cv2.MORPH_RECT, (max(40, hlen), 1))
    vk = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(30, vlen)))
    # Close small gaps first so broken lines on degraded scans survive the opening.
    horiz = _open_lines(cv2.morphologyEx(bw, cv2.MORPH_CLOSE, np.ones((1, 5), np.uint8)), hk)
    vert = _open_lines(cv2.morphologyEx(bw, cv2.MORPH_CLOSE, np.ones((5, 1), np.uint8)), vk)
    return horiz, vert


def _open_lines(mask: cv2.typing.MatLike, kernel: cv2.typing.MatLike) -> U8:
    """cv2.morphologyEx(mask, MORPH_OPEN, kernel) for a kernel one row (or one column) thick, at
    about half its cost: such an opening works on each row (column) alone, and after the erosion
    only the few holding a line have any ink; only those are dilated back (blank ones stay blank)."""
    eroded = np.asarray(cv2.erode(mask, kernel), dtype=np.uint8)
    along_rows = kernel.shape[0] == 1
    # sums, not maxima: cv2.reduce takes a row's maximum hundreds of times slower than its sum
    ink = cv2.reduce(eroded, 1 if along_rows else 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    lines = np.flatnonzero(ink)
    if lines.size and along_rows:
        eroded[lines] = cv2.dilate(eroded[lines], kernel)
    elif lines.size:
        eroded[:, lines] = cv2.dilate(np.ascontiguousarray(eroded[:, lines]), kernel)
    return eroded


def _positions(profile: npt.NDArray[np.int64], min_len: int) -> list[int]:
    """Centres of runs of indices whose profile reaches `min_len`."""
    idx = np.flatnonzero(profile >= min_len)
    if idx.size == 0:
        return []
    out: list[int] = []
    start = prev = int(idx[0])
    for i in idx[1:]:
        i = int(i)
        if i - prev > 4:
            out.append((start + prev) // 2)
            start = i
        prev = i
    out.append((start + prev) // 2)
    return out


# Tables are found as connected groups of ruling lines on the line mask shrunk this many times:
# a block of f×f pixels is ink if any of its pixels is, which joins strokes a few pixels apart (a
# broken line) as a 5×5 dilation did, at 1/16 of the cost of labelling the full-size mask.
_TABLE_SEARCH_SHRINK = 4


def find_tables(horiz: U8, vert: U8) -> list[_Table]:
    h, w = horiz.shape
    f = _TABLE_SEARCH_SHRINK
    lines = cv2.bitwise_or(horiz, vert)
    # Each block's maximum lands on its top-left pixel. (Shrinking with INTER_AREA was meant to do
    # the same, but on a page of no whole number of blocks, 2482 px wide, its blocks straddle
    # pixels and it takes its generic path: 8× slower.)
    small = cv2.dilate(lines, np.ones((f, f), np.uint8), anchor=(0, 0))[::f, ::f]
    n, _, stats, _ = cv2.connectedComponentsWithStats((small > 0).astype(np.uint8), connectivity=8)
    tables: list[_Table] = []
    for i in range(1, n):
        sx, sy, sw, sh = (int(v) for v in stats[i][:4])
        x, y = max(0, sx * f - 2), max(0, sy * f - 2)
        bw_, bh = min(w, (sx + sw) * f + 2) - x, min(h, (sy + sh) * f + 2) - y
        if bw_ < w * 0.2 or bh < 30:
            continue
        # line pixels per row and per column of the box (the masks are 0/255)
        per_row = cv2.reduce(horiz[y : y + bh, x : x + bw_], 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S) // 255
        per_col = cv2.reduce(vert[y : y + bh, x : x + bw_], 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S) // 255
        ys = [y + v for v in _positions(per_row.ravel().astype(np.int64), max(20, w // 40))]
        xs = [x + v for v in _positions(per_col.ravel().astype(np.int64), max(15, h // 100))]
        if len(ys) < 2 or len(xs) < 2:
            continue
        tables.append(_lattice(horiz, vert, xs, ys))
    tables.sort(key=lambda t: t.y0)
    return tables


def _lattice(horiz: U8, vert: U8, xs: list[int], ys: list[int]) -> _Table:
    """Cells of the lattice xs × ys, merging neighbours that no ruling line separates."""
    nr, nc = len(ys) - 1, len(xs) - 1
    parent = list(range(nr * nc))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    t = 4  # half-width of the band searched for a line (skew leftovers, line width)

    # A boundary between two cells is a line if one shows along at least half of its middle part
    # (a sixth cut off each end). Per lattice line, `hits` counts the positions along the table
    # (from its first line) with line ink across the band: each boundary is then a subtraction.

    def hit_counts(band: U8, axis: int) -> npt.NDArray[np.int64]:
        ink = cv2.reduce(band, axis, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() > 0  # see _open_lines
        return np.concatenate(([0], np.cumsum(ink, dtype=np.int64)))

    def covered(hits: npt.NDArray[np.int64], a: int, b: int) -> bool:
        return b > a and int(hits[b] - hits[a]) / (b - a) >= 0.5

    y0, x0 = ys[0], xs[0]
    for c in range(nc - 1):
        x = xs[c + 1]
        hits = hit_counts(vert[y0 : ys[-1], max(0, x - t) : x + t + 1], 1)
        for r in range(nr):
            m = max(2, (ys[r + 1] - ys[r]) // 6)
            if not covered(hits, ys[r] + m - y0, ys[r + 1] - m - y0):
                union(r * nc + c, r * nc + c + 1)
    for r in range(nr - 1):
        y = ys[r + 1]
        hits = hit_counts(horiz[max(0, y - t) : y + t + 1, x0 : xs[-1]], 0)
        for c in range(nc):
            m = max(2, (xs[c + 1] - xs[c]) // 6)
            if not covered(hits, xs[c] + m - x0, xs[c + 1] - m - x0):
                union(r * nc + c, (r + 1) * nc + c)
    # A lattice line that separates nothing (a stray stroke long enough to pass as a rule) would
    # duplicate a whole row or column: drop it and rebuild.
    dup_rows = [r for r in range(1, nr) if all(find(r * nc + c) == find((r - 1) * nc + c) for c in range(nc))]
    dup_cols = [c for c in range(1, nc) if all(find(r * nc + c) == find(r * nc + c - 1) for r in range(nr))]
    if dup_rows or dup_cols:
        keep_ys = [y for i, y in enumerate(ys) if i not in dup_rows]
        keep_xs = [x for i, x in enumerate(xs) if i not in dup_cols]
        return _lattice(horiz, vert, keep_xs, keep_ys)
    groups: dict[int, _Cell] = {}
    for r in range(nr):
        for c in range(nc):
            root = find(r * nc + c)
            cell = groups.get(root)
            if cell is None:
                cell = groups[root] = _Cell(xs[c], ys[r], xs[c + 1], ys[r + 1])
            cell.x0, cell.y0 = min(cell.x0, xs[c]), min(cell.y0, ys[r])
            cell.x1, cell.y1 = max(cell.x1, xs[c + 1]), max(cell.y1, ys[r + 1])
            cell.positions.append((r, c))
    return _Table(xs[0], ys[0], xs[-1], ys[-1], nr, nc, list(groups.values()))


def erase_lines(gray: U8, horiz: U8, vert: U8, tables: list[_Table], margin: int = 8) -> U8:
    """A copy of the page with the ruling lines (thickened by a pixel) painted white inside each
    table's box (plus `margin`); worked table by table, never over the whole page."""
    h, w = gray.shape
    clean = gray.copy()
    kernel = np.ones((3, 3), np.uint8)
    for t in tables:
        y0, y1 = max(0, t.y0 - margin), min(h, t.y1 + margin + 1)
        x0, x1 = max(0, t.x0 - margin), min(w, t.x1 + margin + 1)
        # dilated with a pixel around the box, so its edge sees the neighbours a whole-page dilation would
        oy, ox = y0 - max(0, y0 - 1), x0 - max(0, x0 - 1)
        lines = cv2.bitwise_or(
            horiz[y0 - oy : y1 + 1, x0 - ox : x1 + 1], vert[y0 - oy : y1 + 1, x0 - ox : x1 + 1]
        )
        thick = cv2.dilate(lines, kernel)[oy : oy + y1 - y0, ox : ox + x1 - x0]
        clean[y0:y1, x0:x1][thick > 0] = 255
    return clean


# ---------------------------------------------------------------- text assembly


def _join(words: list[Word]) -> str:
    """Words of one line left to right; no space between CJK neighbours (Chinese has none)."""
    out = ""
    for w in sorted(words, key=lambda w: w.left):
        if out and not (_CJK.match(out[-1]) or _CJK.match(w.text[0])):
            out += " "
        out += w.text
    return out


def _lines(words: list[Word]) -> list[list[Word]]:
    """Group words into lines by vertical overlap (cells hold one or a few short lines)."""
    lines: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w.cy, w.left)):
        if lines:
            last = lines[-1]
            ly = sum(x.cy for x in last) / len(last)
            lh = max(x.height for x in last)
            if abs(w.cy - ly) < max(lh, w.height) * 0.6:
                last.append(w)
                continue
        lines.append([w])
    return lines


def _page_text(words: list[Word]) -> str:
    """Tesseract's own reading order: blocks, paragraphs, lines."""
    keyed: dict[tuple[int, int, int], list[Word]] = {}
    for w in words:
        keyed.setdefault((w.block, w.par, w.line), []).append(w)
    out: list[str] = []
    prev_block = None
    for (block, _, _), line in keyed.items():
        if prev_block is not None and block != prev_block:
            out.append("")
        out.append(_join(line))
        prev_block = block
    return "\n".join(out).strip()


def _digits_only(text: str) -> str:
    # Keep the sign: "-4" and "4" must not count as two agreeing readings.
    text = text.replace("—", "-").replace("－", "-").replace("／", "/")
    return re.sub(r"[^0-9./-]", "", text)


# ---------------------------------------------------------------- value cells


def _ink(clean: U8, c: _Cell, inset: int) -> tuple[int, int, int, int] | None:
    """The bounding box of the ink inside a cell (ruling lines already erased), or None if blank."""
    x0, y0, x1, y1 = c.x0 + inset, c.y0 + inset, c.x1 - inset, c.y1 - inset
    if x1 <= x0 or y1 <= y0:
        return None
    sub = clean[y0:y1, x0:x1] < 128
    # Specks (noise, dust, line leftovers) are not ink: need a few pixels in more than one row.
    sub = cv2.morphologyEx(sub.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)) > 0
    if int(sub.sum()) < 12:
        return None
    rows = np.flatnonzero(sub.any(axis=1))
    cols = np.flatnonzero(sub.any(axis=0))
    if rows.size < 4:
        return None
    # Pad: the opening above shaves thin strokes (the top and bottom of a "0") off the box.
    pad = 4
    return (
        max(x0, x0 + int(cols[0]) - pad),
        max(y0, y0 + int(rows[0]) - pad),
        min(x1, x0 + int(cols[-1]) + 1 + pad),
        min(y1, y0 + int(rows[-1]) + 1 + pad),
    )


def _mosaic(clean: U8, boxes: list[tuple[int, int, int, int]]) -> tuple[U8, list[tuple[int, int]]]:
    """Stack crops vertically on white with wide gaps; return the image and each crop's y-slot
    (its rows and half the gap on either side: each slot ends where the next begins)."""
    pad, gap = 12, 28
    width = max(x1 - x0 for x0, _, x1, _ in boxes) + 2 * pad
    height = sum(y1 - y0 + gap for _, y0, _, y1 in boxes) + gap
    canvas = np.full((height, width), 255, np.uint8)
    slots: list[tuple[int, int]] = []
    y = gap
    for x0, y0, x1, y1 in boxes:
        crop = clean[y0:y1, x0:x1]
        canvas[y : y + (y1 - y0), pad : pad + (x1 - x0)] = crop
        slots.append((y - gap // 2, y + (y1 - y0) + gap // 2))
        y += y1 - y0 + gap
    return canvas, slots


def _in_slots(words: list[Word], slots: list[tuple[int, int]], scale: float = 1.0) -> list[list[Word]]:
    """The words whose centre lies in each mosaic slot (its rows × `scale`, for an enlarged
    mosaic), in the engine's order. The slots follow one another without overlap (see `_mosaic`),
    so a word is in one at most: found by bisection, not by a pass over all words per slot."""
    starts = [sa * scale for sa, _ in slots]
    out: list[list[Word]] = [[] for _ in slots]
    for w in words:
        cy = w.cy
        i = bisect.bisect_right(starts, cy) - 1
        if i >= 0 and cy < slots[i][1] * scale:
            out[i].append(w)
    return out


def _value_cells(
    engine: OcrEngine, clean: U8, cells: list[_Cell], inset: int, deadline: float
) -> dict[int, tuple[str, float]]:
    """Text and confidence of every cell that is not a label: blank, or number-like in the page
    pass. Returns {id(cell): (text, confidence)}."""
    out: dict[int, tuple[str, float]] = {}
    # Which cells go to the digits pass: those in value columns (lattice columns where the page
    # pass read a number somewhere, and all columns between: labels sit left of the numbers) and
    # those right of the last label in a row holding a number (table 四 is one row of numbers).
    # Not label crops: CJK in the mosaic derails its line finding.
    numeric_cols: set[int] = set()
    numeric_rows: set[int] = set()
    label_end: dict[int, int] = {}
    for c in cells:
        text = "".join(w.text for w in c.words)
        cols = {col for _, col in c.positions}
        if re.search(r"\d", text) and not _CJK.search(text):
            numeric_rows.update(r for r, _ in c.positions)
            if len(cols) == 1:
                numeric_cols.update(cols)
        if len(_CJK.findall(text)) > 1:
            for r, col in c.positions:
                label_end[r] = max(label_end.get(r, -1), col)
    value_cols = set(range(min(numeric_cols), max(numeric_cols) + 1)) if numeric_cols else set()

    def is_value(c: _Cell) -> bool:
        if all(col in value_cols for _, col in c.positions):
            return True
        return all(r in numeric_rows and col > label_end.get(r, -1) for r, col in c.positions)

    todo: list[tuple[_Cell, tuple[int, int, int, int]]] = []
    for c in cells:
        page_text = "".join(w.text for w in c.words)
        if not is_value(c):
            continue
        # Labels are runs of CJK; a value cell misread by the page pass may hold one stray glyph,
        # or more if it sits among numbers (a single value column in a row of numbers).
        among_numbers = len({col for _, col in c.positions}) == 1 and all(
            r in numeric_rows and col in value_cols for r, col in c.positions
        )
        if (len(_CJK.findall(page_text)) > 1 or len(page_text) > 16) and not among_numbers:
            continue
        box = _ink(clean, c, inset)
        if box is None:
            out[id(c)] = ("", 0.9 if not page_text else 0.3)
            continue
        todo.append((c, box))
    if not todo:
        return out
    canvas, slots = _mosaic(clean, [b for _, b in todo])
    words = engine.words(
        Image.fromarray(canvas), psm=6, digits=True, timeout=max(1.0, deadline - time.monotonic())
    )
    noisy: list[tuple[_Cell, tuple[int, int, int, int], str, float]] = []
    for (c, crop), mine in zip(todo, _in_slots(words, slots), strict=True):
        d_text = _digits_only("".join(w.text for w in sorted(mine, key=lambda w: w.left)))
        d_conf = min((w.conf for w in mine), default=0.0)
        # Rule leftovers read as "/" or a trailing "-" in the page pass; a leading minus stays.
        p_text = _digits_only("".join(w.text for w in c.words))
        if p_text != "/":
            p_text = re.sub(r"(?<=[0-9.])-", "", p_text.replace("/", ""))
        p_conf = min((w.conf for w in c.words), default=0.0)
        if d_text and d_text == p_text:
            # Two readings of different preprocessing and models agree.
            out[id(c)] = (d_text, 1 - (1 - d_conf) * (1 - p_conf))
        elif d_text and not p_text:
            out[id(c)] = (d_text, d_conf)
        elif d_text:  # the two passes disagree: keep the digits pass, but it is doubtful
            out[id(c)] = (d_text, min(d_conf, p_conf, _DOUBT))
            raw = "".join(w.text for w in c.words)
            if d_conf >= 0.7 and re.search(r"[^0-9.,/\-]", raw):
                noisy.append((c, crop, d_text, d_conf))
        elif p_text:
            out[id(c)] = (p_text, min(p_conf, _DOUBT))
        else:  # ink but nothing read
            out[id(c)] = ("", 0.0)
    _tie_break(engine, clean, noisy, out, deadline)
    return out


def _tie_break(
    engine: OcrEngine,
    clean: U8,
    noisy: list[tuple[_Cell, tuple[int, int, int, int], str, float]],
    out: dict[int, tuple[str, float]],
    deadline: float,
) -> None:
    """The page pass read letters or glyphs ("D3") where the digits pass read a number ("53"):
    that is noise, not a competing number. A second digits pass on the crops enlarged 1.5×
    decides: the same number, confidently, and the cell is trusted; anything else leaves it
    doubtful. (A page pass that read a different clean number is never overruled.)"""
    if not noisy:
        return
    canvas, slots = _mosaic(clean, [b for _, b, _, _ in noisy])
    big = cv2.resize(canvas, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    words = engine.words(
        Image.fromarray(big), psm=6, digits=True, timeout=max(1.0, deadline - time.monotonic())
    )
    for (c, _, d_text, d_conf), mine in zip(noisy, _in_slots(words, slots, 1.5), strict=True):
        again = _digits_only("".join(w.text for w in sorted(mine, key=lambda w: w.left)))
        conf = min((w.conf for w in mine), default=0.0)
        if again == d_text and conf >= 0.7:
            out[id(c)] = (d_text, min(d_conf, conf))


def _label_text(words: list[Word]) -> tuple[str, float]:
    text = "".join(_join(line) for line in _lines(words))
    return text, (sum(w.conf for w in words) / len(words) if words else 0.0)


def _label_cells(
    engine: OcrEngine,
    clean: U8,
    cells: list[_Cell],
    inset: int,
    deadline: float,
    doubtful: dict[int, tuple[str, float]],
) -> dict[int, tuple[str, float]]:
    """Text and confidence of label and header cells. Doubtful ones are read again, cropped out
    of the page: the parser finds rows by these labels, and the page pass garbles some (glyphs
    next to erased rules, wrapped header cells)."""
    out: dict[int, tuple[str, float]] = {}
    todo: list[tuple[_Cell, tuple[int, int, int, int]]] = []
    for c in cells:
        out[id(c)] = doubtful.get(id(c)) or _label_text(c.words)
        if out[id(c)][1] < _GOOD_LABEL and (box := _ink(clean, c, inset)) is not None:
            todo.append((c, box))
    if not todo:
        return out
    canvas, slots = _mosaic(clean, [b for _, b in todo])
    words = engine.words(Image.fromarray(canvas), psm=6, timeout=max(1.0, deadline - time.monotonic()))
    for (c, _), mine in zip(todo, _in_slots(words, slots), strict=True):
        text, conf = _label_text(mine)
        if id(c) in doubtful:
            if len(_CJK.findall(text)) >= 2 and conf >= 0.7:
                out[id(c)] = (text, conf)
        elif text and conf > out[id(c)][1]:
            out[id(c)] = (text, conf)
    return out


# ---------------------------------------------------------------- the page


def ocr_page(
    image: Image.Image | U8,
    number: int,
    *,
    engine: OcrEngine | None = None,
    timeout: float = 60.0,
    detect_orientation: bool = False,
    unit: float = 1.0,
    reason: str = "",
    dpi: float | None = None,
) -> Page:
    """OCR one page image (PIL, or 8-bit grey pixels rows × columns). `unit` converts pixels into
    the page's box units (72/dpi for PDF points); `dpi`, when known, sizes the ruling-line search
    (needed for crops smaller than a page).
    Engine failures (timeout) give a `failed` page, never an exception."""
    engine = engine or default_engine()
    deadline = time.monotonic() + timeout
    try:
        return _ocr_page(image, number, engine, deadline, detect_orientation, unit, reason, dpi)
    except OcrFailure as exc:
        return Page(
            number=number, method=PageMethod.FAILED, reason=f"{reason}; OCR failed: {exc}".lstrip("; ")
        )


def _looks_unread(words: list[Word]) -> bool:
    return not words or sum(w.conf for w in words) / len(words) < 0.5


def _ocr_page(
    image: Image.Image | U8,
    number: int,
    engine: OcrEngine,
    deadline: float,
    detect_orientation: bool,
    unit: float,
    reason: str,
    dpi: float | None,
) -> Page:
    notes = [reason] if reason else []
    if detect_orientation:
        image = _as_pil(image)
        orient = engine.orientation(image, timeout=max(1.0, deadline - time.monotonic()))
        if orient and orient.rotate and orient.confidence >= _MIN_OSD_CONFIDENCE:
            # Tesseract's "Rotate" is clockwise; PIL rotates counter-clockwise.
            image = image.rotate(-orient.rotate, expand=True, fillcolor="white")
            notes.append(f"rotated {orient.rotate}°")
    gray = to_gray(image)
    angle = estimate_skew(gray)
    if abs(angle) >= 0.1:
        gray = rotate_gray(gray, angle)
        notes.append(f"deskewed {angle:+.2f}°")
    bw = binarize(gray)
    horiz, vert = ruling_lines(bw, dpi)
    tables = find_tables(horiz, vert)
    # Erase the ruling lines: Tesseract reads them as 1, l or | and loses digits touching them.
    # Only inside tables: outside, long strokes of large title glyphs pass for lines.
    clean = erase_lines(gray, horiz, vert, tables)

    words = engine.words(Image.fromarray(clean), psm=3, timeout=max(1.0, deadline - time.monotonic()))
    if not detect_orientation and _looks_unread(words):
        # A page upside down (or sideways on a portrait sheet) reads as junk: ask OSD, then redo.
        orient = engine.orientation(_as_pil(image), timeout=max(1.0, deadline - time.monotonic()))
        if orient and orient.rotate and orient.confidence >= _MIN_OSD_CONFIDENCE:
            return _ocr_page(image, number, engine, deadline, True, unit, reason, dpi)
    grids: list[Grid] = []
    inset = max(3, gray.shape[1] // 500)
    centres = [(w, w.cx, w.cy) for w in words]
    for table in tables:
        for w, cx, cy in centres:
            if table.x0 <= cx < table.x1 and table.y0 <= cy < table.y1:
                for c in table.cells:
                    if c.x0 <= cx < c.x1 and c.y0 <= cy < c.y1:
                        c.words.append(w)
                        break
        values = _value_cells(engine, clean, table.cells, inset, deadline)
        # Doubtful value cells may be header cells the page pass missed ("结果\n维持" in table 四):
        # they go through the label pass too and become labels if it reads Chinese there.
        doubtful = {
            id(c): values[id(c)] for c in table.cells if id(c) in values and values[id(c)][1] < LOW_CONFIDENCE
        }
        labels = [c for c in table.cells if id(c) not in values or id(c) in doubtful]
        values.update(_label_cells(engine, clean, labels, inset, deadline, doubtful))
        rows: list[list[Cell]] = [[Cell() for _ in range(table.ncols)] for _ in range(table.nrows)]
        for c in table.cells:
            text, conf = values[id(c)]
            box = Box(x0=c.x0 * unit, top=c.y0 * unit, x1=c.x1 * unit, bottom=c.y1 * unit)
            for r, col in c.positions:
                rows[r][col] = Cell(text=text, box=box, confidence=round(conf, 3))
        grids.append(
            Grid(
                rows=rows,
                box=Box(x0=table.x0 * unit, top=table.y0 * unit, x1=table.x1 * unit, bottom=table.y1 * unit),
            )
        )
    text = _page_text(words)
    confidence = round(sum(w.conf for w in words) / len(words), 3) if words else None
    if not words and not grids:
        return Page(number=number, method=PageMethod.FAILED, reason="; ".join([*notes, "OCR found no text"]))
    return Page(
        number=number,
        text=text,
        method=PageMethod.OCR,
        reason="; ".join(notes),
        tables=grids,
        confidence=confidence,
    )
