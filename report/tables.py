"""The table reader: normalised report text (and/or extracted grids) → one reading per template cell.

How: the text becomes a token stream (report.tokens); each table's region is found by its section
heading or, failing that, by its own labels; each template row is anchored on its label (fuzzy keys
from report.template, searched in template order) and takes the value cells that follow it. Where a
crawler glued the cells together the row's digit run is split by report.glued and the hard
identities choose among the splits (report.resolve); what they cannot decide is returned as an
`Ambiguity`, never picked silently. Rows not found are listed in `missing`.

Layouts: pipes (ragged rows, colspan runs of empty cells), tabs, markdown, one cell per line (with or
without blank lines, with "|" lines), `pdftotext -layout` (wrapped labels, footers, blank cells
placed by the identities and ranked by printed column), pdftotext reading order (numbers away from
their labels: accepted in table order only when every row adds up), crawler-flattened runs (with or
without placeholders for blank cells), single-space flattened tables, grids (ruling lines, OCR, HTML).

What is never done: taking the first n of too many numbers, filling a row from part of a broken run,
or reading cut-off rows; those rows are `missing` instead.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from opencc import OpenCC

from report.cells import clean, parse_number
from report.document import Grid
from report.fuzzy import repair_labels
from report.glued import RUN_CHARS, free_splits, piece_value, sum_splits
from report.readings import (
    Ambiguity,
    CellReading,
    CellSource,
    LabelMatch,
    Number,
    ReportFormat,
    TableReadings,
)
from report.resolve import column_filter, groups_ok, interleavings, row_ok, vec
from report.template import (
    APPLICANT_COLUMNS,
    APPLICATION_SECTION,
    DISCLOSURE_SECTION,
    REVIEW_GROUPS,
    REVIEW_ITEMS,
    REVIEW_SECTION,
    TEMPLATES,
    Template,
    app_key,
    review_key,
    template,
)
from report.tokens import Strength, Token, tokenize_grids, tokenize_text

# section headings, with the variants seen in the wild ("2、…", "四、因政府信息公开工作被申请行政复议…",
# "五、政府信息公开工作存在的主要问题…", the typo 行政法复议)
_H2 = re.compile(r"(?:二[、.,]?|2[、.,])\S{0,6}?主动公开政府信息")
_H3 = re.compile(r"(?:三[、.,]?|3[、.,])\S{0,6}?收到和处理政府信息公开申请")
_H4 = re.compile(r"(?:四[、.,]?|4[、.,])\S{0,4}?政府信息公开\S{0,8}?行政(?:法)?复议")
_H5 = re.compile(r"(?:五[、.,]?|5[、.,])\S{0,12}?存在的?主要问题")
_T2_HEAD = ("第二十条", "信息内容")
_T3_HEAD = ("勾稽关系", "申请人情况", "自然人")
_T3_FIRST = ("本年新收", "勾稽关系")
_T4_HEAD = ("行政复议",)
_T4_ITEMS = ("结果维持", "尚未审结")
_T3_STOP = ("行政复议", "行政诉讼")  # table 四's header ends table 三
_T2_STOP = ("收到和处理", "勾稽关系")
_COLS = [c.key for c in APPLICANT_COLUMNS]
_N_APP = len(_COLS)
_SHAPE4 = [len(REVIEW_ITEMS) - 1] * len(REVIEW_GROUPS)
_N_REV = len(REVIEW_ITEMS) * len(REVIEW_GROUPS)
# how far after its label a glued row's run may start (labels carry notes in parentheses)
_MAX_GAP = 60
# a label token this long is a flattened table (or more), not a cell
_FLAT_TOKEN = 200
_MAX_FREE = 200


# ----------------------------------------------------------------------------- the stream


class _Stream:
    """Tokens plus the concatenated text of the label tokens, for label and heading search."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.start: list[int] = []  # joined offset of each token (a value token: where it sits)
        parts: list[str] = []
        self.text_idx: list[int] = []  # token index of each label token, by joined order
        self.text_start: list[int] = []
        pos = 0
        for i, t in enumerate(tokens):
            self.start.append(pos)
            if not t.is_value:
                self.text_idx.append(i)
                self.text_start.append(pos)
                parts.append(t.text)
                pos += len(t.text)
        self.text = "".join(parts)

    def token_at(self, offset: int) -> int:
        """Index of the label token containing joined offset `offset`."""
        j = bisect.bisect_right(self.text_start, offset) - 1
        return self.text_idx[max(j, 0)]

    def first_token_from(self, offset: int) -> int:
        """Token index where joined offset `offset` falls: the label token containing it (values
        printed before that label belong to what comes before), or the end of the stream."""
        if offset >= len(self.text):
            return len(self.tokens)
        return self.token_at(offset)

    def find(self, keys: Sequence[str], lo: int, hi: int) -> tuple[int, int] | None:
        """Earliest (start, end) of any key in text[lo:hi]."""
        best: tuple[int, int] | None = None
        for k in keys:
            i = self.text.find(k, lo, hi)
            if i >= 0 and (best is None or i < best[0]):
                best = (i, i + len(k))
        return best

    def search(self, pattern: re.Pattern[str], lo: int, hi: int) -> re.Match[str] | None:
        return pattern.search(self.text, lo, hi)


