"""The seam between extraction and parsing: what an extractor hands to the parser.

Extractors (text, PDF text layer, OCR, markup) produce a `Document`; the parser reads tables from a
page's `tables` when it has them and from its `text` otherwise. Keep this small and neutral: no
service imports, no engine objects, only plain data that serialises to JSON.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class PageMethod(StrEnum):
    """How a page's text was obtained."""

    TEXT = "text"  # a plain-text upload
    TEXT_LAYER = "text_layer"  # a PDF's own text layer
    OCR = "ocr"  # rendered and recognised
    MARKUP = "markup"  # HTML / Word
    FAILED = "failed"  # nothing usable could be obtained for this page


class Box(BaseModel):
    """A rectangle in page coordinates (PDF points or image pixels, origin top-left)."""

    x0: float
    top: float
    x1: float
    bottom: float


class Cell(BaseModel):
    text: str = ""
    box: Box | None = None
    # OCR confidence in [0, 1]; None when the text came from a text layer or markup.
    confidence: float | None = None


class Grid(BaseModel):
    """A table as rows of cells, rowspans and colspans already expanded (a merged cell's text is
    repeated into every position it covers, or left empty where the source could not tell)."""

    rows: list[list[Cell]] = Field(default_factory=list)
    box: Box | None = None

    def texts(self) -> list[list[str]]:
        return [[c.text for c in row] for row in self.rows]

    @classmethod
    def from_texts(cls, rows: list[list[str | None]]) -> Grid:
        return cls(rows=[[Cell(text=t or "") for t in row] for row in rows])


class Page(BaseModel):
    number: int  # 1-based
    text: str = ""  # reading order, for sections and prose
    method: PageMethod = PageMethod.TEXT
    reason: str = ""  # why this method was chosen (e.g. "text layer has 0 CJK characters")
    tables: list[Grid] = Field(default_factory=list)
    confidence: float | None = None  # mean OCR confidence of the page, when OCR'd


class Document(BaseModel):
    media_type: str  # e.g. "text/plain", "application/pdf", "image/png"
    pages: list[Page] = Field(default_factory=list)
    encoding: str | None = None  # the detected text encoding, for text uploads

    @property
    def text(self) -> str:
        """The whole document's text, pages separated by form feeds (as pdftotext does)."""
        return "\f".join(p.text for p in self.pages)

    @classmethod
    def from_text(cls, text: str, *, media_type: str = "text/plain", encoding: str | None = None) -> Document:
        return cls(media_type=media_type, encoding=encoding, pages=[Page(number=1, text=text)])
