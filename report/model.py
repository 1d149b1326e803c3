"""The parsed report and its canonical JSON (DOMAIN.md), as consumed by shared/tools/evaluate.py."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from report.readings import CellReading, Number, ReportFormat

TABLE_SECTIONS = ("active_disclosure", "applications", "review_litigation")


class FlagReason(StrEnum):
    CHECK_FAILED = "check_failed"
    AMBIGUOUS = "ambiguous"
    LOW_CONFIDENCE = "low_confidence"
    MISSING = "missing"


class Flag(BaseModel):
    fields: list[str]  # dotted keys of cells, or prefixes covering several ("applications.granted")
    reason: FlagReason
    detail: str = ""


class CheckResult(BaseModel):
    """One hard identity over concrete cells: sum(lhs) == sum(rhs), blanks counting as 0."""

    name: str  # "applications.balance", "applications.outcomes", ...
    scope: str  # the column, row or group the identity is about
    lhs: list[str]
    rhs: list[str]
    cells: list[str] = Field(default_factory=list)  # lhs + rhs: every cell the identity involves
    expected: Number | None  # sum of lhs (the printed total side); None when not evaluated
    actual: Number | None  # sum of rhs (the parts)
    difference: Number | None  # actual - expected
    # None: not evaluated because a cell it involves was not found (flagged `missing` instead)
    passed: bool | None
    detail: str = ""

    def model_post_init(self, context: Any, /) -> None:
        if not self.cells:
            self.cells = [*self.lhs, *self.rhs]


class SoftWarning(BaseModel):
    name: str  # "prose_vs_table", "negative_count"
    fields: list[str]
    detail: str
    expected: Number | None = None
    actual: Number | None = None


def _nest(flat: dict[str, Any], section: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    prefix = section + "."
    for key, value in flat.items():
        if not key.startswith(prefix):
            continue
        node = out
        *parents, leaf = key[len(prefix) :].split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


class Report(BaseModel):
    agency: str | None = None
    year: int | None = None
    format: ReportFormat
    # every numeric key of the format's template (dotted) → its reading; a cell that was not found
    # has value None and raw None and is covered by a `missing` flag
    cells: dict[str, CellReading] = Field(default_factory=dict)
    sections: dict[str, str | None] = Field(default_factory=dict)
    flags: list[Flag] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    warnings: list[SoftWarning] = Field(default_factory=list)
    # how agency / year / format were found, for people reviewing the result
    evidence: dict[str, str] = Field(default_factory=dict)

    @property
    def needs_review(self) -> bool:
        return bool(self.flags)

    def value(self, key: str) -> Number | None:
        cell = self.cells.get(key)
        return None if cell is None else cell.value

    def values(self) -> dict[str, Number | None]:
        return {k: c.value for k, c in self.cells.items()}

    def flagged(self, key: str) -> list[Flag]:
        """Flags covering a dotted key (naming it or a prefix of it)."""
        return [f for f in self.flags if any(key == p or key.startswith(p + ".") for p in f.fields)]

    def to_canonical(self) -> dict[str, Any]:
        flat = self.values()
        out: dict[str, Any] = {
            "agency": self.agency,
            "year": self.year,
            "format": self.format.value,
        }
        for section in TABLE_SECTIONS:
            out[section] = _nest(flat, section)
        out["sections"] = dict(self.sections)
        out["raw_cells"] = {k: c.raw for k, c in self.cells.items() if c.raw is not None}
        out["flags"] = [f.model_dump(mode="json") for f in self.flags]
        out["needs_review"] = self.needs_review
        out["checks"] = [c.model_dump(mode="json") for c in self.checks]
        out["warnings"] = [w.model_dump(mode="json") for w in self.warnings]
        out["provenance"] = {
            k: (c.source.value if c.raw is not None or c.value is not None else "missing")
            for k, c in self.cells.items()
        }
        out["evidence"] = dict(self.evidence)
        return out
