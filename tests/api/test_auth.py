"""Authentication in-process (TestClient, real Redis and S3): every route but the open ones wants a
valid key, found by enumerating the app's routes so a route added later is checked too."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth import OPEN_PATHS
from api.main import create_api
from gongkai.stack import Stack
from storage import JobStore
from storage.apikeys import ApiKeyStore
from tests.api.conftest import Caller, KeyFor
from tests.api.routes import app_routes, fill, path_params
from tests.conftest import make_job


@pytest.fixture
def app(services: Stack) -> FastAPI:
    return create_api(services.settings.model_copy(update={"max_upload_bytes": 1000}))


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def closed_requests(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route that is not open, path parameters filled with unknown ids."""
    requests = []
    for template, methods in app_routes(app):
        if template not in OPEN_PATHS:
            path = fill(template, {name: uuid.uuid4().hex for name in path_params(template)})
            requests += [(method, path) for method in sorted(methods)]
    return requests


def test_every_route_but_the_open_ones_wants_a_key(app: FastAPI, anonymous: TestClient) -> None:
    requests = closed_requests(app)
    assert {("POST", "/v1/documents"), ("POST", "/v1/batches"), ("GET", "/v1/jobs/{}")} <= {
        (m, re.sub(r"[0-9a-f]{32}", "{}", p)) for m, p in requests
    }
    for method, path in requests:
        response = anonymous.request(method, path)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == 'Bearer realm="gongkai"'


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer gk_" + "x" * 43},  # well-formed, never issued
        {"X-API-Key": "gk_" + "x" * 43},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Basic Z2s6eA=="},  # another scheme carries no key
    ],
)
def test_a_bad_key_is_401_on_every_closed_route(
    app: FastAPI, anonymous: TestClient, headers: dict[str, str]
) -> None:
    for method, path in closed_requests(app):
        response = anonymous.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith('Bearer realm="gongkai"')


def test_both_headers_carry_a_key_and_a_revoked_key_is_refused_at_once(
    anonymous: TestClient, key_for: KeyFor, jobs: JobStore
) -> None:
    caller = key_for("revoking")
    job = jobs.create(make_job(tenant="revoking"))
    for headers in (caller.headers, {"X-API-Key": caller.key}, {"authorization": f"bearer {caller.key}"}):
        assert anonymous.get(f"/v1/jobs/{job.id}", headers=headers).status_code == 200, headers
    assert ApiKeyStore(jobs.redis).revoke(caller.key_id)
    refused = anonymous.get(f"/v1/jobs/{job.id}", headers=caller.headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="gongkai", error="invalid_token"'
    assert anonymous.get(f"/v1/jobs/{job.id}", headers={"X-API-Key": caller.key}).status_code == 401


def test_open_paths_answer_without_a_key(anonymous: TestClient) -> None:
    # Opening a path is a decision this test has to be told about.
    assert (
        frozenset(
            {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
        )
        == OPEN_PATHS
    )
    for path in ("/healthz", "/readyz", "/docs", "/openapi.json"):
        assert anonymous.get(path).status_code == 200, path


def test_openapi_declares_the_key_on_the_scoped_routes(anonymous: TestClient) -> None:
    spec = anonymous.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    assert spec["paths"]["/v1/jobs/{job_id}"]["get"]["security"]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_an_anonymous_upload_is_refused_before_its_size_counts(anonymous: TestClient) -> None:
    body = b"x" * 10_000_000  # far past the request limit: a caller with a key gets 413
    response = anonymous.post(
        "/v1/documents", content=body, headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert response.status_code == 401


def test_another_tenants_job_is_unknown(
    anonymous: TestClient, caller: Caller, key_for: KeyFor, jobs: JobStore
) -> None:
    """The in-process twin of tests/integration/test_tenants.py, on a record made directly."""
    job = jobs.create(make_job())  # the caller's tenant
    other = key_for("someone-else")
    mine = anonymous.get(f"/v1/jobs/{job.id}", headers=caller.headers)
    theirs = anonymous.get(f"/v1/jobs/{job.id}", headers=other.headers)
    unknown = anonymous.get("/v1/jobs/" + uuid.uuid4().hex, headers=other.headers)
    assert mine.status_code == 200 and mine.json()["id"] == job.id
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["code"] == unknown.json()["error"]["code"] == "job_not_found"
    nobodys = jobs.create(make_job(tenant=None))  # recorded before tenants: nobody sees it
    assert anonymous.get(f"/v1/jobs/{nobodys.id}", headers=caller.headers).status_code == 404
