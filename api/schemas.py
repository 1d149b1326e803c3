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
    sha256: str | None
    size: int
    media_type: str | None
    error: JobError | None
    batch_id: str | None = None
    links: dict[str, str]

    @classmethod
    def of(cls, job: Job) -> JobStatus:
        base = f"/v1/jobs/{job.id}"
        links = {"self": base, "original": f"{base}/original"}
        if job.state == JobState.SUCCEEDED:
            links |= {"result": f"{base}/result", "text": f"{base}/text"}
        return cls(**job.model_dump(exclude={"original_key", "result_key"}), links=links)


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
    state: JobState | None  # None if the job record has expired
    error: JobError | None


class BatchStatus(BaseModel):
    id: str
    created: datetime
    finished: bool
    total: int  # jobs so far (grows while archives are expanded)
    counts: Counts
    progress: float  # finished jobs / total, 0 while archives are still expanding and no job exists
    archives_pending: int
    archives: list[BatchArchive]
    offset: int
    limit: int
    jobs: list[BatchJob]
    links: dict[str, str]
