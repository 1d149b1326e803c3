"""Pick the extractor for an upload by its sniffed media type."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel

from extract import sniff
from extract.errors import ExtractionError, ExtractionErrorCode
from extract.text import extract_text
from report.document import Document

# Called with (pages done, pages total) as extraction advances.
ProgressCallback = Callable[[int, int], None]


class OcrMode(StrEnum):
    AUTO = "auto"  # OCR a page only when its text layer is unusable
    FORCE = "force"  # OCR every page
    OFF = "off"  # never OCR


class ExtractOptions(BaseModel):
    ocr: OcrMode = OcrMode.AUTO


def extract_document(
    data: bytes,
    options: ExtractOptions | None = None,
    progress: ProgressCallback | None = None,
) -> Document:
    """Extract a document from the bytes of an upload; raises `ExtractionError` for bad input."""
    options = options or ExtractOptions()
    if not data:
        raise ExtractionError(ExtractionErrorCode.EMPTY_FILE, "the file is empty (0 bytes)")
    media_type = sniff.sniff_media_type(data[:4096])
    if media_type == sniff.TEXT_PLAIN:
        document = extract_text(data)
        if progress:
            progress(1, 1)
        return document
    raise ExtractionError(
        ExtractionErrorCode.UNSUPPORTED_TYPE,
        f"unsupported file type ({media_type}); expected plain text, PDF, PNG, JPEG or TIFF",
    )
