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
from storage.metrics import COUNTERS, JOBS_BY_STATE

KEY_PREFIX = "gongkai:job:"
BATCH_PREFIX = "gongkai:batch:"
# The change feed (storage/feed.py): one stream per tenant, appended to by `_WRITE` below.
FEED_PREFIX = "gongkai:feed:"
DEFAULT_TENANT = "default"
# Running jobs by deadline (score: started + task_time_limit + margin, epoch seconds).
RUNNING_INDEX = "gongkai:running"

# Appends a job that has just become final to its tenant's change feed, once (a redelivered job or
# a sweep never feeds it twice). Needs the Lua locals key, id, new, batch and ttl.
_FEED = """
if (new == '"succeeded"' or new == '"failed"' or new == '"cancelled"')
    and redis.call('HEXISTS', key, 'feed_id') == 0 then
  local tenant = redis.call('HGET', key, 'tenant')
  local t = '@DEFAULT_TENANT@'
  if tenant and tenant ~= 'null' then t = cjson.decode(tenant) end
  local xadd = {'XADD', '@FEED_PREFIX@' .. t}
  -- entries older than the job records they name go (a poller further behind than that lost them)
  if ttl > 0 then
    local since = (tonumber(redis.call('TIME')[1]) - ttl) * 1000
    xadd[#xadd + 1] = 'MINID'; xadd[#xadd + 1] = string.format('%d', since)
  end
  local fields = {'*', 'job_id', cjson.encode(id), 'batch_id', batch or 'null',
    'state', new, 'finished', redis.call('HGET', key, 'finished') or 'null',
    'error', redis.call('HGET', key, 'error') or 'null'}
  for _, v in ipairs(fields) do xadd[#xadd + 1] = v end
  local fid = redis.call(unpack(xadd))
  redis.call('HSET', key, 'feed_id', cjson.encode(fid))
end
"""

# Moves a batch job's state in the batch: the n_<state> counters and the per-state index (a sorted
# set of job ids scored by their position in the batch, so a state's jobs page in batch order
# without scanning the others). Needs the Lua locals bkey, id, old (JSON or false), new (JSON), ttl.
_BATCH_STATE = """
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
local index = bkey .. ':state:' .. new_state
redis.call('ZADD', index, tonumber(position) or 0, id)
if ttl > 0 then redis.call('EXPIRE', index, ttl) end
"""

# KEYS[1] job hash; ARGV: ttl, mode ('create': only if absent, 'update': only if present, 'put'),
# a field to increment ('' for none), the running deadline (epoch seconds; '' to keep the one indexed),
# the states the job may be in ('' for any, else names joined by commas), '1' to ask whether a client
# asked to cancel the job ('' not to), '1' to get the record back too ('' not to), then field/value
# pairs (JSON values). Returns 0 when 'create' found the job there, -1 when 'update' did not, -2 when
# the job was in another state, -3 when it wrote and was asked and the job's cancel was requested,
# else 1 (or the increment); with the record asked for, {that, HGETALL of the job}.
# Every key besides KEYS[1] is derived from the record (standalone Redis; not for Cluster). For a job
# of a batch it also keeps, in the same call: the batch's counters and per-state index, the
# pages_done/pages_total sums of the jobs' progress, when the first job started and how many have
# run to an outcome since (for the ETA).
_WRITE = """
local key = KEYS[1]
local id = string.sub(key, @ID_START@)
local function write()
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
local old_progress = redis.call('HGET', key, 'progress')
local result = 1
if ARGV[3] ~= '' then result = redis.call('HINCRBY', key, ARGV[3], 1) end
-- a running job's stage and progress writes also bring back a client's cancel: one round trip
if ARGV[6] == '1' and redis.call('HGET', key, 'cancel_requested') == 'true' then result = -3 end
-- a new attempt of a job still running: the attempt before died without recording an outcome
if ARGV[3] == 'attempts' and old == '"running"' then
  redis.call('HINCRBY', key, 'lost_attempts', 1)
  redis.call('HINCRBY', '@COUNTERS@', 'jobs_lost', 1)
end
local pairs_ = {}
for i = 8, #ARGV do pairs_[#pairs_ + 1] = ARGV[i] end
redis.call('HSET', key, unpack(pairs_))
local ttl = tonumber(ARGV[1])
if ttl > 0 then redis.call('EXPIRE', key, ttl) end
local batch = redis.call('HGET', key, 'batch_id')
local bkey = nil
if batch and batch ~= 'null' then bkey = '@BATCH_PREFIX@' .. cjson.decode(batch) end
if bkey and not old then
  -- a new job of a batch belongs to the batch's tenant (archive members are made by a worker)
  local tenant = redis.call('HGET', bkey, 'tenant')
  if tenant and (redis.call('HGET', key, 'tenant') or 'null') == 'null' then
    redis.call('HSET', key, 'tenant', cjson.encode(tenant))
  end
  -- a new job of a cancelled batch (an archive still being expanded) is born cancelled
  if ARGV[2] == 'create' and redis.call('HGET', bkey, 'cancelled') == '1'
      and redis.call('HGET', key, 'state') == '"queued"' then
    redis.call('HSET', key, 'state', '"cancelled"', 'stage', '"done"', 'error', '@CANCELLED_ERROR@')
  end
end
local new = redis.call('HGET', key, 'state')
-- the index of running jobs by deadline, which the sweeper reads (O(stuck jobs), no scan)
if new == '"running"' then
  if ARGV[4] ~= '' then redis.call('ZADD', '@RUNNING@', ARGV[4], id) end
else
  redis.call('ZREM', '@RUNNING@', id)
end
-- a final job queued again (a re-run; a redelivery goes straight to running): its next outcome is
-- a new result for the feed
if (old == '"succeeded"' or old == '"failed"' or old == '"cancelled"') and new == '"queued"' then
  redis.call('HDEL', key, 'feed_id')
end
@FEED@
if old ~= new then
  if old then redis.call('HINCRBY', '@BY_STATE@', cjson.decode(old), -1) end
  redis.call('HINCRBY', '@BY_STATE@', cjson.decode(new), 1)
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
@BATCH_STATE@
if new == '"running"' then
  local started = redis.call('HGET', key, 'started')
  if started and started ~= 'null' then redis.call('HSETNX', bkey, 'first_started', cjson.decode(started)) end
end
return result
end
local result = write()
if ARGV[7] == '1' then return {result, redis.call('HGETALL', key)} end
return result
"""

