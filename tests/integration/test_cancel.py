"""Cancelling through the running service: a queued job never runs, a running one stops at its next
page, a finished one is refused, a batch is cancelled whole."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from gongkai.stack import Stack
from storage import JobStore
from tests.conftest import example_reports
from tests.integration.conftest import Upload, WaitFor
from tests.integration.test_scan_upload import _scanned_tables_pdf


def test_a_queued_job_is_cancelled_and_never_runs(
    stack: Stack, upload: Upload, wait_for: WaitFor, client: httpx.Client
) -> None:
    stack.stop("worker")  # nothing consumes: the jobs wait in the queue
    try:
        cancelled, later = upload(*example_reports()[:2])
        response = client.post(f"/v1/jobs/{cancelled['id']}/cancel")
        assert response.status_code == 200 and response.json()["state"] == "cancelled"
        assert client.post(f"/v1/jobs/{cancelled['id']}/cancel").status_code == 200  # idempotent
    finally:
        stack.start("worker")
    # The queue is first in, first out: once the later job ran, the cancelled one's message was taken.
    [done] = wait_for([later["id"]])
    assert done["state"] == "succeeded"
    record = client.get(f"/v1/jobs/{cancelled['id']}").json()
    assert (record["state"], record["attempts"], record["error"]["code"]) == ("cancelled", 0, "cancelled")
    refused = client.post(f"/v1/jobs/{later['id']}/cancel")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "job_finished"


@pytest.mark.ocr
def test_a_running_job_stops_at_its_next_page(
    upload: Upload, wait_for: WaitFor, client: httpx.Client, jobs: JobStore, tmp_path: Path
) -> None:
    [job] = upload(_scanned_tables_pdf(tmp_path))  # three OCR pages, seconds each
    deadline = time.monotonic() + 180
    while client.get(f"/v1/jobs/{job['id']}").json()["progress"]["pages_done"] < 1:
        assert time.monotonic() < deadline, "the job never got past its first page"
        time.sleep(0.05)
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202, response.text
    assert response.json()["cancel_requested"] and response.headers["retry-after"]
    [record] = wait_for([job["id"]], timeout=120)
    assert record["state"] == "cancelled" and record["attempts"] == 1
    assert record["progress"]["pages_done"] < 3  # it did not go on to the end
    assert jobs.deadline(job["id"]) is None  # off the running index: nothing for the sweeper
    assert client.get(f"/v1/jobs/{job['id']}/result").status_code == 409


def test_a_batch_is_cancelled_whole(stack: Stack, client: httpx.Client) -> None:
    stack.stop("worker")
    try:
        files = [("files", (p.name, p.read_bytes())) for p in example_reports()[:3]]
        created = client.post("/v1/batches", files=files, data={"force": "true"})
        assert created.status_code == 202
        batch_id = created.json()["id"]
        response = client.post(f"/v1/batches/{batch_id}/cancel")
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["cancelled"], body["cancelling"], body["finished"]) == (3, 0, True)
        assert body["counts"]["cancelled"] == 3 and body["counts"]["queued"] == 0
    finally:
        stack.start("worker")
    status = client.get(f"/v1/batches/{batch_id}")
    assert status.json()["finished"] and "retry-after" not in status.headers
    assert {j["state"] for j in status.json()["jobs"]} == {"cancelled"}
    export = client.get(f"/v1/batches/{batch_id}/results?format=jsonl")
    assert export.status_code == 200
    assert export.text.count('"cancelled"') >= 3
