"""Which 503 code and dependency each connection-level failure maps to (api/errors.py)."""

from __future__ import annotations

import kombu.exceptions
import redis.exceptions
import urllib3.exceptions

from api.errors import OUTAGE_ERRORS, outage
from storage import TRANSIENT_ERRORS


def test_each_dependency_failure_has_its_code() -> None:
    assert outage(kombu.exceptions.OperationalError("publish failed")) == (
        "broker_unavailable",
        "the broker (redis)",
    )
    assert outage(redis.exceptions.ConnectionError("refused")) == ("storage_unavailable", "redis")
    assert outage(redis.exceptions.BusyLoadingError("loading AOF")) == ("storage_unavailable", "redis")
    assert outage(redis.exceptions.TimeoutError()) == ("storage_unavailable", "redis")
    retries = urllib3.exceptions.MaxRetryError(None, "/bucket/key")  # what minio raises, S3 refused
    assert outage(retries) == ("storage_unavailable", "S3")
    assert outage(ConnectionRefusedError()) == ("storage_unavailable", "a storage service")


def test_every_transient_error_is_handled_as_an_outage() -> None:
    assert set(TRANSIENT_ERRORS) <= set(OUTAGE_ERRORS)
    assert not any(issubclass(ValueError, e) for e in OUTAGE_ERRORS)  # bad input is never a 503
