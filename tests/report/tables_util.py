"""Helpers for the table-reader tests: compare readings with a truth, build grids from a truth."""

from __future__ import annotations

from typing import Any

from report.document import Grid
from report.readings import Number, TableReadings
from report.template import (
    APPLICANT_COLUMNS,
    APPLICANT_HEADER_LABELS,
    BALANCE_NOTE,
    RESULT_BLOCK_LABEL,
    REVIEW_GROUPS,
    REVIEW_ITEMS,
    all_keys,
    app_key,
    review_key,
    template,
)
from tests.report.conftest import numeric_truth


def same(a: Number | None, b: Number | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) < 1e-6


def wrong_cells(readings: TableReadings, truth: dict[str, Any], *, allow_ambiguous: bool) -> list[str]:
    """Every key whose reading differs from the truth, as "key: got != want".

    With allow_ambiguous, a cell may differ when an Ambiguity covers it and one of its candidate
    readings equals the truth in every field it names (the truth is among the alternatives).
    Ambiguities are not allowed at all otherwise.
    """
    want = numeric_truth(truth)
    out: list[str] = []
    covered: set[str] = set()
    for amb in readings.ambiguities:
        if not allow_ambiguous:
            out.append(f"unexpected ambiguity {amb.fields[0]}… run {amb.run!r}")
            continue
        if any(all(same(c[i], want[f]) for i, f in enumerate(amb.fields)) for c in amb.candidates):
            covered.update(amb.fields)
        else:
            out.append(f"ambiguity {amb.fields[0]}… run {amb.run!r} lacks the true reading")
    for key in all_keys(truth["format"]):
        cell = readings.cells.get(key)
        if cell is None:
            out.append(f"{key}: not read")
        elif not same(cell.value, want[key]) and key not in covered:
            out.append(f"{key}: {cell.value!r} != {want[key]!r}")
    return out


def _text(v: Any, null: str) -> str:
    if v is None:
        return null
    if isinstance(v, float):
        return (f"{v:.6f}").rstrip("0").rstrip(".")
    return str(v)


def truth_grids(truth: dict[str, Any], *, repeat_merged: bool = True, null: str = "") -> list[Grid]:
    """The three tables of a truth as grids with spans expanded, as a ruling-line or HTML extractor
    gives them: a merged cell's text repeated into every position (or only the first, the others
    empty, with repeat_merged=False)."""
    fmt = truth["format"]
    t = template(fmt)
    want = numeric_truth(truth)

    def span(text: str, n: int) -> list[str]:
        return [text] + [text if repeat_merged else ""] * (n - 1)

    t2: list[list[str]] = []
    for block in t.disclosure:
        t2.append(span(block.title, 4))
        heads = list(block.headers)
        t2.append(["信息内容", *heads[:-1], *span(heads[-1], 4 - len(heads))])
        for row in block.rows:
            vals = [_text(want[f"active_disclosure.{row.key}.{f}"], null) for f in row.fields]
            t2.append([row.label, *vals[:-1], *span(vals[-1], 4 - len(vals))])
    cols = [c.label for c in APPLICANT_COLUMNS]
    t3: list[list[str]] = [
        span(BALANCE_NOTE, 3) + span(APPLICANT_HEADER_LABELS[0], 7),
        [*span(BALANCE_NOTE, 3), cols[0], *span(APPLICANT_HEADER_LABELS[1], 5), cols[-1]],
        span(BALANCE_NOTE, 3) + cols,
    ]
    first_result = True
    for row in t.application_rows:
        vals = [_text(want[app_key(row.key, c.key)], null) for c in APPLICANT_COLUMNS]
        if row.block != "result":
            label = span(row.full_label, 3)
        else:
            parent = RESULT_BLOCK_LABEL if (repeat_merged or first_result) else ""
            first_result = False
            label = [parent, *(span(row.full_label, 2) if row.group is None else [row.group, row.full_label])]
        t3.append(label + vals)
    items = [i.label for i in REVIEW_ITEMS]
    t4 = [
        span(REVIEW_GROUPS[0].label, 5) + span("行政诉讼", 10),
        items + span(REVIEW_GROUPS[1].label, 5) + span(REVIEW_GROUPS[2].label, 5),
        items + items + items,
        [_text(want[review_key(g.key, i.key)], null) for g in REVIEW_GROUPS for i in REVIEW_ITEMS],
    ]
    return [Grid.from_texts(list(rows)) for rows in (t2, t3, t4)]  # type: ignore[arg-type]