# KEYS[1] the running index; ARGV: now (epoch seconds), max lost attempts, finished (ISO time),
# the job id, the job TTL. Settles one job the sweeper found past its deadline, re-checking everything
# in the same call: a new attempt (a new deadline) or a recorded outcome since the sweeper looked
# leaves the job alone. Returns 'requeued', 'failed', 'cancelled', or '' when it left the job alone.
_SWEEP = """
local id = ARGV[4]
local ttl = tonumber(ARGV[5])
local key = '@KEY_PREFIX@' .. id
local score = redis.call('ZSCORE', KEYS[1], id)
if not score or tonumber(score) > tonumber(ARGV[1]) then return '' end
local old = redis.call('HGET', key, 'state')
if old ~= '"running"' then
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
@FEED@
if batch and batch ~= 'null' then
  local bkey = '@BATCH_PREFIX@' .. cjson.decode(batch)
  if redis.call('EXISTS', bkey) == 1 then
@BATCH_STATE@
  end
end
return outcome
"""

# (no apostrophe: it is spliced into the Lua source as a quoted string)
CANCELLED_ERROR = {"code": "cancelled", "message": "cancelled on request"}


def _fill(script: str) -> str:
    return (
        script.replace("@FEED@", _FEED)
        .replace("@BATCH_STATE@", _BATCH_STATE)
        .replace("@BATCH_PREFIX@", BATCH_PREFIX)
        .replace("@KEY_PREFIX@", KEY_PREFIX)
        .replace("@ID_START@", str(len(KEY_PREFIX) + 1))
        .replace("@RUNNING@", RUNNING_INDEX)
        .replace("@BY_STATE@", JOBS_BY_STATE)
        .replace("@COUNTERS@", COUNTERS)
        .replace("@FEED_PREFIX@", FEED_PREFIX)
        .replace("@DEFAULT_TENANT@", DEFAULT_TENANT)
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
        return _job(job_id, raw)

    def exists(self, job_id: str) -> bool:
        return bool(self.redis.exists(_key(job_id)))

    def update(self, job_id: str, **fields: Any) -> None:
        """Set some fields of an existing job (values as in `Job`, serialised here)."""
        if fields:
            self._write(job_id, _serialised(fields), mode="update")

    def enter_stage(self, job_id: str, stage: Stage, **fields: Any) -> bool:
        """Move a job to `stage` (and set `fields`); True if a client has asked to cancel it."""
        return self.record_running(job_id, stage=stage, **fields)

    def record_running(self, job_id: str, **fields: Any) -> bool:
        """Set fields of a running job (its stage, progress); True if a client has asked to cancel
        it. One round trip: the worker's writes between the start and the outcome."""
        written = self._write(job_id, _serialised(fields), mode="update", ask_cancel=True)
        return written == _CANCEL_REQUESTED

    def start_attempt(self, job_id: str) -> int:
        """Mark the job running and count the attempt; returns the attempt number, or 0 for a
        cancelled job (which is not started).

        Starting a job that is still `running` counts a lost attempt (`lost_attempts`): the attempt
        before ended without success, failure or retry being recorded, i.e. its process died.
        The job enters the running index with its deadline, for the sweeper."""
        return max(self._start(job_id, with_record=False)[0], 0)

    def start(self, job_id: str) -> Job:
        """`start_attempt`, and the record as it left it, in one round trip (a worker's first call).
        A cancelled job comes back cancelled and not started."""
        _, flat = self._start(job_id, with_record=True)  # a Lua HGETALL: field, value, field, …
        return _job(job_id, dict(zip(flat[::2], flat[1::2], strict=True)))

    def _start(self, job_id: str, *, with_record: bool) -> tuple[int, list[str]]:
        started = now()
        return self._write_returning(
            job_id,
            {"state": JobState.RUNNING, "stage": Stage.FETCHING, "started": started.isoformat(),
             "finished": None, "error": None},
            mode="update",
            increment="attempts",
            deadline=started.timestamp() + self.running_deadline,
            allowed=_STARTABLE,
            with_record=with_record,
        )  # fmt: skip

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
        args = [moment.timestamp(), max_lost_attempts, json.dumps(moment.isoformat()), job_id, self.ttl]
        return str(self._sweep(keys=[RUNNING_INDEX], args=args))

    def deadline(self, job_id: str) -> float | None:
        score: float | None = self.redis.zscore(RUNNING_INDEX, job_id)
        return score

    def set_progress(self, job_id: str, pages_done: int, pages_total: int | None) -> bool:
        """Record a job's pages done; True if a client has asked to cancel it (checked between pages)."""
        # through the Lua write: a job of a batch moves the batch's page sums by the difference
        return self.record_running(job_id, progress=Progress(pages_done=pages_done, pages_total=pages_total))

    def succeed(
        self,
        job_id: str,
        *,
        result_key: str,
        media_type: str | None,
        needs_review: bool | None = None,
        progress: Progress | None = None,
    ) -> None:
        """`progress`: pages done not yet written (the last page's), recorded with the outcome."""
        fields: dict[str, Any] = {} if progress is None else {"progress": progress}
        self.update(
            job_id,
            state=JobState.SUCCEEDED,
            stage=Stage.DONE,
            finished=now(),
            result_key=result_key,
            media_type=media_type,
            error=None,
            needs_review=needs_review,
            **fields,
        )

    def fail(
        self,
        job_id: str,
        code: str,
        message: str,
        *,
        media_type: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "state": JobState.FAILED,
            "stage": Stage.DONE,
            "finished": now(),
            "error": JobError(code=code, message=message),
        }
        if media_type:
            fields["media_type"] = media_type
        if progress is not None:
            fields["progress"] = progress
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
        ask_cancel: bool = False,
    ) -> int:
        """The Lua write; -2 when the job was not in one of the `allowed` states, `_CANCEL_REQUESTED`
        when `ask_cancel` and a client asked to cancel the job (the fields are written all the same)."""
        return self._write_returning(
            job_id, data, mode=mode, increment=increment, deadline=deadline, allowed=allowed,
            ask_cancel=ask_cancel, with_record=False,
        )[0]  # fmt: skip

    def _write_returning(
        self,
        job_id: str,
        data: dict[str, Any],
        *,
        mode: str,
        increment: str = "",
        deadline: float | None = None,
        allowed: tuple[JobState, ...] = (),
        ask_cancel: bool = False,
        with_record: bool,
    ) -> tuple[int, list[str]]:
        """`_write`, and with `with_record` the job's hash after it as a flat field/value list."""
        args: list[str | int | float] = [
            self.ttl, mode, increment, "" if deadline is None else deadline, ",".join(allowed),
            "1" if ask_cancel else "", "1" if with_record else "",
        ]  # fmt: skip
        for name, value in data.items():
            args += [name, json.dumps(value, ensure_ascii=False)]
        reply = self._script(keys=[_key(job_id)], args=args)
        written, record = (int(reply[0]), list(reply[1])) if with_record else (int(reply), [])
        if written == -1:
            raise JobNotFound(job_id)
        return written, record


# Every state but cancelled: a redelivered message may re-run a finished job (idempotent), never a
# cancelled one.
_STARTABLE = (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED)


def _key(job_id: str) -> str:
    return KEY_PREFIX + job_id


def _job(job_id: str, raw: dict[str, str]) -> Job:
    """A job from its hash (JSON values); JobNotFound if the hash is empty."""
    if not raw:
        raise JobNotFound(job_id)
    return Job.model_validate({k: json.loads(v) for k, v in raw.items()} | {"id": job_id})


_CANCEL_REQUESTED = -3  # see _WRITE


def _serialised(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = fields.keys() - Job.model_fields.keys()
    if unknown:
        raise TypeError(f"unknown job fields: {sorted(unknown)}")
    return {name: _dump(value) for name, value in fields.items()}


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
