"""The job record, kept in Redis (which runs with AOF, so jobs survive restarts of every process).

One Redis hash per job; each field holds a JSON value, so single fields (stage, progress, attempts)
can be updated atomically without rewriting the record.

A job of a batch names it (`batch_id`), and every write that changes `state` moves the batch's
per-state counter in the same Lua call, from the state it really left: a retried or redelivered job
passes through running again but is counted once (storage/batches.py reads the counters).
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
BATCH_PREFIX = "gongkai:batch:"
# The change feed (storage/feed.py): one stream per tenant, appended to by `_WRITE` below.
FEED_PREFIX = "gongkai:feed:"
DEFAULT_TENANT = "default"

# KEYS[1] job hash; ARGV: ttl, mode ('create': only if absent, 'update': only if present, 'put'),
# a field to increment ('' for none), then field/value pairs (JSON values).
# Returns 0 when 'create' found the job there, -1 when 'update' did not, else 1 (or the increment).
# The batch keys are derived from the record (standalone Redis; not for Cluster).
_WRITE = """
local key = KEYS[1]
local exists = redis.call('EXISTS', key)
if ARGV[2] == 'create' and exists == 1 then return 0 end
if ARGV[2] == 'update' and exists == 0 then return -1 end
local old = redis.call('HGET', key, 'state')
local result = 1
if ARGV[3] ~= '' then result = redis.call('HINCRBY', key, ARGV[3], 1) end
-- a new attempt of a job still running: the attempt before died without recording an outcome
if ARGV[3] == 'attempts' and old == '"running"' then redis.call('HINCRBY', key, 'lost_attempts', 1) end
local pairs_ = {}
for i = 4, #ARGV do pairs_[#pairs_ + 1] = ARGV[i] end
redis.call('HSET', key, unpack(pairs_))
local ttl = tonumber(ARGV[1])
if ttl > 0 then redis.call('EXPIRE', key, ttl) end
local batch = redis.call('HGET', key, 'batch_id')
local new = redis.call('HGET', key, 'state')
-- the change feed: the first time the job is final, in this same write (never twice, never missed)
if (new == '"succeeded"' or new == '"failed"') and redis.call('HEXISTS', key, 'feed_id') == 0 then
  local tenant = redis.call('HGET', key, 'tenant')
  local t = '@DEFAULT_TENANT@'
  if tenant and tenant ~= 'null' then t = cjson.decode(tenant) end
  local xadd = {'XADD', '@FEED_PREFIX@' .. t}
  -- entries older than the job records they name go (a poller further behind than that lost them)
  if ttl > 0 then
    local since = (tonumber(redis.call('TIME')[1]) - ttl) * 1000
    xadd[#xadd + 1] = 'MINID'; xadd[#xadd + 1] = string.format('%d', since)
  end
  local fields = {'*', 'job_id', cjson.encode(string.sub(key, @ID_START@)), 'batch_id', batch or 'null',
    'state', new, 'finished', redis.call('HGET', key, 'finished') or 'null',
    'error', redis.call('HGET', key, 'error') or 'null'}
  for _, v in ipairs(fields) do xadd[#xadd + 1] = v end
  local fid = redis.call(unpack(xadd))
  redis.call('HSET', key, 'feed_id', cjson.encode(fid))
end
if not batch or batch == 'null' or old == new then return result end
local bkey = '@BATCH_PREFIX@' .. cjson.decode(batch)
-- an expired batch is not brought back as a hash of counters alone
if redis.call('EXISTS', bkey) == 0 then return result end
if old then redis.call('HINCRBY', bkey, 'n_' .. cjson.decode(old), -1) end
redis.call('HINCRBY', bkey, 'n_' .. cjson.decode(new), 1)
if not old then
  redis.call('RPUSH', bkey .. ':jobs', string.sub(key, @ID_START@))
  if ttl > 0 then redis.call('EXPIRE', bkey .. ':jobs', ttl) end
end
return result
"""
_WRITE = _WRITE.replace("@BATCH_PREFIX@", BATCH_PREFIX).replace("@ID_START@", str(len(KEY_PREFIX) + 1))
_WRITE = _WRITE.replace("@FEED_PREFIX@", FEED_PREFIX).replace("@DEFAULT_TENANT@", DEFAULT_TENANT)


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
    # Attempts whose worker process died (OOM, segfault, SIGKILL) before recording any outcome: the
    # broker redelivers the message, and a document that kills every worker must not loop forever.
    lost_attempts: int = 0
    filename: str | None = None
    # None for an archive member refused before it was stored (unsafe_path, encrypted, …)
    sha256: str | None
    size: int
    media_type: str | None = None
    original_key: str | None
    result_key: str | None = None
    error: JobError | None = None
    batch_id: str | None = None
    # POSTed (signed) when the job finishes; only for a job uploaded alone (a batch has its own)
    callback_url: str | None = None


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
        self._script = client.register_script(_WRITE)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        return cls(make_redis(settings), ttl_seconds=settings.job_ttl_seconds)

    def ping(self) -> None:
        self.redis.ping()

    def create(self, job: Job) -> Job:
        self._write(job.id, job.model_dump(mode="json"))
        return job

    def create_new(self, job: Job) -> bool:
        """Record the job unless a job with its id exists (a re-run archive expansion); True if new.

        A job of a batch is appended to the batch's list and counted in the same call."""
        return bool(self._write(job.id, job.model_dump(mode="json"), mode="create"))

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
        self._write(job_id, {name: _dump(value) for name, value in fields.items()}, mode="update")

    def start_attempt(self, job_id: str) -> int:
        """Mark the job running and count the attempt; returns the attempt number.

        Starting a job that is still `running` counts a lost attempt (`lost_attempts`): the attempt
        before ended without success, failure or retry being recorded, i.e. its process died."""
        return self._write(
            job_id,
            {"state": JobState.RUNNING, "stage": Stage.FETCHING, "started": now().isoformat(),
             "finished": None, "error": None},
            mode="update",
            increment="attempts",
        )  # fmt: skip

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

    def _write(self, job_id: str, data: dict[str, Any], *, mode: str = "put", increment: str = "") -> int:
        args: list[str | int] = [self.ttl, mode, increment]
        for name, value in data.items():
            args += [name, json.dumps(value, ensure_ascii=False)]
        written = int(self._script(keys=[_key(job_id)], args=args))
        if written < 0:
            raise JobNotFound(job_id)
        return written


def _key(job_id: str) -> str:
    return KEY_PREFIX + job_id


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
