"""Plain-text uploads: UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030/GBK."""

from __future__ import annotations

from extract.errors import ExtractionError, ExtractionErrorCode
from report.document import Document

# GB18030 is a superset of GBK and GB2312, so one attempt covers all three.
_ENCODINGS = ("utf-8-sig", "gb18030")


def decode_text(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    for encoding in _ENCODINGS:
        try:
            return data.decode(encoding), ("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeDecodeError:
            continue
    raise ExtractionError(
        ExtractionErrorCode.UNDECODABLE_TEXT, "the text is neither UTF-8 nor GB18030/GBK encoded"
    )


def extract_text(data: bytes) -> Document:
    text, encoding = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ExtractionError(ExtractionErrorCode.EMPTY_FILE, "the text file contains only whitespace")
    return Document.from_text(text, encoding=encoding)
