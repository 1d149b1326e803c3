"""Pick the extractor for an upload by its sniffed media type."""

from __future__ import annotations

from extract import convert, sniff
from extract.engine import OcrEngine
from extract.errors import ExtractionError, ExtractionErrorCode
from extract.image import extract_image
from extract.markup import extract_html, extract_mhtml
from extract.options import ExtractOptions, OcrMode, ProgressCallback
from extract.pdf import extract_pdf
from extract.text import extract_text
from extract.word import extract_docx
from report.document import Document, PageMethod

__all__ = ["ExtractOptions", "OcrMode", "ProgressCallback", "extract_document", "tables_from"]


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
    if options.convert_legacy_word and convert.convertible(media_type):
        return _converted(data, media_type, options, progress)
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
    _require_text(document)
    return document


def _converted(
    data: bytes, media_type: str, options: ExtractOptions, progress: ProgressCallback | None
) -> Document:
    """A .doc/.wps read as the .docx LibreOffice makes of it; the document keeps the upload's type."""
    document = extract_docx(convert.convert_to_docx(data, media_type, timeout_s=options.convert_timeout_s))
    note = "converted to .docx by LibreOffice"
    pages = [p.model_copy(update={"reason": f"{note}; {p.reason}"}) for p in document.pages]
    document = document.model_copy(update={"media_type": media_type, "pages": pages})
    if progress:
        progress(1, 1)
    _require_text(document)
    return document


def _require_text(document: Document) -> None:
    if not any(p.text.strip() or p.tables for p in document.pages):
        reasons = sorted({p.reason for p in document.pages if p.method == PageMethod.FAILED and p.reason})
        raise ExtractionError(
            ExtractionErrorCode.NO_TEXT,
            "no text could be obtained from any page" + (f" ({'; '.join(reasons)[:300]})" if reasons else ""),
        )


def tables_from(document: Document) -> str:
    """Where the document's tables were read from: the method of the pages that gave grids
    (`markup` for HTML and Word, `text_layer`, `ocr`, joined by "+" when pages differ), or `text`
    when no page had a grid and the tables are read from the text's layout."""
    methods = list(dict.fromkeys(p.method.value for p in document.pages if p.tables))
    return "+".join(methods) if methods else "text"
