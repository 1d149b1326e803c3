"""Row labels garbled by OCR (案卷 read as 案郑, a character dropped): placed by similarity, or not at all.

The table reader anchors each template row on exact substrings of its label (report.template).
On OCR'd grids a single misread character can defeat every key of a row, which then comes back
`missing` although its numbers were read. `repair_labels` looks at each grid row of an OCR grid
(cells that carry a confidence) whose label cells hold no key of any template row, compares each
label cell with the template's labels (normalised: NFKC, no whitespace) and rewrites the cell to
the template label only when the match is unambiguous:

- similarity (difflib ratio) at least `MIN_RATIO`, and at least `MARGIN` above any other label,
  group heading or column header of the template (a garbled heading is not taken for a row);
- the template row is not named by another grid row already (no row is read twice);
- the row fits the template order between the nearest exactly-anchored rows above and below it
  (the rows of tables 二 and 三 come in fixed order); a row out of order is left alone.

A table-三 row with numbers that neither an exact key nor similarity places is placed by POSITION
(`_place_by_position`) when its nearest exactly-anchored rows above and below, in the same grid and
with no other unplaced row with numbers between them, leave exactly one template row unaccounted
for between them in template order. Such a match is never `sure` (the printed label says nothing
about the row), so the row is flagged; two unplaced rows between the same anchors, or a row without
an anchor on one side, stay `missing`.

What is rewritten is reported as `LabelMatch`s, so the caller can record the printed label with each
cell (`CellReading.fuzzy_label`) and flag the rows whose match is not sure (`LabelMatch.sure`).
Grids without confidences (PDF ruling lines, HTML, Word) are never touched: their labels are text.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from report.cells import clean, is_value
from report.document import Cell, Grid
from report.readings import LabelMatch
from report.template import (
    APPLICANT_HEADER_LABELS,
    APPLICATION_SECTION,
    DISCLOSURE_SECTION,
    REVIEW_HEADER_LABELS,
    Template,
)

# below this similarity a label cell is not taken for a template label at all
MIN_RATIO = 0.7
# the best label must beat every other template label by this much
MARGIN = 0.15
# a match at least this close, anchored on both sides in template order, is not flagged
SURE_RATIO = 0.85
# labels shorter than this ("规章", "其他") are too short to match fuzzily
_MIN_LEN = 4


@dataclass(frozen=True)
class _Target:
    prefix: str | None  # None: a heading/header (a distractor, never a target)
    label: str  # as written into the cell
    forms: tuple[str, ...]  # cleaned forms to compare with
    keys: tuple[str, ...]  # exact keys (cleaned) that name it
    order: tuple[int, int] | None  # (table: 2 or 3, index among its rows): rows come in fixed order


def _targets(t: Template) -> list[_Target]:
    out: list[_Target] = []
    for i, r in enumerate(t.application_rows):
        keys = tuple(clean(k) for k in r.match)
        forms = tuple({clean(r.full_label), clean(r.label)})
        out.append(_Target(f"{APPLICATION_SECTION}.{r.key}", r.full_label, forms, keys, (3, i)))
    for i, dr in enumerate(t.disclosure_rows):
        labels = tuple(clean(x) for x in dr.labels)
        forms = tuple(x for x in labels if len(x) >= _MIN_LEN)
        out.append(_Target(f"{DISCLOSURE_SECTION}.{dr.key}", dr.label, forms, labels, (2, i)))
    words: list[str] = [*t.application_groups, *APPLICANT_HEADER_LABELS, *REVIEW_HEADER_LABELS]
    words += [k for v in t.application_groups.values() for k in v]
    for b in t.disclosure:
        words += [b.title, *b.headers, *b.header_aliases]
    for w in words:
        c = clean(w)
        if len(c) >= _MIN_LEN:
            out.append(_Target(None, w, (c,), (c,), None))
    return out


def _named(text: str, targets: list[_Target]) -> list[_Target]:
    """The targets an exact key names in a cleaned label text."""
    return [g for g in targets if any(k and (k in text if len(k) > 2 else k == text) for k in g.keys)]


def _ratio(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def _is_ocr(grid: Grid) -> bool:
    return any(c.confidence is not None for row in grid.rows for c in row)


def repair_labels(grids: list[Grid], t: Template) -> tuple[list[Grid], list[LabelMatch]]:
    """The grids with unambiguously garbled row labels rewritten to the template's, and what was
    rewritten (see the module docstring)."""
    targets = _targets(t)
    rows = [(gi, ri) for gi, g in enumerate(grids) if _is_ocr(g) for ri in range(len(g.rows))]
    if not rows:
        return grids, []
    # what each grid row names exactly, in reading order
    named: list[list[_Target]] = []
    for gi, ri in rows:
        labels = [
            clean(c.text) for c in grids[gi].rows[ri] if c.text.strip() and not is_value(c.text.strip())
        ]
        named.append([g for text in dict.fromkeys(labels) for g in _named(text, targets) if g.prefix])
    taken = {g.prefix for ns in named for g in ns if g.prefix is not None}
    # rows named by a long key anchor the template order (a bare "其他" may be a column header)
    anchors: list[tuple[int, tuple[int, int]]] = []
    for n, ns in enumerate(named):
        (gi, ri) = rows[n]
        texts = {clean(c.text) for c in grids[gi].rows[ri]}
        orders = [
            g.order
            for g in ns
            if g.order is not None and any(len(k) > 2 and k in x for k in g.keys for x in texts)
        ]
        if orders:
            anchors.append((n, min(orders)))
    out = [g.model_copy(deep=True) for g in grids]
    fuzzy: list[LabelMatch] = []
    placed: set[int] = set()  # grid rows placed by similarity
    for n, (gi, ri) in enumerate(rows):
        cells = out[gi].rows[ri]
        if named[n] or not any(c.text.strip() and is_value(c.text.strip()) for c in cells):
            continue  # named exactly (or a heading), or no numbers to place
        found = _match_row(cells, targets)
        if found is None:
            continue
        ci, best, ratio = found
        if best.prefix is None or best.prefix in taken:
            continue  # a heading, or a row another grid row names already
        sure = ratio >= SURE_RATIO
        if best.order is not None:
            before = [o for m, o in anchors if m < n]
            after = [o for m, o in anchors if m > n]
            if (before and before[-1] >= best.order) or (after and after[0] <= best.order):
                continue  # out of table order: not this row
            # table 二 has no identity that would catch a row read for another: never sure
            sure = sure and bool(before) and bool(after) and best.order[0] == 3
        printed = cells[ci].text
        for j, c in enumerate(cells):
            if c.text == printed:  # a merged label cell repeats its text
                cells[j] = Cell(text=best.label, box=c.box, confidence=c.confidence)
        taken.add(best.prefix)
        placed.add(n)
        fuzzy.append(
            LabelMatch(
                prefix=best.prefix, printed=printed, label=best.label, ratio=round(ratio, 3), sure=sure
            )
        )
    fuzzy += _place_by_position(out, rows, named, anchors, targets, taken, placed)
    return out, fuzzy


def _place_by_position(
    out: list[Grid],
    rows: list[tuple[int, int]],
    named: list[list[_Target]],
    anchors: list[tuple[int, tuple[int, int]]],
    targets: list[_Target],
    taken: set[str],
    placed: set[int],
) -> list[LabelMatch]:
    """Table-三 rows with numbers whose label matched nothing, placed by position: between the
    nearest exactly-anchored rows above and below in the same grid, with no other unplaced numeric
    row between them, when the anchors leave exactly one template row unaccounted. Never sure."""
    rows_3 = sorted((g.order[1], g) for g in targets if g.order is not None and g.order[0] == 3)
    unplaced = [
        n
        for n, (gi, ri) in enumerate(rows)
        if not named[n]
        and n not in placed
        and any(c.text.strip() and is_value(c.text.strip()) for c in out[gi].rows[ri])
    ]
    matches: list[LabelMatch] = []
    for n in unplaced:
        gi = rows[n][0]
        before = [(m, o) for m, o in anchors if m < n and rows[m][0] == gi]
        after = [(m, o) for m, o in anchors if m > n and rows[m][0] == gi]
        if not before or not after:
            continue
        (lo, o_lo), (hi, o_hi) = before[-1], after[0]
        if o_lo[0] != 3 or o_hi[0] != 3 or o_lo[1] >= o_hi[1]:
            continue
        if [m for m in unplaced if lo < m < hi] != [n]:
            continue  # another unplaced row between the anchors: which is which is not known
        open_rows = [g for i, g in rows_3 if o_lo[1] < i < o_hi[1] and g.prefix not in taken]
        if len(open_rows) != 1:
            continue
        [best] = open_rows
        cells = out[gi].rows[rows[n][1]]
        first = next(ci for ci, c in enumerate(cells) if c.text.strip() and is_value(c.text.strip()))
        labels = [
            ci
            for ci, c in enumerate(cells[:first])
            if clean(c.text) and not is_value(c.text.strip()) and not _named(clean(c.text), targets)
        ]
        if not labels or best.prefix is None:
            continue  # no label cell before the numbers to rename
        ci = labels[-1]  # the row's own label is the last label cell before its numbers
        printed = cells[ci].text
        ratio = max(_ratio(clean(printed), f) for f in best.forms) if best.forms else 0.0
        for j, c in enumerate(cells):
            if c.text == printed:
                cells[j] = Cell(text=best.label, box=c.box, confidence=c.confidence)
        taken.add(best.prefix)
        matches.append(
            LabelMatch(
                prefix=best.prefix, printed=printed, label=best.label, ratio=round(ratio, 3), sure=False
            )
        )
    return matches


def _match_row(cells: list[Cell], targets: list[_Target]) -> tuple[int, _Target, float] | None:
    """The one label cell of a row that matches one target clearly: (cell index, target, ratio)."""
    hits: list[tuple[int, _Target, float]] = []
    seen: set[str] = set()
    for ci, c in enumerate(cells):
        text = clean(c.text)
        if not text or is_value(c.text.strip()) or len(text) < _MIN_LEN - 1 or text in seen:
            continue
        if _named(text, targets):
            continue  # a heading or group label read right (a merged cell beside the row's label)
        seen.add(text)
        scored = sorted(
            ((max(_ratio(text, f) for f in g.forms), g) for g in targets if g.forms),
            key=lambda x: -x[0],
        )
        if not scored or scored[0][0] < MIN_RATIO:
            continue
        best_r, best = scored[0]
        rival = next((r for r, g in scored[1:] if g.prefix != best.prefix or g.prefix is None), 0.0)
        if best_r - rival < MARGIN:
            return None  # close to two labels: not placed
        hits.append((ci, best, best_r))
    if len(hits) != 1:
        return None
    return hits[0]
