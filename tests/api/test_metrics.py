"""GET /metrics in-process (TestClient) against the real Redis: the figures workers record there.

A Redis database of its own, which no worker consumes (the integration stack's uses database 0)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from gongkai.settings import Settings
from gongkai.stack import Stack
from storage import JobStore
from storage.metrics import STAGE_SECONDS, Counter, Metrics
from tests.api.conftest import own_database
from tests.conftest import make_job


@pytest.fixture
def api_settings(services: Stack) -> Settings:
    return own_database(services.settings, 6)


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_follow_jobs_and_worker_figures(client: TestClient, jobs: JobStore) -> None:
    before = scrape(client)
    a, b = jobs.create(make_job()), jobs.create(make_job())
    jobs.start_attempt(a.id)
    jobs.start_attempt(a.id)  # its first attempt's worker died: a lost attempt
    jobs.succeed(a.id, result_key="r", media_type=None)
    jobs.start_attempt(b.id)
    metrics = Metrics(jobs.redis)  # what a worker records
    metrics.incr(Counter.OCR_PAGES, 3)
    metrics.incr(Counter.RETRIED)
    metrics.observe(STAGE_SECONDS, "extracting", 0.3)
    # a worker records a job's stage timings together
    metrics.observe_many(STAGE_SECONDS, [("extracting", 42.0), ("parsing", 0.01), ("storing", 700.0)])
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert delta("gongkai_jobs", state="succeeded") == 1
    assert delta("gongkai_jobs", state="running") == 1
    assert delta("gongkai_jobs", state="queued") == 0
    assert ("gongkai_jobs", (("state", "cancelled"),)) in after
    assert delta("gongkai_jobs_lost_total") == 1
    assert delta("gongkai_ocr_pages_total") == 3
    assert delta("gongkai_jobs_retried_total") == 1
    assert delta("gongkai_stage_duration_seconds_count", stage="extracting") == 2
    assert delta("gongkai_stage_duration_seconds_sum", stage="extracting") == pytest.approx(42.3)
    assert delta("gongkai_stage_duration_seconds_bucket", stage="extracting", le="0.5") == 1
    assert delta("gongkai_stage_duration_seconds_bucket", stage="extracting", le="60.0") == 2
    assert delta("gongkai_stage_duration_seconds_bucket", stage="extracting", le="+Inf") == 2
    # a bound is inclusive (le), and a value past the last bound is counted in +Inf only
    assert delta("gongkai_stage_duration_seconds_bucket", stage="parsing", le="0.01") == 1
    assert delta("gongkai_stage_duration_seconds_sum", stage="parsing") == pytest.approx(0.01)
    assert delta("gongkai_stage_duration_seconds_bucket", stage="storing", le="600.0") == 0
    assert delta("gongkai_stage_duration_seconds_bucket", stage="storing", le="+Inf") == 1
    assert delta("gongkai_stage_duration_seconds_count", stage="storing") == 1


def test_queue_length_is_the_celery_queue_in_redis(client: TestClient) -> None:
    def queued() -> float:
        return scrape(client)[("gongkai_queue_length", (("queue", "celery"),))]

    assert queued() == 0
    # the API's own upload queues a message on the broker; no worker takes it here
    assert client.post("/v1/documents", files=[("files", ("a.txt", "报告".encode()))]).status_code == 202
    assert queued() == 1
    assert scrape(client)[("gongkai_queue_length", (("queue", "gongkai.batches"),))] == 0
