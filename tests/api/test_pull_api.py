"""GET /export, /deliveries and the /v1/results feed in-process (TestClient) against the real Redis
and S3; the whole flow with the worker is in integration/test_pull.py."""

from __future__ import annotations

import io

import httpx
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from storage import ArchiveEntry, BatchStore, JobStore
from storage.batches import new_batch_id
from tests.conftest import TEST_TENANT, make_job


def finished_batch(jobs: JobStore, code: str = "corrupt_file") -> str:
    batch_id = new_batch_id()
    BatchStore(jobs.redis).create(
        batch_id, files=1, archives=[], callback_url="https://example.com/h", tenant=TEST_TENANT
    )
    job = make_job(batch_id=batch_id, filename="坏.pdf")
    jobs.create_new(job)
    jobs.fail(job.id, code, "broken")
    return batch_id


def test_export_in_every_format_and_presigned(client: TestClient, jobs: JobStore) -> None:
    batch_id = finished_batch(jobs)
    long_csv = client.get(f"/v1/batches/{batch_id}/export", params={"format": "csv"})
    assert long_csv.status_code == 200 and long_csv.headers["content-type"].startswith("text/csv")
    assert f"batch-{batch_id}.long.csv" in long_csv.headers["content-disposition"]
    header, row = long_csv.text.splitlines()
    assert header.split(",")[:4] == ["job_id", "filename", "source_path", "state"]
    assert "corrupt_file" in row and "坏.pdf" in row
    wide = client.get(f"/v1/batches/{batch_id}/export", params={"format": "csv", "table": "wide"})
    assert wide.text == client.get(f"/v1/batches/{batch_id}/results", params={"format": "csv"}).text
    xlsx = client.get(f"/v1/batches/{batch_id}/export", params={"format": "xlsx"})
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert [len(list(book[s].values)) for s in ("long", "wide")] == [2, 2]

    redirect = client.get(
        f"/v1/batches/{batch_id}/export",
        params={"format": "parquet", "table": "long", "redirect": True},
        follow_redirects=False,
    )
    assert redirect.status_code == 307
    presigned = httpx.get(redirect.headers["location"])
    assert presigned.status_code == 200 and presigned.content[:4] == b"PAR1"

    bad = client.get(f"/v1/batches/{batch_id}/export", params={"format": "csv", "table": "tall"})
    assert bad.status_code == 422
    assert client.get("/v1/batches/nope/export").json()["error"]["code"] == "batch_not_found"


def test_an_unfinished_batch_has_no_export_yet(client: TestClient, jobs: JobStore) -> None:
    batch_id = new_batch_id()
    entry = ArchiveEntry(id="0", filename="a.zip", sha256="a" * 64, size=1, original_key="k")
    BatchStore(jobs.redis).create(batch_id, files=1, archives=[entry], tenant=TEST_TENANT)
    response = client.get(f"/v1/batches/{batch_id}/export", params={"format": "xlsx"})
    assert response.status_code == 409 and response.headers["retry-after"]


def test_deliveries_of_a_batch_start_empty(client: TestClient, jobs: JobStore) -> None:
    batch_id = finished_batch(jobs)
    body = client.get(f"/v1/batches/{batch_id}/deliveries").json()
    assert body == {"callback_url": "https://example.com/h", "deliveries": []}
    links = client.get(f"/v1/batches/{batch_id}").json()["links"]
    assert links["deliveries"] == f"/v1/batches/{batch_id}/deliveries"
    assert links["export_xlsx"] == f"/v1/batches/{batch_id}/export?format=xlsx"
    assert client.get("/v1/jobs/nope/deliveries").status_code == 404


def test_the_feed_pages_with_its_cursor(client: TestClient, jobs: JobStore) -> None:
    since = None
    while (page := client.get("/v1/results", params={"since": since} if since else {}).json())["results"]:
        since = page["next"]
    finished = [make_job() for _ in range(3)]
    for job in finished:
        jobs.create(job)
        jobs.start_attempt(job.id)
    jobs.succeed(finished[0].id, result_key="k", media_type="text/plain")
    jobs.fail(finished[1].id, "empty_file", "empty")
    jobs.succeed(finished[2].id, result_key="k", media_type="text/plain")
    seen = []
    for _ in range(3):
        page = client.get("/v1/results", params={"since": since, "limit": 1}).json()
        [entry] = page["results"]
        seen.append((entry["job_id"], entry["state"], entry["result"], (entry["error"] or {}).get("code")))
        since = page["next"]
    assert seen == [
        (finished[0].id, "succeeded", f"/v1/jobs/{finished[0].id}/result", None),
        (finished[1].id, "failed", None, "empty_file"),
        (finished[2].id, "succeeded", f"/v1/jobs/{finished[2].id}/result", None),
    ]
    assert client.get("/v1/results", params={"since": since}).json() == {"results": [], "next": since}


def test_openapi_lists_the_pull_routes(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {
        "/v1/batches/{batch_id}/export",
        "/v1/batches/{batch_id}/results",
        "/v1/batches/{batch_id}/deliveries",
        "/v1/jobs/{job_id}/deliveries",
        "/v1/results",
    } <= paths