_SHORT_LABEL = re.compile(r"^(?:\d[.、]?)?(.{1,2})(?:\(.*)?$")


def _find_label(s: _Stream, keys: Sequence[str], lo: int, hi: int) -> tuple[int, int] | None:
    """Like find, but a key of at most two characters ("其他", "规章") must open its token (after an
    item number, before a note in parentheses) or be glued to a run: short keys are header words
    elsewhere."""
    long_keys = [clean(k) for k in keys if len(clean(k)) > 2]
    short = [clean(k) for k in keys if len(clean(k)) <= 2]
    best = s.find(long_keys, lo, hi) if long_keys else None
    if best is not None:
        return best  # "3.其他" wins over a bare "其他", which may be a repeated column header
    for k in short:
        start = lo
        while True:
            i = s.text.find(k, start, hi)
            if i < 0 or (best is not None and i >= best[0]):
                break
            ti = s.token_at(i)
            tok = s.tokens[ti]
            m = _SHORT_LABEL.match(tok.text)
            local = i + len(k) - s.start[ti]
            glued = RUN_CHARS.match(tok.text, local) is not None and tok.text[local : local + 1].isdigit()
            if (m and m.group(1) == k) or glued:
                best = (i, i + len(k))
                break
            start = i + 1
    return best


# ----------------------------------------------------------------------------- row reading


@dataclass
class _Row:
    """What was found for one template row."""

    keys: list[str]
    cells: list[Token] | None = None  # separated cells, fitted to len(keys)
    run: str | None = None  # glued run
    candidates: list[list[str]] = field(default_factory=list)  # splits of the run
    # where blank cells left no trace (spaced layouts): every order-keeping placement of the printed
    # values that adds up; used like the blank-cell splits of a glued run
    placements: list[list[str]] | None = None
    printed_tokens: list[Token] = field(default_factory=list)  # the cells printed after the label
    inline: bool = False  # some of them on the label's own line (a layout row, not reading order)
    by_identity: bool = True  # candidates satisfy the row identity (else: free splits)
    end: int = 0  # joined offset where the next row's search starts


def _fit(seq: list[Token], n: int) -> list[Token] | None:
    """Fit the value cells that follow a label to the template's n cells (see report.tokens)."""
    hard = [t for t in seq if t.strength == Strength.HARD]
    if len(hard) == n:
        return hard
    # padding counts only on the lines the row's numbers are on: the next row's leading empty
    # cells (its spanned label columns) are not this row's
    lines_of = {t.line for t in hard}
    mid = [
        t
        for t in seq
        if t.strength == Strength.HARD or (t.strength == Strength.PAD and (t.line in lines_of or not hard))
    ]
    if len(mid) == n:
        return mid
    # empty lines are cells only where every cell has a line of its own
    lines = [t.line for t in seq if t.strength != Strength.LINE]
    if len(seq) == n and len(lines) == len(set(lines)):
        return seq
    if len(hard) > n:
        while len(hard) > n and hard[0].raw == "":
            hard.pop(0)
        while len(hard) > n and hard[-1].raw == "":
            hard.pop()
        if len(hard) == n:
            return hard
        # a grid repeats a merged value into every column it spans; anything else is another
        # row's numbers (pdftotext reading order) and taking the first n would be a guess
        if all(t.source == CellSource.GRID and t.raw == hard[n - 1].raw for t in hard[n:]):
            return hard[:n]
        return None
    if len(seq) >= n and all(t.raw == "" for t in seq) and any(t.strength <= Strength.PAD for t in seq):
        # a row printed with nothing but empty cells (at least as many as it has): every cell blank
        blank = next(t for t in seq if t.strength <= Strength.PAD)
        return [blank] * n
    return None


