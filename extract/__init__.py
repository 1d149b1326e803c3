"""Extraction: the bytes of an upload → a `report.document.Document`.

One module per input kind; `extract_document` picks one by sniffing the bytes, never the file name.
"""

from extract.dispatch import ExtractOptions, extract_document
from extract.errors import ExtractionError, ExtractionErrorCode
from extract.sniff import sniff_media_type

__all__ = [
    "ExtractOptions",
    "ExtractionError",
    "ExtractionErrorCode",
    "extract_document",
    "sniff_media_type",
]
