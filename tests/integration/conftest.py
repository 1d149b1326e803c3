"""The whole service for real: redis-server, S3, a Celery worker process and the API (uvicorn) on
free ports, started once per session by `gongkai.stack` (the code behind `gongkai up`).

Reusable fixtures: `stack` (a `gongkai.stack.Stack`; `stack.stop("worker")`/`stack.start("worker")`
restart a service), `api_url` (base URL of the running API), `api_key` (the stack's development key,
tenant "dev"), `client` (an httpx client on the API sending that key), `upload` and `wait_for`
(upload files / poll jobs to a finished state).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gongkai.stack import Stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


FINISHED = ("succeeded", "failed", "cancelled")

Upload = Callable[..., list[dict[str, Any]]]
WaitFor = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session")
def stack(services: Stack) -> Iterator[Stack]:
    services.up()  # redis and s3 are already up; adds the worker and the API
    yield services
    # `services` stops everything at the end of the session


@pytest.fixture(scope="session")
def api_url(stack: Stack) -> str:
    return f"http://{stack.settings.api_host}:{stack.settings.api_port}"


@pytest.fixture(scope="session")
def api_key(stack: Stack) -> str:
    return stack.dev_key()  # made by `stack.up()`, as `gongkai up` does


@pytest.fixture
def client(api_url: str, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30, headers={"Authorization": f"Bearer {api_key}"}) as c:
        yield c


@pytest.fixture
def upload(client: httpx.Client) -> Upload:
    """upload(path | (name, bytes), ..., force=True) → the accepted jobs, in order.

    Forced by default: the tests share one stack in any order, and a file another test uploaded
    first would otherwise take that test's result instead of being processed (force=False: dedup)."""

    def _upload(*files: Path | tuple[str, bytes], force: bool = True) -> list[dict[str, Any]]:
        parts = [("files", (f.name, f.read_bytes()) if isinstance(f, Path) else (f[0], f[1])) for f in files]
        response = client.post("/v1/documents", files=parts, data={"force": "true"} if force else None)
        assert response.status_code == 202, response.text
        jobs: list[dict[str, Any]] = response.json()["jobs"]
        assert response.headers["location"] == jobs[0]["location"]
        return jobs

    return _upload


@pytest.fixture
def wait_for(client: httpx.Client) -> WaitFor:
    """wait_for(job_ids, timeout=60) → the job records once all are succeeded or failed."""

    def _wait(job_ids: list[str], timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        records: dict[str, dict[str, Any]] = {}
        while True:
            for job_id in job_ids:
                if records.get(job_id, {}).get("state") not in FINISHED:
                    response = client.get(f"/v1/jobs/{job_id}")
                    assert response.status_code == 200, response.text
                    records[job_id] = response.json()
            if all(r["state"] in FINISHED for r in records.values()):
                return [records[j] for j in job_ids]
            if time.monotonic() > deadline:
                pending = {j: r["stage"] for j, r in records.items() if r["state"] not in FINISHED}
                pytest.fail(f"jobs not finished after {timeout}s: {pending}")
            time.sleep(0.2)

    return _wait
