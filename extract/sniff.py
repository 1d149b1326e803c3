"""Media-type detection from the leading bytes of an upload."""

from __future__ import annotations

TEXT_PLAIN = "text/plain"
PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
ZIP = "application/zip"
OCTET_STREAM = "application/octet-stream"

_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"PK\x03\x04", ZIP),
]


def sniff_media_type(head: bytes) -> str:
    """Guess the media type from the first KiB or so of a file.

    Text is recognised by decoding, not by magic: bytes that decode as UTF-8 or GB18030 with no
    control characters other than whitespace are text.
    """
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")  # BOM/whitespace before a PDF header happens
    for magic, media_type in _MAGIC:
        if stripped.startswith(magic) or head.startswith(magic):
            return media_type
    if _looks_like_text(head):
        return TEXT_PLAIN
    return OCTET_STREAM


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
