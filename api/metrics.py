"""GET /metrics: Prometheus text format, the whole service's figures (no API key).

Workers run in other processes, so every figure is read from Redis at scrape time (storage/metrics.py
keeps them there): jobs by state, stage durations, OCR pages, retried/lost/swept/cancelled jobs, and
the length of each Celery queue. Nothing is counted in the API process itself, so any number of API
replicas expose the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from api.deps import JobsDep
from storage import JobState
from storage.metrics import STAGE_SECONDS, Counter, Histogram, Metrics
from workers.celery_app import BATCH_QUEUE, DEFAULT_QUEUE

router = APIRouter(tags=["health"])

QUEUES = (DEFAULT_QUEUE, BATCH_QUEUE)
_COUNTER_HELP = {
    Counter.RETRIED: "Jobs sent back to the queue after a transient storage or broker error",
    Counter.LOST: "Attempts whose worker process died before recording an outcome",
    Counter.SWEPT: "Jobs the sweeper found stuck in running past their deadline",
    Counter.SWEPT_ARCHIVES: "Archive expansions the sweeper found stuck past their deadline",
    Counter.CANCELLED: "Running jobs stopped by a cancel (queued ones are counted in gongkai_jobs)",
    Counter.OCR_PAGES: "Pages read by OCR",
}


@dataclass(frozen=True)
class Snapshot:
    jobs: dict[str, int]
    counters: dict[str, int]
    stages: Histogram
    queues: dict[str, int]

    @classmethod
    def read(cls, metrics: Metrics) -> Snapshot:
        return cls(
            jobs=metrics.jobs_by_state(),
            counters=metrics.counters(),
            stages=metrics.histogram(STAGE_SECONDS),
            queues=metrics.queue_lengths(QUEUES),
        )


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return list(self._families())

    def _families(self) -> Iterator[Metric]:
        s = self.snapshot
        jobs = GaugeMetricFamily(
            "gongkai_jobs", "Jobs by state (expired job records are not subtracted)", labels=["state"]
        )
        for state in JobState:
            jobs.add_metric([state.value], s.jobs.get(state.value, 0))
        yield jobs
        queues = GaugeMetricFamily(
            "gongkai_queue_length", "Messages waiting in a Celery queue", labels=["queue"]
        )
        for queue, length in s.queues.items():
            queues.add_metric([queue], length)
        yield queues
        for counter, help_text in _COUNTER_HELP.items():
            yield CounterMetricFamily(
                f"gongkai_{counter.value}", help_text, value=s.counters.get(counter.value, 0)
            )
        stages = HistogramMetricFamily(
            "gongkai_stage_duration_seconds", "Time a job spent in each pipeline stage", labels=["stage"]
        )
        for stage, (counts, total) in s.stages.series.items():
            buckets = [(_le(b), c) for b, c in zip(s.stages.buckets, counts, strict=True)]
            stages.add_metric([stage], buckets, total)
        yield stages


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def render(metrics: Metrics) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(Snapshot.read(metrics)))
    return generate_latest(registry)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics of the whole service")
async def metrics(request: Request, jobs: JobsDep) -> Response:
    body = await run_in_threadpool(render, Metrics(jobs.redis))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
