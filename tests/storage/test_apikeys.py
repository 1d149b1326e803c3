"""API keys in the real Redis: hashed at rest, looked up by hash, listed by id, revoked at once."""

from __future__ import annotations

import hashlib

import pytest
import redis

from storage import JobStore
from storage.apikeys import ApiKeyStore, InvalidTenant


def everything_in(client: redis.Redis[str]) -> str:
    """Every key name and value in the database, as one string to search."""
    parts: list[str] = []
    for name in client.scan_iter(count=1000):
        parts.append(name)
        kind = client.type(name)
        if kind == "hash":
            parts += [f"{k}={v}" for k, v in client.hgetall(name).items()]
        elif kind == "string":
            parts.append(str(client.get(name)))
        elif kind == "list":
            parts += client.lrange(name, 0, -1)
        elif kind == "set":
            parts += client.smembers(name)
        elif kind == "zset":
            parts += client.zrange(name, 0, -1)
    return "\n".join(parts)


def test_a_key_is_stored_hashed_and_finds_its_tenant(jobs: JobStore) -> None:
    keys = ApiKeyStore(jobs.redis)
    key, record = keys.create("acme")
    assert key.startswith("gk_") and len(key) >= 40
    assert record.tenant == "acme" and record.key_id not in key
    found = keys.authenticate(key)
    assert found is not None and (found.tenant, found.key_id) == ("acme", record.key_id)

    dump = everything_in(jobs.redis)
    assert key not in dump and key[3:] not in dump  # neither the key nor its secret part
    assert hashlib.sha256(key.encode()).hexdigest() in dump  # what is kept instead


def test_keys_are_random_and_a_near_miss_is_refused(jobs: JobStore) -> None:
    keys = ApiKeyStore(jobs.redis)
    first, _ = keys.create("acme")
    second, _ = keys.create("acme")
    assert first != second
    assert keys.authenticate(first[:-1] + ("A" if first[-1] != "A" else "B")) is None
    assert keys.authenticate(first.removeprefix("gk_")) is None
    assert keys.authenticate("") is None


def test_list_shows_tenants_and_ids_never_keys(jobs: JobStore) -> None:
    keys = ApiKeyStore(jobs.redis)
    key, record = keys.create("listed-tenant")
    listed = keys.list()
    assert (record.key_id, "listed-tenant") in {(k.key_id, k.tenant) for k in listed}
    assert key not in repr(listed)


def test_revoking_refuses_the_key_at_once_and_only_that_key(jobs: JobStore) -> None:
    keys = ApiKeyStore(jobs.redis)
    revoked, record = keys.create("acme")
    kept, _ = keys.create("acme")
    assert keys.revoke(record.key_id)
    assert keys.authenticate(revoked) is None
    assert keys.authenticate(kept) is not None
    assert record.key_id not in {k.key_id for k in keys.list()}
    assert not keys.revoke(record.key_id)  # already gone
    assert not keys.revoke("key_unknown")


@pytest.mark.parametrize("tenant", ["", "Acme", "a b", "-x", "x" * 65, "租户", "a/b"])
def test_tenant_ids_are_plain(jobs: JobStore, tenant: str) -> None:
    with pytest.raises(InvalidTenant):
        ApiKeyStore(jobs.redis).create(tenant)
