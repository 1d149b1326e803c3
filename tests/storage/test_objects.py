"""ObjectStore against the real S3 server."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import time
from typing import Any

import httpx
import pytest
from minio import Minio

from gongkai.stack import Stack
from storage import ObjectNotFound, ObjectStore, UploadTooLarge
from storage.objects import ASK_BEFORE_STORING, original_key, text_is_stored, text_key


class CountingReader:
    """A non-seekable stream (like a socket) that records its largest read, to show the upload is
    consumed in chunks, not all at once."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)
        self.largest = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self.data.read(size)
        self.largest = max(self.largest, len(chunk))
        return chunk


def test_original_is_content_addressed_and_streamed(objects: ObjectStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    reader = CountingReader(data)
    stored = objects.put_original(reader, max_bytes=10 * 1024 * 1024)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.key == original_key(stored.sha256)
    assert stored.size == len(data)
    assert stored.created
    assert reader.largest <= 1024 * 1024
    assert objects.get_original(stored.key) == data
    assert b"".join(objects.stream_original(stored.key)) == data

    again = objects.put_original(io.BytesIO(data), max_bytes=10 * 1024 * 1024)
    assert again.key == stored.key and not again.created


def test_a_small_original_is_written_without_asking_first(services: Stack) -> None:
    asked: list[str] = []

    class AskingCounted(Minio):
        def stat_object(self, bucket_name: str, object_name: str, *args: Any, **kwargs: Any) -> Any:
            asked.append(object_name)
            return super().stat_object(bucket_name, object_name, *args, **kwargs)

    s = services.settings
    counted = ObjectStore(s, AskingCounted(
        s.s3_endpoint, access_key=s.s3_access_key, secret_key=s.s3_secret_key.get_secret_value(),
        secure=s.s3_secure, region=s.s3_region,
    ))  # fmt: skip
    small = b"small report " + os.urandom(16)
    first = counted.put_original(io.BytesIO(small), max_bytes=ASK_BEFORE_STORING * 4)
    again = counted.put_original(io.BytesIO(small), max_bytes=ASK_BEFORE_STORING * 4)
    assert first.key == again.key and first.created and again.created
    assert asked == []
    assert counted.get_original(first.key) == small
    large = os.urandom(ASK_BEFORE_STORING + 1)
    assert counted.put_original(io.BytesIO(large), max_bytes=ASK_BEFORE_STORING * 4).created
    assert not counted.put_original(io.BytesIO(large), max_bytes=ASK_BEFORE_STORING * 4).created
    assert len(asked) == 2


def test_seekable_source_is_stored_from_where_it_stands(objects: ObjectStore) -> None:
    source = io.BytesIO(b"header|" + "正文".encode())
    source.read(7)
    stored = objects.put_original(source, max_bytes=100)
    assert objects.get_original(stored.key) == "正文".encode()


def test_upload_over_the_limit_is_refused(objects: ObjectStore) -> None:
    data = b"x" * 2000
    with pytest.raises(UploadTooLarge):
        objects.put_original(io.BytesIO(data), max_bytes=1999)
    assert not objects.exists(objects.originals, original_key(hashlib.sha256(data).hexdigest()))


def test_empty_original_is_stored(objects: ObjectStore) -> None:
    stored = objects.put_original(io.BytesIO(b""), max_bytes=10)
    assert stored.size == 0
    assert objects.get_original(stored.key) == b""


def test_results_round_trip_and_overwrite(objects: ObjectStore) -> None:
    key = objects.put_result("job-a", {"document": {"agency": "某局"}}, "正文")
    assert objects.get_result("job-a") == {"document": {"agency": "某局"}}
    assert objects.get_text("job-a") == "正文"
    assert objects.put_result("job-a", {"document": {"agency": "另一局"}}, "新") == key
    assert objects.get_result("job-a")["document"]["agency"] == "另一局"
    assert objects.get_text("job-a") == "新"


def test_a_result_without_text_stores_no_text_object(objects: ObjectStore) -> None:
    objects.put_result("job-plain", {"document": {"agency": "某局"}}, None)
    assert objects.get_result("job-plain") == {"document": {"agency": "某局"}}
    assert not objects.exists(objects.results, text_key("job-plain"))
    with pytest.raises(ObjectNotFound):
        objects.get_text("job-plain")


def test_only_plain_text_jobs_go_without_a_text_object() -> None:
    assert not text_is_stored("text/plain")
    assert all(text_is_stored(t) for t in ("application/pdf", "text/html", "image/png", None))


def test_results_are_stored_from_a_forked_child_of_a_store_that_already_stored(objects: ObjectStore) -> None:
    # A Celery pool process is a fork: the parent's side thread for the concurrent PUT is not there.
    objects.put_result("job-parent", {"n": 1}, "父")
    pid = os.fork()
    if pid == 0:  # the child: store, read back, report through the exit status
        code = 1
        try:
            objects.put_result("job-child", {"n": 2}, "子")
            code = 0 if objects.get_text("job-child") == "子" else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while (waited := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the child hung storing its result")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(waited[1]) == 0
    assert objects.get_result("job-child") == {"n": 2}


def test_missing_objects_raise_not_found(objects: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        objects.get_result("no-such-job")
    with pytest.raises(ObjectNotFound):
        objects.get_original(original_key("0" * 64))


def test_presigned_get_serves_the_original(objects: ObjectStore) -> None:
    stored = objects.put_original(io.BytesIO("报告".encode()), max_bytes=100)
    url = objects.presigned_original(stored.key, "report.txt")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == "报告".encode()


def test_ping_and_buckets(objects: ObjectStore) -> None:
    objects.ensure_buckets()  # idempotent
    objects.ping()
