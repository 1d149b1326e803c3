"""A scanned page's own image instead of a render: taken only when it is the same picture.

The scans are made at test time (render_pdf.py + make_scan.py); the pages it must refuse are real
PDFs edited with pikepdf (rotation, extra objects, placement, soft mask, annotation)."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest

from extract.scan_image import embedded_scan

from .conftest import HUAIAN_TRUTH, Build

Edit = Callable[[pikepdf.Pdf, pikepdf.Page, pikepdf.Stream], None]


@pytest.fixture(scope="module")
def scans(build: Build, rendered: Callable[[Path, int], Path]) -> Callable[[int], Path]:
    pdf = rendered(HUAIAN_TRUTH, 3)
    return lambda dpi: build("make_scan.py", [pdf], "--dpi", str(dpi))


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


def _decide(path: Path, dpi: float = 300.0) -> tuple[object, str]:
    pdf = pdfium.PdfDocument(str(path))
    return embedded_scan(pdf[0], dpi)


def _draw(pdf: pikepdf.Pdf, page: pikepdf.Page, content: bytes) -> None:
    page.contents_add(pikepdf.Stream(pdf, content), prepend=False)


# ------------------------------------------------------------------ the decision


def test_a_300dpi_scan_gives_its_own_pixels(scans: Callable[[int], Path], tmp_path: Path) -> None:
    path = _one_page(scans(300), tmp_path / "p.pdf")
    with pikepdf.open(path) as pdf:
        [image] = list(pdf.pages[0].Resources.XObject.values())
        stored = _stored_pixels(image)
        width_pt = float(pdf.pages[0].MediaBox[2])
    scan, why = _decide(path)
    assert scan is not None, why
    assert "own 300-dpi image" in why
    assert np.array_equal(np.asarray(scan.image), stored)
    assert scan.image.mode == "L"
    assert scan.dpi == pytest.approx(300, abs=0.01)
    assert scan.unit * scan.image.width == pytest.approx(width_pt, abs=0.01)  # boxes in PDF points


@pytest.mark.parametrize(("dpi", "read_at"), [(200, 300.0), (600, 300.0)])
def test_a_scan_at_another_resolution_is_rendered(
    scans: Callable[[int], Path], tmp_path: Path, dpi: int, read_at: float
) -> None:
    scan, why = _decide(_one_page(scans(dpi), tmp_path / "p.pdf"), read_at)
    assert scan is None
    assert f"is {dpi} dpi, the page is read at 300" in why


def test_the_tolerance_is_relative_to_the_dpi_asked_for(scans: Callable[[int], Path], tmp_path: Path) -> None:
    path = _one_page(scans(600), tmp_path / "p.pdf")
    assert _decide(path, 600.0)[0] is not None  # ocr_dpi 600: the 600-dpi image is the picture
    assert _decide(path, 560.0)[0] is not None  # within 10 %
    assert _decide(path, 520.0)[0] is None


def test_a_page_with_text_or_vectors_too_is_rendered(scans: Callable[[int], Path], tmp_path: Path) -> None:
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


def test_a_rotated_page_is_rendered(scans: Callable[[int], Path], tmp_path: Path) -> None:
    def rotate(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        page.Rotate = 90

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", rotate))
    assert scan is None
    assert "rotated 90°" in why


def test_an_image_not_covering_the_page_is_rendered(scans: Callable[[int], Path], tmp_path: Path) -> None:
    def widen(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        box = [float(v) for v in page.MediaBox]
        page.MediaBox = [box[0], box[1] - 40, box[2] + 40, box[3]]  # a margin right and below

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", widen))
    assert scan is None
    assert "does not cover the page (40.0 pt off an edge)" in why


def test_a_flipped_image_is_rendered(scans: Callable[[int], Path], tmp_path: Path) -> None:
    def flip(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        _, _, w, h = (float(v) for v in page.MediaBox)
        [name] = list(page.Resources.XObject.keys())
        page.Contents = pikepdf.Stream(pdf, f"q {w:.4f} 0 0 {-h:.4f} 0 {h:.4f} cm {name} Do Q".encode())

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", flip))
    assert scan is None
    assert "rotated or flipped" in why


def test_an_annotated_page_is_rendered(scans: Callable[[int], Path], tmp_path: Path) -> None:
    def annotate(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        note = pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Square, Rect=[100, 100, 300, 200], C=[1, 0, 0]
        )
        page.Annots = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(note)]))

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", annotate))
    assert scan is None
    assert "annotations" in why


def test_a_soft_masked_image_differs_from_the_render(scans: Callable[[int], Path], tmp_path: Path) -> None:
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


def test_an_inverted_decode_is_applied(scans: Callable[[int], Path], tmp_path: Path) -> None:
    # Samples stored inverted with /Decode [1 0]: the page looks as before, and pdfium's decoded
    # bitmap applies the /Decode, so the embedded path is taken and gives the original picture.
    original: list[np.ndarray] = []

    def invert(pdf: pikepdf.Pdf, page: pikepdf.Page, image: pikepdf.Stream) -> None:
        pixels = _stored_pixels(image)
        original.append(pixels)
        image.write(zlib.compress((255 - pixels).tobytes()), filter=pikepdf.Name.FlateDecode)
        image.Decode = pikepdf.Array([1, 0])

    scan, why = _decide(_one_page(scans(300), tmp_path / "p.pdf", invert))
    assert scan is not None, why
    assert np.array_equal(np.asarray(scan.image), original[0])
