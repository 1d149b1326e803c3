"""Expanding an uploaded archive (ZIP, tar, tar.gz) into one job per member (the body of the expand
task).

The archive comes from S3 into a temp file (never into memory) and is read member by member:
each member is streamed through the caps of `storage.archives.MemberReader` into content-addressed
storage. A member that is itself an archive is spooled to a temp file and expanded in turn, one level
deep, within the same budget; an archive inside that is refused as `nested_archive`. Only when every
member has been stored or refused are the jobs recorded and queued, so a zip bomb found at member
4,000 leaves no half-batch behind (the originals already stored are content-addressed and harmless).

Re-running (a redelivered or retried task) is safe: job ids are derived from (batch, archive,
member position), `JobStore.create_new` skips existing ones, and the archive leaves `expanding` once.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded

from gongkai.log import get_logger
from gongkai.settings import Settings
from storage import (
    TRANSIENT_ERRORS,
    ArchiveEntry,
    ArchiveState,
    BatchStore,
    ErrorCode,
    Job,
    JobError,
    JobState,
    JobStore,
    ObjectStore,
    UploadTooLarge,
)
from storage.archives import (
    ArchiveCode,
    ArchiveReader,
    ArchiveRejected,
    Budget,
    Limits,
    MemberReader,
    MemberRejected,
    open_archive,
)
from storage.batches import member_job_id
from storage.jobs import now
from storage.objects import StoredOriginal

log = get_logger("gongkai.archives")

Enqueue = Callable[[str], None]


@dataclass(frozen=True)
class ArchiveServices:
    jobs: JobStore
    batches: BatchStore
    objects: ObjectStore


def expand_archive(
    batch_id: str, archive_id: str, services: ArchiveServices, settings: Settings, enqueue: Enqueue
) -> ArchiveEntry | None:
    """Expand one archive of a batch; returns its final entry (None if it is unknown)."""
    bound = log.bind(batch_id=batch_id, archive_id=archive_id)
    entry = services.batches.archive(batch_id, archive_id)
    if entry is None:
        bound.warning("archive.missing")
        return None
    if entry.state != ArchiveState.EXPANDING:
        bound.info("archive.already_expanded", state=entry.state)
        return entry
    started = time.monotonic()
    try:
        jobs, skipped = _expand(batch_id, entry, services, Limits.of(settings))
    except ArchiveRejected as exc:
        return reject(batch_id, entry, services, exc.code, exc.message)
    except SoftTimeLimitExceeded:
        return reject(batch_id, entry, services, ErrorCode.TIMEOUT, "expanding the archive took too long")
    except TRANSIENT_ERRORS:
        raise  # the task retries
    except Exception as exc:
        bound.exception("archive.crashed")
        return reject(batch_id, entry, services, ErrorCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
    for job in jobs:
        services.jobs.create_new(job)
    # Queue what is still queued: after a crash between recording and queueing, a re-run queues the
    # rest without running again the jobs that already ran.
    for row in services.batches.job_rows([j.id for j in jobs if j.state == JobState.QUEUED]):
        if row["state"] == JobState.QUEUED:
            enqueue(row["id"])
    done = entry.model_copy(update={"state": ArchiveState.EXPANDED, "members": len(jobs), "skipped": skipped})
    services.batches.finish_archive(batch_id, done)
    refused = sum(1 for j in jobs if j.state == JobState.FAILED)
    bound.info(
        "archive.expanded",
        members=len(jobs),
        refused=refused,
        skipped=skipped,
        seconds=round(time.monotonic() - started, 3),
    )
    return done


def _expand(
    batch_id: str, entry: ArchiveEntry, services: ArchiveServices, limits: Limits
) -> tuple[list[Job], int]:
    with tempfile.TemporaryFile() as spool:
        services.objects.download_original(entry.original_key, spool)
        spool.seek(0)
        expansion = _Expansion(batch_id, entry.id, entry.filename or f"archive-{entry.id}", services.objects)
        with open_archive(spool, Budget.of(limits)) as reader:
            expansion.walk(reader, prefix="", key="", nested=False)
    return expansion.jobs, expansion.skipped


@dataclass
class _Expansion:
    """The jobs one uploaded archive becomes, its nested archives opened one level deep."""

    batch_id: str
    archive_id: str
    root: str  # the uploaded archive's name: the start of every member's source_path
    objects: ObjectStore
    jobs: list[Job] = field(default_factory=list)
    skipped: int = 0

    def walk(self, reader: ArchiveReader, *, prefix: str, key: str, nested: bool) -> None:
        """Store or refuse every member of `reader`; `key` makes job ids unique and stable per member
        ("3" for the fourth entry of the upload, "3.7" for the eighth entry of the archive that is)."""
        for member in reader.members():
            path, member_key = prefix + member.name, f"{key}{member.index}"
            if member.error is not None:
                self._refuse(member_key, path, member.size, *member.error)
                continue
            try:
                with reader.open(member) as stream:
                    if stream.kind is None:
                        stored = self.objects.put_original(stream, max_bytes=stream.max_bytes)
                        self.jobs.append(self._job(member_key, path, stored.size, stored=stored))
                    elif nested:
                        message = f"{path!r} is an archive in an archive in the upload; upload it on its own"
                        self._refuse(member_key, path, member.size, ArchiveCode.NESTED, message)
                    else:
                        self._open_nested(stream, path, member_key)
            except MemberRejected as exc:
                self._refuse(member_key, path, member.size, exc.code, exc.message)
            except UploadTooLarge:
                message = f"{path!r} exceeds {reader.budget.limits.max_member_bytes} bytes uncompressed"
                self._refuse(member_key, path, member.size, ArchiveCode.MEMBER_TOO_LARGE, message)
        self.skipped += reader.skipped

    def _open_nested(self, stream: MemberReader, path: str, key: str) -> None:
        """Expand an archive found inside the upload into its members, within the upload's budget (the
        per-file cap would refuse any useful archive; the total still bounds it)."""
        stream.max_bytes = stream.size + stream.budget.bytes
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(stream, spool)
            spool.seek(0)
            try:
                with open_archive(spool, stream.budget) as inner:
                    self.walk(inner, prefix=path + "/", key=key + ".", nested=True)
            except ArchiveRejected as exc:
                if exc.code != ArchiveCode.CORRUPT:
                    raise  # a bomb or too much: the budget is the upload's, so is the refusal
                self._refuse(key, path, stream.size, exc.code, f"{path!r}: {exc.message}")

    def _job(self, key: str, path: str, size: int, *, stored: StoredOriginal | None = None) -> Job:
        return Job(
            id=member_job_id(self.batch_id, self.archive_id, key),
            created=now(),
            filename=path,
            source_path=f"{self.root}/{path}",
            sha256=stored.sha256 if stored else None,
            size=size,
            original_key=stored.key if stored else None,
            batch_id=self.batch_id,
        )

    def _refuse(self, key: str, path: str, size: int, code: str, message: str) -> None:
        job = self._job(key, path, size)
        self.jobs.append(
            job.model_copy(
                update={
                    "state": JobState.FAILED,
                    "finished": job.created,
                    "error": JobError(code=code, message=message),
                }
            )
        )


def reject(
    batch_id: str, entry: ArchiveEntry, services: ArchiveServices, code: str, message: str
) -> ArchiveEntry:
    """The whole archive failed: one failed job stands for it in the batch (and in the exports)."""
    if entry.state != ArchiveState.EXPANDING:
        return entry
    log.info("archive.rejected", batch_id=batch_id, archive_id=entry.id, code=code, message=message)
    stamp = now()
    services.jobs.create_new(
        Job(
            id=member_job_id(batch_id, entry.id, -1),
            state=JobState.FAILED,
            created=stamp,
            finished=stamp,
            filename=entry.filename,
            source_path=entry.filename,
            sha256=entry.sha256,
            size=entry.size,
            original_key=entry.original_key,
            batch_id=batch_id,
            error=JobError(code=code, message=message),
        )
    )
    failed = entry.model_copy(
        update={"state": ArchiveState.FAILED, "members": 0, "error": JobError(code=code, message=message)}
    )
    services.batches.finish_archive(batch_id, failed)
    return failed
