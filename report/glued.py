"""Splitting glued digit runs ("2200003252" → 22|0|0|0|0|3|25) into cells.

A crawler that flattens an HTML table drops the separators between cells. The pieces of a run
must each be a well-formed number: no leading zero ("05" is never a cell), a decimal point only
where the template has a decimal cell, a minus sign only where it has a signed cell. Placeholder
characters ("/", "-", "—") stand for a blank cell of their own. Hard identities then prune the
splits: `sum_splits` keeps only splits whose groups add up to their totals.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from report.readings import Number

Piece = str
_INT = re.compile(r"0|[1-9]\d*")
_DEC = re.compile(r"(?:0|[1-9]\d*)\.\d+")
_SIGNED = re.compile(r"[-−]?(?:0|[1-9]\d*)")
_BLANK_CHARS = frozenset("/-—－／无")
# digits, decimal points, signs and placeholder characters: what a glued run is made of
# ("无" as a blank cell, but not the 无 that opens the labels 无法提供 / 无正当理由…)
RUN_CHARS = re.compile(r"(?:[0-9.\-−—－/／]|无(?!法提供|正当理由))+")

# Enumeration stops after this many splits: a run that admits more is reported as undecidable.
MAX_SPLITS = 5000


def piece_ok(piece: str, *, decimal: bool = False, signed: bool = False) -> bool:
    if piece in _BLANK_CHARS:
        return True
    if _INT.fullmatch(piece):
        return True
    if decimal and _DEC.fullmatch(piece):
        return True
    return signed and _SIGNED.fullmatch(piece) is not None


def piece_value(piece: str) -> Number | None:
    if piece == "" or piece in _BLANK_CHARS:
        return None
    if "." in piece:
        return float(piece)
    return int(piece.replace("−", "-"))


def free_splits(
    run: str,
    n: int,
    *,
    decimal: Sequence[bool] | None = None,
    signed: Sequence[bool] | None = None,
    limit: int = MAX_SPLITS,
) -> list[list[Piece]]:
    """Every way to cut `run` into `n` well-formed pieces (no checksum), in enumeration order:
    earlier pieces longer first."""
    dec = list(decimal) if decimal is not None else [False] * n
    sig = list(signed) if signed is not None else [False] * n
    out: list[list[Piece]] = []

    def rec(pos: int, i: int, acc: list[Piece]) -> None:
        if len(out) >= limit:
            return
        left = n - i
        if left == 0:
            if pos == len(run):
                out.append(list(acc))
            return
        rest = len(run) - pos
        if rest < left:
            return
        max_len = rest - (left - 1)
        for length in range(max_len, 0, -1):
            piece = run[pos : pos + length]
            if piece_ok(piece, decimal=dec[i], signed=sig[i]):
                acc.append(piece)
                rec(pos + length, i + 1, acc)
                acc.pop()

    rec(0, 0, [])
    return out


def _num(piece: str) -> int:
    v = piece_value(piece)
    return 0 if v is None else int(v)


def sum_splits(
    run: str, shape: Sequence[int], *, blanks: bool = False, limit: int = MAX_SPLITS
) -> list[list[Piece]]:
    """Splits of `run` into consecutive groups, group g being shape[g] parts followed by their total,
    keeping only those where every group's parts add up to its total (blank counts as 0).

    Table 三 row: shape (6,); table 四's row of 15: shape (4, 4, 4).
    `blanks`: the table prints zero as an empty cell, which a flattened run loses entirely: parts
    may then be empty ("") but never "0"; a total of 0 may be "0" or empty.
    """
    out: list[list[Piece]] = []
    min_piece = 0 if blanks else 1

    def totals_at(pos: int, total: int) -> Iterator[int]:
        # the total's own text: its digits, or a placeholder / nothing when it is 0 (a blank total)
        text = str(total)
        if run.startswith(text, pos):
            yield pos + len(text)
        if total == 0 and pos < len(run) and run[pos] in _BLANK_CHARS:
            yield pos + 1
        if total == 0 and blanks:
            yield pos

    def rec(pos: int, g: int, k: int, acc: list[Piece], subtotal: int) -> None:
        if len(out) >= limit:
            return
        if g == len(shape):
            if pos == len(run):
                out.append(list(acc))
            return
        if k == shape[g]:
            for end in totals_at(pos, subtotal):
                acc.append(run[pos:end])
                rec(end, g + 1, 0, acc, 0)
                acc.pop()
            return
        # at least min_piece characters for every remaining piece of every remaining group
        remaining = (shape[g] - k) + 1 + sum(s + 1 for s in shape[g + 1 :])
        max_len = len(run) - pos - (remaining - 1) * min_piece
        for length in range(max_len, min_piece - 1, -1):
            piece = run[pos : pos + length]
            if (blanks and piece == "") or (piece_ok(piece) and not (blanks and piece == "0")):
                acc.append(piece)
                rec(pos + length, g, k + 1, acc, subtotal + _num(piece))
                acc.pop()

    rec(0, 0, 0, [], 0)
    return out


def values(pieces: Sequence[Piece]) -> list[Number | None]:
    return [piece_value(p) for p in pieces]
