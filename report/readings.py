"""What the table reader hands to the report builder: one reading per template cell.

The table reader (`report.tables`) turns normalised text or grids into `TableReadings`; the builder
(`report.parse`) resolves what is left ambiguous with the rest of the report, runs the checks and
turns everything into the canonical result with its flags.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

Number = int | float


class ReportFormat(StrEnum):
    V2021 = "2021"
    TRIAL_2019 = "2019-trial"
    PRE_2019 = "pre-2019"


class CellSource(StrEnum):
    """Where a cell's value came from."""

    LAYOUT = "layout"  # a separated cell of a text layout (pipes, tabs, one per line, markdown, PDF layout)
    GRID = "grid"  # a cell of an extracted grid (PDF ruling lines, OCR geometry, HTML/Word markup)
    SPLIT = "split_by_identity"  # cut out of a glued digit run by the hard identities
    PROSE = "prose"  # chosen among a glued run's splits by totals restated in the prose
    OCR = "ocr"  # recognised from an image


class CellReading(BaseModel):
    value: Number | None  # None: blank or a placeholder ("/", "-", "—", "无")
    raw: str | None = None  # the cell text as printed; None when the cell was not found
    source: CellSource = CellSource.LAYOUT
    confidence: float | None = None  # OCR confidence in [0, 1]
    # the row label as recognised, when OCR garbled it and the row was placed by similarity to the
    # template's label (report.fuzzy); None when the label matched exactly
    fuzzy_label: str | None = None


class LabelMatch(BaseModel):
    """A grid row whose garbled OCR label was taken for a template row by similarity (report.fuzzy)."""

    prefix: str  # the row's dotted key prefix, e.g. "applications.granted"
    printed: str  # the label cell as recognised
    label: str  # the template label it was taken for
    ratio: float  # difflib similarity of the two (normalised)
    sure: bool  # close, and (table 三) anchored in table order by exactly-matched rows on both sides


class Ambiguity(BaseModel):
    """A glued run that more than one split satisfies, after every identity the reader could apply.

    `candidates[i][j]` is the value of `fields[j]` under reading i; `chosen` is the index of the
    reading currently stored in `TableReadings.cells` (the most plausible one).
    """

    fields: list[str]
    run: str
    candidates: list[list[Number | None]]
    chosen: int = 0


class TableReadings(BaseModel):
    # dotted canonical key → reading, e.g. "applications.granted.total",
    # "active_disclosure.fees.amount_10k_yuan", "review_litigation.review.upheld"
    cells: dict[str, CellReading] = Field(default_factory=dict)
    # dotted keys or prefixes of template cells that were not found (e.g. "review_litigation")
    missing: list[str] = Field(default_factory=list)
    ambiguities: list[Ambiguity] = Field(default_factory=list)
    label_matches: list[LabelMatch] = Field(default_factory=list)  # rows placed by fuzzy labels
