"""Errors an extractor reports for bad input: a stable code a client can switch on, and a message."""

from __future__ import annotations

from enum import StrEnum


class ExtractionErrorCode(StrEnum):
    EMPTY_FILE = "empty_file"
    UNSUPPORTED_TYPE = "unsupported_type"
    UNDECODABLE_TEXT = "undecodable_text"
    CORRUPT_FILE = "corrupt_file"
    ENCRYPTED_PDF = "encrypted_pdf"
    TOO_MANY_PAGES = "too_many_pages"
    IMAGE_TOO_LARGE = "image_too_large"
    NO_TEXT = "no_text"


class ExtractionError(Exception):
    """Raised for input that cannot be extracted. Permanent: retrying will not help."""

    def __init__(self, code: ExtractionErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
