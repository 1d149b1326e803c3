"""render_gray: the same pixels as pdfium's grayscale render on every kind of page; the fast grey
bitmap without the grayscale flag only for pages of nothing but grey images.

Pages are built here: image-only PDFs (img2pdf, as a scanner's output), edited with pikepdf
(an annotation, a coloured stroke), and a text page of the shared sample."""

from __future__ import annotations

import io
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from extract.render import _only_gray_images, render_gray

from .conftest import SAMPLES

SCALE = 300 / 72


def _noisy(mode: str, seed: int) -> Image.Image:
    """A 200-dpi A5-ish page: smooth shading, noise and dark strokes, so that resampling mixes
    distinct neighbours (the case where grey conversion before or after it could differ)."""
    rng = np.random.default_rng(seed)
    h, w = 600, 420
    base = np.linspace(150, 250, w)[None, :, None] + rng.normal(0, 20, (h, w, 3))
    base[100:110, 40:380] = 20  # a ruling line
    base[200:260:4, 60:300] = rng.integers(0, 90, (15, 240, 3))  # glyph-like strokes
    if mode == "RGB":
        base = base * np.array([1.0, 0.9, 0.75])  # yellowed paper: R, G, B differ
    pixels = np.clip(base, 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    return image if mode == "RGB" else image.convert("L")


def _image_pdf(image: Image.Image, out: Path) -> Path:
    """A PDF of the image at 200 dpi: lossless; a 1-bit one as a fax scan (CCITT G4)."""
    buf = io.BytesIO()
    if image.mode == "1":
        image.save(buf, "TIFF", compression="group4")
    else:
        image.save(buf, "PNG")
    layout = img2pdf.get_fixed_dpi_layout_fun((200, 200))
    out.write_bytes(img2pdf.convert(buf.getvalue(), layout_fun=layout))
    return out


def _flag_render(page: pdfium.PdfPage, scale: float) -> np.ndarray:
    return np.asarray(page.render(scale=scale, grayscale=True).to_numpy())


def _edited(src: Path, out: Path, content: bytes | None = None, annotate: bool = False) -> Path:
    with pikepdf.open(src) as pdf:
        page = pdf.pages[0]
        if content is not None:
            page.contents_add(pikepdf.Stream(pdf, content), prepend=False)
        if annotate:
            annot = pikepdf.Dictionary(
                Type=pikepdf.Name.Annot,
                Subtype=pikepdf.Name.Square,
                Rect=[20, 20, 120, 90],
                C=[1, 0, 0],
                Border=[0, 0, 4],
            )
            page.Annots = pdf.make_indirect(pikepdf.Array([annot]))
        pdf.save(out)
    return out


@pytest.mark.parametrize("mode", ["L", "1"])
def test_a_grey_scan_page_takes_the_fast_bitmap_and_renders_the_same(tmp_path: Path, mode: str) -> None:
    image = _noisy("L", 1)
    page = pdfium.PdfDocument(str(_image_pdf(image.convert(mode), tmp_path / "grey.pdf")))[0]
    assert _only_gray_images(page)
    for scale in (SCALE, 50 / 72):
        got = render_gray(page, scale)
        assert got.dtype == np.uint8 and got.ndim == 2
        assert np.array_equal(got, _flag_render(page, scale))


def test_a_colour_scan_page_keeps_the_grayscale_flag(tmp_path: Path) -> None:
    page = pdfium.PdfDocument(str(_image_pdf(_noisy("RGB", 2), tmp_path / "colour.pdf")))[0]
    assert not _only_gray_images(page)
    want = _flag_render(page, SCALE)
    assert np.array_equal(render_gray(page, SCALE), want)
    # What the check guards against: the fast bitmap resamples colour before turning it grey.
    fast = page.render(scale=SCALE, force_bitmap_format=pdfium_c.FPDFBitmap_Gray).to_numpy()
    assert not np.array_equal(fast, want)


@pytest.mark.parametrize(
    ("content", "annotate"),
    [
        (b"q 1 0 0 RG 6 w 30 30 m 250 300 l S Q", False),  # a red stroke drawn over the scan
        (None, True),  # a red square annotation
    ],
)
def test_a_grey_scan_with_more_on_it_keeps_the_grayscale_flag(
    tmp_path: Path, content: bytes | None, annotate: bool
) -> None:
    src = _image_pdf(_noisy("L", 3), tmp_path / "grey.pdf")
    page = pdfium.PdfDocument(str(_edited(src, tmp_path / "edited.pdf", content, annotate)))[0]
    assert not _only_gray_images(page)
    assert np.array_equal(render_gray(page, SCALE), _flag_render(page, SCALE))


def test_a_text_page_keeps_the_grayscale_flag() -> None:
    page = pdfium.PdfDocument(str(SAMPLES / "huaian_2024.pdf"))[0]
    assert not _only_gray_images(page)
    assert np.array_equal(render_gray(page, SCALE), _flag_render(page, SCALE))
