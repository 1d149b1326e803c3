"""An HTML page and a Word file of the 淮安 2024 report through the running service: sniffed by their
bytes (not their names), extracted as markup, parsed to the truth's values."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import httpx

from tests.extract.conftest import HUAIAN_TRUTH
from tests.extract.markup_docs import report_docx, report_html
from tests.report.conftest import numeric_truth

from .conftest import Upload, WaitFor

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_html_and_docx_reports_succeed(upload: Upload, wait_for: WaitFor, client: httpx.Client) -> None:
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


def test_an_archive_of_web_pages_and_word_files(client: httpx.Client) -> None:
    """Reports collected from portals come zipped as .htm and .docx: every member succeeds."""
    from tests.integration.test_batches import by_name, post_batch, wait_batch

    truth: dict[str, Any] = json.loads(HUAIAN_TRUTH.read_text("utf-8"))
    docx = report_docx(truth)
    with zipfile.ZipFile(io.BytesIO(docx)) as word:  # relationships first, as other writers do
        names = sorted(word.namelist(), key=lambda n: (n != "_rels/.rels", n == "[Content_Types].xml"))
        rels_first = io.BytesIO()
        with zipfile.ZipFile(rels_first, "w", zipfile.ZIP_DEFLATED) as out:
            for n in names:
                out.writestr(n, word.read(n))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("年报/淮安.htm", report_html(truth, chrome=True))
        zf.writestr("年报/淮安.docx", docx)
        zf.writestr("年报/淮安-wps.docx", rels_first.getvalue())
    accepted = post_batch(client, ("portal.zip", archive.getvalue()))
    jobs = by_name(wait_batch(client, accepted["id"], timeout=120))
    assert set(jobs) == {"年报/淮安.htm", "年报/淮安.docx", "年报/淮安-wps.docx"}
    for name, job in jobs.items():
        assert job["state"] == "succeeded", (name, job)
        got = client.get(f"/v1/jobs/{job['id']}/result").json()["document"]
        assert numeric_truth(got) == numeric_truth(truth), name
