"""A scanned page's own image instead of a render: taken only for a JPEG page image that is the
same picture as the render.

The scans are made at test time (render_pdf.py + make_scan.py; `--degrade light` pages are JPEGs,
clean ones lossless PNG); the pages it must refuse are real PDFs edited with pikepdf (rotation,
extra objects, placement, soft mask, annotation, colour, a broken image stream)."""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from extract import ExtractOptions, extract_document
from extract.ocr import ocr_page
from extract.pdf import extract_pdf
from extract.scan_image import EmbeddedScan, embedded_scan
from report.document import Page, PageMethod

from .conftest import HUAIAN_TRUTH, Build, subset_pdf

Edit = Callable[[pikepdf.Pdf, pikepdf.Page, pikepdf.Stream], None]


@pytest.fixture(scope="module")
def scans(build: Build, rendered: Callable[[Path, int], Path]) -> Callable[..., Path]:
    """scans(dpi) → a JPEG scan (light degradation); scans(dpi, clean=True) → a lossless one."""
    pdf = rendered(HUAIAN_TRUTH, 3)

    def scan(dpi: int, clean: bool = False) -> Path:
        degrade = () if clean else ("--degrade", "light", "--seed", "1")
        return build("make_scan.py", [pdf], "--dpi", str(dpi), *degrade)

    return scan


def _stored_pixels(image: pikepdf.Stream) -> np.ndarray:
    """The image's samples as pikepdf decodes them: a decoder independent of pdfium."""
    return np.asarray(pikepdf.PdfImage(image).as_pil_image())


def _one_page(scan: Path, out: Path, edit: Edit | None = None, index: int = 2) -> Path:
    """Page `index` of `scan` (page 3 holds table 三) as a one-page PDF, edited by `edit`."""
    with pikepdf.open(scan) as pdf:
        for i in reversed(range(len(pdf.pages))):
            if i != index:
                del pdf.pages[i]
        page = pdf.pages[0]
        [image] = [v for v in page.Resources.XObject.values() if v.Subtype == pikepdf.Name.Image]
        if edit is not None:
            edit(pdf, page, image)
        pdf.save(out)
    return out


def _decide(path: Path, dpi: float = 300.0) -> tuple[EmbeddedScan | None, str]:
    pdf = pdfium.PdfDocument(str(path))
    return embedded_scan(pdf[0], dpi)


def _draw(pdf: pikepdf.Pdf, page: pikepdf.Page, content: bytes) -> None:
    page.contents_add(pikepdf.Stream(pdf, content), prepend=False)


# ------------------------------------------------------------------ the decision


def test_a_300dpi_jpeg_scan_gives_its_own_pixels(scans: Callable[..., Path], tmp_path: Path) -> None:
    path = _one_page(scans(300), tmp_path / "p.pdf")
    with pikepdf.open(path) as pdf:
        [image] = list(pdf.pages[0].Resources.XObject.values())
        stored = _stored_pixels(image)
        width_pt = float(pdf.pages[0].MediaBox[2])
    scan, why = _decide(path)
    assert scan is not None, why
    assert "own 300-dpi image" in why
    assert np.array_equal(np.asarray(scan.image), stored)
    assert scan.image.dtype == np.uint8
    assert scan.dpi == pytest.approx(300, abs=0.01)
    assert scan.unit * scan.image.shape[1] == pytest.approx(width_pt, abs=0.01)  # boxes in PDF points


@pytest.mark.parametrize(("dpi", "read_at"), [(200, 300.0), (600, 300.0)])
def test_a_scan_at_another_resolution_is_rendered(
    scans: Callable[..., Path], tmp_path: Path, dpi: int, read_at: float
) -> None:
    scan, why = _decide(_one_page(scans(dpi), tmp_path / "p.pdf"), read_at)
    assert scan is None
    assert f"is {dpi} dpi, the page is read at 300" in why


