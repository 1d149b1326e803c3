"""The job record, kept in Redis (which runs with AOF, so jobs survive restarts of every process).

One Redis hash per job; each field holds a JSON value, so single fields (stage, progress, attempts)
can be updated atomically without rewriting the record.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import redis
from pydantic import BaseModel, Field

from gongkai.settings import Settings

KEY_PREFIX = "gongkai:job:"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


class Stage(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    EXTRACTING = "extracting"
    PARSING = "parsing"
    STORING = "storing"
    DONE = "done"
    RETRYING = "retrying"  # waiting for a retry after a transient storage/broker error


class ErrorCode(StrEnum):
    """Job failure codes that are not the extractor's (those pass through as they are)."""

    NOT_A_REPORT = "not_a_report"
    INTERNAL_ERROR = "internal_error"
    TIMEOUT = "timeout"
    STORAGE_UNAVAILABLE = "storage_unavailable"


class JobError(BaseModel):
    code: str
    message: str


class Progress(BaseModel):
    pages_done: int = 0
    pages_total: int | None = None


class Job(BaseModel):
    id: str
    state: JobState = JobState.QUEUED
    stage: Stage = Stage.QUEUED
    progress: Progress = Field(default_factory=Progress)
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    attempts: int = 0
    filename: str | None = None
    sha256: str
    size: int
    media_type: str | None = None
    original_key: str
    result_key: str | None = None
    error: JobError | None = None


def now() -> datetime:
    return datetime.now(UTC)


def new_job_id() -> str:
    return uuid.uuid4().hex


def make_redis(settings: Settings) -> redis.Redis[str]:
    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=3,
        socket_timeout=10,
        health_check_interval=30,
    )


class JobNotFound(LookupError):
    pass


class JobStore:
    def __init__(self, client: redis.Redis[str], *, ttl_seconds: int = 0) -> None:
        self.redis = client
        self.ttl = ttl_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        return cls(make_redis(settings), ttl_seconds=settings.job_ttl_seconds)

    def ping(self) -> None:
        self.redis.ping()

    def create(self, job: Job) -> Job:
        self._write(job.id, job.model_dump(mode="json"))
        return job

    def get(self, job_id: str) -> Job:
        raw: dict[str, str] = self.redis.hgetall(_key(job_id))
        if not raw:
            raise JobNotFound(job_id)
        return Job.model_validate({k: json.loads(v) for k, v in raw.items()} | {"id": job_id})

    def exists(self, job_id: str) -> bool:
        return bool(self.redis.exists(_key(job_id)))

    def update(self, job_id: str, **fields: Any) -> None:
        """Set some fields of an existing job (values as in `Job`, serialised here)."""
        if not fields:
            return
        unknown = fields.keys() - Job.model_fields.keys()
        if unknown:
            raise TypeError(f"unknown job fields: {sorted(unknown)}")
        data = {name: _dump(value) for name, value in fields.items()}
        if not self.exists(job_id):
            raise JobNotFound(job_id)
        self._write(job_id, data)

    def start_attempt(self, job_id: str) -> int:
        """Mark the job running and count the attempt; returns the attempt number."""
        pipe = self.redis.pipeline()
        pipe.hincrby(_key(job_id), "attempts", 1)
        pipe.hset(
            _key(job_id),
            mapping={
                "state": json.dumps(JobState.RUNNING),
                "stage": json.dumps(Stage.FETCHING),
                "started": json.dumps(now().isoformat()),
                "finished": "null",
                "error": "null",
            },
        )
        attempts, _ = pipe.execute()
        return int(attempts)

    def set_progress(self, job_id: str, pages_done: int, pages_total: int | None) -> None:
        progress = Progress(pages_done=pages_done, pages_total=pages_total)
        self.redis.hset(_key(job_id), "progress", progress.model_dump_json())

    def succeed(self, job_id: str, *, result_key: str, media_type: str | None) -> None:
        self.update(
            job_id,
            state=JobState.SUCCEEDED,
            stage=Stage.DONE,
            finished=now(),
            result_key=result_key,
            media_type=media_type,
            error=None,
        )

    def fail(self, job_id: str, code: str, message: str, *, media_type: str | None = None) -> None:
        fields: dict[str, Any] = {
            "state": JobState.FAILED,
            "stage": Stage.DONE,
            "finished": now(),
            "error": JobError(code=code, message=message),
        }
        if media_type:
            fields["media_type"] = media_type
        self.update(job_id, **fields)

    def _write(self, job_id: str, data: dict[str, Any]) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(_key(job_id), mapping={k: json.dumps(v, ensure_ascii=False) for k, v in data.items()})
        if self.ttl:
            pipe.expire(_key(job_id), self.ttl)
        pipe.execute()


def _key(job_id: str) -> str:
    return KEY_PREFIX + job_id


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
