"""The dedup index: which earlier job's outcome the same bytes can reuse instead of being processed again.

    gongkai:dedup:{PIPELINE_VERSION}:{tenant or "-"}:{sha256} → the id of the job that processed them

Originals are content-addressed already; this maps content to an outcome. Only outcomes the same
bytes would give again are recorded: a success, or a failure whose code is about the input (not a
timeout, a crash or a storage outage). The key holds the pipeline version, so a new parser version
processes everything again, and the tenant, so one tenant never receives another's result.
"""

from __future__ import annotations

from typing import Any

import redis

from storage.errors import ObjectNotFound
from storage.jobs import ErrorCode, Job, JobNotFound, JobState, JobStore, Stage, now
from storage.objects import ObjectStore, text_is_stored

# Bump whenever extraction or parsing changes what a result holds: earlier results are then not reused.
PIPELINE_VERSION = "2026.11-1"
DEDUP_PREFIX = "gongkai:dedup:"
# Documents the pipeline really extracted (what dedup saves shows here).
EXTRACTIONS_KEY = "gongkai:stats:extractions"
# Failures that say nothing about the bytes: the same file may well succeed next time.
TRANSIENT_FAILURES = frozenset({ErrorCode.TIMEOUT, ErrorCode.INTERNAL_ERROR, ErrorCode.STORAGE_UNAVAILABLE})


def dedup_key(sha256: str, tenant: str | None = None) -> str:
    """The one place the index key is built."""
    return f"{DEDUP_PREFIX}{PIPELINE_VERSION}:{tenant or '-'}:{sha256}"


def tenant_of(job: Job) -> str | None:
    # Jobs carry a tenant once tenancy lands; until then every job is in the one default tenant.
    tenant: str | None = getattr(job, "tenant", None)
    return tenant


def reusable_failure(code: str) -> bool:
    return code not in TRANSIENT_FAILURES


class DedupIndex:
    def __init__(self, client: redis.Redis[str], *, ttl_seconds: int = 0) -> None:
        self.redis = client
        self.ttl = ttl_seconds

    def record(self, job: Job) -> None:
        """`job` processed its bytes (succeeded, or failed for a reason of the bytes): later uploads
        of them reuse its outcome. Expires with the job records."""
        if job.sha256 is None:
            return
        self.redis.set(dedup_key(job.sha256, tenant_of(job)), job.id, ex=self.ttl or None)

    def earlier(self, jobs: JobStore, job: Job) -> Job | None:
        """The earlier job whose outcome `job` can take, or None (then it is processed)."""
        if job.sha256 is None:
            return None
        earlier_id: str | None = self.redis.get(dedup_key(job.sha256, tenant_of(job)))
        if earlier_id is None or earlier_id == job.id:
            return None
        try:
            earlier = jobs.get(earlier_id)
        except JobNotFound:  # expired
            return None
        if earlier.sha256 != job.sha256 or tenant_of(earlier) != tenant_of(job):
            return None
        if earlier.state == JobState.SUCCEEDED:
            return earlier
        failure = earlier.error if earlier.state == JobState.FAILED else None
        if failure is not None and reusable_failure(failure.code):
            return earlier
        return None  # re-run since it was recorded: processing again


def reuse(jobs: JobStore, objects: ObjectStore, job: Job, earlier: Job) -> JobState | None:
    """Give the recorded `job` the outcome of `earlier` (same bytes); None when the earlier result
    object is gone, and the job must be processed after all."""
    fields: dict[str, Any] = {
        "stage": Stage.DONE,
        "finished": now(),
        "media_type": earlier.media_type,
        "progress": earlier.progress,
        "duplicate_of": earlier.id,
    }
    if earlier.state == JobState.FAILED:
        jobs.update(job.id, state=JobState.FAILED, error=earlier.error, **fields)
        return JobState.FAILED
    try:
        result = objects.get_result(earlier.id)
        text = objects.get_text(earlier.id) if text_is_stored(earlier.media_type) else None
    except ObjectNotFound:
        return None
    # The same report; only what names the job and its upload is this job's.
    result["job_id"] = job.id
    result["source"] = {**result.get("source", {}), "filename": job.filename}
    key = objects.put_result(job.id, result, text)
    review = earlier.needs_review
    jobs.update(job.id, state=JobState.SUCCEEDED, result_key=key, needs_review=review, error=None, **fields)
    return JobState.SUCCEEDED


def reuse_earlier(jobs: JobStore, objects: ObjectStore, job: Job) -> Job | None:
    """Reuse an earlier outcome for the recorded `job` if there is one; the earlier job, or None."""
    index = DedupIndex(jobs.redis, ttl_seconds=jobs.ttl)
    earlier = index.earlier(jobs, job)
    if earlier is None or reuse(jobs, objects, job, earlier) is None:
        return None
    return earlier


def count_extraction(client: redis.Redis[str]) -> None:
    client.incr(EXTRACTIONS_KEY)


def extractions(client: redis.Redis[str]) -> int:
    return int(client.get(EXTRACTIONS_KEY) or 0)
