"""API keys in Redis, stored hashed: only the SHA-256 of a key is kept, never the key itself.

    gongkai:apikey:{sha256 of the key}  hash: key_id, tenant, created
    gongkai:apikeys                     hash: key_id → JSON {tenant, created, digest}

A request's key is hashed and looked up in one HGETALL, so a key is checked without comparing it
to anything (no timing to measure) and a Redis dump gives nobody a usable key. The key id is random
(not derived from the key), so listing and revoking by id reveals nothing about the key.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import datetime

import redis
from pydantic import BaseModel

from storage.jobs import now

KEY_PREFIX = "gongkai:apikey:"
INDEX = "gongkai:apikeys"
KEY_MARK = "gk_"
# Tenant ids end up in logs, exports and Redis values: keep them plain.
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class ApiKey(BaseModel):
    key_id: str
    tenant: str
    created: datetime


class InvalidTenant(ValueError):
    pass


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_MARK + secrets.token_urlsafe(32)


def check_tenant(tenant: str) -> str:
    if not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidTenant(f"a tenant id is 1-64 of a-z 0-9 _ . - (not starting with _ . -): {tenant!r}")
    return tenant


class ApiKeyStore:
    def __init__(self, client: redis.Redis[str]) -> None:
        self.redis = client

    def create(self, tenant: str) -> tuple[str, ApiKey]:
        """A new key for the tenant: (the key, to be shown once; its record)."""
        key = new_key()
        return key, self.register(key, tenant)

    def register(self, key: str, tenant: str) -> ApiKey:
        """Record a key made elsewhere (the local stack's development key)."""
        record = ApiKey(key_id="key_" + secrets.token_hex(6), tenant=check_tenant(tenant), created=now())
        hashed = digest(key)
        pipe = self.redis.pipeline()
        pipe.hset(
            KEY_PREFIX + hashed,
            mapping={"key_id": record.key_id, "tenant": record.tenant, "created": record.created.isoformat()},
        )
        pipe.hset(
            INDEX,
            record.key_id,
            json.dumps({"tenant": record.tenant, "created": record.created.isoformat(), "digest": hashed}),
        )
        pipe.execute()
        return record

    def authenticate(self, key: str) -> ApiKey | None:
        """The record of a valid key, or None (unknown or revoked)."""
        if not key.startswith(KEY_MARK):
            return None  # not one of ours: no need to ask Redis
        raw: dict[str, str] = self.redis.hgetall(KEY_PREFIX + digest(key))
        if not raw:
            return None
        created = datetime.fromisoformat(raw["created"])
        return ApiKey(key_id=raw["key_id"], tenant=raw["tenant"], created=created)

    def list(self) -> list[ApiKey]:
        raw: dict[str, str] = self.redis.hgetall(INDEX)
        keys = [
            ApiKey(key_id=key_id, tenant=entry["tenant"], created=datetime.fromisoformat(entry["created"]))
            for key_id, entry in ((k, json.loads(v)) for k, v in raw.items())
        ]
        return sorted(keys, key=lambda k: (k.tenant, k.created))

    def revoke(self, key_id: str) -> bool:
        """Forget the key at once (the next request with it is refused); False if the id is unknown."""
        raw: str | None = self.redis.hget(INDEX, key_id)
        if raw is None:
            return False
        pipe = self.redis.pipeline()
        pipe.delete(KEY_PREFIX + json.loads(raw)["digest"])
        pipe.hdel(INDEX, key_id)
        pipe.execute()
        return True
