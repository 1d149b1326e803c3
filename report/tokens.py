"""Text and grids → a flat stream of tokens: label texts and value cells, in reading order.

Every layout the reports arrive in (pipes, tabs, one cell per line, markdown, `pdftotext -layout`,
pdftotext reading order, grids) becomes the same stream, so one anchored reader serves them all.
A crawler-flattened table stays one long text token; the reader splits its glued runs itself.

Blank cells differ in how sure we are that they are cells: an empty cell between two separators is
a cell ("hard"); empty cells after the last separator of a pipe/tab row are usually colspan padding
("pad"); an empty line is a cell only in one-cell-per-line layouts ("line"). The reader tries them
in that order when fitting a row's cells to the template.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from enum import IntEnum

from report.cells import FOOTER, clean, is_value
from report.confidence import LOW_CONFIDENCE
from report.document import Grid
from report.readings import CellSource


class Strength(IntEnum):
    HARD = 0
    PAD = 1
    LINE = 2


@dataclass(frozen=True)
class Token:
    is_value: bool
    raw: str  # as printed (stripped)
    text: str  # clean(): NFKC, no whitespace
    line: int
    strength: Strength = Strength.HARD
    source: CellSource = CellSource.LAYOUT
    confidence: float | None = None
    # separated from its neighbours by spaces only (pdftotext, pypdf): a blank cell leaves no trace
    spaced: bool = False
    col: float | None = None  # a spaced cell's centre, in characters from the line's start


_MD_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")
_WIDE_GAP = re.compile(r"\s{2,}|\u3000")
_LEAKED = frozenset("、,，。;；:：")
_SPECK = frozenset(".·'`")
# this many space-separated numbers on one line make it a flattened table, not prose or one row
_SPACED_RUN = 8


def _cell_tokens(part: str, line: int, source: CellSource, confidence: float | None) -> list[Token]:
    """One printed cell; "label 1 0 11" (pypdf joins a row with spaces) becomes label + values."""
    p = part.strip()
    if not p:
        return [Token(True, "", "", line, Strength.HARD, source, confidence)]
    if FOOTER.match(clean(p)):
        return []
    pieces = p.split()
    if len(pieces) == 1 and is_value(p):
        return [Token(True, p, clean(p), line, Strength.HARD, source, confidence)]
    k = len(pieces)
    while k > 0 and is_value(pieces[k - 1]):
        k -= 1
    out: list[Token] = []
    if k < len(pieces):
        head = " ".join(pieces[:k])
        # "1. 属于…" keeps its number; a label whose only trailing piece is "1." is not split
        if head:
            out.append(Token(False, head, clean(head), line, Strength.HARD, source, confidence))
        out += [Token(True, x, clean(x), line, Strength.HARD, source, confidence) for x in pieces[k:]]
        return out
    return [Token(False, p, clean(p), line, Strength.HARD, source, confidence)]


def tokenize_text(text: str) -> list[Token]:
    text = unicodedata.normalize("NFKC", text).replace("\f", "\n")
    out: list[Token] = []
    for n, line in enumerate(text.split("\n")):
        s = line.strip()
        if not s:
            out.append(Token(True, "", "", n, Strength.LINE))
            continue
        if FOOTER.match(clean(s)) or _MD_RULE.match(s):
            continue
        if set(s) <= {"|", " "}:
            # a lone "|" is a blank cell of a one-cell-per-line table; "||" runs are colspan padding
            if s == "|":
                out.append(Token(True, "", "", n, Strength.HARD))
            else:
                # a row of empty cells: padding in a header, or a row whose every cell is blank
                out += [Token(True, "", "", n, Strength.PAD)] * max(s.count("|") - 1, 1)
            continue
        if "|" in s or "\t" in line:
            parts = re.split(r"[|\t]", line)
            if s.startswith("|") and parts and not parts[0].strip():
                parts = parts[1:]
            if s.endswith("|") and parts and not parts[-1].strip():
                parts = parts[:-1]
            # leading/trailing empty parts: rowspan label columns and colspan padding
            first = next((i for i, p in enumerate(parts) if p.strip()), len(parts))
            last = max((i for i, p in enumerate(parts) if p.strip()), default=-1)
            for i, p in enumerate(parts):
                if i < first or i > last:
                    out.append(Token(True, "", "", n, Strength.PAD))
                else:
                    out += _cell_tokens(p, n, CellSource.LAYOUT, None)
            continue
        parts = _WIDE_GAP.split(s)
        if len(parts) == 1 and sum(1 for x in s.split() if is_value(x)) >= _SPACED_RUN:
            # a table flattened with single spaces between cells ("规章 1 0 11 行政规范性文件 8 26 66"):
            # every space separates cells (labels are matched with spaces removed anyway)
            parts = s.split()
        at = 0  # where each value is printed (its centre column): pdftotext -layout keeps columns
        for p in parts:
            if p.strip():
                for t in _cell_tokens(p, n, CellSource.LAYOUT, None):
                    col = None
                    if t.raw:
                        i = line.find(t.raw, at)
                        if i >= 0:
                            at, col = i + len(t.raw), i + len(t.raw) / 2
                    out.append(replace(t, spaced=True, col=col))
    lines = text.split("\n")
    filled = [i for i, x in enumerate(lines) if x.strip()]
    spaced = sum(1 for i in filled if i + 1 < len(lines) and not lines[i + 1].strip())
    if filled and spaced > 0.5 * len(filled):
        # blank lines separate (nearly) every line (pdftotext, some HTML exports): one is a
        # separator, not a cell; an empty cell shows as two more ("0", "", "", "", "5": one blank)
        kept: list[Token] = []
        empty: list[Token] = []
        for tok in out:
            if tok.strength == Strength.LINE:
                empty.append(tok)
                continue
            kept += empty[1::2][: (len(empty) - 1) // 2]
            empty = []
            kept.append(tok)
        out = kept
    return out


def _doubtful(confidence: float | None) -> bool:
    return confidence is not None and confidence < LOW_CONFIDENCE


def tokenize_grids(grids: list[Grid]) -> list[Token]:
    out: list[Token] = []
    line = 0
    for grid in grids:
        for row in grid.rows:
            texts = [unicodedata.normalize("NFKC", c.text) for c in row]
            first = next((i for i, t in enumerate(texts) if t.strip()), len(texts))
            last = max((i for i, t in enumerate(texts) if t.strip()), default=-1)
            for i, cell in enumerate(row):
                # punctuation that ends the cell before it sometimes lands in a number's cell ("、0")
                t = texts[i].strip()
                if t[:1] in _LEAKED and is_value(t[1:]):
                    t = t[1:].strip()
                elif t[:1] in _SPECK and _doubtful(cell.confidence) and is_value(t[1:]) and t[1:].strip():
                    # a doubtful OCR number with a speck read before it (".0"): a number, still
                    # doubtful (flagged `low_confidence`), rather than a label that breaks its row
                    t = t[1:].strip()
                if not t:
                    strength = Strength.PAD if (i < first or i > last) else Strength.HARD
                    out.append(Token(True, "", "", line, strength, CellSource.GRID, cell.confidence))
                elif is_value(t):
                    out.append(
                        Token(True, t, clean(t), line, Strength.HARD, CellSource.GRID, cell.confidence)
                    )
                else:
                    out += _cell_tokens(t.replace("\n", ""), line, CellSource.GRID, cell.confidence)
            line += 1
        line += 1
    return out
