"""A PDF page rendered as 8-bit grey pixels, the OCR input.

pdfium's grayscale flag (FPDF_GRAYSCALE) converts every colour to grey before drawing: on a scan
page it runs the page image through a slow per-pixel path, ≈ 0.09 s of a 300-dpi page's 0.13 s
render. Drawn into a grey bitmap without the flag, a page whose only content is grey images comes
out byte-identical (grey is R = G = B, which the bitmap's own RGB → grey conversion keeps), ≈ 3.5×
faster. Colour content is resampled before its conversion to grey that way, ±2 grey levels off
the flag's output: such pages keep the flag, so every page reads as it did.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c


def render_gray(page: pdfium.PdfPage, scale: float) -> npt.NDArray[np.uint8]:
    """The page at `scale` pixels per PDF point, 8-bit grey (rows × columns), as pdfium's
    grayscale render draws it."""
    if _only_gray_images(page):
        bitmap = page.render(scale=scale, force_bitmap_format=pdfium_c.FPDFBitmap_Gray)
    else:
        bitmap = page.render(scale=scale, grayscale=True)
    pixels: npt.NDArray[np.uint8] = bitmap.to_numpy()
    return pixels


def _only_gray_images(page: pdfium.PdfPage) -> bool:
    """Whether the page draws nothing but DeviceGray images (a scan page): no text, paths, forms
    or annotations, which may carry colour. Stencil masks (painted in the fill colour) have no
    colour space of their own and do not count."""
    if pdfium_c.FPDFPage_GetAnnotCount(page) > 0:
        return False
    try:
        objects = list(page.get_objects(max_depth=0))
        return bool(objects) and all(
            isinstance(obj, pdfium.PdfImage)
            and obj.get_metadata().colorspace == pdfium_c.FPDF_COLORSPACE_DEVICEGRAY
            for obj in objects
        )
    except pdfium.PdfiumError:  # an image pdfium cannot describe: the flag's render copes with it
        return False
