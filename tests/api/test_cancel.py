"""POST /v1/jobs/{id}/cancel and /v1/batches/{id}/cancel in-process against the real Redis and S3.

A Redis database of its own, which no worker consumes: queued jobs stay queued until cancelled.
A running job really stopping at its next page is in tests/integration/test_recovery.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gongkai.settings import Settings
from gongkai.stack import Stack
from storage import BatchStore, JobState, JobStore
from tests.api.conftest import own_database


@pytest.fixture
def api_settings(services: Stack) -> Settings:
    return own_database(services.settings, 7)


def _upload(client: TestClient, n: int = 1) -> list[str]:
    files = [("files", (f"{i}.txt", f"报告{i}".encode())) for i in range(n)]
    response = client.post("/v1/documents", files=files)
    assert response.status_code == 202
    return [j["id"] for j in response.json()["jobs"]]


def test_cancel_a_queued_job_then_again(client: TestClient, jobs: JobStore) -> None:
    [job_id] = _upload(client)
    response = client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "cancelled" and body["error"]["code"] == "cancelled" and body["finished"]
    assert "retry-after" not in response.headers
    assert client.post(f"/v1/jobs/{job_id}/cancel").json()["state"] == "cancelled"  # idempotent
    assert client.get(f"/v1/jobs/{job_id}").json()["state"] == "cancelled"
    assert client.get(f"/v1/jobs/{job_id}/result").status_code == 409
    assert jobs.start_attempt(job_id) == 0  # its message, if a worker still got it, runs nothing


def test_cancel_a_running_job_asks_it_to_stop(client: TestClient, jobs: JobStore) -> None:
    [job_id] = _upload(client)
    jobs.start_attempt(job_id)  # as a worker does
    response = client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 202
    assert response.json()["state"] == "running" and response.json()["cancel_requested"]
    assert response.headers["retry-after"]
    assert jobs.cancel_requested(job_id)


def test_cancel_a_finished_job_is_refused(client: TestClient, jobs: JobStore) -> None:
    [job_id] = _upload(client)
    jobs.start_attempt(job_id)
    jobs.fail(job_id, "not_a_report", "no")
    response = client.post(f"/v1/jobs/{job_id}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_finished"
    assert jobs.get(job_id).state == JobState.FAILED
    assert client.post("/v1/jobs/nope/cancel").status_code == 404


def test_cancel_a_batch(client: TestClient, jobs: JobStore) -> None:
    files = [("files", (f"{i}.txt", f"报告{i}".encode())) for i in range(3)]
    created = client.post("/v1/batches", files=files)
    assert created.status_code == 202
    batch_id = created.json()["id"]
    queued, b, c = (j["id"] for j in created.json()["jobs"])
    jobs.start_attempt(b)
    jobs.start_attempt(c)
    jobs.succeed(c, result_key="r", media_type=None)

    response = client.post(f"/v1/batches/{batch_id}/cancel")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["cancelled"], body["cancelling"], body["finished"]) == (1, 1, False)
    assert body["counts"] == {"queued": 0, "running": 1, "succeeded": 1, "failed": 0, "cancelled": 1}
    jobs.mark_cancelled(b)  # the worker reaches its next page
    status = client.get(f"/v1/batches/{batch_id}").json()
    assert status["finished"] and status["counts"]["cancelled"] == 2
    again = client.post(f"/v1/batches/{batch_id}/cancel").json()
    assert (again["cancelled"], again["cancelling"], again["finished"]) == (0, 0, True)
    assert BatchStore(jobs.redis).get(batch_id).cancelled and jobs.get(queued).state == JobState.CANCELLED
    assert client.post("/v1/batches/nope/cancel").status_code == 404
