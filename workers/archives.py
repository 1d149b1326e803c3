"""Expanding an uploaded ZIP archive into one job per member (the body of the expand task).

The archive comes from S3 into a temp file (never into memory) and is read member by member:
each member is streamed through the caps of `storage.archives.MemberReader` into content-addressed
storage. Only when every member has been stored or refused are the jobs recorded and queued, so a
zip bomb found at member 4,000 leaves no half-batch behind (the originals already stored are
content-addressed and harmless).

Re-running (a redelivered or retried task) is safe: job ids are derived from (batch, archive,
member index), `JobStore.create_new` skips existing ones, and the archive leaves `expanding` once.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

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
    ArchiveRejected,
    Limits,
    Member,
    MemberReader,
    MemberRejected,
    open_archive,
    scan,
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
        with open_archive(spool) as zf:
            found = scan(zf, limits)
            budget = [limits.max_total_bytes]
            jobs: list[Job] = []
            for member in found.members:
                job_id = member_job_id(batch_id, entry.id, member.index)
                if member.error is not None:
                    jobs.append(_refused(job_id, batch_id, member, *member.error))
                    continue
                try:
                    with MemberReader(zf, member, limits, budget) as reader:
                        stored = services.objects.put_original(reader, max_bytes=limits.max_member_bytes)
                except MemberRejected as exc:
                    jobs.append(_refused(job_id, batch_id, member, exc.code, exc.message))
                    continue
                except UploadTooLarge:
                    message = f"{member.name!r} exceeds {limits.max_member_bytes} bytes uncompressed"
                    jobs.append(_refused(job_id, batch_id, member, ArchiveCode.MEMBER_TOO_LARGE, message))
                    continue
                except NotImplementedError as exc:  # a compression method zipfile cannot read
                    code = ArchiveCode.UNSUPPORTED_COMPRESSION
                    jobs.append(_refused(job_id, batch_id, member, code, f"{member.name!r}: {exc}"))
                    continue
                jobs.append(_stored(job_id, batch_id, member, stored))
    return jobs, found.skipped


def _stored(job_id: str, batch_id: str, member: Member, stored: StoredOriginal) -> Job:
    return Job(
        id=job_id,
        created=now(),
        filename=member.name,
        sha256=stored.sha256,
        size=stored.size,
        original_key=stored.key,
        batch_id=batch_id,
    )


def _refused(job_id: str, batch_id: str, member: Member, code: str, message: str) -> Job:
    stamp = now()
    return Job(
        id=job_id,
        state=JobState.FAILED,
        created=stamp,
        finished=stamp,
        filename=member.name,
        sha256=None,
        size=member.info.file_size,
        original_key=None,
        batch_id=batch_id,
        error=JobError(code=code, message=message),
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
            sha256=entry.sha256,
            size=entry.size,
            original_key=entry.original_key,
            media_type="application/zip",
            batch_id=batch_id,
            error=JobError(code=code, message=message),
        )
    )
    failed = entry.model_copy(
        update={"state": ArchiveState.FAILED, "members": 0, "error": JobError(code=code, message=message)}
    )
    services.batches.finish_archive(batch_id, failed)
    return failed
