"""Fixtures of the in-process API tests (TestClient against the real Redis and S3).

`api_settings` is what the app is made with; a module overrides it for its limits, or for a Redis
database of its own (`own_database`: no worker consumes it, so queued jobs stay queued). `jobs` and
the API keys live where the app looks. `caller` is a key of TEST_TENANT (whose jobs `make_job` makes),
`key_for(tenant)` makes more, `client` is the app called with `caller`'s key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from api.main import create_api
from gongkai.settings import Settings
from gongkai.stack import Stack
from storage import JobStore
from storage.apikeys import ApiKeyStore
from tests.conftest import TEST_TENANT


def own_database(settings: Settings, db: int) -> Settings:
    """`settings` with Redis database `db` (emptied by the `jobs` fixture) instead of the stack's."""
    return settings.model_copy(update={"redis_url": settings.redis_url.rsplit("/", 1)[0] + f"/{db}"})


@pytest.fixture
def api_settings(services: Stack) -> Settings:
    return services.settings


@pytest.fixture
def jobs(api_settings: Settings, services: Stack) -> Iterator[JobStore]:
    store = JobStore.from_settings(api_settings)
    if api_settings.redis_url != services.settings.redis_url:
        store.redis.flushdb()  # a module's own database starts empty
    yield store
    store.redis.close()


@pytest.fixture
def client(api_settings: Settings, caller: Caller) -> Iterator[TestClient]:
    with TestClient(create_api(api_settings), headers=caller.headers) as c:
        yield c


@dataclass(frozen=True)
class Caller:
    tenant: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


KeyFor = Callable[[str], Caller]


@pytest.fixture
def key_for(jobs: JobStore) -> KeyFor:
    def make(tenant: str) -> Caller:
        key, record = ApiKeyStore(jobs.redis).create(tenant)
        return Caller(tenant, key, record.key_id)

    return make


@pytest.fixture
def caller(key_for: KeyFor) -> Caller:
    return key_for(TEST_TENANT)
