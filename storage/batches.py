"""Batches in Redis: many jobs (and the archives they came from) under one id.

    gongkai:batch:{id}           hash: created, tenant, files, archives_pending, export_claimed, force,
                                 n_<state>, pages_done, pages_total, first_started, ran
    gongkai:batch:{id}:jobs      list of job ids, in upload/archive order (pages via LRANGE)
    gongkai:batch:{id}:state:<state>  sorted set: the ids of the jobs in that state, scored by their
                                 position in :jobs (a state's page is one ZRANGE, in batch order)
    gongkai:batch:{id}:archives  hash: archive id → JSON `ArchiveEntry`
    gongkai:batch:{id}:export-lock  whoever is building the exports right now (expires)
    gongkai:expanding            sorted set: `{batch id}:{archive id}` → deadline of its expansion
                                 (epoch seconds), for the sweeper; left when the archive is finished

The counters, page sums and state indexes are moved by `JobStore` in the same Lua call that changes a
job, so reading progress is one HGETALL and a page of one state one ZRANGE however large the batch.
Counts are keyed by every `JobState` value (a new state needs no change here). A batch is finished
when no archive is still being expanded and no job is in an unfinished state.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import redis
from pydantic import BaseModel

from gongkai.settings import Settings
from storage.jobs import (
    BATCH_PREFIX,
    KEY_PREFIX,
    CancelOutcome,
    JobError,
    JobNotFound,
    JobState,
    JobStore,
    make_redis,
    now,
)


class ArchiveState(StrEnum):
    EXPANDING = "expanding"
    EXPANDED = "expanded"
    FAILED = "failed"


class ArchiveEntry(BaseModel):
    id: str  # the upload's position in the request ("0", "1", …)
    filename: str | None
    sha256: str
    size: int
    original_key: str
    state: ArchiveState = ArchiveState.EXPANDING
    members: int | None = None  # files that became jobs (stored or refused)
    skipped: int | None = None  # directories and OS junk (__MACOSX, .DS_Store, …)
    error: JobError | None = None


# job state value → jobs of the batch in it, for every `JobState`
Counts = dict[str, int]


class CancelledBatch(BaseModel):
    cancelled: int  # queued jobs cancelled by this request
    cancelling: int  # running jobs asked to stop at their next page or stage


class Batch(BaseModel):
    id: str
    created: datetime
    files: int  # files in the request (an archive counts once)
    archives_pending: int
    counts: Counts
    tenant: str | None = None  # who uploaded it; its jobs take it when they are recorded
    pages_done: int = 0  # sums of the jobs' progress (a job counts once it knows its pages)
    pages_total: int = 0
    first_started: datetime | None = None  # when the first of its jobs started running
    ran: int = 0  # jobs that ran to an outcome since then
    callback_url: str | None = None  # POSTed (signed) when the batch finishes
    cancelled: bool = False  # a client cancelled the batch (its jobs end `cancelled`)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unfinished(self) -> int:
        return sum(self.counts.get(s.value, 0) for s in JobState if not s.finished)

    @property
    def done(self) -> int:
        return self.total - self.unfinished

    @property
    def finished(self) -> bool:
        return self.archives_pending == 0 and self.unfinished == 0

    def eta_seconds(self, at: datetime) -> float | None:
        """Seconds until every job has finished, at the rate its jobs have run to an outcome since
        the first one started; None while that cannot be told (nothing has run yet, or archives are
        still adding jobs of unknown number)."""
        if self.finished:
            return 0.0
        if self.archives_pending or not self.ran or self.first_started is None:
            return None
        elapsed = (at - self.first_started).total_seconds()
        if elapsed <= 0:
            return None
        return round(self.unfinished * elapsed / self.ran, 1)


class BatchNotFound(LookupError):
    pass


EXPANDING_INDEX = "gongkai:expanding"
EXPANSION_LOSSES = "gongkai:expanding:lost"  # hash: `{batch id}:{archive id}` → expansions lost

# KEYS[1] batch hash, KEYS[2] archives hash, KEYS[3] the expanding index; ARGV: archive id, entry
# JSON, index member. Leaves `expanding` once: a redelivered expansion cannot decrement twice.
# Returns 1 if it did.
_FINISH_ARCHIVE = """
local old = redis.call('HGET', KEYS[2], ARGV[1])
if not old or cjson.decode(old)['state'] ~= 'expanding' then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'archives_pending', -1)
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
"""

# KEYS[1] the expanding index, KEYS[2] the archives hash, KEYS[3] the losses hash; ARGV: member,
# archive id, now. An expansion past its deadline whose archive is still `expanding`: take it off the
# index (its re-run adds it again when it starts) and count the loss. Returns the losses so far, or 0
# when a new start or the archive's outcome got there first.
_SWEEP_ARCHIVE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
local entry = redis.call('HGET', KEYS[2], ARGV[2])
if not entry or cjson.decode(entry)['state'] ~= 'expanding' then return 0 end
return redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
"""

