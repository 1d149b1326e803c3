"""Choosing among readings with the hard identities (report.template.identities).

Used by the table reader where one printed text admits several readings: the splits of glued table-三
rows against the column identities, and the pdftotext reading order of table 四's fifteen numbers
against the group totals. Everything here keeps every reading that could be true; it never picks.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from report.readings import Number
from report.template import APPLICANT_COLUMNS, REVIEW_GROUPS, REVIEW_ITEMS, Template

_N_APP = len(APPLICANT_COLUMNS)
# balance combinations (new, carried over, handled, carried forward) examined at most
MAX_COMBOS = 20000
MAX_ORDERS = 200


def row_ok(vals: Sequence[Number | None]) -> bool:
    """The last value is the sum of the others (blank counts as 0)."""
    return abs(sum(v or 0 for v in vals[:-1]) - (vals[-1] or 0)) < 1e-6


Vec = tuple[float, ...]


def vec(vals: Sequence[Number | None]) -> Vec:
    return tuple(float(v or 0) for v in vals)


def _scalar_sums(cols: list[set[float]], cap: float) -> list[set[float]]:
    """sums[i]: every sum of one value from each of cols[i:], not above cap."""
    sums: list[set[float]] = [{0.0}]
    for vals in reversed(cols):
        sums.append({x + v for x in sums[-1] for v in vals if x + v <= cap + 1e-6})
    sums.reverse()
    return sums


def _outcome_domains(cands: dict[str, list[Vec]], outs: list[str], target: Vec) -> dict[str, set[int]] | None:
    """Arc consistency of the outcome rows against one total_handled vector, column by column:
    a candidate stays while every column can still add up to the target with it. The true reading
    always stays; a row left with one candidate is decided."""
    dom = {k: set(range(len(cands[k]))) for k in outs}
    changed = True
    while changed:
        changed = False
        for j in range(_N_APP):
            cols = [{cands[k][i][j] for i in dom[k]} for k in outs]
            bwd = _scalar_sums(cols, target[j])
            fwd: set[float] = {0.0}
            for r, k in enumerate(outs):
                keep = {i for i in dom[k] if any(target[j] - f - cands[k][i][j] in bwd[r + 1] for f in fwd)}
                if keep != dom[k]:
                    dom[k] = keep
                    changed = True
                if not keep:
                    return None
                fwd = {
                    f + cands[k][i][j] for f in fwd for i in keep if f + cands[k][i][j] <= target[j] + 1e-6
                }
    return dom


def column_filter(t: Template, cands: dict[str, list[Vec]]) -> dict[str, set[int]] | None:
    """Which candidates of every table-三 row survive the column identities (balance, outcomes).

    `cands` gives every row's candidate value vectors (one for a row read without doubt). None: no
    combination satisfies the identities. When rows stay ambiguous and their combinations are few,
    they are checked jointly as well.
    """
    top = [*t.balance_lhs, *t.balance_rhs]
    outs = list(t.outcome_keys)
    if any(k not in cands for k in top + outs):
        return None
    alive: dict[str, set[int]] = {k: set() for k in top + outs}

    # balance: new_received + carried_over == total_handled + carried_forward, matched by sum
    def pair_sums(k1: str, k2: str) -> dict[Vec, list[tuple[int, int]]]:
        out: dict[Vec, list[tuple[int, int]]] = {}
        for i, x in enumerate(cands[k1]):
            for j, y in enumerate(cands[k2]):
                out.setdefault(tuple(p + q for p, q in zip(x, y, strict=True)), []).append((i, j))
        return out

    lhs = pair_sums(top[0], top[1])
    by_handled: dict[int, list[tuple[int, ...]]] = {}
    n = 0
    for vec, rhs_pairs in pair_sums(top[2], top[3]).items():
        for i, j in lhs.get(vec, []):
            for h, f in rhs_pairs:
                n += 1
                if n > MAX_COMBOS:
                    return None
                by_handled.setdefault(h, []).append((i, j, h, f))
    for h, combos in by_handled.items():
        dom = _outcome_domains(cands, outs, cands[top[2]][h])
        if dom is None:
            continue
        for combo in combos:
            for k, i in zip(top, combo, strict=True):
                alive[k].add(i)
        for k in outs:
            alive[k] |= dom[k]
    if not alive[top[0]]:
        return None
    return alive


def groups_ok(vals: Sequence[Number | None]) -> bool:
    w = len(REVIEW_ITEMS)
    return all(row_ok(vals[g * w : (g + 1) * w]) for g in range(len(REVIEW_GROUPS)))


def interleavings(vals: list[Number | None]) -> list[list[int]]:
    """Orders of the 15 numbers (as index lists in key order) that split the sequence into three
    order-preserving subsequences of five, each adding up to its total, in any group order.
    pdftotext's reading order interleaves table 四's header columns this way."""
    n, w = len(vals), len(REVIEW_ITEMS)
    subsequences = [c for c in itertools.combinations(range(n), w) if row_ok([vals[i] for i in c])]
    valid = set(subsequences)
    out: list[list[int]] = []
    seen: set[tuple[Number | None, ...]] = set()
    # The third group is the complement of the first two, so pairs suffice: at most
    # C(15,5)·C(10,5) steps even when OCR'd zeros make most subsequences add up (a search over
    # triples of subsequences ran for minutes on such pages).
    for a in subsequences:
        rest = [i for i in range(n) if i not in a]
        for b in itertools.combinations(rest, w):
            if b not in valid:
                continue
            c = tuple(i for i in rest if i not in b)
            if c not in valid:
                continue
            order = [*a, *b, *c]
            key = tuple(vals[i] for i in order)
            if key not in seen:  # equal numbers make index-different but identical readings
                seen.add(key)
                out.append(order)
        if len(out) >= MAX_ORDERS:
            break

    # most plausible first: groups whose totals are printed in template order (the totals sit in
    # the last header row, which pdftotext emits left to right)
    # and, among those, groups printed as compactly as possible
    def spread(o: list[int]) -> int:
        return sum(o[g * w + w - 1] - o[g * w] for g in range(3))

    return sorted(out, key=lambda o: (not (o[w - 1] < o[2 * w - 1] < o[3 * w - 1]), spread(o)))
