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
from storage.metrics import COUNTERS, JOBS_BY_STATE

KEY_PREFIX = "gongkai:job:"
BATCH_PREFIX = "gongkai:batch:"
# Running jobs by deadline (score: started + task_time_limit + margin, epoch seconds).
RUNNING_INDEX = "gongkai:running"

# KEYS[1] job hash; ARGV: ttl, mode ('create': only if absent, 'update': only if present, 'put'),
# a field to increment ('' for none), the running deadline (epoch seconds; '' to keep the one indexed),
# the states the job may be in ('' for any, else names joined by commas), then field/value pairs
# (JSON values). Returns 0 when 'create' found the job there, -1 when 'update' did not, -2 when the
# job was in another state, else 1 (or the increment).
# Every key besides KEYS[1] is derived from the record (standalone Redis; not for Cluster).
_WRITE = """
local key = KEYS[1]
local id = string.sub(key, @ID_START@)
local exists = redis.call('EXISTS', key)
if ARGV[2] == 'create' and exists == 1 then return 0 end
if ARGV[2] == 'update' and exists == 0 then return -1 end
local old = redis.call('HGET', key, 'state')
if ARGV[5] ~= '' then
  local allowed = false
  for name in string.gmatch(ARGV[5], '[^,]+') do
    if old == '"' .. name .. '"' then allowed = true end
  end
  if not allowed then return -2 end
end
local result = 1
if ARGV[3] ~= '' then result = redis.call('HINCRBY', key, ARGV[3], 1) end
-- a new attempt of a job still running: the attempt before died without recording an outcome
if ARGV[3] == 'attempts' and old == '"running"' then
  redis.call('HINCRBY', key, 'lost_attempts', 1)
  redis.call('HINCRBY', '@COUNTERS@', 'jobs_lost', 1)
end
local pairs_ = {}
for i = 6, #ARGV do pairs_[#pairs_ + 1] = ARGV[i] end
redis.call('HSET', key, unpack(pairs_))
local ttl = tonumber(ARGV[1])
if ttl > 0 then redis.call('EXPIRE', key, ttl) end
local batch = redis.call('HGET', key, 'batch_id')
local bkey = nil
if batch and batch ~= 'null' then bkey = '@BATCH_PREFIX@' .. cjson.decode(batch) end
-- a new job of a cancelled batch (an archive still being expanded) is born cancelled
if ARGV[2] == 'create' and bkey and redis.call('HGET', bkey, 'cancelled') == '1'
    and redis.call('HGET', key, 'state') == '"queued"' then
  redis.call('HSET', key, 'state', '"cancelled"', 'stage', '"done"', 'error', '@CANCELLED_ERROR@')
end
local new = redis.call('HGET', key, 'state')
-- the index of running jobs by deadline, which the sweeper reads (O(stuck jobs), no scan)
if new == '"running"' then
  if ARGV[4] ~= '' then redis.call('ZADD', '@RUNNING@', ARGV[4], id) end
else
  redis.call('ZREM', '@RUNNING@', id)
end
if old == new then return result end
if old then redis.call('HINCRBY', '@BY_STATE@', cjson.decode(old), -1) end
redis.call('HINCRBY', '@BY_STATE@', cjson.decode(new), 1)
if not bkey then return result end
-- an expired batch is not brought back as a hash of counters alone
if redis.call('EXISTS', bkey) == 0 then return result end
if old then redis.call('HINCRBY', bkey, 'n_' .. cjson.decode(old), -1) end
redis.call('HINCRBY', bkey, 'n_' .. cjson.decode(new), 1)
if not old then
  redis.call('RPUSH', bkey .. ':jobs', id)
  if ttl > 0 then redis.call('EXPIRE', bkey .. ':jobs', ttl) end
end
return result
"""

