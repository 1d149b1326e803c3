"""The Celery tasks and the signals that move the job record around them.

`process_document`'s body is `pipeline.run_job`; the signals record what the body cannot see: the
start of each attempt, a retry after a transient error, and a failure that escaped (retries
exhausted). `expand_archive` turns an uploaded ZIP into jobs of its batch; whoever finishes the
last job of a batch queues `export_batch`, which queues the batch's webhook (`deliver_webhook`) once
the exports are written; a job uploaded alone with a callback_url queues its own when it finishes.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any

import structlog
from celery import signals
from celery.exceptions import TimeLimitExceeded

from gongkai.log import configure_logging, get_logger
from gongkai.settings import get_settings
from storage import (
    TRANSIENT_ERRORS,
    BatchNotFound,
    BatchStore,
    ErrorCode,
    Job,
    JobNotFound,
    JobState,
    JobStore,
    ObjectStore,
    Stage,
)
from storage.deliveries import DeliveryLog, Kind
from storage.jobs import now
from storage.metrics import Counter, Metrics
from workers import archives, exports, pipeline, sweeper, webhooks
from workers.celery_app import (
    BATCH_QUEUE,
    DEFAULT_QUEUE,
    EXPAND_TASK,
    EXPORT_TASK,
    SWEEP_TASK,
    TASK_NAME,
    WEBHOOK_TASK,
    app,
)
from workers.followups import Followups

log = get_logger("gongkai.worker")
_settings = get_settings()
# When updating the record itself fails: the job is gone, or the store is what is down.
_UNRECORDABLE: tuple[type[BaseException], ...] = (JobNotFound, *TRANSIENT_ERRORS)


@lru_cache(maxsize=1)
def clients() -> pipeline.Services:
    """One set of clients per worker process (created lazily, after the fork; no network yet)."""
    jobs = JobStore.from_settings(_settings)
    return pipeline.Services(
        jobs=jobs,
        objects=ObjectStore(_settings),
        max_lost_attempts=_settings.task_max_lost_attempts,
        metrics=Metrics(jobs.redis),
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
    jobs = clients().jobs
    try:
        job = jobs.start(job_id)  # the attempt counted and the record read: one round trip
    except JobNotFound:
        log.warning("job.missing", job_id=job_id)
        return None
    if job.state == JobState.RUNNING:
        log.info("job.started", job_id=job_id, attempt=job.attempts)
    state = pipeline.run_job(job_id, services(), job=job)
    if state is not None:
        # batch and callback are the job's from its creation on: no need to read the record again
        _after_job(job_id, jobs, batches(), job.model_copy(update={"state": state}))
    return state.value if state else None


def enqueue_document(job_id: str) -> None:
    process_document.apply_async(args=(job_id,), task_id=job_id)


def enqueue_archive(batch_id: str, archive_id: str) -> None:
    expand_archive.apply_async(args=(batch_id, archive_id), task_id=expand_task_id(batch_id, archive_id))


def expand_task_id(batch_id: str, archive_id: str) -> str:
    return f"expand-{batch_id}-{archive_id}"  # as the API names it (api/main.py)


@app.task(
    name=EXPAND_TASK,
    **RETRY_TRANSIENT,
)
def expand_archive(batch_id: str, archive_id: str) -> str | None:
    s = services()
    store = batches()
    # Indexed with its deadline: a worker that dies whole mid-expansion leaves it for the sweeper.
    store.start_expansion(batch_id, archive_id, now() + timedelta(seconds=_settings.running_deadline_seconds))
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
    try:
        return exports.build_exports_once(
            batch_id, batches(), services().objects, lock_seconds=_settings.task_time_limit
        )
    finally:
        # Announced after the exports are written (or failed to be: the API builds them on request).
        with contextlib.suppress(*_UNRECORDABLE):
            if batches().get(batch_id).callback_url:
                _queue_webhook("batch", batch_id)


@lru_cache(maxsize=1)
def deliveries() -> DeliveryLog:
    return DeliveryLog(clients().jobs.redis, ttl_seconds=_settings.job_ttl_seconds)


@app.task(
    name=WEBHOOK_TASK,
    autoretry_for=(webhooks.DeliveryFailed, *TRANSIENT_ERRORS),
    retry_backoff=_settings.webhook_retry_backoff,
    retry_backoff_max=_settings.webhook_retry_backoff_max,
    retry_jitter=True,
    max_retries=_settings.webhook_max_retries,
)
def deliver_webhook(kind: Kind, item_id: str) -> int | None:
    """One attempt to POST the finished job's or batch's callback; raising retries it with backoff."""
    try:
        if kind == "job":
            job = clients().jobs.get(item_id)
            url, payload = job.callback_url, webhooks.job_payload(job, _settings.public_base_url)
        else:
            batch = batches().get(item_id)
            url, payload = batch.callback_url, webhooks.batch_payload(batch, _settings.public_base_url)
    except (JobNotFound, BatchNotFound):
        return None  # expired meanwhile: nothing left to announce
    if not url:
        return None
    return webhooks.deliver(
        kind,
        item_id,
        url,
        payload,
        secret=_settings.webhook_secret.get_secret_value(),
        timeout=_settings.webhook_timeout_seconds,
        deliveries=deliveries(),
    )


def _followups(jobs: JobStore, store: BatchStore) -> Followups:
    deliveries_ = DeliveryLog(jobs.redis, ttl_seconds=_settings.job_ttl_seconds)
    return Followups(send_task=app.send_task, jobs=jobs, batches=store, deliveries=deliveries_)


def _queue_webhook(kind: Kind, item_id: str) -> None:
    _followups(clients().jobs, batches()).queue_webhook(kind, item_id)


@app.task(name=SWEEP_TASK)
def sweep() -> dict[str, int]:
    """Run by beat every `sweep_interval_seconds` (see workers/sweeper.py)."""
    s = clients()
    store = batches()
    report = sweeper.sweep(
        sweeper.SweepServices(jobs=s.jobs, batches=store, metrics=s.metrics or Metrics(s.jobs.redis)),
        max_lost_attempts=_settings.task_max_lost_attempts,
        resend_document=lambda job_id: _resend(job_id, DEFAULT_QUEUE, enqueue_document),
        resend_archive=lambda b, a: _resend(
            expand_task_id(b, a), BATCH_QUEUE, lambda _: enqueue_archive(b, a)
        ),
        reject_archive=_reject_lost_archive,
    )
    for job_id in report.finished:
        _after_job(job_id, s.jobs, store)
    return report.counts()


def _resend(task_id: str, queue: str, send: Callable[[str], None]) -> None:
    # The dead attempt's own message, put back at the head of its queue; a fresh one if the broker
    # no longer holds it. Never both: a second message would run the job twice.
    if not sweeper.restore_unacked(clients().jobs.redis, task_id, queue):
        send(task_id)


def _reject_lost_archive(batch_id: str, archive_id: str, losses: int) -> None:
    s = services()
    store = batches()
    entry = store.archive(batch_id, archive_id)
    if entry is None:
        return
    message = f"the worker process died {losses} times while expanding this archive"
    services_ = archives.ArchiveServices(jobs=s.jobs, batches=store, objects=s.objects)
    archives.reject(batch_id, entry, services_, ErrorCode.INTERNAL_ERROR, message)
    _maybe_export(batch_id, store)


def _after_job(job_id: str, jobs: JobStore, store: BatchStore, job: Job | None = None) -> None:
    _followups(jobs, store).after_job(job_id, job)


def _maybe_export(batch_id: str, store: BatchStore) -> None:
    _followups(JobStore(store.redis), store).maybe_export(batch_id)


def _job_id(args: Any) -> str | None:
    return str(args[0]) if args else None


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    configure_logging(_settings.log_level, json=_settings.log_json)


@signals.task_prerun.connect(sender=process_document)
def _on_prerun(task_id: str, args: Any = None, **_: Any) -> None:
    job_id = _job_id(args)
    if job_id is not None:
        # Every log line of the task (the pipeline's, the extractor's, Celery's own) carries the job id.
        structlog.contextvars.bind_contextvars(job_id=job_id)


@signals.task_prerun.connect(sender=expand_archive)
@signals.task_prerun.connect(sender=export_batch)
def _bind_batch(args: Any = None, **_: Any) -> None:
    if args:
        structlog.contextvars.bind_contextvars(batch_id=str(args[0]))


@signals.task_postrun.connect
def _unbind(**_: Any) -> None:
    structlog.contextvars.unbind_contextvars("job_id", "batch_id")


@signals.task_retry.connect(sender=process_document)
def _on_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
    job_id = _job_id(getattr(request, "args", None))
    if job_id is None:
        return
    log.warning("job.retrying", job_id=job_id, reason=str(reason))
    # The store itself may be what is down; the next attempt records its own start anyway.
    with contextlib.suppress(*_UNRECORDABLE):
        clients().jobs.update(job_id, state=JobState.QUEUED, stage=Stage.RETRYING)
        Metrics(clients().jobs.redis).incr(Counter.RETRIED)


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
    deliveries.cache_clear()
    # Everything loaded so far (Celery, the parser, pdfplumber, the models) lives as long as the
    # process: keep it out of the collector's scans, which otherwise cost a PDF job much of its time
    # (pdfplumber allocates many small objects; bench/RESULTS.md, "Text path").
    gc.freeze()


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