def test_the_tolerance_is_relative_to_the_dpi_asked_for(scans: Callable[..., Path], tmp_path: Path) -> None:
    path = _one_page(scans(600), tmp_path / "p.pdf")
    assert _decide(path, 600.0)[0] is not None  # ocr_dpi 600: the 600-dpi image is the picture
    assert _decide(path, 560.0)[0] is not None  # within 10 %
    assert _decide(path, 520.0)[0] is None


def test_a_page_with_text_or_vectors_too_is_rendered(scans: Callable[..., Path], tmp_path: Path) -> None:
    def add_text(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        font = pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
        name = page.add_resource(font, pikepdf.Name.Font, prefix="F")
        _draw(pdf, page, f"BT {name} 12 Tf 72 72 Td (page 3) Tj ET".encode())

    def add_line(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        _draw(pdf, page, b"q 1 w 72 72 m 300 72 l S Q")

    for name, edit in (("text", add_text), ("line", add_line)):
        scan, why = _decide(_one_page(scans(300), tmp_path / f"{name}.pdf", edit))
        assert scan is None, name
        assert "the page has 2 objects, not one image" in why, name


def test_a_rotated_page_is_rendered(scans: Callable[..., Path], tmp_path: Path) -> None:
    def rotate(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        page.Rotate = 90

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", rotate))
    assert scan is None
    assert "rotated 90°" in why


def test_an_image_not_covering_the_page_is_rendered(scans: Callable[..., Path], tmp_path: Path) -> None:
    def widen(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        box = [float(v) for v in page.MediaBox]
        page.MediaBox = [box[0], box[1] - 40, box[2] + 40, box[3]]  # a margin right and below

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", widen))
    assert scan is None
    assert "does not cover the page (40.0 pt off an edge)" in why


def test_a_flipped_image_is_rendered(scans: Callable[..., Path], tmp_path: Path) -> None:
    def flip(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        _, _, w, h = (float(v) for v in page.MediaBox)
        [name] = list(page.Resources.XObject.keys())
        page.Contents = pikepdf.Stream(pdf, f"q {w:.4f} 0 0 {-h:.4f} 0 {h:.4f} cm {name} Do Q".encode())

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", flip))
    assert scan is None
    assert "rotated or flipped" in why


def test_an_annotated_page_is_rendered(scans: Callable[..., Path], tmp_path: Path) -> None:
    def annotate(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        note = pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Square, Rect=[100, 100, 300, 200], C=[1, 0, 0]
        )
        page.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(note)]))

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", annotate))
    assert scan is None
    assert "annotations" in why


def test_a_soft_masked_image_differs_from_the_render(scans: Callable[..., Path], tmp_path: Path) -> None:
    # pdfium decodes the samples without the mask; the page shows the top half blank.
    def mask(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        alpha = np.full((int(image.Height), int(image.Width)), 255, np.uint8)
        alpha[: alpha.shape[0] // 2] = 0
        smask = pikepdf.Stream(pdf, zlib.compress(alpha.tobytes()))
        smask.Type, smask.Subtype, smask.Filter = (
            pikepdf.Name.XObject,
            pikepdf.Name.Image,
            pikepdf.Name.FlateDecode,
        )
        smask.Width, smask.Height = int(image.Width), int(image.Height)
        smask.ColorSpace, smask.BitsPerComponent = pikepdf.Name.DeviceGray, 8
        image.SMask = smask

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", mask))
    assert scan is None
    assert "differs from the page's render" in why


def test_an_inverted_decode_is_applied(scans: Callable[..., Path], tmp_path: Path) -> None:
    # /Decode [1 0] shows the page as a negative; pdfium's decoded bitmap applies the /Decode as
    # its render does, so the embedded path is taken and gives the negative.
    stored: list[np.ndarray] = []

    def invert(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        stored.append(_stored_pixels(image))
        image.Decode = pikepdf.Array([1, 0])

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", invert))
    assert scan is not None, why
    assert np.array_equal(np.asarray(scan.image), 255 - stored[0])


def test_a_colour_jpeg_scan_is_read_as_grey(scans: Callable[..., Path], tmp_path: Path) -> None:
    colour: list[Image.Image] = []

    def tint(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        gray = pikepdf.PdfImage(image).as_pil_image()
        rgb = Image.merge("RGB", [gray.point(lambda v: min(255, v + 40)), gray, gray])  # red: B≠R
        buf = io.BytesIO()
        rgb.save(buf, "JPEG", quality=90)
        image.write(buf.getvalue(), filter=pikepdf.Name.DCTDecode)
        image.ColorSpace = pikepdf.Name.DeviceRGB
        colour.append(Image.open(io.BytesIO(buf.getvalue())))

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", tint))
    assert scan is not None, why
    assert scan.image.dtype == np.uint8
    want = np.asarray(colour[0].convert("L"), dtype=np.int16)  # ITU-R 601 luma, as cv2's
    assert np.abs(np.asarray(scan.image, dtype=np.int16) - want).max() <= 1


def test_a_lossless_scan_is_rendered(scans: Callable[..., Path], tmp_path: Path) -> None:
    scan, why = _decide(_one_page(scans(300, clean=True), tmp_path / "p.pdf"))
    assert scan is None
    assert "not a JPEG (FlateDecode)" in why


def test_an_undecodable_image_falls_back_to_the_render(scans: Callable[..., Path], tmp_path: Path) -> None:
    def garble(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        image.write(b"not a JPEG at all", filter=pikepdf.Name.DCTDecode)

    path = _one_page(scans(300), tmp_path / "p.pdf", garble)
    scan, why = _decide(path)
    assert scan is None
    assert "reading the page's image failed (PdfiumError" in why
    # The PDF reader renders the page instead, without raising: pdfium draws the broken image as
    # nothing, so OCR finds no text there (and extract_document would answer no_text).
    [page] = extract_pdf(path.read_bytes(), ExtractOptions()).pages
    assert "OCR found no text" in page.reason
    assert "own 300-dpi image" not in page.reason


# ------------------------------------------------------------------ OCR through the embedded path


def _numbers(page: Page) -> list[tuple[int, int, int, str]]:
    return [
        (t, r, c, cell.text)
        for t, grid in enumerate(page.tables)
        for r, row in enumerate(grid.rows)
        for c, cell in enumerate(row)
        if cell.text.isdigit()
    ]


@pytest.mark.ocr
def test_a_300dpi_jpeg_scan_is_read_from_its_image_with_the_renders_grids(
    scans: Callable[..., Path], tmp_path: Path
) -> None:
    # Not pixel-equal to the render: pdfium draws even a same-size image through its bilinear
    # stretcher (rows mixed with a sub-pixel phase that drifts down the page), and this page
    # renders one pixel wider than its image, so label cells may read differently; the grids
    # (cells, boxes in PDF points) and every number must agree.
    one = subset_pdf(scans(300), [4], tmp_path / "p4.pdf")  # tables 三 (end) and 四
    doc = extract_document(one.read_bytes(), ExtractOptions())
    [got] = doc.pages
    assert got.method == PageMethod.OCR
    assert "OCR'd the page's own 300-dpi image" in got.reason
    page = pdfium.PdfDocument(str(one))[0]
    want = ocr_page(page.render(scale=300 / 72, grayscale=True).to_pil(), 1, unit=72 / 300, dpi=300)
    assert [(len(g.rows), len(g.rows[0])) for g in got.tables] == [(8, 10), (4, 15)]
    assert [(len(g.rows), len(g.rows[0])) for g in want.tables] == [(8, 10), (4, 15)]
    for grid, grid_want in zip(got.tables, want.tables, strict=True):
        for row, row_want in zip(grid.rows, grid_want.rows, strict=True):
            for cell, cell_want in zip(row, row_want, strict=True):
                a, b = cell.box, cell_want.box
                assert a is not None and b is not None
                assert (a.x0, a.top, a.x1, a.bottom) == pytest.approx((b.x0, b.top, b.x1, b.bottom), abs=1.0)
    assert len(_numbers(want)) > 40
    assert _numbers(got) == _numbers(want)
    assert got.tables[1].rows[-1][4].text == "351"
