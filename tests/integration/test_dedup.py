"""Dedup, Idempotency-Key and batch re-runs through the real service (worker, API, Redis, S3).

The extraction counter (`storage.dedup.extractions`) counts documents the worker really extracted:
it staying put proves a duplicate was not processed again.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from gongkai.stack import Stack
from storage import ObjectStore
from storage.dedup import extractions
from storage.objects import export_key
from tests.conftest import example_reports
from tests.integration.conftest import Upload, WaitFor
from tests.integration.test_batches import by_name, export, wait_batch
from tests.storage.zipfiles import make_zip
from workers.exports import artifact


def post_batch(client: httpx.Client, *files: tuple[str, bytes]) -> dict[str, Any]:
    """POST /v1/batches, not forced (test_batches.post_batch forces)."""
    response = client.post("/v1/batches", files=[("files", f) for f in files])
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def store(stack: Stack) -> Iterator[redis.Redis[str]]:
    client: redis.Redis[str] = redis.Redis.from_url(stack.settings.redis_url, decode_responses=True)
    yield client
    client.close()


def test_a_reupload_reuses_the_result_and_force_processes_again(
    client: httpx.Client, upload: Upload, wait_for: WaitFor, store: redis.Redis[str]
) -> None:
    data = example_reports()[0].read_bytes() + f"\n{uuid.uuid4()}\n".encode()  # bytes never seen before
    [first] = upload(("report.txt", data), force=False)
    assert first["duplicate_of"] is None
    wait_for([first["id"]])
    before = extractions(store)

    [again] = upload(("renamed.txt", data), force=False)
    assert (again["state"], again["duplicate_of"]) == ("succeeded", first["id"])
    [record] = wait_for([again["id"]])
    assert record["attempts"] == 0 and record["duplicate_of"] == first["id"]
    reused = client.get(f"/v1/jobs/{again['id']}/result").json()
    original = client.get(f"/v1/jobs/{first['id']}/result").json()
    assert reused["document"] == original["document"] and reused["source"]["filename"] == "renamed.txt"
    assert extractions(store) == before

    response = client.post("/v1/documents", files=[("files", ("report.txt", data))], data={"force": "true"})
    [forced] = response.json()["jobs"]
    assert (forced["state"], forced["duplicate_of"]) == ("queued", None)
    [record] = wait_for([forced["id"]])
    assert record["state"] == "succeeded" and record["attempts"] == 1 and record["duplicate_of"] is None
    assert extractions(store) == before + 1


def test_reposting_an_archive_creates_no_new_processing(
    client: httpx.Client, store: redis.Redis[str]
) -> None:
    reports = example_reports()
    unique = ("unique.txt", reports[4].read_bytes() + f"\n{uuid.uuid4()}\n".encode())  # never seen before
    data = make_zip([*((p.name, p.read_bytes()) for p in reports[1:4]), unique])
    first = wait_batch(client, post_batch(client, ("reports.zip", data))["id"])
    assert first["counts"]["succeeded"] == 4
    before = extractions(store)

    second = wait_batch(client, post_batch(client, ("same-again.zip", data))["id"])
    assert extractions(store) == before  # not one member extracted again
    assert second["counts"] == {"queued": 0, "running": 0, "succeeded": 4, "failed": 0, "cancelled": 0}
    earlier = by_name(first)
    for name, job in by_name(second).items():
        record = client.get(f"/v1/jobs/{job['id']}").json()
        assert record["duplicate_of"] is not None, name
        assert client.get(f"/v1/jobs/{record['duplicate_of']}").json()["sha256"] == record["sha256"]
        assert job["duplicate_of"] == record["duplicate_of"]  # also in the batch's rows
    assert by_name(second)["unique.txt"]["duplicate_of"] == earlier["unique.txt"]["id"]
    assert len(export(client, second["id"], "jsonl").splitlines()) == 4

    forced = client.post("/v1/batches", files=[("files", ("forced.zip", data))], params={"force": "true"})
    batch = wait_batch(client, forced.json()["id"])
    assert extractions(store) == before + 4
    assert all(j["duplicate_of"] is None and j["state"] == "succeeded" for j in batch["jobs"])


def test_an_idempotency_key_makes_one_batch_even_for_concurrent_requests(client: httpx.Client) -> None:
    files = [("files", (f"{i}.txt", os.urandom(64))) for i in range(3)]
    key = f"batch-{uuid.uuid4().hex}"
    answers: list[httpx.Response] = []

    def post() -> None:
        with httpx.Client(base_url=str(client.base_url), headers=client.headers, timeout=30) as own:
            answers.append(own.post("/v1/batches", files=files, headers={"Idempotency-Key": key}))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status_code for a in answers] == [202] * 4, [a.text for a in answers]
    bodies = [a.json() for a in answers]
    assert len({b["id"] for b in bodies}) == 1  # one batch, the others got its answer
    assert len({tuple(j["id"] for j in b["jobs"]) for b in bodies}) == 1
    batch = wait_batch(client, bodies[0]["id"])
    assert batch["total"] == 3

    retry = client.post("/v1/batches", files=files, headers={"Idempotency-Key": key})
    assert retry.status_code == 202 and retry.json() == bodies[0]
    other = client.post("/v1/batches", files=files[:2], headers={"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


def rerun(client: httpx.Client, batch_id: str, which: str) -> dict[str, Any]:
    response = client.post(f"/v1/batches/{batch_id}/rerun", params={"which": which})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def test_rerunning_the_failed_jobs_of_a_finished_batch(client: httpx.Client, stack: Stack) -> None:
    report = example_reports()[0]
    broken = ("broken.bin", b"\x00\x01\x02" * 300 + os.urandom(8))
    accepted = post_batch(
        client,
        broken,
        ("good.txt", report.read_bytes() + b"\n"),  # new bytes: processed, succeeds
        ("refused.zip", make_zip([("../evil.txt", b"evil")])),
    )
    batch = wait_batch(client, accepted["id"])
    jobs = by_name(batch)
    assert jobs["broken.bin"]["state"] == "failed" and jobs["good.txt"]["state"] == "succeeded"
    export(client, batch["id"], "csv")  # the exports of the batch as it was
    objects = ObjectStore(stack.settings)
    built = objects.client.stat_object(
        objects.results, export_key(batch["id"], artifact("csv"))
    ).last_modified

    assert rerun(client, batch["id"], "needs_review")["requeued"] == []  # nothing flagged
    stack.stop("worker")  # the re-queued job waits, so the reopened batch can be seen
    try:
        again = rerun(client, batch["id"], "failed")
        # the unsafe member has nothing to re-run: only the broken document is queued again
        assert again["requeued"] == [jobs["broken.bin"]["id"]]
        reopened = client.get(f"/v1/batches/{batch['id']}").json()
        assert not reopened["finished"] and reopened["counts"]["queued"] == 1
        assert objects.export_size(batch["id"], "csv") is None  # the stale exports are gone
        assert (
            client.get(f"/v1/batches/{batch['id']}/results").json()["error"]["code"] == "batch_not_finished"
        )
    finally:
        stack.start("worker")
    finished = wait_batch(client, batch["id"])
    assert finished["counts"] == batch["counts"]
    record = client.get(f"/v1/jobs/{jobs['broken.bin']['id']}").json()
    assert record["attempts"] == 2 and record["state"] == "failed" and record["duplicate_of"] is None
    assert record["error"]["code"] == "unsupported_type"
    export(client, batch["id"], "csv")
    rebuilt = objects.client.stat_object(
        objects.results, export_key(batch["id"], artifact("csv"))
    ).last_modified
    assert rebuilt is not None and built is not None and rebuilt > built


def test_rerunning_needs_review_jobs_and_unknown_batches(client: httpx.Client, stack: Stack) -> None:
    from tests.conftest import SHARED

    flagged = (SHARED / "samples" / "huaian_2024_raw.txt").read_bytes() + b"\n\n"
    batch = wait_batch(client, post_batch(client, ("flagged.txt", flagged))["id"])
    [job] = batch["jobs"]
    assert job["state"] == "succeeded" and job["needs_review"] is True
    assert client.get(f"/v1/jobs/{job['id']}").json()["needs_review"] is True
    assert rerun(client, batch["id"], "failed")["requeued"] == []
    assert rerun(client, batch["id"], "both")["requeued"] == [job["id"]]
    deadline = time.monotonic() + 60
    while client.get(f"/v1/jobs/{job['id']}").json()["attempts"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    wait_batch(client, batch["id"])
    assert client.get(f"/v1/jobs/{job['id']}").json()["needs_review"] is True
    missing = client.post("/v1/batches/nope/rerun")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "batch_not_found"
    assert client.post(f"/v1/batches/{batch['id']}/rerun", params={"which": "all"}).status_code == 422
