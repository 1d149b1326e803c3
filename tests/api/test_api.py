"""The API in-process (TestClient) against the real Redis and S3; the worker side is in integration/."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_api
from gongkai.settings import REPO_ROOT, Settings
from gongkai.stack import Stack
from storage import JobState, JobStore, ObjectStore
from tests.api.conftest import Caller
from tests.conftest import example_reports, make_job
from workers import pipeline

LIMIT = 1000


@pytest.fixture
def api_settings(services: Stack) -> Settings:
    return services.settings.model_copy(update={"max_upload_bytes": LIMIT, "max_files_per_request": 3})


def test_upload_records_and_queues_one_job_per_file(client: TestClient, jobs: JobStore) -> None:
    response = client.post(
        "/v1/documents", files=[("files", ("a.txt", "甲".encode())), ("files", ("b.txt", "乙".encode()))]
    )
    assert response.status_code == 202
    body = response.json()["jobs"]
    assert [j["filename"] for j in body] == ["a.txt", "b.txt"]
    assert response.headers["location"] == body[0]["location"] == f"/v1/jobs/{body[0]['id']}"
    for accepted in body:
        job = jobs.get(accepted["id"])
        assert job.sha256 == accepted["sha256"] and job.size == 3
        assert job.state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED)
    status = client.get(body[0]["location"])
    assert status.status_code == 200
    assert set(status.json()) >= {"state", "stage", "progress", "created", "attempts", "error", "links"}


def test_same_content_is_stored_once(client: TestClient) -> None:
    a = client.post("/v1/documents", files=[("files", ("x.txt", b"same bytes"))]).json()["jobs"][0]
    b = client.post("/v1/documents", files=[("files", ("y.txt", b"same bytes"))]).json()["jobs"][0]
    assert a["sha256"] == b["sha256"] and a["id"] != b["id"]


def test_oversize_file_refuses_the_whole_request(client: TestClient, jobs: JobStore) -> None:
    before = len(jobs.redis.keys("gongkai:job:*"))
    files = [("files", ("ok.txt", b"fine")), ("files", ("big.txt", b"x" * (LIMIT + 1)))]
    response = client.post("/v1/documents", files=files)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert "big.txt" in response.json()["error"]["message"]
    assert len(jobs.redis.keys("gongkai:job:*")) == before  # no job for ok.txt either


def test_oversize_request_is_refused_before_parsing(client: TestClient) -> None:
    body = b"x" * (LIMIT * 3 + 1024 * 1024 + 1)
    response = client.post(
        "/v1/documents", content=body, headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_no_files_and_too_many_files(client: TestClient) -> None:
    assert client.post("/v1/documents").json()["error"]["code"] == "no_files"
    files = [("files", (f"{i}.txt", b"x")) for i in range(4)]
    response = client.post("/v1/documents", files=files)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_files"


def test_unknown_job_is_404(client: TestClient) -> None:
    for path in ("", "/result", "/text", "/original"):
        response = client.get(f"/v1/jobs/nope{path}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_not_found"


def test_result_of_an_unfinished_job_is_409_with_retry_after(client: TestClient, jobs: JobStore) -> None:
    job = jobs.create(make_job())  # recorded, never enqueued: stays queued
    status = client.get(f"/v1/jobs/{job.id}")
    assert status.headers["retry-after"] == "1"
    response = client.get(f"/v1/jobs/{job.id}/result")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_not_finished"
    assert response.headers["retry-after"] == "1"
    jobs.fail(job.id, "empty_file", "the file is empty (0 bytes)")
    failed = client.get(f"/v1/jobs/{job.id}")
    assert "retry-after" not in failed.headers
    assert failed.json()["error"] == {"code": "empty_file", "message": "the file is empty (0 bytes)"}
    assert client.get(f"/v1/jobs/{job.id}/text").json()["error"]["code"] == "job_failed"


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready == {"status": "ok", "checks": {"redis": "ok", "s3": "ok"}}
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/documents", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result"} <= set(paths)


def test_readyz_reports_an_unreachable_s3(services: Stack) -> None:
    dead = Settings.model_validate(services.settings.model_dump() | {"s3_endpoint": "127.0.0.1:9"})
    with TestClient(create_api(dead)) as c:
        response = c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "ok" and response.json()["checks"]["s3"] != "ok"


def test_undeclared_oversize_body_is_refused_while_it_streams(client: TestClient, jobs: JobStore) -> None:
    """A chunked body has no Content-Length to check up front: the bytes are counted as they come."""
    before = len(jobs.redis.keys("gongkai:job:*"))

    def chunks() -> Iterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n\r\n'
        for _ in range(100):  # far past the request limit (3 files of LIMIT bytes + 1 MiB)
            yield b"x" * (64 * 1024)
        yield b"\r\n--x--\r\n"

    response = client.post(
        "/v1/documents", content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert len(jobs.redis.keys("gongkai:job:*")) == before


# -- dedup and Idempotency-Key (the worker side is in integration/test_dedup.py) ----------------------


def processed(jobs: JobStore, objects: ObjectStore, data: bytes) -> str:
    """A job of these bytes run through the real pipeline in process (no worker here)."""
    stored = objects.put_original(io.BytesIO(data), max_bytes=len(data))
    job = jobs.create(make_job(sha256=stored.sha256, size=stored.size, original_key=stored.key))
    assert pipeline.run_job(job.id, pipeline.Services(jobs=jobs, objects=objects)) == JobState.SUCCEEDED
    return job.id


def test_an_upload_of_processed_bytes_takes_the_earlier_result(
    services: Stack, jobs: JobStore, objects: ObjectStore, caller: Caller
) -> None:
    data = example_reports()[3].read_bytes() + f"\n{uuid.uuid4()}\n".encode()  # never seen before
    earlier = processed(jobs, objects, data)
    settings = services.settings.model_copy(update={"max_files_per_request": 3})
    with TestClient(create_api(settings), headers=caller.headers) as c:
        [job] = c.post("/v1/documents", files=[("files", ("copy.txt", data))]).json()["jobs"]
        assert (job["state"], job["duplicate_of"]) == ("succeeded", earlier)
        status = c.get(f"/v1/jobs/{job['id']}").json()
        assert status["attempts"] == 0 and status["duplicate_of"] == earlier  # no worker touched it
        assert status["needs_review"] is False
        result = c.get(f"/v1/jobs/{job['id']}/result").json()
        assert result["job_id"] == job["id"] and result["source"]["filename"] == "copy.txt"
        assert result["document"] == objects.get_result(earlier)["document"]

        # before the forced uploads: once the stack's worker has run one, it is the bytes' latest outcome
        batch = c.post(
            "/v1/batches", files=[("files", ("b.txt", data)), ("files", ("new.txt", os.urandom(40)))]
        )
        dup, new = batch.json()["jobs"]
        assert (dup["state"], dup["duplicate_of"]) == ("succeeded", earlier)
        assert (new["state"], new["duplicate_of"]) == ("queued", None)
        counts = c.get(f"/v1/batches/{batch.json()['id']}").json()["counts"]
        assert counts["succeeded"] == 1 and counts["queued"] + counts["running"] + counts["failed"] == 1

        for forced in (
            c.post("/v1/documents", files=[("files", ("f.txt", data))], data={"force": "true"}),
            c.post("/v1/documents", files=[("files", ("f.txt", data))], params={"force": "true"}),
        ):
            [again] = forced.json()["jobs"]
            assert (again["state"], again["duplicate_of"]) == ("queued", None)
            assert jobs.get(again["id"]).force


def test_an_idempotency_key_replays_the_first_answer(client: TestClient, jobs: JobStore) -> None:
    key = f"retry-{uuid.uuid4().hex}"
    files = [("files", ("a.txt", os.urandom(30))), ("files", ("b.txt", os.urandom(30)))]
    first = client.post("/v1/documents", files=files, headers={"Idempotency-Key": key})
    before = len(jobs.redis.keys("gongkai:job:*"))
    retry = client.post("/v1/documents", files=files, headers={"Idempotency-Key": key})
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json() and retry.headers["location"] == first.headers["location"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert len(jobs.redis.keys("gongkai:job:*")) == before  # no new job

    other = client.post("/v1/documents", files=files[:1], headers={"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    forced = client.post(
        "/v1/documents", files=files, data={"force": "true"}, headers={"Idempotency-Key": key}
    )
    assert forced.json()["error"]["code"] == "idempotency_key_reused"  # same files, other options
    hooked = client.post(
        "/v1/documents",
        files=files,
        data={"callback_url": "https://example.com/hook"},
        headers={"Idempotency-Key": key},
    )
    assert hooked.json()["error"]["code"] == "idempotency_key_reused"  # another callback_url
    batch = client.post("/v1/batches", files=files, headers={"Idempotency-Key": key})
    assert batch.json()["error"]["code"] == "idempotency_key_reused"  # same files, other route

    batch_key = f"batch-{uuid.uuid4().hex}"
    one = client.post("/v1/batches", files=files, headers={"Idempotency-Key": batch_key})
    two = client.post("/v1/batches", files=files, headers={"Idempotency-Key": batch_key})
    assert one.status_code == two.status_code == 202 and one.json()["id"] == two.json()["id"]
    assert [j["id"] for j in one.json()["jobs"]] == [j["id"] for j in two.json()["jobs"]]

    bad = client.post("/v1/documents", files=files, headers={"Idempotency-Key": "x" * 300})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_idempotency_key"


def test_a_refused_request_does_not_use_up_its_key(client: TestClient) -> None:
    key = f"refused-{uuid.uuid4().hex}"
    big = client.post(
        "/v1/documents", files=[("files", ("big.txt", b"x" * (LIMIT + 1)))], headers={"Idempotency-Key": key}
    )
    assert big.status_code == 413
    ok = client.post(
        "/v1/documents", files=[("files", ("ok.txt", b"fine"))], headers={"Idempotency-Key": key}
    )
    assert ok.status_code == 202


def test_the_served_app_loads_no_extractor_and_keeps_what_it_loaded_out_of_the_collector() -> None:
    code = (
        "import gc, json, sys, api.main; print(json.dumps([gc.get_freeze_count(), len(gc.get_objects()),"
        " sorted(m for m in ('cv2', 'pdfplumber', 'pypdfium2', 'pytesseract') if m in sys.modules)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    frozen, scanned, extractors = json.loads(done.stdout)
    # full collections over the app's ≈ 145k startup objects stalled status polls (bench_latency p99)
    assert frozen > 10 * scanned
    assert extractors == []  # OCR and PDF libraries are the workers' (≈ 30 MB of the API's RSS)
