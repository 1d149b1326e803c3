"""The processing pipeline as small stage functions, usable with or without Celery.

fetch original → extract (with page progress) → parse → store result JSON + text → mark job.
`parse_bytes` is the part without any service (the CLI's `gongkai parse`); `run_job` adds storage
and the job record (the Celery task's body).

Failures are values on the job, not crashes of the worker: an `ExtractionError` keeps its code, a
`report.errors.ReportError` (e.g. not_a_report) its code, anything unexpected is `internal_error`
with a short message. Transient storage/broker errors are re-raised so the task retries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from celery.exceptions import SoftTimeLimitExceeded

from extract import ExtractionError, ExtractOptions, extract_document, sniff_media_type
from extract.dispatch import tables_from
from extract.sniff import sniff_container
from gongkai.log import get_logger
from gongkai.settings import get_settings
from report.document import Document
from storage import TRANSIENT_ERRORS, ErrorCode, Job, JobNotFound, JobState, JobStore, ObjectStore, Stage

log = get_logger("gongkai.pipeline")

Progress = Callable[[int, int], None]


class CanonicalReport(Protocol):
    def to_canonical(self) -> dict[str, Any]: ...


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


def extract(data: bytes, progress: Progress | None = None) -> Document:
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


def parse_bytes(data: bytes, progress: Progress | None = None) -> Parsed:
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


def run_job(job_id: str, services: Services) -> JobState | None:
    """Process one job end to end; returns its final state (None if the job record is gone).

    Idempotent: a re-run overwrites the same result objects and the same job fields.
    """
    jobs, objects = services.jobs, services.objects
    bound = log.bind(job_id=job_id)
    try:
        job = jobs.get(job_id)
    except JobNotFound:
        bound.warning("job.missing")
        return None
    media_type: str | None = None
    if job.lost_attempts >= services.max_lost_attempts:
        message = f"the worker process died {job.lost_attempts} times while processing this document"
        bound.error("job.worker_lost", lost_attempts=job.lost_attempts)
        jobs.fail(job_id, ErrorCode.INTERNAL_ERROR, message)
        return JobState.FAILED
    try:
        jobs.update(job_id, stage=Stage.FETCHING)
        if job.original_key is None:  # an archive member refused at expansion; never enqueued
            raise JobFailure(ErrorCode.INTERNAL_ERROR, "the job has no stored original")
        data = objects.get_original(job.original_key)
        # a ZIP's or OLE2 file's type needs the whole bytes (.docx vs archive, .doc vs .xls)
        media_type = sniff_container(data, sniff_media_type(data[:4096])) if data else None
        jobs.update(job_id, stage=Stage.EXTRACTING, media_type=media_type)
        document = extract(data, progress=lambda done, total: jobs.set_progress(job_id, done, total))
        media_type = document.media_type
        bound.info("job.extracted", pages=len(document.pages), media_type=media_type)
        jobs.update(job_id, stage=Stage.PARSING)
        parsed = Parsed(document=document, canonical=parse(document))
        jobs.update(job_id, stage=Stage.STORING)
        key = objects.put_result(job_id, build_result(job, parsed), document.text)
    except JobFailure as failure:
        bound.info("job.failed", code=failure.code, message=failure.message)
        jobs.fail(job_id, failure.code, failure.message, media_type=media_type)
        return JobState.FAILED
    except SoftTimeLimitExceeded:
        bound.warning("job.timeout")
        jobs.fail(
            job_id, ErrorCode.TIMEOUT, "processing took longer than the time limit", media_type=media_type
        )
        return JobState.FAILED
    except TRANSIENT_ERRORS:
        raise  # the task retries these with backoff
    except Exception as exc:
        bound.exception("job.crashed")
        jobs.fail(job_id, ErrorCode.INTERNAL_ERROR, short_message(exc), media_type=media_type)
        return JobState.FAILED
    jobs.succeed(job_id, result_key=key, media_type=media_type)
    bound.info("job.succeeded", result_key=key)
    return JobState.SUCCEEDED


def short_message(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
