"""POST/GET /v1/batches in-process (TestClient) against the real Redis and S3; expansion by the worker
is in integration/test_batches.py."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_api
from gongkai.stack import Stack
from storage import ArchiveEntry, BatchStore, JobStore, ObjectStore
from storage.batches import new_batch_id
from tests.api.conftest import Caller
from tests.conftest import TEST_TENANT, make_job
from tests.storage.zipfiles import make_zip
from workers import exports

ARCHIVE_LIMIT = 4000


@pytest.fixture
def client(services: Stack, caller: Caller) -> Iterator[TestClient]:
    settings = services.settings.model_copy(
        update={"max_upload_bytes": 1000, "max_archive_bytes": ARCHIVE_LIMIT}
    )
    with TestClient(create_api(settings), headers=caller.headers) as c:
        yield c


def test_archives_are_told_by_their_bytes_not_their_names(client: TestClient) -> None:
    files = [
        ("files", ("really-a-zip.txt", make_zip([("a.txt", "甲".encode())]))),
        ("files", ("not-a-zip.zip", "乙".encode())),
    ]
    response = client.post("/v1/batches", files=files)
    assert response.status_code == 202, response.text
    body = response.json()
    assert [j["filename"] for j in body["jobs"]] == ["not-a-zip.zip"]
    assert [(a["id"], a["filename"], a["state"]) for a in body["archives"]] == [
        ("0", "really-a-zip.txt", "expanding")
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
