"""Webhook signing, URL checks and one delivery attempt against a real HTTP receiver and Redis."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from storage import Batch, JobState, JobStore
from storage.deliveries import DeliveryLog
from storage.jobs import now
from tests.conftest import make_job
from workers import webhooks

SECRET = "s3cret"


def test_the_signature_covers_timestamp_and_body() -> None:
    body = b'{"event":"batch.finished"}'
    header = webhooks.signature(SECRET, 1700000000, body)
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"sha256={expected}"
    assert webhooks.signature(SECRET, 1700000001, body) != header  # replayed with a new timestamp
    assert webhooks.signature(SECRET, 1700000000, body + b" ") != header
    assert webhooks.signature("other", 1700000000, body) != header
    now = int(time.time())
    assert webhooks.verify(SECRET, str(now), body, webhooks.signature(SECRET, now, body))
    assert not webhooks.verify(SECRET, str(now - 3600), body, webhooks.signature(SECRET, now - 3600, body))


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "http://127.0.0.1:8080/a?b=c", "  https://h.example/x  "]
)
def test_http_urls_are_accepted(url: str) -> None:
    assert webhooks.validate_callback_url(url) == url.strip()


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "javascript:alert(1)", "http://", "/relative",
     "http://host:port/", "http://exa mple.com/", "https://h.example/" + "a" * 3000],
)  # fmt: skip
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(webhooks.InvalidCallbackUrl):
        webhooks.validate_callback_url(url)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(200 if self.path == "/ok" else 503)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_each_attempt_is_recorded(receiver: tuple[str, list[dict[str, Any]]], jobs: JobStore) -> None:
    url, seen = receiver
    log = DeliveryLog(jobs.redis)
    item = f"t-{time.monotonic_ns()}"
    payload = {"event": "job.finished", "job_id": item}

    def deliver(target: str) -> int:
        return webhooks.deliver("job", item, target, payload, secret=SECRET, timeout=5, deliveries=log)

    with pytest.raises(webhooks.DeliveryFailed):
        deliver(f"{url}/down")
    assert deliver(f"{url}/ok") == 200
    with pytest.raises(webhooks.DeliveryFailed):  # nobody listening
        deliver("http://127.0.0.1:9/")
    attempts = log.list("job", item)
    assert [(a["attempt"], a["status_code"], a["delivered"]) for a in attempts] == [
        (1, 503, False),
        (2, 200, True),
        (3, None, False),
    ]
    assert attempts[0]["error"] == "HTTP 503" and "ConnectError" in attempts[2]["error"]
    call = seen[1]
    assert webhooks.verify(SECRET, call["headers"]["X-Gongkai-Timestamp"], call["body"],
                           call["headers"]["X-Gongkai-Signature"])  # fmt: skip
    assert call["headers"]["X-Gongkai-Delivery"] == f"job-{item}"
    assert log.claim("job", item) and not log.claim("job", item)  # announced once
    log.release("job", item)
    assert log.claim("job", item)


@pytest.mark.parametrize("base_url", ["https://gongkai.example.org", "https://gongkai.example.org/"])
def test_payload_links_are_absolute_under_the_public_base_url(base_url: str) -> None:
    job = make_job(state=JobState.SUCCEEDED, finished=now())
    links = webhooks.job_payload(job, base_url)["links"]
    assert links == {
        "self": f"https://gongkai.example.org/v1/jobs/{job.id}",
        "result": f"https://gongkai.example.org/v1/jobs/{job.id}/result",
    }
    batch = Batch(id="b1", created=now(), files=1, archives_pending=0, counts={"succeeded": 1})
    links = webhooks.batch_payload(batch, base_url)["links"]
    assert links["self"] == "https://gongkai.example.org/v1/batches/b1"
    assert links["export_xlsx"] == "https://gongkai.example.org/v1/batches/b1/export?format=xlsx"
    # unset: paths, relative to the API
    assert webhooks.job_payload(job)["links"]["self"] == f"/v1/jobs/{job.id}"
    assert "result" not in webhooks.job_payload(make_job())["links"]  # a job that did not succeed
