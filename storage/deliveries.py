"""Webhook deliveries in Redis: each attempt to call a job's or batch's callback_url, for the API.

gongkai:deliveries:{kind}:{id}          list of JSON attempts, oldest first
gongkai:deliveries:{kind}:{id}:claimed  set once by whoever queues the call (so a redelivered
                                        job that finishes again is not announced twice)
"""

from __future__ import annotations

import json
from typing import Any, Literal

import redis

from storage.jobs import now

PREFIX = "gongkai:deliveries:"
Kind = Literal["job", "batch"]


def _key(kind: Kind, item_id: str) -> str:
    return f"{PREFIX}{kind}:{item_id}"


class DeliveryLog:
    def __init__(self, client: redis.Redis[str], *, ttl_seconds: int = 0) -> None:
        self.redis = client
        self.ttl = ttl_seconds

    def claim(self, kind: Kind, item_id: str) -> bool:
        """True once: for whoever first queues the call of this job or batch."""
        taken = self.redis.set(
            _key(kind, item_id) + ":claimed", now().isoformat(), nx=True, ex=self.ttl or None
        )
        return bool(taken)

    def release(self, kind: Kind, item_id: str) -> None:
        """Undo `claim` (the call could not be queued: let the next finisher try)."""
        self.redis.delete(_key(kind, item_id) + ":claimed")

    def record(
        self, kind: Kind, item_id: str, *, url: str, event: str, status_code: int | None, error: str | None
    ) -> int:
        """Append one attempt; returns its number (1-based)."""
        key = _key(kind, item_id)
        attempt = int(self.redis.llen(key)) + 1
        entry = {
            "attempt": attempt,
            "url": url,
            "event": event,
            "time": now().isoformat(),
            "status_code": status_code,
            "error": error,
            "delivered": error is None and status_code is not None and 200 <= status_code < 300,
        }
        pipe = self.redis.pipeline()
        pipe.rpush(key, json.dumps(entry))
        if self.ttl:
            pipe.expire(key, self.ttl)
        pipe.execute()
        return attempt

    def list(self, kind: Kind, item_id: str) -> list[dict[str, Any]]:
        raw: list[str] = self.redis.lrange(_key(kind, item_id), 0, -1)
        return [json.loads(r) for r in raw]
