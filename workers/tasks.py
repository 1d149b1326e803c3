"""The Celery tasks and the signals that move the job record around them.

`process_document`'s body is `pipeline.run_job`; the signals record what the body cannot see: the
start of each attempt, a retry after a transient error, and a failure that escaped (retries
exhausted). `expand_archive` turns an uploaded ZIP into jobs of its batch; whoever finishes the
last job of a batch queues `export_batch`.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from typing import Any

from celery import signals
from celery.exceptions import TimeLimitExceeded

from gongkai.log import configure_logging, get_logger
from gongkai.settings import get_settings
from storage import (
    TRANSIENT_ERRORS,
    BatchStore,
    ErrorCode,
    JobNotFound,
    JobState,
    JobStore,
    ObjectStore,
    Stage,
)
from workers import archives, exports, pipeline
from workers.celery_app import EXPAND_TASK, EXPORT_TASK, TASK_NAME, app

log = get_logger("gongkai.worker")
_settings = get_settings()
# When updating the record itself fails: the job is gone, or the store is what is down.
_UNRECORDABLE: tuple[type[BaseException], ...] = (JobNotFound, *TRANSIENT_ERRORS)


@lru_cache(maxsize=1)
def clients() -> pipeline.Services:
    """One set of clients per worker process (created lazily, after the fork; no network yet)."""
    return pipeline.Services(
        jobs=JobStore.from_settings(_settings),
        objects=ObjectStore(_settings),
        max_lost_attempts=_settings.task_max_lost_attempts,
    )


_buckets_ready = False


def services() -> pipeline.Services:
    """The clients, once the buckets are known to exist. Raises a transient error while S3 is down
    (the task retries); the signal handlers use `clients()`, so attempts and retries are still
    recorded in Redis during an S3 outage."""
    global _buckets_ready
    s = clients()
    if not _buckets_ready:
        s.objects.ensure_buckets()
        _buckets_ready = True
    return s


# A retry is a new message: while Redis restarts, Celery's default publish policy (3 tries in 0.4 s)
# gives up and drops the job (Reject, requeue=False). Wait up to about a minute for the broker.
BROKER_WAIT = {"max_retries": 30, "interval_start": 0.5, "interval_step": 0.5, "interval_max": 2.0}

# Every task retries storage/broker outages alone, with backoff; bad input fails the job at once.
RETRY_TRANSIENT: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": _settings.task_max_retries,
    "retry_kwargs": {"retry_policy": BROKER_WAIT},
}


@lru_cache(maxsize=1)
def batches() -> BatchStore:
    return BatchStore(clients().jobs.redis, ttl_seconds=_settings.job_ttl_seconds)


@app.task(
    name=TASK_NAME,
    **RETRY_TRANSIENT,
)
def process_document(job_id: str) -> str | None:
    state = pipeline.run_job(job_id, services())
    if state is not None:
        _after_job(job_id, clients().jobs, batches())
    return state.value if state else None


def enqueue_document(job_id: str) -> None:
    process_document.apply_async(args=(job_id,), task_id=job_id)


@app.task(
    name=EXPAND_TASK,
    **RETRY_TRANSIENT,
)
def expand_archive(batch_id: str, archive_id: str) -> str | None:
    s = services()
    store = batches()
    services_ = archives.ArchiveServices(jobs=s.jobs, batches=store, objects=s.objects)
    entry = archives.expand_archive(batch_id, archive_id, services_, _settings, enqueue_document)
    _maybe_export(batch_id, store)  # an archive of nothing but refused members finishes here
    return entry.state.value if entry else None


@app.task(
    name=EXPORT_TASK,
    **RETRY_TRANSIENT,
)
def export_batch(batch_id: str) -> dict[str, int] | None:
    # None when the API is already building them for a client that asked first.
    return exports.build_exports_once(
        batch_id, batches(), services().objects, lock_seconds=_settings.task_time_limit
    )


def _after_job(job_id: str, jobs: JobStore, store: BatchStore) -> None:
    with contextlib.suppress(JobNotFound):
        batch_id = jobs.get(job_id).batch_id
        if batch_id:
            _maybe_export(batch_id, store)


def _maybe_export(batch_id: str, store: BatchStore) -> None:
    if store.claim_export(batch_id):
        log.info("batch.finished", batch_id=batch_id)
        export_batch.apply_async(args=(batch_id,), task_id=f"export-{batch_id}")


def _job_id(args: Any) -> str | None:
    return str(args[0]) if args else None


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    configure_logging(_settings.log_level, json=_settings.log_json)


@signals.task_prerun.connect(sender=process_document)
def _on_prerun(task_id: str, args: Any = None, **_: Any) -> None:
    job_id = _job_id(args)
    if job_id is None:
        return
    try:
        attempt = clients().jobs.start_attempt(job_id)
    except JobNotFound:
        return
    log.info("job.started", job_id=job_id, attempt=attempt)


@signals.task_retry.connect(sender=process_document)
def _on_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    job_id = _job_id(getattr(request, "args", None))
    if job_id is None:
        return
    log.warning("job.retrying", job_id=job_id, reason=str(reason))
    # The store itself may be what is down; the next attempt records its own start anyway.
    with contextlib.suppress(*_UNRECORDABLE):
        clients().jobs.update(job_id, state=JobState.QUEUED, stage=Stage.RETRYING)


@signals.task_failure.connect(sender=process_document)
def _on_failure(args: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    job_id = _job_id(args)
    if job_id is None:
        return
    # Sent in the worker's main process for a hard time limit (the child was killed), in the child
    # when retries of a transient error ran out.
    if isinstance(exception, TimeLimitExceeded):
        code = ErrorCode.TIMEOUT
    elif isinstance(exception, TRANSIENT_ERRORS):
        code = ErrorCode.STORAGE_UNAVAILABLE
    else:
        code = ErrorCode.INTERNAL_ERROR
    log.error(
        "job.task_failed", job_id=job_id, code=code, error=pipeline.short_message(exception or Exception())
    )
    # A client of its own: this may run in the main process, whose clients a forked child would inherit.
    jobs = JobStore.from_settings(_settings)
    try:
        jobs.fail(job_id, code, pipeline.short_message(exception or Exception("task failed")))
        _after_job(job_id, jobs, BatchStore(jobs.redis))
    except _UNRECORDABLE:
        log.error("job.unrecorded_failure", job_id=job_id)
    finally:
        jobs.redis.close()


@signals.worker_process_init.connect
def _fresh_clients(**_: Any) -> None:
    # Never share sockets with the parent across fork.
    clients.cache_clear()
    batches.cache_clear()


@signals.task_failure.connect(sender=expand_archive)
def _on_expand_failure(args: Any = None, exception: BaseException | None = None, **_: Any) -> None:
    # Retries ran out or the hard time limit killed the child: without this the archive would stay
    # `expanding` and its batch would never finish.
    if not args or len(args) < 2:
        return
    batch_id, archive_id = str(args[0]), str(args[1])
    code = ErrorCode.TIMEOUT if isinstance(exception, TimeLimitExceeded) else ErrorCode.STORAGE_UNAVAILABLE
    if not isinstance(exception, (TimeLimitExceeded, *TRANSIENT_ERRORS)):
        code = ErrorCode.INTERNAL_ERROR
    jobs = JobStore.from_settings(_settings)
    try:
        store = BatchStore(jobs.redis, ttl_seconds=_settings.job_ttl_seconds)
        entry = store.archive(batch_id, archive_id)
        if entry is not None:
            services_ = archives.ArchiveServices(jobs=jobs, batches=store, objects=ObjectStore(_settings))
            message = pipeline.short_message(exception or Exception("task failed"))
            archives.reject(batch_id, entry, services_, code, message)
            _maybe_export(batch_id, store)
    except _UNRECORDABLE:
        log.error("archive.unrecorded_failure", batch_id=batch_id, archive_id=archive_id)
    finally:
        jobs.redis.close()