# KEYS[1] the running index; ARGV: now (epoch seconds), max lost attempts, finished (ISO time),
# the job id. Settles one job the sweeper found past its deadline, re-checking everything in the
# same call: a new attempt (a new deadline) or a recorded outcome since the sweeper looked leaves the
# job alone. Returns 'requeued', 'failed', 'cancelled', or '' when it left the job alone.
_SWEEP = """
local id = ARGV[4]
local key = '@KEY_PREFIX@' .. id
local score = redis.call('ZSCORE', KEYS[1], id)
if not score or tonumber(score) > tonumber(ARGV[1]) then return '' end
if redis.call('HGET', key, 'state') ~= '"running"' then
  redis.call('ZREM', KEYS[1], id)
  return ''
end
local lost = redis.call('HINCRBY', key, 'lost_attempts', 1)
redis.call('HINCRBY', '@COUNTERS@', 'jobs_lost', 1)
redis.call('HINCRBY', '@COUNTERS@', 'jobs_swept', 1)
local outcome = 'requeued'
if redis.call('HGET', key, 'cancel_requested') == 'true' then
  outcome = 'cancelled'
  redis.call('HSET', key, 'state', '"cancelled"', 'stage', '"done"', 'finished', ARGV[3],
             'error', '@CANCELLED_ERROR@')
elseif lost >= tonumber(ARGV[2]) then
  outcome = 'failed'
  local err = cjson.encode({code = 'internal_error', message =
    'the worker process died ' .. lost .. ' times while processing this document'})
  redis.call('HSET', key, 'state', '"failed"', 'stage', '"done"', 'finished', ARGV[3], 'error', err)
else
  redis.call('HSET', key, 'state', '"queued"', 'stage', '"queued"')
end
redis.call('ZREM', KEYS[1], id)
local new = redis.call('HGET', key, 'state')
redis.call('HINCRBY', '@BY_STATE@', 'running', -1)
redis.call('HINCRBY', '@BY_STATE@', cjson.decode(new), 1)
local batch = redis.call('HGET', key, 'batch_id')
if batch and batch ~= 'null' then
  local bkey = '@BATCH_PREFIX@' .. cjson.decode(batch)
  if redis.call('EXISTS', bkey) == 1 then
    redis.call('HINCRBY', bkey, 'n_running', -1)
    redis.call('HINCRBY', bkey, 'n_' .. cjson.decode(new), 1)
  end
end
return outcome
"""

# (no apostrophe: it is spliced into the Lua source as a quoted string)
CANCELLED_ERROR = {"code": "cancelled", "message": "cancelled on request"}


def _fill(script: str) -> str:
    return (
        script.replace("@BATCH_PREFIX@", BATCH_PREFIX)
        .replace("@KEY_PREFIX@", KEY_PREFIX)
        .replace("@ID_START@", str(len(KEY_PREFIX) + 1))
        .replace("@RUNNING@", RUNNING_INDEX)
        .replace("@BY_STATE@", JOBS_BY_STATE)
        .replace("@COUNTERS@", COUNTERS)
        .replace("@CANCELLED_ERROR@", json.dumps(CANCELLED_ERROR))
    )


