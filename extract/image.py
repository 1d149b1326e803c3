"""Image uploads (PNG, JPEG, multi-page TIFF): every page/frame straight to OCR, with orientation
detection (scans fed sideways or upside down) and deskew done by `extract.ocr`."""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

from extract.engine import OcrEngine
from extract.errors import ExtractionError, ExtractionErrorCode
from extract.ocr import ocr_page
from extract.options import ExtractOptions, OcrMode, ProgressCallback
from report.document import Document, Page, PageMethod

# Below this the glyphs are too small for Tesseract; such images are upscaled to `_TARGET_DPI`.
_MIN_DPI = 250
_TARGET_DPI = 300


def _gray(img: Image.Image) -> Image.Image:
    # Transparent pixels are often black underneath: put them on white paper first.
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("L")
    return img.convert("L")


def _too_large(w: int, h: int, options: ExtractOptions) -> ExtractionError:
    return ExtractionError(
        ExtractionErrorCode.IMAGE_TOO_LARGE,
        f"the image is {w}×{h} = {w * h} pixels; the limit is {options.max_image_pixels}",
    )


def extract_image(
    data: bytes,
    media_type: str,
    options: ExtractOptions,
    progress: ProgressCallback | None = None,
    engine: OcrEngine | None = None,
) -> Document:
    try:
        with warnings.catch_warnings():
            # PIL warns, then raises, for huge images; we check the size ourselves below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))  # reads the header only: the size costs no memory
    except Image.DecompressionBombError as exc:
        raise ExtractionError(ExtractionErrorCode.IMAGE_TOO_LARGE, str(exc)) from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ExtractionError(ExtractionErrorCode.CORRUPT_FILE, f"the image cannot be read: {exc}") from exc
    with img:
        total = int(getattr(img, "n_frames", 1))
        if total > options.max_pages:
            raise ExtractionError(
                ExtractionErrorCode.TOO_MANY_PAGES,
                f"the image has {total} pages; the limit is {options.max_pages}",
            )
        if progress:
            progress(0, total)
        pages: list[Page] = []
        for i in range(total):
            try:
                img.seek(i)
                w, h = img.size
                if w * h > options.max_image_pixels:
                    raise _too_large(w, h, options)
                frame = _gray(img)  # decodes the frame
                dpi = img.info.get("dpi", (0, 0))[0] or 0
            except (OSError, ValueError, EOFError, SyntaxError) as exc:  # PIL: SyntaxError for a broken chunk
                raise ExtractionError(
                    ExtractionErrorCode.CORRUPT_FILE, f"page {i + 1} of the image cannot be decoded: {exc}"
                ) from exc
            if options.ocr == OcrMode.OFF:
                pages.append(Page(number=i + 1, method=PageMethod.FAILED, reason="an image, and OCR is off"))
            else:
                scale = 1.0
                if 0 < float(dpi) < _MIN_DPI:
                    scale = min(2.0, _TARGET_DPI / float(dpi))
                    frame = frame.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
                reason = "an image" + (f"; upscaled from {float(dpi):.0f} dpi" if scale != 1.0 else "")
                pages.append(
                    ocr_page(
                        frame,
                        i + 1,
                        engine=engine,
                        timeout=options.ocr_page_timeout_s,
                        # as for PDF pages: OSD (≈ 1 s) first only for a landscape frame; a portrait
                        # one upside down reads as junk, and ocr_page asks OSD then
                        detect_orientation=frame.width > frame.height,
                        unit=1 / scale,  # boxes in the original image's pixels
                        reason=reason,
                        dpi=float(dpi) * scale if dpi else None,
                    )
                )
            if progress:
                progress(i + 1, total)
    return Document(media_type=media_type, pages=pages)
