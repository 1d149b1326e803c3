"""What a caller can tune about extraction, and the progress callback's shape."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel

# Called with (pages done, pages total) as extraction advances; (0, total) once the total is known.
ProgressCallback = Callable[[int, int], None]


class OcrMode(StrEnum):
    AUTO = "auto"  # OCR a page only when its text layer is unusable
    FORCE = "force"  # OCR every page
    OFF = "off"  # never OCR


class ExtractOptions(BaseModel):
    ocr: OcrMode = OcrMode.AUTO
    max_pages: int = 300  # more is not an annual report; refuse before spending OCR time on it
    ocr_dpi: int = 300  # PDF pages are rendered at this resolution for OCR
    ocr_page_timeout_s: float = 120.0  # a page over this is marked failed, never a hung worker
    max_image_pixels: int = 120_000_000  # per page/frame; A4 at 600 dpi is ≈ 35 Mpx
    min_text_chars: int = 20  # fewer non-space characters on a page: check it for ink, maybe OCR
    # .doc/.wps through LibreOffice (extract.convert); off: refused as unsupported_type
    convert_legacy_word: bool = False
    convert_timeout_s: float = 120.0
