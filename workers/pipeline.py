"""The processing pipeline as small stage functions, usable with or without Celery.

fetch original → extract (with page progress) → parse → store result JSON + text → mark job.
`parse_bytes` is the part without any service (the CLI's `gongkai parse`); `run_job` adds storage
and the job record (the Celery task's body).

Failures are values on the job, not crashes of the worker: an `ExtractionError` keeps its code, a
`report.errors.ReportError` (e.g. not_a_report) its code, anything unexpected is `internal_error`
with a short message. Transient storage/broker errors are re-raised so the task retries.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

from celery.exceptions import SoftTimeLimitExceeded

from extract import ExtractionError, ExtractOptions, extract_document, sniff_media_type
from extract.dispatch import tables_from
from extract.sniff import sniff_container
from gongkai.log import get_logger
from gongkai.settings import get_settings
from report.document import Document, PageMethod
from storage import (
    TRANSIENT_ERRORS,
    BatchStore,
    ErrorCode,
    Job,
    JobNotFound,
    JobState,
    JobStore,
    ObjectStore,
    Progress,
    Stage,
)
from storage.dedup import DedupIndex, count_extraction, reusable_failure, reuse_earlier
from storage.metrics import STAGE_SECONDS, Counter, Metrics
from storage.objects import text_is_stored

log = get_logger("gongkai.pipeline")

OnPage = Callable[[int, int], None]


class CanonicalReport(Protocol):
    def to_canonical(self) -> dict[str, Any]: ...


class JobCancelled(Exception):
    """A client cancelled the job while it ran; raised at the next page or stage boundary."""


class JobFailure(Exception):
    """A permanent failure of one document, with the code a client can switch on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Parsed:
    document: Document
    canonical: dict[str, Any]

    def pages(self) -> list[dict[str, Any]]:
        return [
            {"number": p.number, "method": p.method.value, "reason": p.reason, "confidence": p.confidence}
            for p in self.document.pages
        ]


# -- stages without services ---------------------------------------------------------------------


def extract(data: bytes, progress: OnPage | None = None) -> Document:
    try:
        options = ExtractOptions(convert_legacy_word=get_settings().convert_legacy_word)
        return extract_document(data, options, progress=progress)
    except ExtractionError as exc:
        raise JobFailure(str(exc.code), exc.message) from exc


def parse(document: Document) -> dict[str, Any]:
    # Imported at call time: the parser is a separate package and may be absent in a partial checkout.
    try:
        report_module = importlib.import_module("report")
        errors_module = importlib.import_module("report.errors")
        parse_document = cast(Callable[[Document], CanonicalReport], report_module.parse_document)
    except (ImportError, AttributeError) as exc:
        raise JobFailure(ErrorCode.INTERNAL_ERROR, f"the report parser is not available ({exc})") from exc
    report_error = cast(type[Exception], errors_module.ReportError)
    try:
        report = parse_document(document)
    except report_error as exc:
        code = str(getattr(exc, "code", ErrorCode.NOT_A_REPORT))
        raise JobFailure(code, str(exc) or code) from exc
    return report.to_canonical()


def parse_bytes(data: bytes, progress: OnPage | None = None) -> Parsed:
    document = extract(data, progress)
    return Parsed(document=document, canonical=parse(document))


def build_result(job: Job, parsed: Parsed) -> dict[str, Any]:
    """The result object the API serves: the canonical report plus how each page was read."""
    return {
        "job_id": job.id,
        "source": {
            "filename": job.filename,
            "sha256": job.sha256,
            "size": job.size,
            "media_type": parsed.document.media_type,
            "tables_from": tables_from(parsed.document),
        },
        "document": parsed.canonical,
        "pages": parsed.pages(),
    }


# -- the whole job, with storage -------------------------------------------------------------------


@dataclass(frozen=True)
class Services:
    jobs: JobStore
    objects: ObjectStore
    # see Settings.task_max_lost_attempts
    max_lost_attempts: int = 2
    metrics: Metrics | None = None  # stage durations and OCR pages, shared in Redis


