"""Object storage over the minio SDK: originals (content-addressed by SHA-256) and job results."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO, Protocol, cast

import urllib3
from minio import Minio
from minio.error import S3Error

from gongkai.settings import MiB, Settings
from storage.errors import ObjectNotFound

CHUNK = MiB
ASK_BEFORE_STORING = MiB  # bytes; see put_original


class UploadTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file exceeds the upload limit of {limit} bytes")
        self.limit = limit


class ChunkReader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class StoredOriginal:
    key: str
    sha256: str
    size: int
    created: bool  # False when identical content was already stored (and not sent again)


def original_key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}"


def result_key(job_id: str) -> str:
    return f"jobs/{job_id}/result.json"


def text_key(job_id: str) -> str:
    return f"jobs/{job_id}/text.txt"


# A plain-text upload's text is its original, decoded: it is not stored a second time (a PUT per
# job saved; GET /v1/jobs/{id}/text decodes the original instead).
_TEXT_IS_THE_ORIGINAL = frozenset({"text/plain"})


def text_is_stored(media_type: str | None) -> bool:
    """Whether a succeeded job of this media type has a text object of its own."""
    return media_type not in _TEXT_IS_THE_ORIGINAL


def export_key(batch_id: str, fmt: str) -> str:
    return f"batches/{batch_id}/results.{fmt}"


def make_client(settings: Settings) -> Minio:
    # Few, quick retries: a readiness probe or a worker must notice an outage in seconds, and the
    # Celery task has its own retry with backoff on top.
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=3, read=60),
        retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        maxsize=10,
    )
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=http,
    )


class ObjectStore:
    def __init__(self, settings: Settings, client: Minio | None = None) -> None:
        self.client = client or make_client(settings)
        self.originals = settings.bucket_originals
        self.results = settings.bucket_results
        self.presign_seconds = settings.presign_seconds
        self._side: tuple[int, ThreadPoolExecutor] | None = None

    def ensure_buckets(self) -> None:
        for bucket in (self.originals, self.results):
            if not self.client.bucket_exists(bucket):
                try:
                    self.client.make_bucket(bucket)
                except S3Error as exc:  # another process created it meanwhile
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    def ping(self) -> None:
        """Raise unless the S3 server answers and both buckets exist."""
        for bucket in (self.originals, self.results):
            if not self.client.bucket_exists(bucket):
                raise ObjectNotFound(f"bucket {bucket} does not exist")

    # -- originals ---------------------------------------------------------------------------

    def put_original(
        self, source: ChunkReader, *, max_bytes: int, content_type: str = "application/octet-stream"
    ) -> StoredOriginal:
        """Hash `source` in chunks while spooling it to a temp file, then store it under its SHA-256.

        Never holds the whole upload in memory; raises `UploadTooLarge` as soon as `max_bytes` is passed.
        A seekable source (the API's already-spooled upload) is read twice instead of copied.
        """
        seekable = isinstance(source, io.IOBase) and source.seekable()
        with contextlib.ExitStack() as cleanup:
            spool = cast(BinaryIO, source if seekable else cleanup.enter_context(tempfile.TemporaryFile()))
            start = spool.tell() if seekable else 0
            digest = hashlib.sha256()
            size = 0
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(max_bytes)
                digest.update(chunk)
                if not seekable:
                    spool.write(chunk)
            sha256 = digest.hexdigest()
            key = original_key(sha256)
            # A large original already stored is not sent again. A small one is written without
            # asking: the same bytes under the same key, for the price of the question.
            if size > ASK_BEFORE_STORING and self.exists(self.originals, key):
                return StoredOriginal(key=key, sha256=sha256, size=size, created=False)
            spool.seek(start)
            self.client.put_object(self.originals, key, spool, length=size, content_type=content_type)
        return StoredOriginal(key=key, sha256=sha256, size=size, created=True)

    def get_original(self, key: str) -> bytes:
        return self._get(self.originals, key)

    def stream_original(self, key: str) -> Iterator[bytes]:
        yield from self._stream(self.originals, key)  # a generator: opened when first iterated

    def download_original(self, key: str, target: BinaryIO) -> int:
        """Copy an original into `target` in chunks (an archive may be gigabytes); returns its size."""
        size = 0
        for chunk in self._stream(self.originals, key):
            target.write(chunk)
            size += len(chunk)
        return size

    def presigned_original(self, key: str, filename: str | None = None) -> str:
        headers: dict[str, str | list[str] | tuple[str]] | None = (
            {"response-content-disposition": f'attachment; filename="{filename}"'} if filename else None
        )
        return self.client.presigned_get_object(
            self.originals, key, expires=timedelta(seconds=self.presign_seconds), response_headers=headers
        )

    # -- results -------------------------------------------------------------------------------
    # Keyed by job id, so re-running a job overwrites the same objects (the task is idempotent).

    def put_result(self, job_id: str, result: dict[str, Any], text: str | None) -> str:
        """`text` None: the job's text is its original's (see `text_is_stored`); only the result is PUT."""
        # Both PUTs at once (a worker waits on each round trip); both are done when this returns.
        text_put = (
            None
            if text is None
            else self._side_thread().submit(
                self._put, self.results, text_key(job_id), text.encode(), "text/plain; charset=utf-8"
            )
        )
        try:
            body = json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode()  # ≈ 80 kB
            self._put(self.results, result_key(job_id), body, "application/json")
        finally:
            if text_put is not None:
                text_put.result()
        return result_key(job_id)

    def get_result(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self._get(self.results, result_key(job_id)))
        return result

    def get_text(self, job_id: str) -> str:
        return self._get(self.results, text_key(job_id)).decode()

    # -- batch exports (JSONL, CSV, Parquet), written once the batch has finished --------------------

    def put_export(self, batch_id: str, fmt: str, source: BinaryIO, size: int, content_type: str) -> str:
        key = export_key(batch_id, fmt)
        self.client.put_object(self.results, key, source, length=size, content_type=content_type)
        return key

    def export_size(self, batch_id: str, fmt: str) -> int | None:
        """The stored export's size, or None when it has not been written."""
        try:
            stat = self.client.stat_object(self.results, export_key(batch_id, fmt))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return None
            raise
        return stat.size

    def stream_export(self, batch_id: str, fmt: str) -> Iterator[bytes]:
        return self._stream(self.results, export_key(batch_id, fmt))

    # -- helpers -------------------------------------------------------------------------------

    def _side_thread(self) -> ThreadPoolExecutor:
        """One extra thread for a concurrent request. Made again in a forked child: the parent's
        thread does not exist there (a Celery pool process may inherit this store)."""
        if self._side is None or self._side[0] != os.getpid():
            self._side = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="s3-side"))
        return self._side[1]

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return False
            raise
        return True

    def _put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(bucket, key, io.BytesIO(data), length=len(data), content_type=content_type)

    def _open(self, bucket: str, key: str) -> urllib3.BaseHTTPResponse:
        try:
            return self.client.get_object(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                raise ObjectNotFound(f"{bucket}/{key}") from exc
            raise

    def _stream(self, bucket: str, key: str) -> Iterator[bytes]:
        response = self._open(bucket, key)  # opened now, so a missing object raises here, not mid-body
        return _chunks(response)

    def _get(self, bucket: str, key: str) -> bytes:
        response = self._open(bucket, key)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()


def _chunks(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        yield from response.stream(CHUNK)
    finally:
        response.close()
        response.release_conn()
