"""A scanned PDF page's own image, for OCR instead of a render of the page.

A scan page is usually one image filling the page at the scanner's resolution. When that
resolution is ≈ the OCR dpi, rendering the page only resamples the image to about its own size
(OCRmyPDF works from the page images too). For a grey page that render (extract/render.py) costs
about what decoding the image and checking it does, ≈ 0.02–0.03 s: the gain is in the reading,
below. Used only when it gives the same picture as the render: anything else is rendered.

"Same" up to the render's resampling: pdfium draws even a same-size image through its bilinear
stretcher, mixing neighbouring rows with a sub-pixel phase (mean ≈ 2.4 grey levels on a table
page). That slight smoothing changes what Tesseract reads. Measured (bench/RESULTS.md, "Embedded
page images"): on JPEG scans the image itself reads better and faster than the render; on sharp
lossless ones (clean 300-dpi scans) the render does (15 fewer right fields, 30 % slower, and
whole table rows lost unflagged by the parser). So only JPEG (DCTDecode) page images are taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from extract.render import render_gray

# The image may be this far (PDF points) off each edge of the page and still count as covering it.
_EDGE_PT = 1.0
# Native resolution within this share of the dpi the page would be rendered at: no resampling
# worth doing. Further off, the render scales it to the OCR dpi as before.
_DPI_TOLERANCE = 0.10
# Pixels this much wider than tall (or the reverse) are not square: the render would stretch them.
_SQUARE_TOLERANCE = 0.01
# The same-picture check: the page rendered small against the image shrunk to that size.
_CHECK_DPI = 50
# Same picture: on real scans (lossless and JPEG) the two differ by ≤ 2 grey levels per pixel,
# ≈ 0.1–1.0 on average; a soft mask or a flip moves the mean by ≥ 5 and thousands of pixels by > 32.
_CHECK_MEAN = 2.0
_CHECK_FAR = 32
_CHECK_FAR_SHARE = 0.001

_GRAY_FROM = {
    pdfium_c.FPDFBitmap_Gray: None,
    pdfium_c.FPDFBitmap_BGR: cv2.COLOR_BGR2GRAY,
    pdfium_c.FPDFBitmap_BGRx: cv2.COLOR_BGRA2GRAY,
    pdfium_c.FPDFBitmap_BGRA: cv2.COLOR_BGRA2GRAY,
}


@dataclass(frozen=True)
class EmbeddedScan:
    image: npt.NDArray[np.uint8]  # 8-bit grey (rows × columns), the image's own pixels
    dpi: float  # its resolution on the page
    unit: float  # PDF points per pixel


def embedded_scan(page: pdfium.PdfPage, dpi: float) -> tuple[EmbeddedScan | None, str]:
    """(the page's own image as OCR input, why) or (None, why not) for a page that would be
    rendered at `dpi`. None, so the page is rendered, unless the page is one upright JPEG image
    (lossless ones: see the module docstring) covering it at ≈ `dpi` whose decoded pixels convert
    to grey and match a small render of the page: more objects (text, vectors, annotations) or
    /Rotate need the render to composite them; a flipped, rotated or partial placement, non-square
    pixels or another resolution need it to resample; a soft mask, /Decode quirks or colour
    formats pdfium decodes otherwise than it draws show up in the final comparison. Never raises:
    any pdfium error means render."""
    try:
        return _embedded_scan(page, dpi)
    except Exception as exc:  # pdfium and numpy raise assorted errors on odd images
        return None, f"reading the page's image failed ({type(exc).__name__}: {exc})"


def _embedded_scan(page: pdfium.PdfPage, dpi: float) -> tuple[EmbeddedScan | None, str]:
    if page.get_rotation() != 0:
        return None, f"the page is rotated {page.get_rotation()}°"
    objects = list(page.get_objects())
    if len(objects) != 1 or not isinstance(objects[0], pdfium.PdfImage):
        return None, f"the page has {len(objects)} objects, not one image"
    if pdfium_c.FPDFPage_GetAnnotCount(page) > 0:
        return None, "the page has annotations"
    image = objects[0]
    filters = image.get_filters()
    if "DCTDecode" not in filters:  # see the module docstring
        return None, f"the image is not a JPEG ({'/'.join(filters) or 'unfiltered'}): the render reads better"
    a, b, c, d, _, _ = image.get_matrix().get()
    if b != 0 or c != 0 or a <= 0 or d <= 0:
        return None, f"the image is placed rotated or flipped (matrix {a:g} {b:g} {c:g} {d:g})"
    left, bottom, right, top = image.get_bounds()
    page_left, page_bottom, page_right, page_top = page.get_bbox()
    off = max(abs(left - page_left), abs(bottom - page_bottom), abs(right - page_right), abs(top - page_top))
    if off > _EDGE_PT:
        return None, f"the image does not cover the page ({off:.1f} pt off an edge)"
    width, height = image.get_px_size()
    dpi_x, dpi_y = width / ((right - left) / 72), height / ((top - bottom) / 72)
    if abs(dpi_x / dpi_y - 1) > _SQUARE_TOLERANCE:
        return None, f"the image's pixels are not square ({dpi_x:.0f} × {dpi_y:.0f} dpi)"
    if abs(dpi_x / dpi - 1) > _DPI_TOLERANCE:
        return None, f"the image is {dpi_x:.0f} dpi, the page is read at {dpi:.0f}"
    bitmap = image.get_bitmap(render=False)
    if bitmap.format not in _GRAY_FROM:
        return None, f"the image decodes to pdfium bitmap format {bitmap.format}"
    pixels = bitmap.to_numpy()
    code = _GRAY_FROM[bitmap.format]
    gray = np.ascontiguousarray(pixels if code is None else cv2.cvtColor(pixels, code))
    if gray.shape != (height, width):
        return None, f"the image decodes to {gray.shape[1]} × {gray.shape[0]} pixels, not {width} × {height}"
    small = render_gray(page, _CHECK_DPI / 72)
    shrunk = cv2.resize(gray, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    diff = np.abs(small.astype(np.int16) - shrunk)
    mean, far = float(diff.mean()), float(np.mean(diff > _CHECK_FAR))
    if mean > _CHECK_MEAN or far > _CHECK_FAR_SHARE:
        return None, (
            f"the image differs from the page's render (mean {mean:.1f} grey levels, "
            f"{far:.2%} of pixels by more than {_CHECK_FAR})"
        )
    unit = (right - left) / width
    return (
        EmbeddedScan(image=gray, dpi=72 / unit, unit=unit),
        f"the page's own {72 / unit:.0f}-dpi image",
    )
