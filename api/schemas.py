"""Response bodies (the request body of an upload is multipart form data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from storage import ArchiveEntry, ArchiveState, Counts, Job, JobError, JobState, Progress, Stage


class AcceptedJob(BaseModel):
    id: str
    filename: str | None
    sha256: str
    size: int
    state: JobState
    location: str
    # the earlier job of the same bytes whose result this one took (nothing was queued)
    duplicate_of: str | None = None


class Accepted(BaseModel):
    jobs: list[AcceptedJob]


class JobStatus(BaseModel):
    id: str
    state: JobState
    stage: Stage
    progress: Progress
    created: datetime
    started: datetime | None
    finished: datetime | None
    attempts: int
    filename: str | None
    source_path: str | None = None  # for a job of a batch: the file's name or its path through archives
    sha256: str | None
    size: int
    media_type: str | None
    error: JobError | None
    batch_id: str | None = None
    duplicate_of: str | None = None  # the earlier job of the same bytes whose outcome this one took
    needs_review: bool | None = None  # succeeded with flagged fields or failing checks
    cancel_requested: bool = False  # a cancel reached it while running; it stops at its next page
    links: dict[str, str]

    @classmethod
    def of(cls, job: Job) -> JobStatus:
        base = f"/v1/jobs/{job.id}"
        links = {"self": base, "original": f"{base}/original"}
        if job.state == JobState.SUCCEEDED:
            links |= {"result": f"{base}/result", "text": f"{base}/text"}
        return cls(**job.model_dump(exclude={"original_key", "result_key", "force"}), links=links)


class PageInfo(BaseModel):
    number: int
    method: str
    reason: str
    confidence: float | None


class Source(BaseModel):
    filename: str | None
    sha256: str | None
    size: int
    media_type: str | None
    # where the tables were read from: markup (HTML/Word), text_layer, ocr ("+" when pages differ), text
    tables_from: str | None = None  # None in results stored before it was recorded


class Result(BaseModel):
    """The parsed report: `document` is the canonical schema (fields, checks, flags, needs_review)."""

    job_id: str
    source: Source
    document: dict[str, Any]
    pages: list[PageInfo]


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


class BatchArchive(BaseModel):
    id: str
    filename: str | None
    sha256: str
    size: int
    state: ArchiveState
    members: int | None  # files that became jobs (stored, or refused with a code)
    skipped: int | None  # directories and OS junk
    error: JobError | None

    @classmethod
    def of(cls, entry: ArchiveEntry) -> BatchArchive:
        return cls.model_validate(entry.model_dump(exclude={"original_key"}))


class BatchAccepted(BaseModel):
    id: str
    location: str
    jobs: list[AcceptedJob]  # one per document uploaded as it is
    archives: list[BatchArchive]  # expanded by a worker; their members appear in the batch as jobs


class BatchJob(BaseModel):
    id: str
    filename: str | None
    source_path: str | None = None  # "upload.zip/dir/inner.tar.gz/report.pdf" for a nested member
    state: JobState | None  # None if the job record has expired
    error: JobError | None
    needs_review: bool | None = None
    duplicate_of: str | None = None
    position: int | None = None  # in the batch (0-based): the cursor for /jobs?after=


class FailedMember(BaseModel):
    id: str
    source_path: str | None
    code: str | None
    message: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> FailedMember:
        error = row.get("error") or {}
        return cls(
            id=row["id"],
            source_path=row.get("source_path") or row.get("filename"),
            code=error.get("code"),
            message=error.get("message"),
        )


class BatchPages(BaseModel):
    done: int
    total: int  # pages of the jobs that know how many they have (grows as jobs start)


class BatchStatus(BaseModel):
    id: str
    created: datetime
    finished: bool
    total: int  # jobs so far (grows while archives are expanded)
    counts: Counts  # every job state, 0 included
    progress: float  # finished jobs / total, 0 while archives are still expanding and no job exists
    pages: BatchPages
    # seconds to go at the batch's observed rate; null until it can be estimated, 0 once finished
    eta_seconds: float | None
    archives_pending: int
    archives: list[BatchArchive]
    # the first failed jobs (up to `failed_limit`; all of them: links.failed), in batch order
    failed_members: list[FailedMember]
    offset: int
    limit: int
    jobs: list[BatchJob]
    links: dict[str, str]


class BatchRerun(BaseModel):
    id: str
    which: str
    requeued: list[str]  # the job ids queued again
    location: str


class BatchJobsPage(BaseModel):
    batch_id: str
    state: JobState | None  # the filter, if any
    total: int  # jobs matching the filter
    offset: int  # (ignored when the page was asked for `after` a position)
    limit: int
    jobs: list[BatchJob]
    links: dict[str, str]


class FeedResult(BaseModel):
    """One finished job in the change feed (GET /v1/results)."""

    cursor: str
    job_id: str
    batch_id: str | None
    state: JobState
    finished: datetime | None
    error: JobError | None
    result: str | None  # the result's URL when the job succeeded


class FeedPage(BaseModel):
    results: list[FeedResult]
    next: str | None  # `since` for the next poll (the same cursor when nothing new arrived)


class Delivery(BaseModel):
    """One attempt to POST a webhook."""

    attempt: int
    url: str
    event: str
    time: datetime
    status_code: int | None
    error: str | None
    delivered: bool


class Deliveries(BaseModel):
    callback_url: str | None
    deliveries: list[Delivery]


class BatchCancelled(BaseModel):
    id: str
    cancelled: int  # queued jobs this request cancelled
    cancelling: int  # running jobs asked to stop at their next page or stage
    finished: bool  # whether the batch has nothing left to run
    counts: Counts
