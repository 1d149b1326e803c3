"""The report's own arithmetic: hard identities (from the template data) and soft checks.

A failing identity is reported with the cells involved and the difference, never corrected. Blank
cells count as 0 in the sums but stay None in the output.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from report import template as tpl
from report.model import CheckResult, Flag, FlagReason, SoftWarning
from report.readings import Number, ReportFormat

_EPS = 1e-6


def _sum(keys: Iterable[str], values: Mapping[str, Number | None]) -> Number:
    total: Number = 0
    for k in keys:
        total += values.get(k) or 0
    return round(total, 6) if isinstance(total, float) else total


def run_checks(
    values: Mapping[str, Number | None], fmt: ReportFormat, found: set[str] | None = None
) -> list[CheckResult]:
    """Every hard identity of the format per column / row / group. An identity over a cell that was
    not found is listed as not evaluated (passed None): its cells are flagged `missing` instead."""
    if fmt not in tpl.TEMPLATES:
        return []
    results: list[CheckResult] = []
    for ident in tpl.identities(fmt):
        absent = [k for k in ident.keys if found is not None and k not in found]
        lhs: Number | None = None
        rhs: Number | None = None
        diff: Number | None = None
        passed: bool | None = None
        if absent:
            detail = "not evaluated: cells not found: " + ", ".join(absent)
        else:
            lhs, rhs = _sum(ident.lhs, values), _sum(ident.rhs, values)
            diff = rhs - lhs
            diff = round(diff, 6) if isinstance(diff, float) else diff
            passed = abs(diff) <= _EPS
            detail = "" if passed else f"{' + '.join(ident.lhs)} = {lhs} but {' + '.join(ident.rhs)} = {rhs}"
        results.append(
            CheckResult(
                name=ident.check,
                scope=ident.scope,
                lhs=list(ident.lhs),
                rhs=list(ident.rhs),
                expected=lhs,
                actual=rhs,
                difference=diff,
                passed=passed,
                detail=detail,
            )
        )
    return results


def check_flags(results: Iterable[CheckResult]) -> list[Flag]:
    """One `check_failed` flag per failing identity, naming every cell it involves."""
    return [
        Flag(
            fields=r.cells,
            reason=FlagReason.CHECK_FAILED,
            detail=f"{r.name} [{r.scope}]: {r.detail} (difference {r.difference})",
        )
        for r in results
        if r.passed is False
    ]


# ----------------------------------------------------------------------------- prose


@dataclass(frozen=True)
class ProseFact:
    """Section 一 restating a table total: the cells in `keys` add up to `value`."""

    keys: tuple[str, ...]
    value: int
    text: str

    def holds(self, values: Mapping[str, Number | None]) -> bool:
        return abs(_sum(self.keys, values) - self.value) <= _EPS


_APP = "applications"
_RL = "review_litigation"
_LIT_GROUPS = ("litigation_direct", "litigation_after_review")
_N = r"(\d+)\s*(?:件|起|宗|个|份)"
_CLAUSE_END = r"[。；;]"
_ITEMS = {
    "upheld": r"维持\D{0,3}?" + _N,
    "corrected": r"纠正\D{0,3}?" + _N,
    "other": r"其他(?:结果)?\D{0,3}?" + _N,
    "pending": r"(?:尚未|未)审结\D{0,3}?" + _N,
}
# (pattern, keys whose sum the number states)
_APP_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        r"(?:受理|收到|新收|接收)(?:[^\d。；;,，复诉]{0,14}?申请[^\d。；;,，复诉]{0,4}?|\D{0,3}?)"
        + _N
        + r"(?![^。；;,，]{0,3}复议)",
        (f"{_APP}.new_received.total",),
    ),
    (r"上一?年度?结转(?:的)?(?:政府信息公开)?(?:申请)?\D{0,3}?" + _N, (f"{_APP}.carried_over.total",)),
    (_N + r"(?:申请)?(?:顺延|结转)(?:到|至)?下一?年", (f"{_APP}.carried_forward.total",)),
    (r"结转(?:到|至)?下一?年度?(?:继续办理)?\D{0,3}?" + _N, (f"{_APP}.carried_forward.total",)),
    (r"(?:答复|办结)\D{0,2}?" + _N, (f"{_APP}.total_handled.total",)),
    (r"(?:制发|出台)(?:行政)?规范性文件\D{0,2}?" + _N, ("active_disclosure.normative_documents.issued",)),
    (r"现行有效(?:行政)?规范性文件\D{0,2}?" + _N, ("active_disclosure.normative_documents.in_force",)),
    (
        r"(?:制发|出台|新增公开)(?:市政府|省政府|政府)?规章\D{0,2}?" + _N,
        ("active_disclosure.regulations.issued",),
    ),
)


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def prose_facts(overview: str | None) -> list[ProseFact]:
    """Totals section 一 restates: applications received / carried over / answered, and the
    review and litigation counts ("行政诉讼46件，其中结果维持25件…" = direct + after review)."""
    if not overview:
        return []
    text = _flat(overview)
    facts: list[ProseFact] = []
    review_totals = tuple(f"{_RL}.{g}.total" for g in ("review", *_LIT_GROUPS))
    for m in re.finditer(r"(?:行政)?复议(?:和|及|、)(?:行政)?诉讼(?:案件)?\D{0,3}?" + _N, text):
        facts.append(ProseFact(review_totals, int(m.group(1)), m.group(0)))
    text = re.sub(r"(?:行政)?复议(?:和|及|、)(?:行政)?诉讼(?:案件)?\D{0,3}?" + _N, "", text)
    for opener, groups in ((r"复议", ("review",)), (r"诉讼", _LIT_GROUPS)):
        for m in re.finditer(rf"(?:行政)?{opener}(?:案件)?\D{{0,3}}?{_N}([^。；;]*)", text):
            facts.append(ProseFact(tuple(f"{_RL}.{g}.total" for g in groups), int(m.group(1)), m.group(0)))
            clause = re.split(r"(?:行政)?(?:复议|诉讼)", m.group(2))[0]
            for item, pat in _ITEMS.items():
                im = re.search(pat, clause)
                if im:
                    facts.append(
                        ProseFact(tuple(f"{_RL}.{g}.{item}" for g in groups), int(im.group(1)), im.group(0))
                    )
    for pat, keys in _APP_PATTERNS:
        for m in re.finditer(pat, text):
            facts.append(ProseFact(keys, int(m.group(1)), m.group(0)))
    # one statement per key set: the first (later repeats are usually sub-totals of something else)
    seen: set[tuple[str, ...]] = set()
    unique: list[ProseFact] = []
    for f in facts:
        if f.keys not in seen:
            seen.add(f.keys)
            unique.append(f)
    return unique


def soft_checks(
    values: Mapping[str, Number | None],
    fmt: ReportFormat,
    facts: Iterable[ProseFact],
    found: set[str] | None = None,
) -> list[SoftWarning]:
    """Warnings, not flags: prose totals that disagree with the table, negative counts in 2021."""
    warnings: list[SoftWarning] = []
    for f in facts:
        if found is not None and not all(k in found for k in f.keys):
            continue
        actual = _sum(f.keys, values)
        if abs(actual - f.value) > _EPS:
            warnings.append(
                SoftWarning(
                    name="prose_vs_table",
                    fields=list(f.keys),
                    detail=f"section 一 says {f.value} ('{f.text}'), the table gives {actual}",
                    expected=f.value,
                    actual=actual,
                )
            )
    if fmt == ReportFormat.V2021:
        for key, v in values.items():
            if v is not None and v < 0 and not tpl.is_signed_key(fmt, key):
                warnings.append(
                    SoftWarning(name="negative_count", fields=[key], detail=f"{key} is {v}", actual=v)
                )
    return warnings


def previous_year_check(
    values: Mapping[str, Number | None], previous: Mapping[str, Number | None]
) -> list[SoftWarning]:
    """This year's 上年结转 against last year's 结转下年度继续办理 of the same agency, per column."""
    warnings: list[SoftWarning] = []
    for col in (c.key for c in tpl.APPLICANT_COLUMNS):
        now, before = tpl.app_key("carried_over", col), tpl.app_key("carried_forward", col)
        if now not in values or before not in previous:
            continue
        a, b = values[now] or 0, previous[before] or 0
        if abs(a - b) > _EPS:
            warnings.append(
                SoftWarning(
                    name="carried_over_vs_previous_year",
                    fields=[now],
                    detail=f"{now} is {a}, last year's report carried forward {b}",
                    expected=b,
                    actual=a,
                )
            )
    return warnings