# KEYS[1] batch hash; ARGV: a timestamp, then the counters that must be 0 (archives_pending and the
# unfinished states'). 1 for the first caller that finds the batch finished (it builds the exports).
_CLAIM_EXPORT = """
for i = 2, #ARGV do if (tonumber(redis.call('HGET', KEYS[1], ARGV[i])) or 0) ~= 0 then return 0 end end
return redis.call('HSETNX', KEYS[1], 'export_claimed', ARGV[1])
"""


# KEYS[1] lock key, ARGV[1] the holder's token: release the lock only if it is still ours.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


_ROW_FIELDS = ("filename", "source_path", "state", "error", "needs_review", "duplicate_of")


def new_batch_id() -> str:
    return uuid.uuid4().hex


def member_job_id(batch_id: str, archive_id: str, index: int | str) -> str:
    """The same id every time an expansion of this archive meets this member (so a re-run
    expansion finds the jobs it already made instead of making them twice). `index` is the member's
    position, dotted for a member of a nested archive ("3.7")."""
    return uuid.uuid5(uuid.UUID(batch_id), f"{archive_id}/{index}").hex


class BatchStore:
    def __init__(self, client: redis.Redis[str], *, ttl_seconds: int = 0) -> None:
        self.redis = client
        self.ttl = ttl_seconds
        self._finish_archive = client.register_script(_FINISH_ARCHIVE)
        self._claim_export = client.register_script(_CLAIM_EXPORT)
        self._unlock = client.register_script(_UNLOCK)
        self._sweep_archive = client.register_script(_SWEEP_ARCHIVE)

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchStore:
        return cls(make_redis(settings), ttl_seconds=settings.job_ttl_seconds)

    def create(
        self,
        batch_id: str,
        *,
        files: int,
        archives: list[ArchiveEntry],
        force: bool = False,
        tenant: str | None = None,
        callback_url: str | None = None,
    ) -> None:
        """Record the batch and its archives before any of its jobs (the job store counts into it)."""
        key = _key(batch_id)
        pipe = self.redis.pipeline()
        fields: dict[str | bytes, bytes | float | int | str] = {
            "created": now().isoformat(),
            "files": files,
            "archives_pending": len(archives),
        }
        if force:
            fields["force"] = "1"
        if tenant is not None:
            fields["tenant"] = tenant
        if callback_url:
            fields["callback_url"] = callback_url
        pipe.hset(key, mapping=fields)
        if archives:
            pipe.hset(key + ":archives", mapping={a.id: a.model_dump_json() for a in archives})
        if self.ttl:
            for suffix in ("", ":archives", ":jobs"):
                pipe.expire(key + suffix, self.ttl)
        pipe.execute()

    def get(self, batch_id: str) -> Batch:
        raw: dict[str, str] = self.redis.hgetall(_key(batch_id))
        if "created" not in raw:
            raise BatchNotFound(batch_id)
        first_started = raw.get("first_started")
        return Batch(
            id=batch_id,
            created=datetime.fromisoformat(raw["created"]),
            files=int(raw["files"]),
            archives_pending=int(raw.get("archives_pending", 0)),
            counts={s.value: int(raw.get(f"n_{s.value}", 0)) for s in JobState},
            pages_done=int(raw.get("pages_done", 0)),
            pages_total=int(raw.get("pages_total", 0)),
            first_started=datetime.fromisoformat(first_started) if first_started else None,
            ran=int(raw.get("ran", 0)),
            tenant=raw.get("tenant"),
            callback_url=raw.get("callback_url"),
            cancelled=raw.get("cancelled") == "1",
        )

    def archives(self, batch_id: str) -> list[ArchiveEntry]:
        raw: dict[str, str] = self.redis.hgetall(_key(batch_id) + ":archives")
        entries = [ArchiveEntry.model_validate_json(v) for v in raw.values()]
        return sorted(entries, key=lambda a: int(a.id))

    def archive(self, batch_id: str, archive_id: str) -> ArchiveEntry | None:
        raw: str | None = self.redis.hget(_key(batch_id) + ":archives", archive_id)
        return ArchiveEntry.model_validate_json(raw) if raw else None

    def finish_archive(self, batch_id: str, entry: ArchiveEntry) -> bool:
        """Record the archive's outcome; False if an earlier expansion already did."""
        key = _key(batch_id)
        keys = [key, key + ":archives", EXPANDING_INDEX]
        args = [entry.id, entry.model_dump_json(), _member(batch_id, entry.id)]
        return bool(self._finish_archive(keys=keys, args=args))

    def start_expansion(self, batch_id: str, archive_id: str, deadline: datetime) -> None:
        """An expansion of the archive starts: index it by the time it must have ended by."""
        self.redis.zadd(EXPANDING_INDEX, {_member(batch_id, archive_id): deadline.timestamp()})

    def overdue_expansions(self, at: datetime | None = None, limit: int = 1000) -> list[tuple[str, str]]:
        """(batch id, archive id) of expansions past their deadline."""
        members: list[str] = self.redis.zrangebyscore(
            EXPANDING_INDEX, "-inf", (at or now()).timestamp(), start=0, num=limit
        )
        return [(m.partition(":")[0], m.partition(":")[2]) for m in members]

    def sweep_expansion(self, batch_id: str, archive_id: str, at: datetime | None = None) -> int:
        """Take an overdue expansion off the index, re-checked in one call; its losses so far, or 0
        if it was no longer overdue or no longer expanding."""
        keys = [EXPANDING_INDEX, _key(batch_id) + ":archives", EXPANSION_LOSSES]
        args = [_member(batch_id, archive_id), archive_id, (at or now()).timestamp()]
        return int(self._sweep_archive(keys=keys, args=args))

    def mark_cancelled(self, batch_id: str) -> bool:
        """Flag the batch cancelled: jobs its archives still add are born cancelled. False if the
        batch does not exist."""
        key = _key(batch_id)
        pipe = self.redis.pipeline()
        pipe.exists(key)
        pipe.hset(key, "cancelled", "1")
        exists, _ = pipe.execute()
        if not exists:
            self.redis.delete(key)  # HSET made a hash of one field; not a batch
            return False
        return True

    def cancel(self, batch_id: str, jobs: JobStore, page: int = 1000) -> CancelledBatch:
        """Cancel every queued job of the batch and ask every running one to stop (idempotent)."""
        if not self.mark_cancelled(batch_id):
            raise BatchNotFound(batch_id)
        cancelled = cancelling = 0
        offset = 0
        while ids := self.job_ids(batch_id, offset, page):
            offset += len(ids)
            for row in self.job_rows(ids):
                if row["state"] not in (JobState.QUEUED, JobState.RUNNING):
                    continue
                with contextlib.suppress(JobNotFound):
                    outcome = jobs.cancel(row["id"])
                    cancelled += outcome == CancelOutcome.CANCELLED
                    cancelling += outcome == CancelOutcome.CANCELLING
        return CancelledBatch(cancelled=cancelled, cancelling=cancelling)

    def job_ids(self, batch_id: str, offset: int = 0, limit: int = -1) -> list[str]:
        stop = -1 if limit < 0 else offset + limit - 1
        ids: list[str] = self.redis.lrange(_key(batch_id) + ":jobs", offset, stop)
        return ids

    def job_ids_in_state(self, batch_id: str, state: JobState, offset: int = 0, limit: int = -1) -> list[str]:
        """A page of the jobs in `state`, in batch order: O(log n + page), never a scan of the batch."""
        stop = -1 if limit < 0 else offset + limit - 1
        ids: list[str] = self.redis.zrange(f"{_key(batch_id)}:state:{state.value}", offset, stop)
        return ids

    def job_page(
        self, batch_id: str, state: JobState | None, *, after: int | None, offset: int, limit: int
    ) -> list[tuple[int, str]]:
        """(position in the batch, job id) of up to `limit` jobs in batch order, optionally only those in
        `state`: after position `after` (a cursor that holds while jobs change state), else from
        `offset`. O(log n + limit) from the state's index, never a scan of the batch."""
        key = _key(batch_id)
        if state is None:
            start = offset if after is None else after + 1
            ids: list[str] = self.redis.lrange(key + ":jobs", start, start + limit - 1)
            return [(start + i, job_id) for i, job_id in enumerate(ids)]
        index = f"{key}:state:{state.value}"
        if after is None:
            scored = self.redis.zrange(index, offset, offset + limit - 1, withscores=True)
        else:
            scored = self.redis.zrangebyscore(index, f"({after}", "+inf", start=0, num=limit, withscores=True)
        return [(int(score), job_id) for job_id, score in scored]

    def job_rows(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """id, filename, source_path, state, error, needs_review and duplicate_of of each job (one round
        trip)."""
        pipe = self.redis.pipeline()
        for job_id in job_ids:
            pipe.hmget(KEY_PREFIX + job_id, list(_ROW_FIELDS))
        rows = []
        for job_id, values in zip(job_ids, pipe.execute(), strict=True):
            decoded = (json.loads(v) if v is not None else None for v in values)
            rows.append({"id": job_id} | dict(zip(_ROW_FIELDS, decoded, strict=True)))
        return rows

    def forced(self, batch_id: str) -> bool:
        """Whether the batch was posted with force=true (its archive members are processed even
        when an earlier result of the same bytes exists)."""
        return self.redis.hget(_key(batch_id), "force") == "1"

    def reopen(self, batch_id: str) -> None:
        """Before re-queueing these finished jobs: let whoever finishes the batch again build its
        exports again. The caller moves the jobs back to queued (which moves the counters)."""
        self.redis.hdel(_key(batch_id), "export_claimed")

    def claim_export(self, batch_id: str) -> bool:
        """True once, for whoever first sees the batch finished."""
        zero = ["archives_pending", *(f"n_{s.value}" for s in JobState if not s.finished)]
        return bool(self._claim_export(keys=[_key(batch_id)], args=[now().isoformat(), *zero]))

    def lock_export(self, batch_id: str, ttl_seconds: int) -> str | None:
        """Take the right to build the batch's exports (a token to release it with), or None while
        someone else holds it: the worker that finished the batch and the API answering the first
        request would otherwise both build them. The lock expires, so a builder that died frees it."""
        token = uuid.uuid4().hex
        taken = self.redis.set(_key(batch_id) + ":export-lock", token, nx=True, ex=ttl_seconds)
        return token if taken else None

    def unlock_export(self, batch_id: str, token: str) -> bool:
        return bool(self._unlock(keys=[_key(batch_id) + ":export-lock"], args=[token]))


def _member(batch_id: str, archive_id: str) -> str:
    return f"{batch_id}:{archive_id}"


def _key(batch_id: str) -> str:
    return BATCH_PREFIX + batch_id
