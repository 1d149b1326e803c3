"""`Idempotency-Key` on POST /v1/documents and POST /v1/batches: a retried request gets the first answer.

    gongkai:idempotency:{tenant or "-"}:{key} → JSON {"fingerprint", "status", "body", "headers"}

The key is reserved atomically (SET NX) before any job is recorded, so of two concurrent requests with
one key only one creates work; the other waits for the first one's answer and returns it. The
fingerprint (the route, its options, each file's name and SHA-256) tells a retry from a different request
sent under a reused key (422 `idempotency_key_reused`). A request that fails releases its key, so the
client's retry does the work. Records expire after `Settings.idempotency_ttl_seconds`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.uploads import StoredUpload

Answer = TypeVar("Answer", bound=BaseModel)

PREFIX = "gongkai:idempotency:"
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# A duplicate sent while the first request is still being answered waits this long for its answer.
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
RETRY_AFTER_SECONDS = "1"
# A reservation whose request died (API killed mid-request) frees the key after this long.
PENDING_SECONDS = 300


def record_key(key: str, tenant: str | None = None) -> str:
    """The one place the record key is built (tenancy adds the caller's tenant)."""
    return f"{PREFIX}{tenant or '-'}:{key}"


def check_key(key: str | None) -> None:
    """Refuse a malformed key before anything is stored."""
    if key is None:
        return
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
        )


def fingerprint(route: str, options: dict[str, Any], stored: list[StoredUpload]) -> str:
    files = [[s.upload.filename, s.original.sha256] for s in stored]
    body = json.dumps([route, options, files], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Replay:
    """The answer the first request with this key got."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    def response(self) -> JSONResponse:
        headers = self.headers | {"Idempotent-Replayed": "true"}
        return JSONResponse(self.body, status_code=self.status, headers=headers)


@dataclass(frozen=True)
class Reservation:
    """This request holds the key: it does the work, then stores its answer (or releases the key)."""

    client: redis.Redis[str]
    key: str
    fingerprint: str
    ttl: int

    async def complete(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        record = {"fingerprint": self.fingerprint, "status": status, "body": body, "headers": headers}
        value = json.dumps(record, ensure_ascii=False)
        await run_in_threadpool(self.client.set, self.key, value, ex=self.ttl)

    async def release(self) -> None:
        await run_in_threadpool(self.client.delete, self.key)


async def begin(
    client: redis.Redis[str], key: str | None, fingerprint: str, ttl: int, tenant: str | None = None
) -> Reservation | Replay | None:
    """None without a key; else the reservation of a first request, or the first request's answer."""
    if key is None:
        return None
    name = record_key(key, tenant)
    pending = json.dumps({"fingerprint": fingerprint})
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        # Reserved for the longest recording a request's jobs can take, then for `ttl` once answered.
        if await run_in_threadpool(client.set, name, pending, nx=True, ex=min(ttl, PENDING_SECONDS)):
            return Reservation(client, name, fingerprint, ttl)
        raw: str | None = await run_in_threadpool(client.get, name)
        if raw is None:  # released (the first request failed) or expired just now: try to take it
            continue
        record: dict[str, Any] = json.loads(raw)
        if record["fingerprint"] != fingerprint:
            raise ApiError(
                422,
                "idempotency_key_reused",
                f"{HEADER} {key!r} was used for a different request (other files or options)",
            )
        if "status" in record:
            return Replay(record["status"], record["body"], record["headers"])
        if time.monotonic() > deadline:
            raise ApiError(
                409,
                "idempotency_key_in_progress",
                f"a request with {HEADER} {key!r} is still being answered",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        await asyncio.sleep(POLL_SECONDS)


async def answer_once(
    client: redis.Redis[str],
    key: str | None,
    fingerprint: str,
    ttl: int,
    tenant: str,
    response: Response,
    work: Callable[[], Awaitable[tuple[Answer, str]]],
) -> Answer | JSONResponse:
    """Run `work` (→ the 202 answer and its Location) once per key: a retry gets the stored answer,
    a failure frees the key. Without a key, just run it."""
    claim = await begin(client, key, fingerprint, ttl, tenant)
    if isinstance(claim, Replay):
        return claim.response()
    try:
        answer, location = await work()
    except BaseException:
        if claim is not None:
            await claim.release()
        raise
    response.headers["Location"] = location
    if claim is not None:
        await claim.complete(202, answer.model_dump(mode="json"), {"Location": location})
    return answer
