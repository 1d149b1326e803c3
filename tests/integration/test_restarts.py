"""Nothing is lost when the worker, the API and Redis restart between upload and poll."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from gongkai.stack import Stack
from storage import JobStore
from tests.conftest import example_reports
from tests.integration.conftest import Upload, WaitFor
from tests.integration.test_scan_upload import _scanned_tables_pdf


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
        assert refused.json()["error"]["code"] == "storage_unavailable"
        assert refused.headers["retry-after"]
    finally:
        stack.start("redis")
    assert client.get("/readyz").status_code == 200


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.ocr
def test_a_job_whose_worker_process_dies_is_run_again_and_the_loss_counted(
    stack: Stack, upload: Upload, wait_for: WaitFor, client: httpx.Client, jobs: JobStore, tmp_path: Path
) -> None:
    [job] = upload(_scanned_tables_pdf(tmp_path))  # three OCR pages, seconds each
    deadline = time.monotonic() + 180
    while client.get(f"/v1/jobs/{job['id']}").json()["progress"]["pages_done"] < 1:
        assert time.monotonic() < deadline, "the job never got past its first page"
        time.sleep(0.05)
    worker = stack.pid("worker")
    assert worker is not None
    for child in _children(worker):  # the pool processes (an OOM kill looks the same)
        os.kill(child, signal.SIGKILL)

    [record] = wait_for([job["id"]], timeout=300)
    assert record["state"] == "succeeded", record["error"]
    assert record["attempts"] == 2
    assert jobs.get(job["id"]).lost_attempts == 1