_HEADER_WORDS = frozenset(
    clean(h) for t in TEMPLATES.values() for b in t.disclosure for h in (*b.headers, *b.header_aliases)
)


def _guessed_blanks(cells: list[Token]) -> bool:
    return any(t.strength == Strength.LINE for t in cells)


def _collect(s: _Stream, after: int, hi_tok: int, stop_keys: Sequence[str]) -> list[Token]:
    """The value cells after token `after`, up to the next label once values have started (or a
    label naming a later row / block, before they start)."""
    seq: list[Token] = []
    for i in range(after + 1, hi_tok):
        t = s.tokens[i]
        if t.is_value:
            seq.append(t)
            continue
        if t.text in _HEADER_WORDS:
            continue  # pdftotext reading order prints a block's column headers among its values
        if any(t.strength <= Strength.PAD for t in seq):
            return seq
        if any(k in t.text for k in stop_keys):
            return seq
    if hi_tok >= len(s.tokens):
        # the text ends here (an excerpt cut mid-table): trailing empty lines are not cells
        while seq and seq[-1].strength == Strength.LINE:
            seq.pop()
    return seq


_BROKEN_RUN = "\x00"


def _glued_run(s: _Stream, match_end: int, stop_keys: Sequence[str]) -> str | None:
    """The digit run glued after a label, if the label's token goes on with one (and not only
    after a later label: that run is the later row's)."""
    ti = s.token_at(max(match_end - 1, 0))
    tok = s.tokens[ti]
    local = match_end - s.start[ti]
    rest = tok.text[local:]
    m = RUN_CHARS.search(rest)
    if m is None or m.start() > _MAX_GAP or not re.search(r"\d", m.group()):
        return None
    if any(k in rest[: m.start()] for k in stop_keys):
        return None
    # (the next label may start inside the run: "…60000063.其他": "3." is its item number)
    nearest = [i for i in (rest.find(k, m.start()) for k in stop_keys) if i >= 0]
    tail = rest[m.end() : max(m.end(), min(nearest, default=len(rest)))]
    if re.search(r"\d", re.sub(r"\d[.、]\D*$", "", tail)):  # the next label's item number is fine
        # more digits before the next label: something unknown broke the run; guessing from part
        # of it would be a silent error
        return _BROKEN_RUN
    run = m.group()
    nxt = rest[m.end() : m.end() + 1]
    # the next label's item number ("2." / "2、") is glued onto the run's end
    if run.endswith(".") and len(run) >= 2 and run[-2].isdigit():
        run = run[:-2]
    elif nxt == "、" and run[-1:].isdigit():
        run = run[:-1]
    return run or None


def _read_row(
    s: _Stream,
    keys: list[str],
    labels: Sequence[str],
    lo: int,
    hi: int,
    stop_keys: Sequence[str],
    *,
    row_sum: bool,
    decimal: Sequence[bool],
    signed: Sequence[bool],
) -> _Row | None:
    found = _find_label(s, labels, lo, hi)
    if found is None:
        return None
    _, mend = found
    row = _Row(keys)
    run = _glued_run(s, mend, stop_keys)
    ti = s.token_at(mend - 1)
    if run == _BROKEN_RUN:
        row.end = mend
        return row  # neither cells nor a run: reported missing
    if run is not None:
        row.run = run
        tok_text_end = s.start[ti] + len(s.tokens[ti].text)
        local_run = s.text.find(run, mend, tok_text_end)
        row.end = (local_run + len(run)) if local_run >= 0 else mend
        if row_sum:
            row.candidates = sum_splits(run, [len(keys) - 1])
        if not row.candidates:
            row.by_identity = False
            row.candidates = free_splits(run, len(keys), decimal=decimal, signed=signed, limit=_MAX_FREE)
        return row
    rest = s.tokens[ti].text[mend - s.start[ti] :]
    # only in flattened text (one huge token): a label note naming a later
    # row ("其他对外管理服务事项(…行政处罚、行政强制…)") is not a glued empty row
    flattened = len(s.tokens[ti].text) > _FLAT_TOKEN
    if flattened and any(k in rest[:_MAX_GAP] for k in stop_keys):
        # glued text where the next label follows at once: every cell of this row is blank
        row.run = ""
        row.end = mend
        row.by_identity = row_sum
        row.candidates = [[""] * len(keys)] if not row_sum else []
        return row
    row.end = s.start[ti] + len(s.tokens[ti].text)
    hi_tok = s.first_token_from(hi)
    seq = _collect(s, ti, hi_tok, stop_keys)
    row.cells = _fit(seq, len(keys))
    if (
        row.cells
        and row_sum
        and _guessed_blanks(row.cells)
        and not row_ok([parse_number(c.raw) for c in row.cells])
    ):
        row.cells = None  # empty lines taken for cells, and the row does not add up: they were not
    row.printed_tokens = [t for t in seq if t.strength == Strength.HARD]
    row.inline = any(t.line == s.tokens[ti].line for t in row.printed_tokens)
    return row


