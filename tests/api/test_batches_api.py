"""POST/GET /v1/batches in-process (TestClient) against the real Redis and S3; expansion by the worker
is in integration/test_batches.py."""

from __future__ import annotations

import gzip
import json
import random
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gongkai.settings import Settings
from gongkai.stack import Stack
from storage import ArchiveEntry, BatchStore, JobStore, ObjectStore
from storage.batches import new_batch_id
from tests.conftest import TEST_TENANT, make_job
from tests.storage.archive_files import make_tar
from tests.storage.zipfiles import make_zip
from workers import exports

ARCHIVE_LIMIT = 4000


@pytest.fixture
def api_settings(services: Stack) -> Settings:
    return services.settings.model_copy(update={"max_upload_bytes": 1000, "max_archive_bytes": ARCHIVE_LIMIT})


def test_archives_are_told_by_their_bytes_not_their_names(client: TestClient) -> None:
    files = [
        ("files", ("really-a-zip.txt", make_zip([("a.txt", "甲".encode())]))),
        ("files", ("not-a-zip.zip", "乙".encode())),
        ("files", ("really-a-tar.pdf", make_tar([("a.txt", "丙".encode())])[:2048])),  # no record padding
        ("files", ("really-a-tgz", make_tar([("a.txt", "丁".encode())], gz=True))),
        ("files", ("not-a-tar.tar.gz", gzip.compress("戊".encode()))),
    ]
    response = client.post("/v1/batches", files=files)
    assert response.status_code == 202, response.text
    body = response.json()
    assert [j["filename"] for j in body["jobs"]] == ["not-a-zip.zip", "not-a-tar.tar.gz"]
    assert [(a["id"], a["filename"], a["state"]) for a in body["archives"]] == [
        ("0", "really-a-zip.txt", "expanding"),
        ("2", "really-a-tar.pdf", "expanding"),
        ("3", "really-a-tgz", "expanding"),
    ]
    assert "original_key" not in body["archives"][0]
    assert response.headers["location"] == f"/v1/batches/{body['id']}"


def test_an_archive_has_its_own_size_limit(client: TestClient) -> None:
    noise = random.Random(1).randbytes(ARCHIVE_LIMIT)
    big = client.post("/v1/batches", files=[("files", ("big.zip", make_zip([("n.bin", noise)])))])
    assert big.status_code == 413 and big.json()["error"]["code"] == "file_too_large"
    small = client.post("/v1/batches", files=[("files", ("ok.zip", make_zip([("n.bin", noise[:2000])])))])
    assert small.status_code == 202  # larger than a document may be, within the archive limit


