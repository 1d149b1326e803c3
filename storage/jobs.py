"""The job record, kept in Redis (which runs with AOF, so jobs survive restarts of every process).

One Redis hash per job; each field holds a JSON value, so single fields (stage, progress, attempts)
can be updated atomically without rewriting the record.

A job of a batch names it (`batch_id`) and, when recorded, takes the batch's tenant; every write
that changes `state` moves the batch's per-state counter and index in the same Lua call, from the
state it really left: a retried or redelivered job passes through running again but is counted once
(storage/batches.py reads them). A change of `progress` moves the batch's page sums by the
difference the same way.
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
# The batch keys are derived from the record (standalone Redis; not for Cluster). For a job of a batch
# it also keeps, in the same call: the n_<state> counters, the per-state index (a sorted set of job
# ids scored by their position in the batch, so a state's jobs page in batch order without scanning
# the others), the pages_done/pages_total sums of the jobs' progress, when the first job started and how many
# have run to an outcome since (for the ETA).
_WRITE = """
local key = KEYS[1]
local exists = redis.call('EXISTS', key)
if ARGV[2] == 'create' and exists == 1 then return 0 end
if ARGV[2] == 'update' and exists == 0 then return -1 end
local old = redis.call('HGET', key, 'state')
local old_progress = redis.call('HGET', key, 'progress')
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
local bkey
if batch and batch ~= 'null' then bkey = '@BATCH_PREFIX@' .. cjson.decode(batch) end
if bkey and not old then
  -- a new job of a batch belongs to the batch's tenant (archive members are made by a worker)
  local tenant = redis.call('HGET', bkey, 'tenant')
  if tenant and (redis.call('HGET', key, 'tenant') or 'null') == 'null' then
    redis.call('HSET', key, 'tenant', cjson.encode(tenant))
  end
end
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
if not bkey then return result end
-- an expired batch is not brought back as a hash of counters alone
if redis.call('EXISTS', bkey) == 0 then return result end
local new_progress = redis.call('HGET', key, 'progress')
if new_progress ~= old_progress then
  local function pages(raw)
    if not raw then return 0, 0 end
    local p = cjson.decode(raw)
    return tonumber(p['pages_done']) or 0, tonumber(p['pages_total']) or 0
  end
  local done0, total0 = pages(old_progress)
  local done1, total1 = pages(new_progress)
  if done1 ~= done0 then redis.call('HINCRBY', bkey, 'pages_done', done1 - done0) end
  if total1 ~= total0 then redis.call('HINCRBY', bkey, 'pages_total', total1 - total0) end
end
if old == new then return result end
local id = string.sub(key, @ID_START@)
local new_state = cjson.decode(new)
local position
if old then
  local old_index = bkey .. ':state:' .. cjson.decode(old)
  redis.call('HINCRBY', bkey, 'n_' .. cjson.decode(old), -1)
  position = redis.call('ZSCORE', old_index, id)
  redis.call('ZREM', old_index, id)
end
redis.call('HINCRBY', bkey, 'n_' .. new_state, 1)
-- throughput: jobs that ran to an outcome (not back to the queue for a retry)
if old == '"running"' and new_state ~= 'queued' then redis.call('HINCRBY', bkey, 'ran', 1) end
if not old then
  position = redis.call('RPUSH', bkey .. ':jobs', id) - 1
  if ttl > 0 then redis.call('EXPIRE', bkey .. ':jobs', ttl) end
end
if new_state == 'running' then
  local started = redis.call('HGET', key, 'started')
  if started and started ~= 'null' then redis.call('HSETNX', bkey, 'first_started', cjson.decode(started)) end
end
local index = bkey .. ':state:' .. new_state
redis.call('ZADD', index, tonumber(position) or 0, id)
if ttl > 0 then redis.call('EXPIRE', index, ttl) end
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
    # Where in the upload the document came from: the file's name, or its path through the archives
    # it was in ("outer.zip/dir/inner.tar.gz/member.pdf").
    source_path: str | None = None
    # None for an archive member refused before it was stored (unsafe_path, encrypted, …)
    sha256: str | None
    size: int
    media_type: str | None = None
    original_key: str | None
    result_key: str | None = None
    error: JobError | None = None
    batch_id: str | None = None
    # The earlier job of the same bytes whose outcome this job reused instead of processing again.
    duplicate_of: str | None = None
    # Succeeded with failing checks or flagged fields (None until it succeeds).
    needs_review: bool | None = None
    # Process even when an earlier result of the same bytes exists (force=true, or a re-run).
    force: bool = False
    # The API key's tenant that uploaded it (a batch's jobs: the batch's); None is nobody's.
    tenant: str | None = None
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
        # through the Lua write: a job of a batch moves the batch's page sums by the difference
        self.update(job_id, progress=Progress(pages_done=pages_done, pages_total=pages_total))

    def succeed(
        self, job_id: str, *, result_key: str, media_type: str | None, needs_review: bool | None = None
    ) -> None:
        self.update(
            job_id,
            state=JobState.SUCCEEDED,
            stage=Stage.DONE,
            finished=now(),
            result_key=result_key,
            media_type=media_type,
            error=None,
            needs_review=needs_review,
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
