"""Media-type detection from the leading bytes of an upload."""

from __future__ import annotations

import io
import re
import zipfile

TEXT_PLAIN = "text/plain"
TEXT_HTML = "text/html"
MHTML = "multipart/related"  # a web page saved as one file (.mht, and .doc files saved that way)
PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
ZIP = "application/zip"
OCTET_STREAM = "application/octet-stream"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
OOXML = "application/x-ooxml"  # Excel, PowerPoint or another Office Open XML package
OLE2 = "application/x-ole-storage"  # legacy .doc/.xls/.ppt/.wps
MSWORD = "application/msword"
WPS = "application/wps-office.wps"  # Kingsoft WPS Writer (.wps): a Word binary with WPS's own streams
RTF = "application/rtf"

_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"PK\x03\x04", ZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE2),
    (b"{\\rtf", RTF),
]
_MHTML_TYPE = re.compile(rb"(?im)^content-type:\s*multipart/related")
_MIME_VERSION = re.compile(rb"(?im)^mime-version:")
# How an HTML page starts (after a BOM, whitespace, an XML declaration or a comment), lower-cased.
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<meta", b"<body", b"<title")
# A page fragment (a CMS export of the article body) starts with one of these; text never does.
_FRAGMENT_STARTS = (b"<div", b"<table", b"<p>", b"<p ", b"<style", b"<script", b"<link", b"<center")


def sniff_media_type(head: bytes) -> str:
    """Guess the media type from the first KiB or so of a file.

    Text is recognised by decoding, not by magic: bytes that decode as UTF-8 or GB18030 with no
    control characters other than whitespace are text.
    """
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")  # BOM/whitespace before a PDF header happens
    for magic, media_type in _MAGIC:
        if stripped.startswith(magic) or head.startswith(magic):
            return media_type
    if _MHTML_TYPE.search(head[:4096]) and _MIME_VERSION.search(head[:4096]):
        return MHTML
    if _looks_like_html(head):
        return TEXT_HTML
    if _looks_like_text(head):
        return TEXT_PLAIN
    return OCTET_STREAM


def _looks_like_html(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("ascii", errors="ignore")
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n\f").lower()
    if start.startswith(_HTML_STARTS + _FRAGMENT_STARTS):
        return True
    # an XHTML declaration or a leading comment: the <html> tag follows shortly
    return start.startswith((b"<?xml", b"<!--")) and any(t in start[:4096] for t in _HTML_STARTS)


# A Word binary's OLE2 directory names its main stream "WordDocument" (UTF-16LE).
_OLE_WORD_STREAM = "WordDocument".encode("utf-16-le")
# Kingsoft WPS writes a "WpsCustomData" stream and a KSOProductBuildVer property (its build number):
# its .wps (and the .doc files it saves) carry either; Microsoft Word writes neither.
_KINGSOFT = (
    "WpsCustomData".encode("utf-16-le"),
    b"KSOProductBuildVer",
    "KSOProductBuildVer".encode("utf-16-le"),
)


def sniff_container(data: bytes, media_type: str) -> str:
    """A second look, with the whole file, at a ZIP or OLE2 container: which document it holds.

    A ZIP is a document when it has `[Content_Types].xml` (OOXML) or `mimetype` (ODF), the same
    rule storage/archives.py uses to keep such uploads out of archive expansion (kept as a copy,
    checked by tests, so the API need not import the extractors); anything else is an archive.
    """
    if media_type == OLE2:
        if _OLE_WORD_STREAM not in data:
            return OLE2
        return WPS if any(marker in data for marker in _KINGSOFT) else MSWORD
    if media_type != ZIP:
        return media_type
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names:
                    return DOCX
                types = zf.read("[Content_Types].xml")[:1_000_000]
                word = b"wordprocessingml.document.main" in types or b"ms-word.document" in types
                return DOCX if word else OOXML
            if "mimetype" in names:
                odf = zf.read("mimetype")[:100].decode("ascii", errors="replace").strip()
                return odf or OCTET_STREAM
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, NotImplementedError):
        # unreadable: a damaged Word file still names its parts in the local headers
        return DOCX if b"word/document.xml" in data or data[30:49] == b"[Content_Types].xml" else ZIP
    return ZIP


_UNSUPPORTED_HINTS = {
    MSWORD: "a legacy Word .doc file: open it in Word or WPS and save it as .docx or PDF, then upload that",
    WPS: (
        "a Kingsoft WPS Writer file (.wps, or a .doc saved by WPS): open it in WPS and save it as .docx"
        " or PDF, then upload that"
    ),
    OLE2: "a legacy Office file (.doc/.xls/.ppt): save it as .docx or PDF, then upload that",
    OOXML: "an Excel or PowerPoint file: save the report as .docx or PDF, then upload that",
    RTF: "an RTF file: save it as .docx or PDF, then upload that",
    ZIP: "a ZIP archive: upload archives of reports to /v1/batches",
}


def unsupported_message(media_type: str) -> str:
    """Why an upload of this type is refused, and what to upload instead."""
    hint = _UNSUPPORTED_HINTS.get(media_type)
    if hint is None and media_type.startswith("application/vnd.oasis.opendocument"):
        hint = "an OpenDocument file: save it as .docx or PDF, then upload that"
    if hint:
        return f"unsupported file type ({media_type}): {hint}"
    expected = "plain text, HTML, Word (.docx), PDF, PNG, JPEG or TIFF"
    return f"unsupported file type ({media_type}); expected {expected}"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    # The sample may cut a multi-byte character at its end: drop up to 3 trailing bytes.
    for cut in range(4):
        chunk = head[: len(head) - cut] if cut else head
        for encoding in ("utf-8", "gb18030"):
            try:
                text = chunk.decode(encoding)
            except UnicodeDecodeError:
                continue
            controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
            return controls <= len(text) // 100
    return False
