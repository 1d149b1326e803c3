"""Webhooks: a signed POST to a job's or batch's `callback_url` when it finishes.

The body is JSON; `X-Gongkai-Timestamp` is the Unix time of the attempt and
`X-Gongkai-Signature: sha256=<hex>` the HMAC-SHA256, keyed with `settings.webhook_secret`, of
`<timestamp>.<raw body>`: a receiver recomputes it, compares in constant time and refuses old
timestamps, so a captured call cannot be replayed later. `X-Gongkai-Delivery` stays the same across
the retries of one call (receivers deduplicate on it). The Celery task in workers/tasks.py retries a
failed attempt with backoff; every attempt is recorded (storage/deliveries.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from gongkai.log import get_logger
from storage import Batch, Job, JobState
from storage.deliveries import DeliveryLog, Kind

log = get_logger("gongkai.webhooks")

SIGNATURE_HEADER = "X-Gongkai-Signature"
TIMESTAMP_HEADER = "X-Gongkai-Timestamp"
EVENT_HEADER = "X-Gongkai-Event"
DELIVERY_HEADER = "X-Gongkai-Delivery"
MAX_URL_LENGTH = 2048


class InvalidCallbackUrl(ValueError):
    pass


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx (the task retries)."""


def validate_callback_url(url: str) -> str:
    """The URL as given if it is an absolute http(s) URL with a host, else InvalidCallbackUrl."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise InvalidCallbackUrl(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        raise InvalidCallbackUrl(f"callback_url {url!r} is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidCallbackUrl(f"callback_url must be an http:// or https:// URL with a host, not {url!r}")
    if port == 0 or any(c.isspace() for c in url):
        raise InvalidCallbackUrl(f"callback_url {url!r} is not a usable URL")
    return url


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str, *, tolerance: int = 300) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), header)


def job_payload(job: Job, base_url: str = "") -> dict[str, Any]:
    """The body announcing a finished job; links under `base_url` (Settings.public_base_url)."""
    base = f"{base_url.rstrip('/')}/v1/jobs/{job.id}"
    links = {"self": base}
    if job.state == JobState.SUCCEEDED:
        links["result"] = f"{base}/result"
    return {
        "event": "job.finished",
        "job_id": job.id,
        "batch_id": job.batch_id,
        "filename": job.filename,
        "state": job.state.value,
        "finished": job.finished.isoformat() if job.finished else None,
        "error": job.error.model_dump() if job.error else None,
        "links": links,
    }


def batch_payload(batch: Batch, base_url: str = "") -> dict[str, Any]:
    base = f"{base_url.rstrip('/')}/v1/batches/{batch.id}"
    return {
        "event": "batch.finished",
        "batch_id": batch.id,
        "total": batch.total,
        "counts": dict(batch.counts),
        "links": {
            "self": base,
            **{f"export_{fmt}": f"{base}/export?format={fmt}" for fmt in ("jsonl", "csv", "parquet", "xlsx")},
        },
    }


def deliver(
    kind: Kind,
    item_id: str,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str,
    timeout: float,
    deliveries: DeliveryLog,
) -> int:
    """One attempt: POST, record it, return the status code; DeliveryFailed unless 2xx."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "gongkai-webhooks",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        EVENT_HEADER: payload["event"],
        DELIVERY_HEADER: f"{kind}-{item_id}",
    }
    status: int | None = None
    error: str | None = None
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    attempt = deliveries.record(
        kind, item_id, url=url, event=payload["event"], status_code=status, error=error
    )
    log.info("webhook.attempt", kind=kind, id=item_id, attempt=attempt, status=status, error=error)
    if error is not None:
        raise DeliveryFailed(error)
    assert status is not None
    return status