_WRITE = _fill(_WRITE)
_SWEEP = _fill(_SWEEP)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


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
    CANCELLED = "cancelled"


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # it was queued and is now cancelled (or was cancelled already)
    CANCELLING = "cancelling"  # it is running; the worker stops it at its next page or stage
    FINISHED = "finished"  # it had already succeeded or failed: nothing to cancel


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
    # Set by a cancel while the job runs; the pipeline checks it between pages and stages.
    cancel_requested: bool = False


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
    def __init__(
        self, client: redis.Redis[str], *, ttl_seconds: int = 0, running_deadline_seconds: int = 3600
    ) -> None:
        self.redis = client
        self.ttl = ttl_seconds
        # How long after its start a running job counts as stuck (its worker must be dead by then).
        self.running_deadline = running_deadline_seconds
        self._script = client.register_script(_WRITE)
        self._sweep = client.register_script(_SWEEP)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        return cls(
            make_redis(settings),
            ttl_seconds=settings.job_ttl_seconds,
            running_deadline_seconds=settings.running_deadline_seconds,
        )

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
        """Mark the job running and count the attempt; returns the attempt number, or 0 for a
        cancelled job (which is not started).

        Starting a job that is still `running` counts a lost attempt (`lost_attempts`): the attempt
        before ended without success, failure or retry being recorded, i.e. its process died.
        The job enters the running index with its deadline, for the sweeper."""
        started = now()
        written = self._write(
            job_id,
            {"state": JobState.RUNNING, "stage": Stage.FETCHING, "started": started.isoformat(),
             "finished": None, "error": None},
            mode="update",
            increment="attempts",
            deadline=started.timestamp() + self.running_deadline,
            allowed=_STARTABLE,
        )  # fmt: skip
        return max(written, 0)

    def cancel(self, job_id: str) -> CancelOutcome:
        """Cancel a queued job at once; ask a running one to stop. Idempotent."""
        cancelled = {"state": JobState.CANCELLED, "stage": Stage.DONE, "finished": now().isoformat(),
                     "error": CANCELLED_ERROR}  # fmt: skip
        # Each write re-checks the state it expects in the same call; a job moving between the two
        # (queued → running, or running → queued for a retry) is simply looked at again.
        for _ in range(5):
            if self._write(job_id, cancelled, mode="update", allowed=(JobState.QUEUED,)) > 0:
                return CancelOutcome.CANCELLED
            flag = {"cancel_requested": True}
            if self._write(job_id, flag, mode="update", allowed=(JobState.RUNNING,)) > 0:
                return CancelOutcome.CANCELLING
            state = self.get(job_id).state
            if state == JobState.CANCELLED:
                return CancelOutcome.CANCELLED
            if state.finished:
                return CancelOutcome.FINISHED
        return CancelOutcome.CANCELLING

    def cancel_requested(self, job_id: str) -> bool:
        return self.redis.hget(_key(job_id), "cancel_requested") == "true"

    def mark_cancelled(self, job_id: str) -> bool:
        """A running job stopped at a client's request; False if it was no longer running."""
        fields = {"state": JobState.CANCELLED, "stage": Stage.DONE, "finished": now().isoformat(),
                  "error": CANCELLED_ERROR}  # fmt: skip
        return self._write(job_id, fields, mode="update", allowed=(JobState.RUNNING,)) > 0

    def overdue(self, at: datetime | None = None, limit: int = 1000) -> list[str]:
        """Ids of jobs still `running` past their deadline (oldest first), from the index alone."""
        moment = (at or now()).timestamp()
        ids: list[str] = self.redis.zrangebyscore(RUNNING_INDEX, "-inf", moment, start=0, num=limit)
        return ids

    def sweep(self, job_id: str, *, max_lost_attempts: int, at: datetime | None = None) -> str:
        """Settle one overdue job (see `_SWEEP`): 'requeued', 'failed', 'cancelled' or ''."""
        moment = at or now()
        args = [moment.timestamp(), max_lost_attempts, json.dumps(moment.isoformat()), job_id]
        return str(self._sweep(keys=[RUNNING_INDEX], args=args))

    def deadline(self, job_id: str) -> float | None:
        score: float | None = self.redis.zscore(RUNNING_INDEX, job_id)
        return score

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

    def _write(
        self,
        job_id: str,
        data: dict[str, Any],
        *,
        mode: str = "put",
        increment: str = "",
        deadline: float | None = None,
        allowed: tuple[JobState, ...] = (),
    ) -> int:
        """The Lua write; -2 when the job was not in one of the `allowed` states."""
        args: list[str | int | float] = [
            self.ttl, mode, increment, "" if deadline is None else deadline, ",".join(allowed)
        ]  # fmt: skip
        for name, value in data.items():
            args += [name, json.dumps(value, ensure_ascii=False)]
        written = int(self._script(keys=[_key(job_id)], args=args))
        if written == -1:
            raise JobNotFound(job_id)
        return written


# Every state but cancelled: a redelivered message may re-run a finished job (idempotent), never a
# cancelled one.
_STARTABLE = (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED)


def _key(job_id: str) -> str:
    return KEY_PREFIX + job_id


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
