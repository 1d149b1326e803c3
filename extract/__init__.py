"""Extraction: the bytes of an upload → a `report.document.Document`.

One module per input kind; `extract_document` picks one by sniffing the bytes, never the file name.
"""

from extract.dispatch import extract_document
from extract.errors import ExtractionError, ExtractionErrorCode
from extract.options import ExtractOptions, OcrMode, ProgressCallback
from extract.sniff import sniff_media_type

__all__ = [
    "ExtractOptions",
    "ExtractionError",
    "ExtractionErrorCode",
    "OcrMode",
    "ProgressCallback",
    "extract_document",
    "sniff_media_type",
]