# A short step (parsing, storing, a page) reached within this long of the record's last write waits
# for the next write or the outcome: a 20 ms text job writes its start, its extraction and its
# outcome, not five times. Pollers see those steps, and the worker a client's cancel, this much later.
WRITE_INTERVAL_S = 0.25


class _Stages:
    """Moves the job from stage to stage, stopping at a boundary if a client cancelled it, and times
    each stage (the timings are recorded together at the end: one round trip, not one per stage)."""

    def __init__(self, job_id: str, services: Services) -> None:
        self.job_id = job_id
        self.jobs = services.jobs
        self.metrics = services.metrics
        self.timings: list[tuple[str, float]] = []
        self.current: Stage | None = None
        self.held: dict[str, Any] = {}  # fields waiting for the next write
        self.written = -math.inf  # when the record was last written (time.monotonic)

    def _write(self, *, short: bool, **fields: Any) -> None:
        self.held |= fields
        now = time.monotonic()
        if short and now - self.written < WRITE_INTERVAL_S:
            return
        fields, self.held = self.held, {}
        self.written = now
        if self.jobs.record_running(self.job_id, **fields):
            raise JobCancelled(self.job_id)

    @contextmanager
    def stage(
        self, stage: Stage, *, recorded: bool = False, short: bool = False, **fields: Any
    ) -> Iterator[None]:
        """`recorded`: the job's record was just put in this stage (by the attempt's start).
        `short`: a step of milliseconds, which may wait for the next write (see WRITE_INTERVAL_S)."""
        self.current = stage
        if recorded:
            self.written = time.monotonic()
        else:
            self._write(short=short, stage=stage, **fields)
        started = time.monotonic()
        try:
            yield
        finally:  # a stage that failed took its time too
            self.timings.append((stage.value, time.monotonic() - started))

    def progress(self, done: int, total: int) -> None:
        pages = Progress(pages_done=done, pages_total=total)
        if done >= total:  # nothing left to stop: the next write carries it
            self.held["progress"] = pages
        else:  # between pages: an OCR'd scan stops within one page
            self._write(short=True, progress=pages)

    @property
    def pages(self) -> Progress | None:
        """Pages done not yet written, for the outcome's write."""
        pages: Progress | None = self.held.get("progress")
        return pages

    def fail(self, code: str, message: str, media_type: str | None) -> None:
        self.jobs.fail(self.job_id, code, message, media_type=media_type, progress=self.pages)

    def record_timings(self) -> None:
        if self.metrics is not None and self.timings:
            # the job's outcome is recorded already; figures lost in an outage are not worth a retry
            with contextlib.suppress(*TRANSIENT_ERRORS):
                self.metrics.observe_many(STAGE_SECONDS, self.timings)
            self.timings = []


def run_job(job_id: str, services: Services, job: Job | None = None) -> JobState | None:
    """Process one job end to end; returns its final state (None if the job record is gone).
    `job`: its record as the attempt's start left it, when the caller has read it (the task has).

    Idempotent: a re-run overwrites the same result objects and the same job fields. Unless
    forced, a job whose bytes were processed before takes that outcome (`duplicate_of`) instead.
    """
    jobs = services.jobs
    bound = log.bind(job_id=job_id)
    if job is None:
        try:
            job = jobs.get(job_id)
        except JobNotFound:
            bound.warning("job.missing")
            return None
    if job.state == JobState.CANCELLED:  # cancelled while its message waited; never started
        bound.info("job.skipped_cancelled")
        return JobState.CANCELLED
    if job.lost_attempts >= services.max_lost_attempts:
        message = f"the worker process died {job.lost_attempts} times while processing this document"
        bound.error("job.worker_lost", lost_attempts=job.lost_attempts)
        jobs.fail(job_id, ErrorCode.INTERNAL_ERROR, message)
        return JobState.FAILED
    stages = _Stages(job_id, services)
    try:
        return _run_stages(job, services, stages)
    finally:
        stages.record_timings()


