"""Tenants through the real service: another tenant's ids are unknown on EVERY route (enumerated from
the app, so a route added later is covered without touching this test), keys are checked by the
running API on each request, and Redis never holds a key."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.auth import OPEN_PATHS
from api.main import create_api
from gongkai.stack import Stack
from storage import JobStore
from storage.apikeys import ApiKeyStore
from storage.jobs import make_redis
from tests.api.routes import app_routes, fill, path_params
from tests.conftest import example_reports
from tests.integration.test_batches import post_batch, wait_batch
from tests.storage.test_apikeys import everything_in
from tests.storage.zipfiles import make_zip


@dataclass
class Tenant:
    name: str
    key: str
    key_id: str
    client: httpx.Client


@pytest.fixture
def keys(stack: Stack) -> Iterator[ApiKeyStore]:
    client = make_redis(stack.settings)
    yield ApiKeyStore(client)
    client.close()


@pytest.fixture
def tenants(api_url: str, keys: ApiKeyStore) -> Iterator[tuple[Tenant, Tenant]]:
    made = []
    for name in (f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"):
        key, record = keys.create(name)
        client = httpx.Client(base_url=api_url, timeout=60, headers={"X-API-Key": key})
        made.append(Tenant(name, key, record.key_id, client))
    yield made[0], made[1]
    for tenant in made:
        tenant.client.close()


@dataclass
class Owned:
    """A's finished things: a document job, a batch, the batch's jobs (one an archive member), and
    the failed job standing for a corrupt archive of the batch (made by the worker)."""

    job: str
    batch: str
    member: str
    batch_document: str
    rejected_archive: str

    def ids(self) -> dict[str, list[str]]:
        """Every value each path parameter takes; a route with a parameter not here fails the test."""
        return {"job_id": [self.job, self.member, self.batch_document], "batch_id": [self.batch]}


def own_things(a: Tenant) -> Owned:
    first, second = example_reports()[:2]
    response = a.client.post("/v1/documents", files=[("files", (first.name, first.read_bytes()))])
    assert response.status_code == 202, response.text
    job = response.json()["jobs"][0]["id"]
    archive = make_zip([(f"zipped/{second.name}", second.read_bytes())])
    corrupt = b"PK\x03\x04" + b"\x07" * 500
    accepted = post_batch(
        a.client, ("reports.zip", archive), (first.name, first.read_bytes()), ("bad.zip", corrupt)
    )
    batch = wait_batch(a.client, accepted["id"], timeout=120)
    rows = {j["filename"]: j for j in batch["jobs"]}
    [record] = wait_jobs(a.client, [job])
    rejected = rows.pop("bad.zip")
    assert rejected["error"]["code"] == "corrupt_archive"
    assert record["state"] == "succeeded" and all(r["state"] == "succeeded" for r in rows.values()), rows
    member, document = rows[f"zipped/{second.name}"]["id"], rows[first.name]["id"]
    return Owned(job, batch["id"], member, document, rejected["id"])


def wait_jobs(client: httpx.Client, job_ids: list[str], timeout: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        records = [client.get(f"/v1/jobs/{j}").json() for j in job_ids]
        if all(r["state"] in ("succeeded", "failed") for r in records) or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def without_ids(response: httpx.Response, ids: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    error = dict(body["error"])
    error["message"] = re.sub("|".join(map(re.escape, ids)), "<id>", error["message"])
    return {"status": response.status_code, "error": error, "headers": sorted(response.headers)}


def test_another_tenant_gets_404_on_every_route_for_every_id(
    stack: Stack, tenants: tuple[Tenant, Tenant], jobs: JobStore
) -> None:
    a, b = tenants
    owned = own_things(a)
    values = owned.ids()
    # Stored with the tenant: the archive's member and the job standing for the corrupt archive,
    # both made by the worker, took the batch's.
    assert {jobs.get(j).tenant for j in [*values["job_id"], owned.rejected_archive]} == {a.name}
    rejected = f"/v1/jobs/{owned.rejected_archive}"
    assert (a.client.get(rejected).status_code, b.client.get(rejected).status_code) == (200, 404)

    everyone_of_as = [*values["job_id"], *values["batch_id"]]
    covered: list[tuple[str, str]] = []
    for template, methods in app_routes(create_api(stack.settings)):
        names = path_params(template)
        if not names:
            if "GET" in methods and template not in OPEN_PATHS:  # a listing: none of A's ids in it
                listed = b.client.get(template)
                assert not [i for i in everyone_of_as if i in listed.text], (template, listed.text[:500])
                covered.append(("GET", template))
            continue  # uploads: nothing of A's to name
        unknown = [n for n in names if n not in values]
        assert not unknown, f"{template}: give this test real ids of tenant A for {unknown}"
        count = max(len(values[n]) for n in names)
        for method in sorted(methods):
            for i in range(count):
                filled = {n: values[n][i % len(values[n])] for n in names}
                made_up = {n: uuid.uuid4().hex for n in names}
                theirs = b.client.request(method, fill(template, filled))
                nobodys = b.client.request(method, fill(template, made_up))
                assert theirs.status_code == 404, (method, template, filled, theirs.status_code, theirs.text)
                # exactly what an unknown id gets: same status, code, message (but the id), headers
                assert without_ids(theirs, list(filled.values())) == without_ids(
                    nobodys, list(made_up.values())
                ), (method, template)
                if method == "GET":  # A still sees its own
                    mine = a.client.get(fill(template, filled))
                    assert mine.status_code == 200, (template, filled, mine.status_code, mine.text)
            covered.append((method, template))
    assert {
        ("GET", "/v1/jobs/{job_id}"),
        ("GET", "/v1/jobs/{job_id}/result"),
        ("GET", "/v1/jobs/{job_id}/text"),
        ("GET", "/v1/jobs/{job_id}/original"),
        ("GET", "/v1/batches/{batch_id}"),
        ("GET", "/v1/batches/{batch_id}/results"),
    } <= set(covered)

    # The presigned URL A gets names A's one object.
    redirect = a.client.get(f"/v1/jobs/{owned.job}/original", params={"redirect": "true"})
    assert redirect.status_code == 307
    assert f"X-Amz-Expires={stack.settings.presign_seconds}&" in redirect.headers["location"]
    assert stack.settings.presign_seconds == 300  # the default: minutes, not hours
    assert httpx.get(redirect.headers["location"]).content == example_reports()[0].read_bytes()
    assert b.client.get(f"/v1/jobs/{owned.job}/original", params={"redirect": "true"}).status_code == 404


def test_keys_are_checked_by_the_running_api_on_every_request(
    api_url: str, tenants: tuple[Tenant, Tenant], keys: ApiKeyStore
) -> None:
    a, _ = tenants
    response = a.client.post("/v1/documents", files=[("files", ("x.txt", "甲".encode()))])
    assert response.status_code == 202
    job = f"/v1/jobs/{response.json()['jobs'][0]['id']}"
    with httpx.Client(base_url=api_url, timeout=30) as anonymous:
        refused = anonymous.get(job)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.post("/v1/documents", files=[("files", ("y.txt", b"y"))]).status_code == 401
        bad = anonymous.get(job, headers={"Authorization": f"Bearer {a.key[:-2]}xx"})
        assert bad.status_code == 401

        second, record = keys.create(a.name)  # a second key of A's: sees A's job
        assert anonymous.get(job, headers={"Authorization": f"Bearer {second}"}).status_code == 200
        assert keys.revoke(record.key_id)  # refused on the very next request (no cache in the API)
        assert anonymous.get(job, headers={"Authorization": f"Bearer {second}"}).status_code == 401
        assert a.client.get(job).status_code == 200  # A's other key is untouched
        assert anonymous.get("/healthz").status_code == 200


def test_redis_holds_no_key(stack: Stack, tenants: tuple[Tenant, Tenant], api_key: str) -> None:
    a, b = tenants
    assert a.client.get("/v1/jobs/" + uuid.uuid4().hex).status_code == 404  # the keys have been used
    client = make_redis(stack.settings)
    try:
        dump = everything_in(client)
    finally:
        client.close()
    for key in (a.key, b.key, api_key):
        assert key.startswith("gk_") and key not in dump and key[3:] not in dump
