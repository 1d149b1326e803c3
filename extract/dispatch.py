"""Pick the extractor for an upload by its sniffed media type."""

from __future__ import annotations

from extract import sniff
from extract.engine import OcrEngine
from extract.errors import ExtractionError, ExtractionErrorCode
from extract.image import extract_image
from extract.markup import extract_html, extract_mhtml
from extract.options import ExtractOptions, OcrMode, ProgressCallback
from extract.pdf import extract_pdf
from extract.text import extract_text
from extract.word import extract_docx
from report.document import Document, PageMethod

__all__ = ["ExtractOptions", "OcrMode", "ProgressCallback", "extract_document"]


def extract_document(
    data: bytes,
    options: ExtractOptions | None = None,
    progress: ProgressCallback | None = None,
    *,
    engine: OcrEngine | None = None,
) -> Document:
    """Extract a document from the bytes of an upload; raises `ExtractionError` for bad input.

    `engine` replaces the OCR engine (tests, other engines); default Tesseract."""
    options = options or ExtractOptions()
    if not data:
        raise ExtractionError(ExtractionErrorCode.EMPTY_FILE, "the file is empty (0 bytes)")
    # a ZIP or OLE2 file needs a look inside (the whole bytes) to tell a .docx from an archive
    media_type = sniff.sniff_container(data, sniff.sniff_media_type(data[:4096]))
    if media_type == sniff.TEXT_PLAIN:
        document = extract_text(data)
        if progress:
            progress(1, 1)
        return document
    markup = {sniff.TEXT_HTML: extract_html, sniff.MHTML: extract_mhtml, sniff.DOCX: extract_docx}
    if media_type in markup:
        document = markup[media_type](data)
        if progress:
            progress(1, 1)
    elif media_type == sniff.PDF:
        document = extract_pdf(data, options, progress, engine)
    elif media_type in (sniff.PNG, sniff.JPEG, sniff.TIFF):
        document = extract_image(data, media_type, options, progress, engine)
    else:
        raise ExtractionError(ExtractionErrorCode.UNSUPPORTED_TYPE, sniff.unsupported_message(media_type))
    if not any(p.text.strip() or p.tables for p in document.pages):
        reasons = sorted({p.reason for p in document.pages if p.method == PageMethod.FAILED and p.reason})
        raise ExtractionError(
            ExtractionErrorCode.NO_TEXT,
            "no text could be obtained from any page" + (f" ({'; '.join(reasons)[:300]})" if reasons else ""),
        )
    return document
