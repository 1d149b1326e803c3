"""POST/GET /v1/batches in-process (TestClient) against the real Redis and S3; expansion by the worker
is in integration/test_batches.py."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_api
from gongkai.stack import Stack
from storage import ArchiveEntry, BatchStore, JobStore
from storage.batches import new_batch_id
from tests.storage.zipfiles import make_zip

ARCHIVE_LIMIT = 4000


@pytest.fixture
def client(services: Stack) -> Iterator[TestClient]:
    settings = services.settings.model_copy(
        update={"max_upload_bytes": 1000, "max_archive_bytes": ARCHIVE_LIMIT}
    )
    with TestClient(create_api(settings)) as c:
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
    batches.create(batch_id, files=1, archives=[entry])  # never queued: stays expanding
    status = client.get(f"/v1/batches/{batch_id}")
    assert status.status_code == 200 and status.headers["retry-after"]
    body = status.json()
    assert (body["finished"], body["total"], body["progress"], body["archives_pending"]) == (False, 0, 0.0, 1)
    results = client.get(f"/v1/batches/{batch_id}/results", params={"format": "csv"})
    assert results.status_code == 409 and results.headers["retry-after"]
    assert results.json()["error"]["code"] == "batch_not_finished"


def test_openapi_lists_the_batch_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/batches", "/v1/batches/{batch_id}", "/v1/batches/{batch_id}/results"} <= set(paths)
