"""Bad inputs end as failed jobs with distinct codes, and the worker keeps serving."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.conftest import example_reports
from tests.integration.conftest import Upload, WaitFor

RECIPE = "红烧肉的做法：五花肉切块，冷水下锅焯水，加冰糖炒色，加酱油和水炖一小时。\n"
NOT_A_REPORT = ("菜谱.txt", RECIPE.encode() * 20)


def test_bad_inputs_fail_with_distinct_codes_then_a_report_still_works(
    upload: Upload, wait_for: WaitFor, client: httpx.Client
) -> None:
    cases = [("empty.txt", b""), ("blob.bin", os.urandom(4096).replace(b"%PDF", b"....")), NOT_A_REPORT]
    expected = ["empty_file", "unsupported_type", "not_a_report"]
    jobs = upload(*cases)
    records = wait_for([j["id"] for j in jobs])
    codes = [r["error"]["code"] if r["error"] else None for r in records]
    assert [r["state"] for r in records] == ["failed"] * len(cases)
    assert codes == expected
    messages = [r["error"]["message"] for r in records]
    assert all(messages) and len(set(messages)) == len(messages)
    for record in records:
        assert client.get(f"/v1/jobs/{record['id']}/result").status_code == 409

    # The worker survived and serves the next job.
    [job] = upload(example_reports()[0])
    [record] = wait_for([job["id"]])
    assert record["state"] == "succeeded", record["error"]


def test_api_errors(client: httpx.Client) -> None:
    missing = client.get("/v1/jobs/0123456789abcdef")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "job_not_found"
    assert client.get("/v1/jobs/0123456789abcdef/result").status_code == 404
    no_files = client.post("/v1/documents", data={"x": "1"})
    assert no_files.status_code == 400
    assert no_files.json()["error"]["code"] == "no_files"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/docs", "/openapi.json"])
def test_service_endpoints(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 200
