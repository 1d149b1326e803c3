"""Bad inputs built cheaply at test time (shared by the extract tests, the fault-injection suite and
the fuzz tests): each is a real file of its kind, broken the way uploads break in practice."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT.parent / "shared" / "samples"
TEXT_PDF = SAMPLES / "huaian_2024.pdf"  # a real report with a text layer


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(width: int, height: int, rows: int | None = None) -> bytes:
    """A 1-bit grey PNG whose header says width × height, with only `rows` rows of (white) data:
    a 50,000 × 50,000 header costs a few KiB, never 2.5 Gpx."""
    rows = height if rows is None else rows
    raw = (b"\x00" + b"\xff" * ((width + 7) // 8)) * rows
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


def huge_png() -> bytes:
    return png(50_000, 50_000, rows=8)


def blank_pdf(pages: int) -> bytes:
    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(595, 842)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    out = io.BytesIO()
    with pikepdf.open(TEXT_PDF) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="owner"))
    return out.getvalue()


def truncated_pdf() -> bytes:
    data = TEXT_PDF.read_bytes()
    return data[: len(data) // 2]


def corrupt_pdf() -> bytes:
    """A PDF header over bytes that are no PDF structure at all."""
    return b"%PDF-1.7\n" + bytes(range(256)) * 40


def truncated_png() -> bytes:
    data = png(400, 300)
    return data[: len(data) // 2]


def html_as_pdf() -> bytes:
    page = "<!DOCTYPE html><html><head><title>404</title></head><body><h1>页面不存在</h1></body></html>"
    return page.encode()


def elf_executable() -> bytes:
    """The start of a 64-bit Linux ELF executable (header, then code-like bytes)."""
    header = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + struct.pack("<HHI", 2, 0x3E, 1) + bytes(40)
    return header + bytes(range(256)) * 16


def pe_executable() -> bytes:
    """The start of a Windows PE executable: MZ header, DOS stub, PE signature."""
    stub = b"This program cannot be run in DOS mode.\r\r\n$"
    dos = b"MZ" + bytes(58) + struct.pack("<I", 0x80)
    return (dos + stub).ljust(0x80, b"\x00") + b"PE\x00\x00" + struct.pack("<HH", 0x8664, 3) + bytes(1000)


def gb18030_report(text_report: Path) -> bytes:
    return text_report.read_text(encoding="utf-8").encode("gb18030")


def zip_with_offsets_before_the_start(docx: bytes) -> bytes:
    """A ZIP (.docx) whose end record places the central directory 1 MB later than it is: zipfile then
    puts every member's local header before the start of the file (a negative seek)."""
    end = docx.rindex(b"PK\x05\x06")
    offset = struct.unpack_from("<I", docx, end + 16)[0]
    return docx[: end + 16] + struct.pack("<I", offset + 2**20) + docx[end + 20 :]


def pdf_edit(old: bytes, new: bytes, *, after: int = 0) -> bytes:
    """The two-page sample with one edit (same length, so the cross-reference table stays right)."""
    assert len(old) == len(new)
    data = two_page_pdf()
    at = data.index(old, after)
    return data[:at] + new + data[at + len(old) :]


def two_page_pdf() -> bytes:
    new = pdfium.PdfDocument.new()
    new.import_pages(pdfium.PdfDocument(str(TEXT_PDF)), [0, 1])
    out = io.BytesIO()
    new.save(out)
    return out.getvalue()


def pdf_with_a_damaged_page() -> bytes:
    """Page 1's /Type is no longer /Page: pdfium cannot load that page, page 2 is fine."""
    return pdf_edit(b"/Type/Page>>", b"/Type/Pagx>>")


def pdf_pdfminer_cannot_parse() -> bytes:
    """The page tree's dictionary has a key without a value: pdfium shrugs, pdfminer refuses."""
    return pdf_edit(b"/Type/Pages>>", b"/Type      >>")


def png_with_a_broken_chunk() -> bytes:
    """Image data split over two chunks, the second with a type of four NUL bytes (PIL raises
    SyntaxError while decoding)."""
    data = png(160, 48)
    idat = data.index(b"IDAT") - 4
    length = struct.unpack_from(">I", data, idat)[0]
    body = data[idat + 8 : idat + 8 + length]
    half = len(body) // 2
    return (
        data[:idat]
        + _png_chunk(b"IDAT", body[:half])
        + struct.pack(">I", len(body) - half)
        + b"\x00\x00\x00\x00"
        + body[half:]
        + b"\x00" * 4
        + _png_chunk(b"IEND", b"")
    )


def zip_claiming_version(data: bytes, version: int = 213) -> bytes:
    """A ZIP whose first directory entry needs "ZIP version 21.3" to extract: zipfile raises
    NotImplementedError while reading the directory."""
    entry = data.index(b"PK\x01\x02")
    return data[: entry + 6] + struct.pack("<H", version) + data[entry + 8 :]
