"""The change feed: one Redis Stream per tenant of jobs that reached a final state.

The entry is appended by the job store's write script in the same atomic call that moves the job to
`succeeded` or `failed`, and only the first time (the job hash keeps the entry id in `feed_id`), so a
redelivered job that finishes again is not fed twice and no finished job is ever missed. Readers page
with an opaque cursor (the last stream id they saw); stream ids only grow, so a poller neither skips
nor re-reads an entry. Entries older than the job records' TTL are trimmed as new ones arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

import redis
from pydantic import BaseModel

from storage.jobs import DEFAULT_TENANT, FEED_PREFIX, JobError, JobState


class FeedEntry(BaseModel):
    cursor: str  # this entry's position: `since=<cursor>` continues after it
    job_id: str
    batch_id: str | None
    state: JobState
    finished: datetime | None
    error: JobError | None


class FeedPage(BaseModel):
    results: list[FeedEntry]
    next: str | None  # pass as `since` to continue; None only for an empty feed read from the start


class BadCursor(ValueError):
    pass


def feed_key(tenant: str = DEFAULT_TENANT) -> str:
    """The stream of one tenant's finished jobs (the write script derives the same key)."""
    return FEED_PREFIX + tenant


def encode_cursor(stream_id: str) -> str:
    return base64.urlsafe_b64encode(stream_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        stream_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise BadCursor(cursor) from None
    ms, _, seq = stream_id.partition("-")
    if not (ms.isdigit() and seq.isdigit()):
        raise BadCursor(cursor)
    return stream_id


class Feed:
    def __init__(self, client: redis.Redis[str]) -> None:
        self.redis = client

    def read(self, since: str | None, limit: int, tenant: str = DEFAULT_TENANT) -> FeedPage:
        """Up to `limit` entries after the cursor `since` (from the start when None)."""
        start = "(" + decode_cursor(since) if since else "-"
        raw: list[tuple[str, dict[str, str]]] = self.redis.xrange(feed_key(tenant), start, "+", count=limit)
        entries = [_entry(stream_id, fields) for stream_id, fields in raw]
        next_cursor = entries[-1].cursor if entries else since
        return FeedPage(results=entries, next=next_cursor)

    def tail(self, tenant: str = DEFAULT_TENANT) -> str | None:
        """The cursor of the newest entry (read from it to see only what finishes from now on)."""
        last: list[tuple[str, dict[str, str]]] = self.redis.xrevrange(feed_key(tenant), count=1)
        return encode_cursor(last[0][0]) if last else None


def _entry(stream_id: str, fields: dict[str, str]) -> FeedEntry:
    values: dict[str, Any] = {k: json.loads(v) for k, v in fields.items()}
    return FeedEntry(
        cursor=encode_cursor(stream_id),
        job_id=values["job_id"],
        batch_id=values.get("batch_id"),
        state=values["state"],
        finished=values.get("finished"),
        error=values.get("error"),
    )
