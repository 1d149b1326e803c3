"""PDF uploads: the text layer where it is usable (pdfplumber, with tables from ruling lines), else
the page rendered at `ocr_dpi` (or a scan page's own image, when that is the same picture: see
extract/scan_image.py) and OCR'd. Each page records its method and why.

pypdfium2 opens the file, judges every page's text layer and renders (≈25× faster than pdfplumber
for text); pdfplumber is opened only when some page keeps its text layer, for its table finder.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import numpy as np
import pdfplumber
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from extract.engine import OcrEngine
from extract.errors import ExtractionError, ExtractionErrorCode
from extract.ocr import ocr_page
from extract.options import ExtractOptions, OcrMode, ProgressCallback
from extract.render import render_gray
from extract.scan_image import embedded_scan
from report.document import Box, Cell, Document, Grid, Page, PageMethod

PDF = "application/pdf"

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_BAD = re.compile(r"[\ue000-\uf8ff\ufffd\x00-\x08\x0b\x0e-\x1f]")  # private use, U+FFFD, controls


def judge_text_layer(text: str, min_chars: int) -> tuple[str, str]:
    """("ok" | "sparse" | "garbage", reason). Garbage: fonts without a Unicode map extract as
    (cid:N), private-use or control characters, or as Latin-1 mojibake instead of Chinese."""
    chars = [c for c in text if not c.isspace()]
    n = len(chars)
    if "(cid:" in text:
        return "garbage", "text layer has (cid:N) glyphs without a Unicode mapping"
    bad = sum(1 for c in chars if _BAD.match(c))
    if n and bad / n > 0.05:
        return "garbage", f"text layer has {bad} of {n} characters unmapped (private-use/control)"
    if n < min_chars:
        return "sparse", f"text layer has {n} characters"
    letters = [c for c in chars if c.isalpha()]
    cjk = sum(1 for c in letters if _CJK.match(c))
    if len(letters) >= 20 and cjk / len(letters) < 0.3:
        return "garbage", f"text layer is not Chinese ({cjk} of {len(letters)} letters are CJK)"
    return "ok", f"text layer has {n} characters, {cjk} CJK"


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise ExtractionError(
                ExtractionErrorCode.ENCRYPTED_PDF, "the PDF is encrypted and needs a password to open"
            ) from exc
        if _page_count_pdfminer(data) == 0:  # pdfium refuses a well-formed PDF without pages
            raise ExtractionError(ExtractionErrorCode.EMPTY_FILE, "the PDF has no pages") from exc
        raise ExtractionError(ExtractionErrorCode.CORRUPT_FILE, f"the PDF cannot be read: {exc}") from exc


def _page_count_pdfminer(data: bytes) -> int | None:
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            return len(pdf.pages)
    except Exception:  # pdfminer raises many types on broken files
        return None


# An image over this share of a text page may be a table pasted as a picture (a seal is ≈ 3 %,
# logos less).
_TABLE_IMAGE_SHARE = 0.06


def _large_images(page: pdfium.PdfPage, share: float) -> list[tuple[float, float, float, float]]:
    """Bounds (left, bottom, right, top, PDF points) of images covering more than `share` of the page."""
    pw, ph = page.get_size()
    out = []
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        if (right - left) * (top - bottom) > share * pw * ph:
            out.append((left, bottom, right, top))
    return out


def _with_image_tables(
    page: pdfium.PdfPage, text_page: Page, options: ExtractOptions, engine: OcrEngine | None
) -> Page:
    """A text page may carry a table as a picture (DOMAIN: "tables as images inside otherwise
    text documents"): OCR each large image; keep what it gives only if it holds a ruled table."""
    images = _large_images(page, _TABLE_IMAGE_SHARE)
    if not images:
        return text_page
    pw, ph = page.get_size()
    scale = options.ocr_dpi / 72
    rendered = Image.fromarray(render_gray(page, scale))
    extra: list[Grid] = []
    texts: list[str] = []
    confidences: list[float] = []
    for left, bottom, right, top in images:
        x0, y0 = max(0.0, left), max(0.0, ph - top)  # PDF y grows upwards; boxes are top-left based
        x1, y1 = min(pw, right), min(ph, ph - bottom)
        if any(
            g.box and g.box.x0 < x1 and x0 < g.box.x1 and g.box.top < y1 and y0 < g.box.bottom
            for g in text_page.tables
        ):
            continue  # the text layer already has this table's grid
        crop = rendered.crop((round(x0 * scale), round(y0 * scale), round(x1 * scale), round(y1 * scale)))
        got = ocr_page(
            crop,
            text_page.number,
            engine=engine,
            timeout=options.ocr_page_timeout_s,
            unit=1 / scale,
            dpi=options.ocr_dpi,
        )
        if got.method != PageMethod.OCR or not got.tables:
            continue
        for grid in got.tables:
            for box in [grid.box, *(c.box for row in grid.rows for c in row)]:
                if box is not None:  # shift from the crop's origin to the page's
                    box.x0, box.x1, box.top, box.bottom = (
                        box.x0 + x0,
                        box.x1 + x0,
                        box.top + y0,
                        box.bottom + y0,
                    )
        extra += got.tables
        texts.append(got.text)
        if got.confidence is not None:
            confidences.append(got.confidence)
    if not extra:
        return text_page
    return text_page.model_copy(
        update={
            "text": "\n".join([text_page.text, *texts]),
            "tables": [*text_page.tables, *extra],
            "reason": f"{text_page.reason}; {len(extra)} table(s) OCR'd from images on the page",
            "confidence": sum(confidences) / len(confidences) if confidences else None,
        }
    )


def _needs_ocr(page: pdfium.PdfPage, text: str) -> bool:
    """A page with little text: a scan (an image over much of the page), or text drawn as curves
    (no text at all, yet ink). A short page of real text (the tail of a table) keeps its layer."""
    if _large_images(page, 0.25):
        return True
    return not text.strip() and _has_ink(page)


def _has_ink(page: pdfium.PdfPage) -> bool:
    """Whether the page shows anything: text drawn as curves or an image has no text layer."""
    # 50 dpi is enough to see text; thin glyphs render grey there, hence the light threshold.
    img = render_gray(page, 50 / 72)
    return bool(np.mean(img < 200) > 0.002)


def extract_pdf(
    data: bytes,
    options: ExtractOptions,
    progress: ProgressCallback | None = None,
    engine: OcrEngine | None = None,
) -> Document:
    pdf = _open(data)
    try:
        total = len(pdf)
        if total == 0:
            raise ExtractionError(ExtractionErrorCode.EMPTY_FILE, "the PDF has no pages")
        if total > options.max_pages:
            raise ExtractionError(
                ExtractionErrorCode.TOO_MANY_PAGES,
                f"the PDF has {total} pages; the limit is {options.max_pages}",
            )
        if progress:
            progress(0, total)
        plumber: Any = None
        plumber_tried = False
        pages: list[Page] = []
        try:
            for i in range(total):
                try:
                    page = pdf[i]
                except pdfium.PdfiumError as exc:  # a damaged page object: the other pages may be fine
                    pages.append(
                        Page(number=i + 1, method=PageMethod.FAILED, reason=f"the page is damaged ({exc})")
                    )
                    if progress:
                        progress(i + 1, total)
                    continue
                try:
                    raw = page.get_textpage().get_text_range()
                except pdfium.PdfiumError:
                    raw = ""
                verdict, reason = judge_text_layer(raw, options.min_text_chars)
                if verdict == "sparse" and _needs_ocr(page, raw):
                    verdict, reason = "image", f"{reason} but the page shows more (an image or curves)"
                use_text = options.ocr != OcrMode.FORCE and verdict in ("ok", "sparse")
                if use_text:
                    if plumber is None and not plumber_tried:
                        plumber_tried, plumber = True, _open_plumber(data, total)
                    text_page = _text_layer_page(plumber, i, raw, reason)
                    if options.ocr == OcrMode.AUTO:
                        text_page = _with_image_tables(page, text_page, options, engine)
                    pages.append(text_page)
                elif options.ocr == OcrMode.OFF:
                    pages.append(Page(number=i + 1, method=PageMethod.FAILED, reason=f"{reason}; OCR is off"))
                else:
                    why = "OCR forced" if options.ocr == OcrMode.FORCE else reason
                    pages.append(_ocr_pdf_page(page, i + 1, options, engine, why))
                if progress:
                    progress(i + 1, total)
        finally:
            if plumber is not None:
                # close() loads every page object first: pdfminer raises there on a damaged page tree
                with contextlib.suppress(Exception):
                    plumber.close()
        return Document(media_type=PDF, pages=pages)
    finally:
        pdf.close()


def _ocr_pdf_page(
    page: pdfium.PdfPage, number: int, options: ExtractOptions, engine: OcrEngine | None, reason: str
) -> Page:
    # A page can declare any size: cap the rendered pixels like an uploaded image's.
    pw, ph = page.get_size()
    dpi = min(float(options.ocr_dpi), (options.max_image_pixels / max(pw * ph / 72**2, 1e-6)) ** 0.5)
    scan, how = embedded_scan(page, dpi)
    if scan is not None:  # a scan at ≈ the OCR dpi: its own pixels, not a resampled render of them
        image, dpi, unit = scan.image, scan.dpi, scan.unit
        reason = f"{reason}; OCR'd {how}"
    else:
        image, unit = render_gray(page, dpi / 72), 72 / dpi
    h, w = image.shape
    # Sideways scans show up as landscape pages; only then is Tesseract's OSD (≈1 s) worth its time.
    return ocr_page(
        image,
        number,
        engine=engine,
        timeout=options.ocr_page_timeout_s,
        detect_orientation=w > h,
        unit=unit,
        reason=reason,
        dpi=dpi,
    )


def _open_plumber(data: bytes, pages: int) -> Any:
    """pdfplumber on the file, or None when pdfminer (stricter than pdfium) cannot parse it or sees
    other pages than pdfium (a damaged page tree): page i must be the same page for both."""
    try:
        plumber = pdfplumber.open(io.BytesIO(data))
    except Exception:  # pdfminer raises assorted errors on damaged files
        return None
    try:
        if len(plumber.pages) == pages:
            return plumber
    except Exception:
        pass
    with contextlib.suppress(Exception):
        plumber.close()
    return None


def _text_layer_page(plumber: Any | None, index: int, fallback_text: str, reason: str) -> Page:
    number = index + 1
    if plumber is None:
        return Page(
            number=number,
            text=fallback_text.replace("\r\n", "\n"),
            method=PageMethod.TEXT_LAYER,
            reason=f"{reason}; pdfplumber cannot parse the file, no tables",
        )
    try:
        p = plumber.pages[index]
        text = p.extract_text() or ""
        grids = [_grid(t) for t in p.find_tables()]
    except Exception as exc:  # pdfminer raises assorted errors on odd content streams
        return Page(
            number=number,
            text=fallback_text.replace("\r\n", "\n"),
            method=PageMethod.TEXT_LAYER,
            reason=f"{reason}; pdfplumber failed ({type(exc).__name__}), no tables",
        )
    return Page(
        number=number,
        text=text,
        method=PageMethod.TEXT_LAYER,
        reason=reason,
        tables=[g for g in grids if g.rows],
    )


def _clean_cell(text: str | None) -> str:
    # Wrapped cell text: CJK has no spaces, so lines join directly ("商业企\n业" → "商业企业").
    return "".join((text or "").split("\n")).strip()


def _grid(table: Any) -> Grid:
    """A pdfplumber table → Grid, merged cells' text repeated into every position they cover."""
    texts: list[list[str | None]] = table.extract()
    bboxes: list[list[tuple[float, float, float, float] | None]] = [list(r.cells) for r in table.rows]
    ncols = max((len(r) for r in bboxes), default=0)
    # Lattice lines: every cell starting in a row shares its top, every cell starting in a column
    # its x0 (a merged cell only reaches further down or right).
    tops = [min((bb[1] for bb in row if bb), default=0.0) for row in bboxes]
    x0s = [
        min((bb[0] for row in bboxes if c < len(row) and (bb := row[c]) is not None), default=0.0)
        for c in range(ncols)
    ]
    owners: list[tuple[tuple[float, float, float, float], str]] = [
        (bb, _clean_cell(texts[r][c])) for r, row in enumerate(bboxes) for c, bb in enumerate(row) if bb
    ]
    bottom, right = float(table.bbox[3]), float(table.bbox[2])

    def owner(r: int, c: int) -> tuple[tuple[float, float, float, float], str] | None:
        y = (tops[r] + (tops[r + 1] if r + 1 < len(tops) else bottom)) / 2
        x = (x0s[c] + (x0s[c + 1] if c + 1 < ncols else right)) / 2
        for bb, text in owners:
            if bb[0] <= x <= bb[2] and bb[1] <= y <= bb[3]:
                return bb, text
        return None

    out: list[list[Cell]] = []
    for r, row in enumerate(bboxes):
        cells: list[Cell] = []
        for c in range(ncols):
            bb = row[c] if c < len(row) else None
            if bb is not None:
                cells.append(Cell(text=_clean_cell(texts[r][c]), box=_box(bb)))
                continue
            found = owner(r, c)
            cells.append(Cell(text=found[1], box=_box(found[0])) if found else Cell())
        out.append(cells)
    return Grid(rows=out, box=_box(table.bbox))


def _box(bb: tuple[float, float, float, float]) -> Box:
    return Box(x0=float(bb[0]), top=float(bb[1]), x1=float(bb[2]), bottom=float(bb[3]))
