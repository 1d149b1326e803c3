"""Shared fixtures: a REAL redis-server and a REAL S3 server (weed mini, or minio if on PATH) on free
ports in a temp dir, started once per session with the same code as `gongkai up`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gongkai.settings import REPO_ROOT, Settings
from gongkai.stack import Stack, free_port
from storage import Job, JobStore, ObjectStore
from storage.jobs import new_job_id, now

EXAMPLES = REPO_ROOT / "examples"
# The samples and test-document tools live beside the checkout (as in CI).
SHARED = REPO_ROOT.parent / "shared"
# The tenant of the jobs `make_job` makes and of the API test clients' key (tests/api/conftest.py).
TEST_TENANT = "test"


def pytest_configure(config: pytest.Config) -> None:
    # Fail at once rather than skip: tests without ../shared would prove nothing.
    if not (SHARED / "samples").is_dir() or not (SHARED / "tools").is_dir():
        raise pytest.UsageError(f"the tests need ../shared (samples and tools) at {SHARED}")


def example_reports() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.txt"))


def truth_for(path: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads(path.with_suffix(".truth.json").read_text())
    return truth


def make_job(**overrides: object) -> Job:
    fields: dict[str, object] = {
        "id": new_job_id(),
        "created": now(),
        "filename": "报告.txt",
        "sha256": "a" * 64,
        "size": 10,
        "original_key": "sha256/aa/" + "a" * 64,
        "tenant": TEST_TENANT,
    }
    return Job.model_validate(fields | overrides)


@pytest.fixture(scope="session")
def service_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    used: set[int] = set()

    def port() -> int:
        p = free_port(used)
        used.add(p)
        return p

    return Settings(
        data_dir=tmp_path_factory.mktemp("gongkai-var"),
        redis_url=f"redis://127.0.0.1:{port()}/0",
        s3_endpoint=f"127.0.0.1:{port()}",
        api_host="127.0.0.1",
        api_port=port(),
        worker_concurrency=2,
        # Room for OCR of a scanned report on a busy 2-core machine.
        task_soft_time_limit=300,
        task_time_limit=330,
        log_level="INFO",
    )


@pytest.fixture(scope="session")
def services(service_settings: Settings) -> Iterator[Stack]:
    """redis + S3, running for the whole session (the integration stack adds worker and API)."""
    stack = Stack(service_settings)
    try:
        stack.up(("redis", "s3"))
        yield stack
    finally:
        stack.down()


@pytest.fixture
def jobs(services: Stack) -> Iterator[JobStore]:
    store = JobStore.from_settings(services.settings)
    yield store
    store.redis.close()


@pytest.fixture
def objects(services: Stack) -> ObjectStore:
    return ObjectStore(services.settings)
