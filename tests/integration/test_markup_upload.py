"""Web pages and Word files through the running service: sniffed by their bytes (not their names),
extracted as markup, parsed to the truth's values, the result recording the input type and that the
tables came from markup. Every shared sample with a truth file goes through, as one batch."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import httpx

from tests.extract.conftest import HUAIAN_TRUTH, SAMPLES
from tests.extract.markup_docs import report_docx, report_html, report_word_html
from tests.extract.test_sniff import WORD_DOC, WPS_FILE
from tests.integration.test_batches import by_name, post_batch, wait_batch
from tests.report.conftest import numeric_truth

from .conftest import Upload, WaitFor

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def assert_result_equals_truth(
    body: dict[str, Any], truth: dict[str, Any], media_type: str, name: str
) -> None:
    assert body["source"]["media_type"] == media_type, name
    assert body["source"]["tables_from"] == "markup", name
    assert [p["method"] for p in body["pages"]] == ["markup"], name
    got = body["document"]
    assert (got["agency"], got["year"], got["format"]) == (truth["agency"], truth["year"], truth["format"]), (
        name
    )
    want, have = numeric_truth(truth), numeric_truth(got)
    assert {
        k: (v, have.get(k, "<missing>")) for k, v in want.items() if have.get(k, "<missing>") != v
    } == {}, name
    assert set(have) == set(want) and got["needs_review"] is False, name


def test_html_and_word_uploads_and_legacy_refusals(
    upload: Upload, wait_for: WaitFor, client: httpx.Client
) -> None:
    truth: dict[str, Any] = json.loads(HUAIAN_TRUTH.read_text("utf-8"))
    files = [
        ("2024年报.htm", report_html(truth, chrome=True, encoding="gbk", meta="gb2312")),
        ("报告.docx", report_docx(truth)),
        ("旧版.doc", WORD_DOC),
        ("金山.wps", WPS_FILE),
    ]
    jobs = upload(*files)
    html_job, docx_job, doc_job, wps_job = wait_for([j["id"] for j in jobs], timeout=120)

    for record, media_type in ((html_job, "text/html"), (docx_job, DOCX)):
        assert record["state"] == "succeeded", record["error"]
        assert record["media_type"] == media_type
        assert record["progress"] == {"pages_done": 1, "pages_total": 1}
        body = client.get(f"/v1/jobs/{record['id']}/result").json()
        assert_result_equals_truth(body, truth, media_type, record["filename"])

    for record, media_type, named in (
        (doc_job, "application/msword", "legacy Word .doc"),
        (wps_job, "application/wps-office.wps", "Kingsoft WPS Writer file (.wps"),
    ):
        assert record["state"] == "failed" and record["media_type"] == media_type
        assert record["error"]["code"] == "unsupported_type"
        assert named in record["error"]["message"] and ".docx" in record["error"]["message"]


def rels_first(docx: bytes) -> bytes:
    """The same .docx with its relationships first, as writers other than Word store it."""
    with zipfile.ZipFile(io.BytesIO(docx)) as word:
        names = sorted(word.namelist(), key=lambda n: (n != "_rels/.rels", n == "[Content_Types].xml"))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for n in names:
                zf.writestr(n, word.read(n))
    return out.getvalue()


RENDERINGS: dict[str, tuple[str, Callable[[dict[str, Any]], bytes]]] = {
    "page.htm": ("text/html", lambda t: report_html(t, chrome=True, encoding="gbk", meta="gb2312")),
    "word.htm": ("text/html", report_word_html),
    "docx.docx": (DOCX, report_docx),
}


def test_every_sample_as_web_pages_and_word_files_in_one_batch(client: httpx.Client) -> None:
    """Reports collected from portals come zipped as .htm and .docx: every sample with a truth file,
    as a GBK page with portal chrome, as Word's web-page export and as .docx (and one .docx in
    another writer's member order), parses to its truth."""
    truths = {
        p.name.removesuffix(".truth.json"): json.loads(p.read_text("utf-8"))
        for p in SAMPLES.glob("*.truth.json")
    }
    assert len(truths) >= 14
    archive = io.BytesIO()
    expected: dict[str, tuple[str, dict[str, Any]]] = {}
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, truth in truths.items():
            for suffix, (media_type, render) in RENDERINGS.items():
                member = f"年报/{name}-{suffix}"
                zf.writestr(member, render(truth))
                expected[member] = (media_type, truth)
        zf.writestr("年报/huaian_2024-wps.docx", rels_first(report_docx(truths["huaian_2024"])))
        expected["年报/huaian_2024-wps.docx"] = (DOCX, truths["huaian_2024"])
    accepted = post_batch(client, ("portal.zip", archive.getvalue()))
    jobs = by_name(wait_batch(client, accepted["id"], timeout=300))
    assert set(jobs) == set(expected)
    for member, job in jobs.items():
        assert job["state"] == "succeeded", (member, job)
        media_type, truth = expected[member]
        body = client.get(f"/v1/jobs/{job['id']}/result").json()
        assert_result_equals_truth(body, truth, media_type, member)