def _column_centres(rows: list[_Row]) -> dict[str, list[float]]:
    """Where table 三's seven columns are printed in a spaced layout, per row: rows are grouped by
    where their total (always the last number) sits, since a table continued on the next page may
    be laid out anew; a group's columns are spread evenly from its leftmost first number to its
    total, or taken from its rows that print all seven."""
    groups: list[list[_Row]] = []
    for g in sorted(rows, key=lambda g: g.printed_tokens[-1].col or 0):
        last = g.printed_tokens[-1].col
        if last is None:
            continue
        if groups and abs((groups[-1][-1].printed_tokens[-1].col or 0) - last) <= 1.5:
            groups[-1].append(g)
        else:
            groups.append([g])
    out: dict[str, list[float]] = {}
    for group in groups:
        full = [[t.col for t in g.printed_tokens if t.col is not None] for g in group]
        full = [row for row in full if len(row) == _N_APP]
        if full:
            centres = [sorted(row[j] for row in full)[len(full) // 2] for j in range(_N_APP)]
        else:
            firsts = [g.printed_tokens[0].col for g in group if len(g.printed_tokens) >= 2]
            left = min((c for c in firsts if c is not None), default=None)
            right = group[0].printed_tokens[-1].col
            if left is None or right is None or right <= left:
                continue
            centres = [left + j * (right - left) / (_N_APP - 1) for j in range(_N_APP)]
        for g in group:
            out[g.keys[0]] = centres
    return out


def _by_position(cands: list[list[str]], printed: list[Token], centres: list[float]) -> list[list[str]]:
    """Placements ordered by how far their numbers sit from their columns' centres (stable)."""

    def cost(cells: list[str]) -> float:
        where = [j for j, c in enumerate(cells) if c]
        return sum(abs((t.col or 0) - centres[j]) for t, j in zip(printed, where, strict=True))

    return sorted(cands, key=cost)


def placements(raws: Sequence[str], shape: Sequence[int]) -> list[list[str]]:
    """Every way to put the printed values, in order, into the cells of groups of parts + total
    (shape as for sum_splits) with the other cells blank, such that every group adds up."""
    width = sum(k + 1 for k in shape)
    out: list[list[str]] = []
    for where in itertools.combinations(range(width), len(raws)):
        cells = [""] * width
        for i, raw in zip(where, raws, strict=True):
            cells[i] = raw
        vals = [parse_number(c) for c in cells]
        pos, ok = 0, True
        for k in shape:
            ok = ok and row_ok(vals[pos : pos + k + 1])
            pos += k + 1
        if ok:
            out.append(cells)
    return out


# ----------------------------------------------------------------------------- results


@dataclass
class _Part:
    """The readings of one table."""

    cells: dict[str, CellReading] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    ambiguities: list[Ambiguity] = field(default_factory=list)

    def set_tokens(self, keys: Sequence[str], toks: Sequence[Token]) -> None:
        for k, t in zip(keys, toks, strict=True):
            self.cells[k] = CellReading(
                value=parse_number(t.raw), raw=t.raw, source=t.source, confidence=t.confidence
            )

    def set_pieces(self, keys: Sequence[str], pieces: Sequence[str]) -> None:
        for k, p in zip(keys, pieces, strict=True):
            self.cells[k] = CellReading(value=piece_value(p), raw=p, source=CellSource.SPLIT)

    def found(self) -> int:
        return len(self.cells)


def _ambiguity(keys: Sequence[str], run: str, candidates: Sequence[Sequence[str]], chosen: int) -> Ambiguity:
    vals: list[list[Number | None]] = [[piece_value(p) for p in c] for c in candidates]
    return Ambiguity(fields=list(keys), run=run, candidates=vals, chosen=chosen)


def _plausible_free(candidates: list[list[str]]) -> int:
    """Index of the most plausible split when nothing checks it: cells of similar length, and for
    the 第（一）项 rows the 现行有效 count (last) not smaller than the others."""

    def score(c: list[str]) -> tuple[int, float]:
        lens = [len(p) for p in c]
        mean = sum(lens) / len(lens)
        spread = sum((x - mean) ** 2 for x in lens)
        nums = [piece_value(p) or 0 for p in c]
        last_max = 0 if nums[-1] >= max(nums) else 1
        return (last_max, spread)

    return min(range(len(candidates)), key=lambda i: score(candidates[i]))


# ----------------------------------------------------------------------------- regions


@dataclass
class _Regions:
    t2: tuple[int, int]
    t3: tuple[int, int]
    t4_from: int | None  # None: find it after table 三
    t4_to: int


def _regions(s: _Stream) -> _Regions:
    n = len(s.text)
    h2 = s.search(_H2, 0, n)
    t2_lo = h2.end() if h2 else 0
    h3 = s.search(_H3, t2_lo, n)
    if h3:
        t3_lo = h3.end()
    else:
        f = s.find(_T3_FIRST, t2_lo, n)
        t3_lo = f[0] if f else n
    t2_hi = h3.start() if h3 else t3_lo
    head2 = s.find(_T2_HEAD, t2_lo, t2_hi)
    if head2:
        t2_lo = head2[0]
    h4 = s.search(_H4, t3_lo, n)
    t3_hi = h4.start() if h4 else n
    head3 = s.find(_T3_HEAD, t3_lo, t3_hi)
    if h3 and head3:
        t3_lo = head3[0]  # skip prose between the heading and the table
    t4_from = h4.end() if h4 else None
    h5 = s.search(_H5, t4_from if t4_from is not None else t3_lo, n)
    return _Regions((t2_lo, t2_hi), (t3_lo, t3_hi), t4_from, h5.start() if h5 else n)


# ----------------------------------------------------------------------------- table 二


def _read_t2(s: _Stream, t: Template, lo: int, hi: int) -> _Part:
    part = _Part()
    rows = t.disclosure_rows
    pos = lo
    for i, row in enumerate(rows):
        keys = [f"{DISCLOSURE_SECTION}.{row.key}.{f}" for f in row.fields]
        later = [clean(x) for r in rows[i + 1 :] for x in r.labels]
        later += [clean(x) for x in _T2_HEAD + _T2_STOP]
        got = _read_row(
            s, keys, row.labels, pos, hi, later,
            row_sum=False,
            decimal=[k in t.decimal_keys for k in keys],
            signed=[k in t.signed_keys for k in keys],
        )  # fmt: skip
        if got is None:
            part.missing.append(f"{DISCLOSURE_SECTION}.{row.key}")
            continue
        pos = got.end
        if got.cells is not None:
            part.set_tokens(keys, got.cells)
        elif got.candidates:
            chosen = _plausible_free(got.candidates) if len(got.candidates) > 1 else 0
            part.set_pieces(keys, got.candidates[chosen])
            if len(got.candidates) > 1:
                part.ambiguities.append(_ambiguity(keys, got.run or "", got.candidates, chosen))
        elif (blanks := _t2_blank_placements(s, got, len(keys))) is not None:
            # a spaced layout with blank cells: no checksum, so every placement is a candidate,
            # the one nearest the column headers first
            part.set_pieces(keys, blanks[0])
            if len(blanks) > 1:
                part.ambiguities.append(_ambiguity(keys, got.run or "", blanks, 0))
        else:
            part.missing.append(f"{DISCLOSURE_SECTION}.{row.key}")
    return part


def _t2_blank_placements(s: _Stream, row: _Row, n: int) -> list[list[str]] | None:
    """Placements of a spaced table-二 row that prints fewer numbers than it has cells, ordered by
    the distance of each number from the header cell above its column (the block's header line,
    "信息内容 本年制发件数 本年废止件数 现行有效件数")."""
    printed = row.printed_tokens
    if not row.inline or not 0 < len(printed) < n or not all(t.spaced and t.raw for t in printed):
        return None
    cands = [_place(printed, w, n) for w in itertools.combinations(range(n), len(printed))]
    first = s.tokens.index(printed[0])
    head = next(
        (i for i in range(first - 1, -1, -1) if not s.tokens[i].is_value and s.tokens[i].text == "信息内容"),
        None,
    )
    row.run = " ".join(t.raw for t in printed)
    if head is not None:
        line = s.tokens[head].line
        cols = [
            t.col for t in s.tokens[head + 1 :] if t.line == line and not t.is_value and t.col is not None
        ]
        if len(cols) == n:

            def cost(cells: list[str]) -> float:
                where = [j for j, c in enumerate(cells) if c]
                return sum(abs((t.col or 0) - cols[j]) for t, j in zip(printed, where, strict=True))

            return sorted(cands, key=cost)
    return cands


def _place(printed: list[Token], where: tuple[int, ...], n: int) -> list[str]:
    cells = [""] * n
    for t, j in zip(printed, where, strict=True):
        cells[j] = t.raw
    return cells


# ----------------------------------------------------------------------------- table 三


def _read_t3(s: _Stream, t: Template, lo: int, hi: int) -> tuple[_Part, int | None]:
    """Table 三 and the joined offset where its last row ends (table 四 follows)."""
    part = _Part()
    rows = t.application_rows
    pos = lo
    got_rows: dict[str, _Row] = {}
    last_end: int | None = None
    for i, row in enumerate(rows):
        keys = [app_key(row.key, c) for c in _COLS]
        later = [clean(k) for r in rows[i + 1 :] for k in r.match if len(clean(k)) > 2]
        later += list(_T3_STOP)
        got = _read_row(
            s, keys, row.match, pos, hi, later,
            row_sum=True, decimal=[False] * _N_APP, signed=[False] * _N_APP,
        )  # fmt: skip
        if got is None:
            continue
        got_rows[row.key] = got
        pos = got.end
        last_end = got.end

    def complete(r: _Row | None) -> bool:
        if r is None:
            return False
        if r.cells is not None:
            return row_ok([parse_number(c.raw) for c in r.cells])
        return bool(r.candidates) and r.by_identity

    if not all(complete(got_rows.get(r.key)) for r in rows):
        seq = _sequence_reading(s, t, lo, hi)
        if seq is not None:
            for r, toks in zip(rows, seq, strict=True):
                part.set_tokens([app_key(r.key, c) for c in _COLS], toks)
            return part, last_end

    # a spaced layout (pdftotext -layout) prints a row's numbers on its label's line; there a
    # label with no numbers at all is a row of blank cells. (In reading order it is not: the
    # numbers may come elsewhere.)
    found = [g for g in got_rows.values() if g.printed_tokens]
    if found and sum(g.inline for g in found) * 2 > len(found):
        centres = _column_centres(found)
        for g in got_rows.values():
            if g.cells is not None or g.run is not None:
                continue
            printed = g.printed_tokens
            if not printed:
                g.run, g.placements = "", [[""] * _N_APP]
            elif len(printed) < _N_APP and all(t.spaced and t.raw for t in printed):
                # blank cells left no trace: every placement of the printed numbers that adds up,
                # nearest the columns where they are printed first
                g.run = " ".join(t.raw for t in printed)
                cands = placements([t.raw for t in printed], [_N_APP - 1])
                row_centres = centres.get(g.keys[0])
                g.placements = _by_position(cands, printed, row_centres) if row_centres else cands
    glued: dict[str, _Row] = {}
    for r in rows:
        got = got_rows.get(r.key)
        keys = [app_key(r.key, c) for c in _COLS]
        if got is None or (got.cells is None and got.run is None):
            part.missing.append(f"{APPLICATION_SECTION}.{r.key}")
        elif got.cells is not None:
            part.set_tokens(keys, got.cells)
        else:
            glued[r.key] = got
    if glued:
        _resolve_glued_t3(part, t, glued)
    return part, last_end


def _sequence_reading(s: _Stream, t: Template, lo: int, hi: int) -> list[list[Token]] | None:
    """pdftotext reading order prints some rows' numbers away from their labels but keeps the
    numbers in table order: accept them in order when there are exactly rows × 7 and every row adds
    up to its total."""
    a, b = s.first_token_from(lo), s.first_token_from(hi)
    vals = [x for x in s.tokens[a:b] if x.is_value and x.strength == Strength.HARD]
    n_rows = len(t.application_rows)
    if len(vals) != n_rows * _N_APP:
        return None
    chunks = [vals[i * _N_APP : (i + 1) * _N_APP] for i in range(n_rows)]
    if not all(row_ok([parse_number(c.raw) for c in ch]) for ch in chunks):
        return None
    return chunks


def _blank_splits(r: _Row) -> list[list[str]]:
    return sum_splits(r.run or "", [_N_APP - 1], blanks=True)


def _resolve_glued_t3(part: _Part, t: Template, glued: dict[str, _Row]) -> None:
    """Choose among the row splits with the column identities (balance, outcomes): first reading
    the runs as printed with every cell present, then as a table that prints zero as blank."""
    fixed = {
        r.key: [vec([part.cells[app_key(r.key, c)].value for c in _COLS])]
        for r in t.application_rows
        if app_key(r.key, _COLS[0]) in part.cells
    }
    for blanks in (False, True):
        splits: dict[str, list[list[str]]] = {}
        for k, r in glued.items():
            if blanks:
                splits[k] = r.placements if r.placements is not None else _blank_splits(r)
            else:
                splits[k] = r.candidates if r.by_identity else []
        if any(not v for v in splits.values()):
            continue
        cands = dict(fixed)
        cands.update({k: [vec([piece_value(p) for p in c]) for c in v] for k, v in splits.items()})
        alive = column_filter(t, cands)
        if alive is None:
            continue
        for k, r in glued.items():
            kept = [splits[k][i] for i in sorted(alive[k])]  # in order of plausibility
            part.set_pieces(r.keys, kept[0])
            if len(kept) > 1:
                part.ambiguities.append(_ambiguity(r.keys, r.run or "", kept, 0))
        return
    # nothing satisfies the column identities: keep each row's own best reading, flag the rest
    for r in glued.values():
        cands_r = r.candidates or (r.placements if r.placements is not None else _blank_splits(r))
        if not cands_r and r.placements is None:
            cands_r = free_splits(r.run or "", _N_APP, limit=_MAX_FREE)
        if not cands_r:
            part.missing.append(f"{APPLICATION_SECTION}.{r.keys[0].split('.')[1]}")
            continue
        chosen = 0 if r.by_identity else _plausible_free(cands_r)
        part.set_pieces(r.keys, cands_r[chosen])
        if len(cands_r) > 1:
            part.ambiguities.append(_ambiguity(r.keys, r.run or "", cands_r, chosen))


# ----------------------------------------------------------------------------- table 四


_REV_KEYS = [review_key(g.key, i.key) for g in REVIEW_GROUPS for i in REVIEW_ITEMS]


def _read_t4(s: _Stream, lo: int, hi: int) -> _Part:
    part = _Part()
    head = s.find(_T4_HEAD, lo, hi)
    start = head[0] if head else lo
    # glued: the 15 numbers as one run after the header words
    ti = s.token_at(start) if s.text_idx else 0
    m = RUN_CHARS.search(s.text, start, hi)
    if m and m.end() == hi and RUN_CHARS.match(s.text, hi):
        part.missing.append(REVIEW_SECTION)  # the run goes on past the next heading: cut wrongly
        return part
    if m and s.token_at(m.start()) == ti and (re.search(r"\d", m.group()) or len(m.group()) == _N_REV):
        run = m.group()
        cands = sum_splits(run, _SHAPE4) or sum_splits(run, _SHAPE4, blanks=True)
        if not cands:
            cands = free_splits(run, _N_REV, limit=_MAX_FREE)
        if cands:
            part.set_pieces(_REV_KEYS, cands[0])
            if len(cands) > 1:
                part.ambiguities.append(_ambiguity(_REV_KEYS, run, cands, 0))
            return part
    tok_end = s.start[ti] + len(s.tokens[ti].text) if s.text_idx else 0
    if m is None and tok_end >= hi and s.find(_T4_ITEMS, start, hi):
        # glued header running into the next heading with no digits: every cell printed blank
        part.set_pieces(_REV_KEYS, [""] * _N_REV)
        return part
    a, b = s.first_token_from(start), s.first_token_from(hi)
    seq: list[Token] = []
    last_label = 0  # values after the last header cell: the value row of a grid or pipe table
    for tok in s.tokens[a:b]:
        if tok.is_value:
            seq.append(tok)
        elif sum(1 for x in seq if x.strength == Strength.HARD and x.raw) >= _N_REV:
            break
        else:
            last_label = len(seq)
    # the value row after the last header cell first: header rows carry empty cells of their own
    # (spans left empty by a grid), which would shift the numbers if counted as table cells
    cells = _fit(seq[last_label:], _N_REV) or _fit(seq, _N_REV)
    if cells and _guessed_blanks(cells) and not groups_ok([parse_number(c.raw) for c in cells]):
        cells = None
    if cells is None:
        printed = [t for t in seq if t.strength == Strength.HARD]
        inline = len({t.line for t in printed}) < len(printed)  # a layout row, not reading order
        if 0 < len(printed) < _N_REV and inline and all(t.spaced and t.raw for t in printed):
            # a spaced layout with blank cells: where the printed numbers sit is for the group
            # totals to say
            run = " ".join(t.raw for t in printed)
            cands = placements([t.raw for t in printed], _SHAPE4)
            if cands:
                part.set_pieces(_REV_KEYS, cands[0])
                if len(cands) > 1:
                    part.ambiguities.append(_ambiguity(_REV_KEYS, run, cands, 0))
                return part
        part.missing.append(REVIEW_SECTION)
        return part
    vals = [parse_number(c.raw) for c in cells]
    if not groups_ok(vals) and all(v is not None for v in vals):
        orders = interleavings(vals)
        if orders:
            part.set_tokens(_REV_KEYS, [cells[i] for i in orders[0]])
            if len(orders) > 1:
                run = " ".join(c.raw for c in cells)
                cands = [[cells[i].raw for i in o] for o in orders]
                part.ambiguities.append(_ambiguity(_REV_KEYS, run, cands, 0))
            return part
    part.set_tokens(_REV_KEYS, cells)
    return part


# ----------------------------------------------------------------------------- entry point


def _read_stream(tokens: list[Token], t: Template) -> dict[str, _Part]:
    s = _Stream(tokens)
    reg = _regions(s)
    t2 = _read_t2(s, t, *reg.t2)
    t3, t3_end = _read_t3(s, t, *reg.t3)
    if reg.t4_from is not None:
        t4_lo = reg.t4_from
    elif t3_end is not None:
        t4_lo = t3_end
    else:
        t4_lo = reg.t3[1]
    t4 = _read_t4(s, t4_lo, max(reg.t4_to, t4_lo))
    # a table none of whose rows was found is missing as a whole
    if not t2.cells:
        t2.missing = [DISCLOSURE_SECTION]
    if not t3.cells:
        t3.missing = [APPLICATION_SECTION]
    return {DISCLOSURE_SECTION: t2, APPLICATION_SECTION: t3, REVIEW_SECTION: t4}


def _better(a: _Part, b: _Part) -> _Part:
    """The more complete reading of a table; ties go to `a`."""
    return a if a.found() >= b.found() else b


# characters only Traditional Chinese uses, common in the template's labels
_TRADITIONAL = re.compile(r"[規範處請與國開關據結轉務許罰強費數總計訴訟複議審]")


@functools.cache
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def _simplified(text: str) -> str:
    """Traditional → Simplified, for callers that did not normalise (the labels are Simplified)."""
    return str(_t2s().convert(text)) if _TRADITIONAL.search(text) else text


def read_tables(text: str, fmt: ReportFormat | str, grids: list[Grid] | None = None) -> TableReadings:
    """Read tables 二/三/四 of a report in format `fmt` from its text and/or extracted grids.

    Grids win a table when they give at least as many of its cells as the text.
    """
    fmt = ReportFormat(fmt)
    sections = (DISCLOSURE_SECTION, APPLICATION_SECTION, REVIEW_SECTION)
    if fmt not in TEMPLATES:
        return TableReadings(missing=list(sections))
    t = template(fmt)
    parts = _read_stream(tokenize_text(_simplified(text)), t) if text.strip() else None
    label_matches: list[LabelMatch] = []
    if grids:
        if any(_TRADITIONAL.search(c.text) for g in grids for row in g.rows for c in row):
            grids = [Grid.from_texts([[_simplified(c.text) for c in row] for row in g.rows]) for g in grids]
        grids, matches = repair_labels(grids, t)
        from_grids = _read_stream(tokenize_grids(grids), t)
        if matches:
            # a table read from the grids carries the fuzzy rows' provenance; from the text, none
            for k in sections:
                if parts is None or _better(from_grids[k], parts[k]) is from_grids[k]:
                    used = _mark_fuzzy(from_grids[k], matches)
                    label_matches += used
        parts = {k: _better(from_grids[k], parts[k]) for k in sections} if parts else from_grids
    out = TableReadings(label_matches=label_matches)
    if parts is None:
        out.missing = list(sections)
        return out
    for k in sections:
        p = parts[k]
        out.cells.update(p.cells)
        out.missing += p.missing
        out.ambiguities += p.ambiguities
    return out


def _mark_fuzzy(part: _Part, matches: list[LabelMatch]) -> list[LabelMatch]:
    """Record each fuzzily placed row's printed label on its cells; the matches whose row was read."""
    used: list[LabelMatch] = []
    for m in matches:
        keys = [k for k in part.cells if k.startswith(m.prefix + ".")]
        for k in keys:
            part.cells[k] = part.cells[k].model_copy(update={"fuzzy_label": m.printed})
        if keys:
            used.append(m)
    return used
