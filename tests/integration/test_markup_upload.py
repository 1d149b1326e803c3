"""An HTML page and a Word file of the 淮安 2024 report through the running service: sniffed by their
bytes (not their names), extracted as markup, parsed to the truth's values."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.extract.conftest import HUAIAN_TRUTH, TOOLS
from tests.extract.markup_docs import report_docx, report_html
from tests.report.conftest import numeric_truth

from .conftest import Upload, WaitFor

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_html_and_docx_reports_succeed(upload: Upload, wait_for: WaitFor, client: httpx.Client) -> None:
    if not TOOLS.is_dir():
        pytest.skip(f"{TOOLS} not found")
    truth: dict[str, Any] = json.loads(HUAIAN_TRUTH.read_text("utf-8"))
    files = [
        ("2024年报.htm", report_html(truth, chrome=True, encoding="gbk", meta="gb2312")),
        ("报告.docx", report_docx(truth)),
        ("旧版.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + "WordDocument".encode("utf-16-le")),
    ]
    jobs = upload(*files)
    html_job, docx_job, doc_job = wait_for([j["id"] for j in jobs], timeout=120)

    for record, media_type in ((html_job, "text/html"), (docx_job, DOCX)):
        assert record["state"] == "succeeded", record["error"]
        assert record["media_type"] == media_type
        assert record["progress"] == {"pages_done": 1, "pages_total": 1}
        body = client.get(f"/v1/jobs/{record['id']}/result").json()
        assert [p["method"] for p in body["pages"]] == ["markup"]
        got = body["document"]
        assert (got["agency"], got["year"], got["format"]) == (
            truth["agency"],
            truth["year"],
            truth["format"],
        )
        want, have = numeric_truth(truth), numeric_truth(got)
        assert {
            k: (v, have.get(k, "<missing>")) for k, v in want.items() if have.get(k, "<missing>") != v
        } == {}
        assert got["needs_review"] is False

    assert doc_job["state"] == "failed" and doc_job["media_type"] == "application/msword"
    assert doc_job["error"]["code"] == "unsupported_type"
    assert ".docx" in doc_job["error"]["message"]
