"""API keys for the in-process API tests: `caller` is a key of TEST_TENANT (whose jobs `make_job`
makes), `key_for(tenant)` makes more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from storage import JobStore
from storage.apikeys import ApiKeyStore
from tests.conftest import TEST_TENANT


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