def test_an_unfinished_batch_says_when_to_come_back(client: TestClient, jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    entry = ArchiveEntry(id="0", filename="a.zip", sha256="a" * 64, size=1, original_key="k")
    batches.create(batch_id, files=1, archives=[entry], tenant=TEST_TENANT)  # never queued: stays expanding
    status = client.get(f"/v1/batches/{batch_id}")
    assert status.status_code == 200 and status.headers["retry-after"]
    body = status.json()
    assert (body["finished"], body["total"], body["progress"], body["archives_pending"]) == (False, 0, 0.0, 1)
    results = client.get(f"/v1/batches/{batch_id}/results", params={"format": "csv"})
    assert results.status_code == 409 and results.headers["retry-after"]
    assert results.json()["error"]["code"] == "batch_not_finished"


def finished_batch(jobs: JobStore) -> str:
    """A batch whose one job failed: finished, with an export of one row to build."""
    batch_id = new_batch_id()
    BatchStore(jobs.redis).create(batch_id, files=1, archives=[], tenant=TEST_TENANT)
    job = make_job(batch_id=batch_id)
    jobs.create_new(job)
    jobs.start_attempt(job.id)
    jobs.fail(job.id, "not_a_report", "no")
    return batch_id


def test_results_wait_for_the_export_being_built_instead_of_building_it_again(
    client: TestClient, jobs: JobStore, objects: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = finished_batch(jobs)
    batches = BatchStore(jobs.redis)
    token = batches.lock_export(batch_id, 60)  # the worker that finished the batch is building
    assert token is not None
    built: list[str] = []
    real_build = exports.build_exports

    def counted_build(*args: Any) -> dict[str, int]:
        built.append(args[0])
        return real_build(*args)

    monkeypatch.setattr(exports, "build_exports", counted_build)

    def worker() -> None:
        real_build(batch_id, batches, objects)
        batches.unlock_export(batch_id, token)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        response = client.get(f"/v1/batches/{batch_id}/results", params={"format": "csv"})
    finally:
        thread.join()
    assert response.status_code == 200, response.text
    assert response.text.count("\n") == 2 and "not_a_report" in response.text
    assert built == []  # served the worker's export


def test_results_build_the_export_when_nobody_did(client: TestClient, jobs: JobStore) -> None:
    batch_id = finished_batch(jobs)  # its export task never ran (lost)
    response = client.get(f"/v1/batches/{batch_id}/results", params={"format": "jsonl"})
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["error"]["code"] == "not_a_report"
    assert jobs.redis.get(f"gongkai:batch:{batch_id}:export-lock") is None  # released


def test_openapi_lists_the_batch_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/batches", "/v1/batches/{batch_id}", "/v1/batches/{batch_id}/results"} <= set(paths)
    assert "/v1/batches/{batch_id}/jobs" in paths


def mixed_batch(jobs: JobStore, size: int) -> tuple[str, list[str]]:
    """A batch of `size` jobs: every third failed (3 pages each), the others succeeded (2 pages)."""
    batch_id = new_batch_id()
    BatchStore(jobs.redis).create(batch_id, files=size, archives=[], tenant=TEST_TENANT)
    ids = []
    for i in range(size):
        job = make_job(batch_id=batch_id, source_path=f"upload.zip/dir/{i}.pdf", filename=f"dir/{i}.pdf")
        jobs.create_new(job)
        jobs.start_attempt(job.id)
        if i % 3 == 0:
            jobs.set_progress(job.id, 3, 3)
            jobs.fail(job.id, "not_a_report", f"report {i} is no report")
        else:
            jobs.set_progress(job.id, 2, 2)
            jobs.succeed(job.id, result_key="r", media_type=None)
        ids.append(job.id)
    return batch_id, ids


def test_jobs_page_by_state_and_follow_next_links(client: TestClient, jobs: JobStore) -> None:
    batch_id, ids = mixed_batch(jobs, 25)
    failed = [j for i, j in enumerate(ids) if i % 3 == 0]
    for state, expected in (
        ("failed", failed),
        ("succeeded", [j for j in ids if j not in failed]),
        (None, ids),
    ):
        seen: list[str] = []
        url: str | None = f"/v1/batches/{batch_id}/jobs?limit=4" + (f"&state={state}" if state else "")
        while url:
            page = client.get(url)
            assert page.status_code == 200, page.text
            body = page.json()
            assert body["total"] == len(expected) and body["state"] == state
            assert all(j["state"] == state for j in body["jobs"]) if state else True
            seen += [j["id"] for j in body["jobs"]]
            url = body["links"].get("next")
        assert seen == expected  # batch order, no job twice, none left out
    first = client.get(f"/v1/batches/{batch_id}/jobs", params={"state": "failed", "limit": 2}).json()
    assert [j["position"] for j in first["jobs"]] == [0, 3]  # the cursor is the batch position
    assert first["links"]["next"] == f"/v1/batches/{batch_id}/jobs?state=failed&after=3&limit=2"
    page = client.get(
        f"/v1/batches/{batch_id}/jobs", params={"state": "failed", "offset": 2, "limit": 2}
    ).json()
    assert [j["source_path"] for j in page["jobs"]] == ["upload.zip/dir/6.pdf", "upload.zip/dir/9.pdf"]
    assert page["jobs"][0]["error"]["code"] == "not_a_report"
    assert client.get(f"/v1/batches/{batch_id}/jobs", params={"state": "running"}).json()["jobs"] == []
    bad = client.get(f"/v1/batches/{batch_id}/jobs", params={"state": "lost"})
    assert bad.status_code == 422
    missing = client.get("/v1/batches/nope/jobs")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "batch_not_found"


def test_status_shows_pages_eta_and_the_first_failed_members(client: TestClient, jobs: JobStore) -> None:
    batch_id, ids = mixed_batch(jobs, 10)
    body = client.get(f"/v1/batches/{batch_id}", params={"failed_limit": 3}).json()
    assert body["pages"] == {"done": 4 * 3 + 6 * 2, "total": 4 * 3 + 6 * 2}
    assert body["counts"]["failed"] == 4 and body["finished"] and body["eta_seconds"] == 0.0
    assert body["failed_members"] == [
        {"id": ids[i], "source_path": f"upload.zip/dir/{i}.pdf", "code": "not_a_report",
         "message": f"report {i} is no report"}
        for i in (0, 3, 6)
    ]  # fmt: skip
    assert body["links"]["failed"] == f"/v1/batches/{batch_id}/jobs?state=failed"

    running = new_batch_id()
    BatchStore(jobs.redis).create(running, files=3, archives=[], tenant=TEST_TENANT)
    started = [make_job(batch_id=running) for _ in range(3)]
    for job in started:
        jobs.create_new(job)
    status = client.get(f"/v1/batches/{running}").json()
    assert status["eta_seconds"] is None and status["failed_members"] == []  # nothing ran yet
    jobs.start_attempt(started[0].id)
    jobs.succeed(started[0].id, result_key="r", media_type=None)
    eta = client.get(f"/v1/batches/{running}").json()["eta_seconds"]
    assert eta is not None and eta >= 0
