"""A scanned (image-only) PDF through the running service: OCR'd page by page, with the job's
progress visible while it runs, and a parsed result at the end."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pypdfium2 as pdfium
import pytest

from .conftest import FINISHED, Upload

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def _scanned_tables_pdf(tmp: Path) -> Path:
    """Pages 2–4 (tables 二, 三, 四) of a rendered report, scanned at 300 dpi: three OCR pages."""
    truth = SHARED / "samples" / "huaian_2024.truth.json"
    pdf, scan, out = tmp / "r.pdf", tmp / "s.pdf", tmp / "scan.pdf"
    tools = SHARED / "tools"
    subprocess.run([sys.executable, tools / "render_pdf.py", truth, "--seed", "3", "-o", pdf], check=True)
    subprocess.run([sys.executable, tools / "make_scan.py", pdf, "-o", scan, "--dpi", "300"], check=True)
    new = pdfium.PdfDocument.new()
    new.import_pages(pdfium.PdfDocument(str(scan)), [1, 2, 3])
    new.save(str(out))
    return out


@pytest.mark.ocr
def test_scanned_pdf_succeeds_with_page_progress(
    upload: Upload, client: httpx.Client, tmp_path: Path
) -> None:
    [job] = upload(_scanned_tables_pdf(tmp_path))
    seen: list[tuple[int, int | None]] = []
    deadline = time.monotonic() + 180
    while True:
        record = client.get(f"/v1/jobs/{job['id']}").json()
        progress = record["progress"]
        seen.append((progress["pages_done"], progress["pages_total"]))
        if record["state"] in FINISHED:
            break
        assert time.monotonic() < deadline, f"not finished: {record}"
        time.sleep(0.1)
    assert record["state"] == "succeeded", record
    assert seen[-1] == (3, 3)
    # OCR takes seconds a page, so polling sees the job part-way through.
    assert any(total == 3 and 0 < done < 3 for done, total in seen), seen
    result = client.get(f"/v1/jobs/{job['id']}/result")
    assert result.status_code == 200, result.text
