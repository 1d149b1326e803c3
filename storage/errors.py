"""Which storage/broker failures are worth retrying: the connection-level ones, not bad requests."""

from __future__ import annotations

import kombu.exceptions
import minio.error
import redis.exceptions
import urllib3.exceptions

TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    urllib3.exceptions.HTTPError,  # connection refused/reset and retries exhausted, via minio
    minio.error.ServerError,  # S3 answered 5xx
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
)


class ObjectNotFound(LookupError):
    """The object (original, result, text) does not exist."""
