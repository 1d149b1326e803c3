"""PDF extraction: text layers with ruling-line grids, per-page OCR fallback, and bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from extract import ExtractionError, ExtractionErrorCode, ExtractOptions, OcrMode, extract_document
from extract.ocr import LOW_CONFIDENCE
from report import parse_document
from report.document import Document, PageMethod

from .conftest import HUAIAN_TRUTH, SAMPLES, Build, merge_pdfs, subset_pdf
from .gridtruth import cell_number, readings, table3_rows


def _truth(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _extract(path: Path, **opts: Any) -> Document:
    return extract_document(path.read_bytes(), ExtractOptions(**opts))


def _wrong(doc: Document, truth: dict[str, Any]) -> list[str]:
    return [
        f"{r.key}: {r.cell.text if r.cell else None!r} != {r.expected!r}"
        for r in readings(doc, truth)
        if r.cell is None or cell_number(r.cell.text) != r.expected
    ]


# ------------------------------------------------------------------ text layers


@pytest.fixture(scope="session")
def truth_2019(build: Build) -> Path:
    return build("make_truth.py", [], "--format", "2019-trial", "--seed", "11", suffix=".json")


@pytest.fixture(scope="session")
def truth_2021(build: Build) -> Path:
    return build("make_truth.py", [], "--format", "2021", "--seed", "12", suffix=".json")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_rendered_huaian_grids_equal_truth(rendered: Callable[[Path, int], Path], seed: int) -> None:
    doc = _extract(rendered(HUAIAN_TRUTH, seed))
    assert all(p.method == PageMethod.TEXT_LAYER for p in doc.pages)
    assert _wrong(doc, _truth(HUAIAN_TRUTH)) == []


@pytest.mark.parametrize("which", ["truth_2019", "truth_2021"])
def test_rendered_random_truth_grids_equal_truth(
    rendered: Callable[[Path, int], Path], request: pytest.FixtureRequest, which: str
) -> None:
    truth: Path = request.getfixturevalue(which)
    for seed in (5, 6):
        doc = _extract(rendered(truth, seed))
        assert _wrong(doc, _truth(truth)) == [], f"seed {seed}"


def test_repeated_header_after_page_break_is_skipped(rendered: Callable[[Path, int], Path]) -> None:
    # Some seeds break table 三 across pages with its three header rows repeated: the grids are
    # emitted per page and the body rows still come out once each, in order.
    for seed in range(1, 9):
        doc = _extract(rendered(HUAIAN_TRUTH, seed))
        if sum(1 for p in doc.pages for g in p.tables if len(g.rows[0]) == 10) > 1:
            assert len(table3_rows(doc)) == 25
            assert _wrong(doc, _truth(HUAIAN_TRUTH)) == []
            return
    pytest.fail("no seed in 1..8 breaks table 三 across pages: this test no longer covers a page break")


def test_huaian_sample_text_layer() -> None:
    doc = _extract(SAMPLES / "huaian_2024.pdf")
    assert doc.media_type == "application/pdf"
    assert len(doc.pages) == 6
    assert all(p.method == PageMethod.TEXT_LAYER for p in doc.pages), [p.reason for p in doc.pages]
    assert "淮安市人民政府" in doc.pages[0].text
    # Table 三 crosses the page 4/5 break in this real report.
    assert len(table3_rows(doc)) == 25
    assert _wrong(doc, _truth(HUAIAN_TRUTH)) == []


def test_parse_of_text_layer_equals_truth(rendered: Callable[[Path, int], Path]) -> None:
    truth = _truth(HUAIAN_TRUTH)
    canon = parse_document(_extract(rendered(HUAIAN_TRUTH, 3))).to_canonical()
    for section in ("active_disclosure", "applications", "review_litigation"):
        for key, fields in truth[section].items():
            for field, value in fields.items():
                got = canon[section][key][field]
                got = got.get("value") if isinstance(got, dict) else got
                assert got == value, f"{section}.{key}.{field}"


def test_progress_per_page(rendered: Callable[[Path, int], Path]) -> None:
    seen: list[tuple[int, int]] = []
    doc = extract_document(rendered(HUAIAN_TRUTH, 1).read_bytes(), progress=lambda d, t: seen.append((d, t)))
    n = len(doc.pages)
    assert seen == [(i, n) for i in range(n + 1)]


# ------------------------------------------------------------------ bad input


def test_encrypted_pdf(rendered: Callable[[Path, int], Path], tmp_path: Path) -> None:
    out = tmp_path / "enc.pdf"
    with pikepdf.open(rendered(HUAIAN_TRUTH, 1)) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="owner"))
    with pytest.raises(ExtractionError) as err:
        _extract(out)
    assert err.value.code == ExtractionErrorCode.ENCRYPTED_PDF


def test_owner_password_only_pdf_is_read(rendered: Callable[[Path, int], Path], tmp_path: Path) -> None:
    # Permissions-only encryption opens without a password: not an error.
    out = tmp_path / "owner.pdf"
    with pikepdf.open(rendered(HUAIAN_TRUTH, 1)) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(user="", owner="owner"))
    doc = _extract(out)
    assert doc.pages[0].method == PageMethod.TEXT_LAYER


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ExtractionErrorCode.EMPTY_FILE),
        (b"%PDF-1.7\n" + bytes(range(256)) * 20, ExtractionErrorCode.CORRUPT_FILE),
        (b"PK\x03\x04" + b"\x00" * 100, ExtractionErrorCode.UNSUPPORTED_TYPE),
    ],
)
def test_bad_bytes(data: bytes, code: ExtractionErrorCode) -> None:
    with pytest.raises(ExtractionError) as err:
        extract_document(data)
    assert err.value.code == code


def test_truncated_pdf(rendered: Callable[[Path, int], Path]) -> None:
    data = rendered(HUAIAN_TRUTH, 1).read_bytes()
    with pytest.raises(ExtractionError) as err:
        extract_document(data[: len(data) // 3])
    assert err.value.code == ExtractionErrorCode.CORRUPT_FILE


def test_pdf_without_pages(tmp_path: Path) -> None:
    out = tmp_path / "empty.pdf"
    pikepdf.new().save(out)
    with pytest.raises(ExtractionError) as err:
        _extract(out)
    assert err.value.code == ExtractionErrorCode.EMPTY_FILE


def test_too_many_pages(rendered: Callable[[Path, int], Path]) -> None:
    with pytest.raises(ExtractionError) as err:
        _extract(rendered(HUAIAN_TRUTH, 1), max_pages=2)
    assert err.value.code == ExtractionErrorCode.TOO_MANY_PAGES


def test_image_pdf_with_ocr_off_has_no_text(build: Build, rendered: Callable[[Path, int], Path]) -> None:
    scan = build("make_scan.py", [rendered(HUAIAN_TRUTH, 1)], "--dpi", "200")
    with pytest.raises(ExtractionError) as err:
        _extract(scan, ocr=OcrMode.OFF)
    assert err.value.code == ExtractionErrorCode.NO_TEXT


# ------------------------------------------------------------------ OCR


def _cid_pdf(src: Path, out: Path) -> Path:
    """The same PDF with its fonts' ToUnicode maps disabled (same length, so the xref holds):
    text extracts as (cid:N) / control characters, as from a font without a Unicode map."""
    data = src.read_bytes()
    assert b"/ToUnicode" in data
    out.write_bytes(data.replace(b"/ToUnicode", b"/XoUnicode"))
    return out


@pytest.mark.ocr
def test_cid_garbage_pages_are_ocrd(rendered: Callable[[Path, int], Path], tmp_path: Path) -> None:
    cid = _cid_pdf(rendered(HUAIAN_TRUTH, 3), tmp_path / "cid.pdf")
    two = subset_pdf(cid, [1, 5], tmp_path / "cid2.pdf")
    doc = _extract(two)
    assert [p.method for p in doc.pages] == [PageMethod.OCR, PageMethod.OCR]
    assert all("unmapped" in p.reason or "cid" in p.reason for p in doc.pages), [p.reason for p in doc.pages]
    assert "政府信息公开" in doc.pages[1].text or "信息处理费" in doc.pages[1].text


@pytest.mark.ocr
def test_mixed_pdf_only_image_page_ocrd(
    build: Build, rendered: Callable[[Path, int], Path], tmp_path: Path
) -> None:
    pdf = rendered(HUAIAN_TRUTH, 3)
    scan = build("make_scan.py", [pdf], "--dpi", "300")
    mixed = merge_pdfs([(pdf, [1, 2]), (scan, [3]), (pdf, [4, 5])], tmp_path / "mixed.pdf")
    doc = _extract(mixed)
    methods = [p.method for p in doc.pages]
    assert (
        methods
        == [PageMethod.TEXT_LAYER, PageMethod.TEXT_LAYER, PageMethod.OCR] + [PageMethod.TEXT_LAYER] * 2
    )
    assert doc.pages[2].confidence is not None
    assert any(len(g.rows[0]) == 10 for g in doc.pages[2].tables)
    _assert_right_or_doubtful(doc, _truth(HUAIAN_TRUTH))


@pytest.mark.ocr
def test_force_ocr_on_a_text_page(rendered: Callable[[Path, int], Path], tmp_path: Path) -> None:
    one = subset_pdf(rendered(HUAIAN_TRUTH, 3), [5], tmp_path / "one.pdf")
    doc = _extract(one, ocr=OcrMode.FORCE)
    assert doc.pages[0].method == PageMethod.OCR
    assert doc.pages[0].reason.startswith("OCR forced")


@pytest.mark.ocr
def test_ocr_timeout_marks_page_failed(
    build: Build, rendered: Callable[[Path, int], Path], tmp_path: Path
) -> None:
    scan = build("make_scan.py", [rendered(HUAIAN_TRUTH, 3)], "--dpi", "300")
    one = subset_pdf(scan, [3], tmp_path / "one.pdf")
    with pytest.raises(ExtractionError) as err:  # the only page failed: nothing was obtained
        _extract(one, ocr_page_timeout_s=0.001)
    assert err.value.code == ExtractionErrorCode.NO_TEXT
    assert "timed out" in err.value.message


def _assert_right_or_doubtful(doc: Document, truth: dict[str, Any]) -> None:
    """Every table field is right, or its cell is below LOW_CONFIDENCE, or its row fails the row
    total identity (the parser flags check_failed): never silently wrong."""
    rs = readings(doc, truth)
    by_key = {r.key: r for r in rs}
    silent = []
    for r in rs:
        if r.cell is None or cell_number(r.cell.text) == r.expected:
            continue
        if r.cell.confidence is not None and r.cell.confidence < LOW_CONFIDENCE:
            continue
        if r.key.startswith("applications.") and not _row_total_holds(by_key, r.key.rsplit(".", 1)[0]):
            continue
        silent.append(f"{r.key}: {r.cell.text!r} (conf {r.cell.confidence}) != {r.expected!r}")
    assert silent == []


def _row_total_holds(by_key: dict[str, Any], row: str) -> bool:
    cols = [
        "natural_person",
        "commercial_enterprise",
        "research_institution",
        "social_welfare_organization",
        "legal_service_institution",
        "other_organization",
    ]
    try:
        parts = [float(cell_number(by_key[f"{row}.{c}"].cell.text) or 0) for c in cols]
        total = float(cell_number(by_key[f"{row}.total"].cell.text) or 0)
    except (ValueError, AttributeError):
        return False
    return abs(sum(parts) - total) < 1e-6


@pytest.mark.ocr
def test_scanned_300dpi_fields_right_or_flagged(
    build: Build, rendered: Callable[[Path, int], Path], tmp_path: Path
) -> None:
    scan = build("make_scan.py", [rendered(HUAIAN_TRUTH, 3)], "--dpi", "300")
    tables = subset_pdf(scan, [2, 3, 4], tmp_path / "tables.pdf")  # 表二, 表三 and 表四
    doc = _extract(tables)
    assert all(p.method == PageMethod.OCR for p in doc.pages)
    _assert_right_or_doubtful(doc, _truth(HUAIAN_TRUTH))
    # And most are simply right.
    rs = readings(doc, _truth(HUAIAN_TRUTH))
    right = sum(1 for r in rs if r.cell and cell_number(r.cell.text) == r.expected)
    assert right / len(rs) > 0.9


def test_short_text_page_keeps_its_text_layer(build: Build, rendered: Callable[[Path, int], Path]) -> None:
    # This render puts only the tail of table 二 (12 characters and the table's rules) on page 2:
    # a short page of real text, not a scan, so no OCR.
    truth = build("make_truth.py", [], "--format", "2019-trial", "--seed", "32", suffix=".json")
    doc = _extract(rendered(truth, 32))
    assert all(p.method == PageMethod.TEXT_LAYER for p in doc.pages), [p.reason for p in doc.pages]
    assert any("characters" in p.reason and p.tables for p in doc.pages)


@pytest.mark.ocr
def test_upside_down_scanned_page_is_turned(
    build: Build, rendered: Callable[[Path, int], Path], tmp_path: Path
) -> None:
    import pypdfium2 as pdfium

    scan = build("make_scan.py", [rendered(HUAIAN_TRUTH, 3)], "--dpi", "300")
    pdf = pdfium.PdfDocument(str(scan))
    image = pdf[3].render(scale=300 / 72, grayscale=True).to_pil().rotate(180)
    out = tmp_path / "upside-down.pdf"
    image.save(out, format="PDF", resolution=300)
    doc = _extract(out)
    page = doc.pages[0]
    assert page.method == PageMethod.OCR
    assert "rotated 180°" in page.reason
    four = [g for g in page.tables if len(g.rows[0]) == 15]
    assert four and four[0].rows[-1][4].text == "351"


@pytest.mark.ocr
def test_table_pasted_as_image_on_a_text_page(
    build: Build, rendered: Callable[[Path, int], Path], tmp_path: Path
) -> None:
    import pdfplumber
    import pypdfium2 as pdfium

    pdf = rendered(HUAIAN_TRUTH, 3)
    scan = build("make_scan.py", [pdf], "--dpi", "300")
    # Cut table 四 out of the scan of page 4 and paste it as a picture under page 5's text.
    with pdfplumber.open(pdf) as p:
        [bbox] = [t.bbox for t in p.pages[3].find_tables() if len(t.rows[0].cells) == 15]
    x0, top, x1, bottom = bbox[0] - 10, bbox[1] - 10, bbox[2] + 10, bbox[3] + 10
    k = 300 / 72
    page_image = pdfium.PdfDocument(str(scan))[3].render(scale=k, grayscale=True).to_pil()
    crop = page_image.crop((round(x0 * k), round(top * k), round(x1 * k), round(bottom * k)))
    out = tmp_path / "image-table.pdf"
    with pikepdf.open(pdf) as doc:
        page = doc.pages[4]
        image = pikepdf.Stream(doc, crop.tobytes())
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height = crop.size
        image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceGray, 8
        name = page.add_resource(image, pikepdf.Name.XObject, prefix="Im")
        draw = f"q {x1 - x0:.2f} 0 0 {bottom - top:.2f} {x0:.2f} 150 cm {name} Do Q"
        page.contents_add(pikepdf.Stream(doc, draw.encode()), prepend=False)
        doc.save(out)
    result = _extract(out)
    last = result.pages[4]
    assert last.method == PageMethod.TEXT_LAYER
    assert "OCR'd from images" in last.reason
    [grid] = [g for g in last.tables if len(g.rows[0]) == 15]
    review = _truth(HUAIAN_TRUTH)["review_litigation"]
    expected = [
        str(review[g][k]) for g in review for k in ("upheld", "corrected", "other", "pending", "total")
    ]
    assert [c.text for c in grid.rows[-1]] == expected
    # Its box is in page coordinates (points, top-left origin), where the picture was drawn.
    page_height = pdfium.PdfDocument(str(out))[4].get_size()[1]
    assert grid.box is not None
    assert abs(grid.box.x0 - x0) < 15 and abs(grid.box.bottom - (page_height - 150)) < 15
    # The other pages are untouched: no image, no OCR.
    assert all("OCR" not in p.reason for p in result.pages[:4])