def _run_stages(job: Job, services: Services, stages: _Stages) -> JobState:
    job_id, jobs, objects = job.id, services.jobs, services.objects
    bound = log.bind(job_id=job_id)
    media_type: str | None = None
    index = DedupIndex(jobs.redis, ttl_seconds=jobs.ttl)
    try:
        # The same bytes were processed before (an upload the API could not yet match, an archive
        # member): take that outcome instead of extracting again.
        if not _forced(job, jobs) and (earlier := reuse_earlier(jobs, objects, job)) is not None:
            bound.info("job.duplicate", duplicate_of=earlier.id)
            return earlier.state
        # the attempt's start (the task's first call) recorded this stage; a cancel since then is a flag the
        # next boundary sees
        fetching = job.state == JobState.RUNNING and job.stage == Stage.FETCHING
        with stages.stage(Stage.FETCHING, recorded=fetching):
            if job.original_key is None:  # an archive member refused at expansion; never enqueued
                raise JobFailure(ErrorCode.INTERNAL_ERROR, "the job has no stored original")
            data = objects.get_original(job.original_key)
            # a ZIP's or OLE2 file's type needs the whole bytes (.docx vs archive, .doc vs .xls)
            media_type = sniff_container(data, sniff_media_type(data[:4096])) if data else None
        with stages.stage(Stage.EXTRACTING, media_type=media_type):
            count_extraction(jobs.redis)
            document = extract(data, progress=stages.progress)
        media_type = document.media_type
        ocr_pages = sum(1 for page in document.pages if page.method == PageMethod.OCR)
        if services.metrics is not None:
            services.metrics.incr(Counter.OCR_PAGES, ocr_pages)
        bound.info("job.extracted", pages=len(document.pages), ocr_pages=ocr_pages, media_type=media_type)
        with stages.stage(Stage.PARSING, short=True):
            parsed = Parsed(document=document, canonical=parse(document))
        with stages.stage(Stage.STORING, short=True):
            text = document.text if text_is_stored(media_type) else None
            key = objects.put_result(job_id, build_result(job, parsed), text)
    except JobCancelled:
        if jobs.mark_cancelled(job_id):
            bound.info("job.cancelled", stage=stages.current)
            if services.metrics is not None:
                services.metrics.incr(Counter.CANCELLED)
        return JobState.CANCELLED
    except JobFailure as failure:
        bound.info("job.failed", code=failure.code, message=failure.message)
        stages.fail(failure.code, failure.message, media_type)
        if reusable_failure(failure.code) and job.original_key is not None:
            index.record(job)
        return JobState.FAILED
    except SoftTimeLimitExceeded:
        bound.warning("job.timeout")
        stages.fail(ErrorCode.TIMEOUT, "processing took longer than the time limit", media_type)
        return JobState.FAILED
    except TRANSIENT_ERRORS:
        raise  # the task retries these with backoff
    except Exception as exc:
        bound.exception("job.crashed")
        stages.fail(ErrorCode.INTERNAL_ERROR, short_message(exc), media_type)
        return JobState.FAILED
    review = needs_review(parsed.canonical)
    jobs.succeed(job_id, result_key=key, media_type=media_type, needs_review=review, progress=stages.pages)
    index.record(job)
    bound.info("job.succeeded", result_key=key, needs_review=review)
    return JobState.SUCCEEDED


def needs_review(canonical: dict[str, Any]) -> bool:
    """A person should look at the result: the parser flagged fields or a check failed."""
    checks = canonical.get("checks") or []
    failed = any(isinstance(c, dict) and c.get("passed") is False for c in checks)
    return bool(canonical.get("needs_review") or canonical.get("flags") or failed)


def _forced(job: Job, jobs: JobStore) -> bool:
    """Processed even when an earlier outcome exists: force=true on the upload or its batch, a re-run."""
    return job.force or (job.batch_id is not None and BatchStore(jobs.redis).forced(job.batch_id))


def short_message(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
