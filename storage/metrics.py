"""Operational figures shared by every process, kept in Redis.

Workers are separate processes (and machines), so each figure lives in Redis and is moved with
HINCRBY; the API reads them all back for `/metrics` (api/metrics.py). Nothing here is per process.

    gongkai:metrics:jobs       hash: state → jobs in that state (moved by JobStore's Lua write)
    gongkai:metrics:counters   hash: counter name → total (retried, lost, swept, ocr_pages, …)
    gongkai:metrics:hist:{name}  hash: `{label}|{bucket}` → observations ≤ bucket, `{label}|sum`,
                                 `{label}|count` (a Prometheus histogram, cumulative buckets)

Jobs are counted from the moment each enters a state; a job record that expires (job_ttl_seconds)
is not subtracted, so over months the gauge drifts by the jobs that expired.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import redis

PREFIX = "gongkai:metrics:"
JOBS_BY_STATE = PREFIX + "jobs"
COUNTERS = PREFIX + "counters"
HIST_PREFIX = PREFIX + "hist:"

STAGE_SECONDS = "stage_seconds"
# Stage durations run from milliseconds (a text file) to minutes (a scanned report's OCR).
STAGE_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class Counter(StrEnum):
    RETRIED = "jobs_retried"  # a transient storage/broker error sent the job back to the queue
    LOST = "jobs_lost"  # an attempt whose worker process died (counted by the Lua write)
    SWEPT = "jobs_swept"  # the sweeper found the job stuck in running past its deadline
    SWEPT_ARCHIVES = "archives_swept"  # the same for an archive expansion
    CANCELLED = "jobs_cancelled"  # cancelled while queued or stopped while running
    OCR_PAGES = "ocr_pages"  # pages read by OCR


@dataclass(frozen=True)
class Histogram:
    buckets: tuple[float, ...]
    # label → (cumulative counts per bucket, +Inf included last; sum)
    series: dict[str, tuple[list[int], float]]


# KEYS[1] a histogram's hash; ARGV: the number of bucket bounds, the bounds (as their field names
# spell them), then label/value pairs. Server-side, so a job's stage timings cost one round trip.
_OBSERVE = """
local n = tonumber(ARGV[1])
for i = n + 2, #ARGV, 2 do
  local label, value = ARGV[i], tonumber(ARGV[i + 1])
  for b = 2, n + 1 do
    if value <= tonumber(ARGV[b]) then redis.call('HINCRBY', KEYS[1], label .. '|' .. ARGV[b], 1) end
  end
  redis.call('HINCRBY', KEYS[1], label .. '|count', 1)
  redis.call('HINCRBYFLOAT', KEYS[1], label .. '|sum', ARGV[i + 1])
end
return 1
"""


class Metrics:
    def __init__(self, client: redis.Redis[str]) -> None:
        self.redis = client
        self._observe = client.register_script(_OBSERVE)

    def incr(self, counter: Counter, by: int = 1) -> None:
        if by:
            self.redis.hincrby(COUNTERS, counter.value, by)

    def observe(self, name: str, label: str, value: float, buckets: Sequence[float] = STAGE_BUCKETS) -> None:
        self.observe_many(name, [(label, value)], buckets)

    def observe_many(
        self, name: str, observations: Sequence[tuple[str, float]], buckets: Sequence[float] = STAGE_BUCKETS
    ) -> None:
        """Observations (label, value) of a histogram: for each, every bucket it falls in, the sum
        and the count (cumulative buckets, as Prometheus exposes them); all in one round trip."""
        if not observations:
            return
        args: list[str | float] = [len(buckets), *(str(bound) for bound in buckets)]
        for label, value in observations:
            args += [label, repr(float(value))]
        self._observe(keys=[HIST_PREFIX + name], args=args)

    def jobs_by_state(self) -> dict[str, int]:
        raw: dict[str, str] = self.redis.hgetall(JOBS_BY_STATE)
        return {state: int(n) for state, n in raw.items()}

    def counters(self) -> dict[str, int]:
        raw: dict[str, str] = self.redis.hgetall(COUNTERS)
        return {name: int(n) for name, n in raw.items()}

    def histogram(self, name: str, buckets: Sequence[float] = STAGE_BUCKETS) -> Histogram:
        raw: dict[str, str] = self.redis.hgetall(HIST_PREFIX + name)
        labels = {field.rpartition("|")[0] for field in raw}
        series: dict[str, tuple[list[int], float]] = {}
        for label in sorted(labels):
            counts = [int(raw.get(f"{label}|{bound}", 0)) for bound in buckets]
            counts.append(int(raw.get(f"{label}|count", 0)))
            series[label] = (counts, float(raw.get(f"{label}|sum", 0.0)))
        return Histogram(buckets=(*buckets, math.inf), series=series)

    def queue_lengths(self, queues: Sequence[str]) -> dict[str, int]:
        pipe = self.redis.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(queue)
        return {queue: int(n) for queue, n in zip(queues, pipe.execute(), strict=True)}
