"""Image uploads: PNG/JPEG/TIFF straight to OCR, orientation, deskew, pixel limits."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from extract import ExtractionError, ExtractionErrorCode, ExtractOptions, extract_document
from extract.ocr import LOW_CONFIDENCE, estimate_skew, to_gray
from report.document import PageMethod

from .conftest import HUAIAN_TRUTH, Build

_TRUTH = json.loads(HUAIAN_TRUTH.read_text(encoding="utf-8"))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header and has no pixel data: a decompression-bomb probe."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def test_huge_image_refused_before_decoding() -> None:
    with pytest.raises(ExtractionError) as err:
        extract_document(_png_header(60_000, 60_000))
    assert err.value.code == ExtractionErrorCode.IMAGE_TOO_LARGE


def test_pixel_limit_is_an_option() -> None:
    buf = io.BytesIO()
    Image.new("L", (200, 200), 255).save(buf, format="PNG")
    with pytest.raises(ExtractionError) as err:
        extract_document(buf.getvalue(), ExtractOptions(max_image_pixels=10_000))
    assert err.value.code == ExtractionErrorCode.IMAGE_TOO_LARGE


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, b"\xff\xd8\xff\xe0" + b"junk" * 10])
def test_corrupt_image(data: bytes) -> None:
    with pytest.raises(ExtractionError) as err:
        extract_document(data)
    assert err.value.code == ExtractionErrorCode.CORRUPT_FILE


def test_deskew_estimate(build: Build, rendered: Callable[[Path, int], Path]) -> None:
    pages = build(
        "make_scan.py", [rendered(HUAIAN_TRUTH, 3)], "--dpi", "200", "--format", "png-dir", suffix=""
    )
    page = Image.open(pages / "page-003.png")
    for angle in (-1.5, 0.6):
        tilted = page.rotate(angle, expand=False, fillcolor=255)  # counter-clockwise by `angle`
        assert abs(estimate_skew(to_gray(tilted)) + angle) < 0.15


def _table3_numbers(doc_pages: list[list[list[str]]]) -> list[str]:
    return [t for rows in doc_pages for row in rows if len(row) == 10 for t in row[3:]]


@pytest.mark.ocr
@pytest.mark.parametrize(
    ("turn", "expand"),
    [
        (90, True),  # scanned sideways: landscape, orientation detection first
        (180, False),  # upside down: portrait, detection only once the first reading is junk
    ],
)
def test_turned_png_is_turned_back_and_read(
    build: Build, rendered: Callable[[Path, int], Path], turn: int, expand: bool
) -> None:
    pages = build(
        "make_scan.py", [rendered(HUAIAN_TRUTH, 3)], "--dpi", "300", "--format", "png-dir", suffix=""
    )
    page = Image.open(pages / "page-003.png")
    buf = io.BytesIO()
    page.rotate(turn, expand=expand).save(buf, format="PNG", dpi=(300, 300))
    doc = extract_document(buf.getvalue())
    p = doc.pages[0]
    assert doc.media_type == "image/png"
    assert p.method == PageMethod.OCR
    assert f"rotated {turn}°" in p.reason
    numbers = _table3_numbers([g.texts() for g in p.tables])
    assert "3119" in numbers and "1362" in numbers


@pytest.mark.ocr
def test_multipage_tiff(build: Build, rendered: Callable[[Path, int], Path]) -> None:
    tiff = build(
        "make_scan.py",
        [rendered(HUAIAN_TRUTH, 3)],
        "--dpi",
        "200",
        "--degrade",
        "light",
        "--seed",
        "1",
        suffix=".tif",
    )
    # Keep OCR time down: pages 4 and 5 only (表三's end and 表四; a short text page).
    src = Image.open(tiff)
    frames = []
    for i in (3, 4):
        src.seek(i)
        frames.append(src.copy())
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:], dpi=(200, 200))
    seen: list[tuple[int, int]] = []
    doc = extract_document(buf.getvalue(), progress=lambda d, t: seen.append((d, t)))
    assert doc.media_type == "image/tiff"
    assert [p.number for p in doc.pages] == [1, 2]
    assert all(p.method == PageMethod.OCR for p in doc.pages)
    assert seen == [(0, 2), (1, 2), (2, 2)]
    assert "upscaled from 200 dpi" in doc.pages[0].reason
    four = [g for g in doc.pages[0].tables if len(g.rows[0]) == 15]
    assert four, "table 四 not found"
    truth = _TRUTH["review_litigation"]
    expected = [str(truth[g][k]) for g in truth for k in ("upheld", "corrected", "other", "pending", "total")]
    cells = four[0].rows[-1]
    # A light-degraded 200 dpi scan: each number right, or doubtful (below LOW_CONFIDENCE).
    silent = [
        (c.text, e, c.confidence)
        for c, e in zip(cells, expected, strict=True)
        if c.text != e and (c.confidence or 0) >= LOW_CONFIDENCE
    ]
    assert silent == []
    assert sum(c.text == e for c, e in zip(cells, expected, strict=True)) >= 12


def test_transparent_background_becomes_white() -> None:
    from extract.image import _gray

    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))  # transparent black
    img.putpixel((5, 5), (0, 0, 0, 255))
    gray = _gray(img)
    assert gray.getpixel((0, 0)) == 255 and gray.getpixel((5, 5)) == 0
