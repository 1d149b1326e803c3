"""Extraction: the bytes of an upload → a `report.document.Document`.

One module per input kind; `extract_document` picks one by sniffing the bytes, never the file name.
"""

from typing import TYPE_CHECKING, Any

from extract.errors import ExtractionError, ExtractionErrorCode
from extract.options import ExtractOptions, OcrMode, ProgressCallback
from extract.sniff import sniff_media_type

if TYPE_CHECKING:
    from extract.dispatch import extract_document


def __getattr__(name: str) -> Any:
    # The extractors (pdfplumber, pdfium, OpenCV, Tesseract) load on first use: the API imports
    # this package for light parts (a plain-text original's text, sniffing) and stays ≈ 30 MB smaller.
    if name == "extract_document":
        from extract.dispatch import extract_document

        return extract_document
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ExtractOptions",
    "ExtractionError",
    "ExtractionErrorCode",
    "OcrMode",
    "ProgressCallback",
    "extract_document",
    "sniff_media_type",
]
