"""Nothing is lost when the worker, the API and Redis restart between upload and poll."""

from __future__ import annotations

import httpx

from gongkai.stack import Stack
from tests.conftest import example_reports
from tests.integration.conftest import Upload, WaitFor


def test_restart_everything_between_upload_and_poll(
    stack: Stack, upload: Upload, wait_for: WaitFor, client: httpx.Client
) -> None:
    stack.stop("worker")  # no consumer: the jobs wait in the Redis queue
    jobs = upload(*example_reports())
    for job in jobs:
        status = client.get(f"/v1/jobs/{job['id']}")
        assert status.json()["state"] == "queued"
        assert status.headers["retry-after"] == "1"
        assert client.get(f"/v1/jobs/{job['id']}/result").status_code == 409

    stack.stop("api")
    stack.stop("redis")  # SIGTERM: redis writes its AOF; queue and job records come back from it
    stack.start("redis")
    stack.start("api")
    stack.start("worker")

    records = wait_for([j["id"] for j in jobs])
    assert len(records) == len(jobs)
    for record in records:
        assert record["attempts"] == 1
        assert "retry-after" not in client.get(f"/v1/jobs/{record['id']}").headers
        assert record["state"] == "succeeded", record["error"]


def test_readyz_fails_while_redis_is_down(stack: Stack, client: httpx.Client) -> None:
    assert client.get("/readyz").status_code == 200
    stack.stop("redis")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["s3"] == "ok" and checks["redis"] != "ok"
        refused = client.post("/v1/documents", files=[("files", ("a.txt", "报告".encode()))])
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "service_unavailable"
        assert refused.headers["retry-after"]
    finally:
        stack.start("redis")
    assert client.get("/readyz").status_code == 200
