"""Read tables 二/三/四 out of extracted grids by the template's labels, to compare with a truth file
without the parser. Test helper only."""

from __future__ import annotations

import difflib
import re
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any

from report.document import Cell, Document, Grid

from .conftest import TOOLS

sys.path.insert(0, str(TOOLS))
import report_template as tpl

_CJK = re.compile(r"[\u3400-\u9fff]")


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s“”\"'、，,。.()（）]", "", text)


def number_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) else str(int(value))
    return str(value)


def cell_number(text: str) -> str:
    """Cell text as a number string for comparison ("96171.600000" → "96171.6", "251000元" → "251000")."""
    t = unicodedata.normalize("NFKC", text).strip().rstrip("元").strip()
    if t in ("", "/", "-", "—", "无"):
        return ""
    try:
        f = float(t)
    except ValueError:
        return t
    return f"{f:g}" if f != int(f) else str(int(f))


@dataclass
class Reading:
    key: str  # dotted canonical key
    cell: Cell | None  # None: the row was not found (the parser would flag it missing)
    expected: str


def _distinct(cells: list[Cell]) -> list[Cell]:
    """Cells of a row with merged repeats collapsed (repeats share their box)."""
    out: list[Cell] = []
    for c in cells:
        if out and c.box is not None and out[-1].box == c.box:
            continue
        out.append(c)
    return out


def grids(doc: Document) -> list[Grid]:
    return [g for p in doc.pages for g in p.tables]


def table3_rows(doc: Document) -> list[list[Cell]]:
    """Body rows of table 三 (10 columns; 8 or 9 for a fragment after a page break whose label
    column has no inner rules), in order across pages; header rows (CJK in the value columns)
    dropped, so a header repeated after a page break is skipped."""
    out = []
    for g in grids(doc):
        for row in g.rows:
            if not 8 <= len(row) <= 10:
                continue
            if any(_CJK.search(c.text) for c in row[-7:]):
                continue
            out.append(row)
    return out


def readings(doc: Document, truth: dict[str, Any]) -> list[Reading]:
    """Every numeric truth key with the grid cell that should hold it, matched by row position for
    table 三 (OCR garbles labels), by label for table 二, and the last row for table 四."""
    fmt = truth["format"]
    out: list[Reading] = []
    rows = table3_rows(doc)
    keys = [k for k, *_ in tpl.application_rows(fmt)]
    assert len(rows) == len(keys), f"table 三: {len(rows)} body rows, expected {len(keys)}"
    for key, row in zip(keys, rows, strict=True):
        for (col, _), cell in zip(tpl.APPLICANT_COLUMNS, row[-7:], strict=True):
            out.append(
                Reading(f"applications.{key}.{col}", cell, number_text(truth["applications"][key][col]))
            )
    four = [g for g in grids(doc) if g.rows and len(g.rows[0]) == 15]
    assert len(four) == 1, f"table 四: {len(four)} grids of 15 columns"
    last = four[0].rows[-1]
    i = 0
    for group, _ in tpl.REVIEW_GROUPS:
        for item, _ in tpl.REVIEW_ITEMS:
            exp = number_text(truth["review_litigation"][group][item])
            out.append(Reading(f"review_litigation.{group}.{item}", last[i], exp))
            i += 1
    for _, _, block_rows in tpl.ACTIVE_DISCLOSURE[fmt]:
        for key, label, fields in block_rows:
            found = _find_row(doc, label)
            cells: list[Cell | None] = list(_distinct(found)[1:]) if found else []
            cells += [None] * (len(fields) - len(cells))
            for field, value in zip(fields, cells, strict=False):
                exp = number_text(truth["active_disclosure"][key][field])
                out.append(Reading(f"active_disclosure.{key}.{field}", value, exp))
    return out


def _find_row(doc: Document, label: str) -> list[Cell] | None:
    want = norm(label)
    best: tuple[float, list[Cell] | None] = (0.0, None)
    for g in grids(doc):
        if not g.rows or len(g.rows[0]) > 4:  # 4 columns; fewer in a fragment after a page break
            continue
        for row in g.rows:
            # OCR may garble a glyph of the label: take the closest one, if close enough.
            ratio = difflib.SequenceMatcher(None, norm(row[0].text), want).ratio()
            if ratio > best[0]:
                best = (ratio, row)
    return best[1] if best[0] >= 0.6 else None
