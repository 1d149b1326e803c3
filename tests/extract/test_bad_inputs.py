"""Each bad input of the fault-injection suite, in process: the extractor's stable code, quickly, and
without decoding what a header only claims (a 50,000 × 50,000 PNG is refused from its header)."""

from __future__ import annotations

import json
import resource
from collections.abc import Callable

import pytest

from extract import ExtractionError, extract_document
from report.document import PageMethod
from tests.conftest import example_reports
from tests.extract import bad_inputs
from tests.extract.markup_docs import report_docx


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: b"", "empty_file"),
        (bad_inputs.corrupt_pdf, "corrupt_file"),
        (bad_inputs.encrypted_pdf, "encrypted_pdf"),
        (bad_inputs.truncated_pdf, "corrupt_file"),
        (bad_inputs.truncated_png, "corrupt_file"),
        (bad_inputs.elf_executable, "unsupported_type"),
        (bad_inputs.pe_executable, "unsupported_type"),
        (bad_inputs.huge_png, "image_too_large"),
        (lambda: bad_inputs.blank_pdf(301), "too_many_pages"),
    ],
    ids=["empty", "corrupt-pdf", "encrypted", "half-pdf", "half-png", "elf", "pe", "huge-png", "301-pages"],
)
def test_bad_input_has_its_code(make: Callable[[], bytes], code: str) -> None:
    data = make()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with pytest.raises(ExtractionError) as caught:
        extract_document(data)
    assert caught.value.code == code and caught.value.message
    # never the 2.5 Gpx (≥ 300 MB even at 1 bit per pixel) a huge header asks for
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 200 * 1024


def test_html_renamed_pdf_is_read_as_html() -> None:
    document = extract_document(bad_inputs.html_as_pdf())
    assert document.media_type == "text/html" and "页面不存在" in document.text


def test_gb18030_text_report_is_decoded() -> None:
    path = example_reports()[1]
    document = extract_document(bad_inputs.gb18030_report(path))
    assert document.media_type == "text/plain"
    assert document.text.strip() == path.read_text(encoding="utf-8").strip()


def test_docx_with_a_central_directory_pointing_before_the_file_is_corrupt() -> None:
    # found by tests/fuzz: zipfile raised a bare ValueError (negative seek), an internal_error job
    truth = json.loads(example_reports()[0].with_suffix(".truth.json").read_text())
    data = bad_inputs.zip_with_offsets_before_the_start(report_docx(truth))
    with pytest.raises(ExtractionError) as caught:
        extract_document(data)
    assert caught.value.code == "corrupt_file"


# Found by tests/fuzz: each raised an exception of the PDF/image library, an internal_error job.


def test_pdf_with_a_damaged_page_keeps_its_other_pages() -> None:
    document = extract_document(bad_inputs.pdf_with_a_damaged_page())
    first, second = document.pages
    assert first.method == PageMethod.FAILED and "damaged" in first.reason
    assert second.method == PageMethod.TEXT_LAYER and second.text.strip()


def test_pdf_pdfminer_cannot_parse_is_read_from_pdfiums_text_layer() -> None:
    document = extract_document(bad_inputs.pdf_pdfminer_cannot_parse())
    assert [p.method for p in document.pages] == [PageMethod.TEXT_LAYER] * 2
    assert all("pdfplumber cannot parse" in p.reason for p in document.pages)
    assert "淮安" in document.text


def test_png_with_a_broken_chunk_is_corrupt() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_document(bad_inputs.png_with_a_broken_chunk())
    assert caught.value.code == "corrupt_file" and "broken PNG" in caught.value.message


def test_docx_claiming_an_unknown_zip_version_is_corrupt() -> None:
    truth = json.loads(example_reports()[0].with_suffix(".truth.json").read_text())
    with pytest.raises(ExtractionError) as caught:
        extract_document(bad_inputs.zip_claiming_version(report_docx(truth)))
    assert caught.value.code == "corrupt_file" and "21.3" in caught.value.message
