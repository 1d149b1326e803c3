"""/metrics of the running service moves as jobs run: the figures come from the worker processes."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import example_reports
from tests.integration.conftest import Upload, WaitFor

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")  # no API key, no tenant
    assert response.status_code == 200, response.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def test_metrics_move_after_jobs_run(client: httpx.Client, upload: Upload, wait_for: WaitFor) -> None:
    before = scrape(client)
    jobs = upload(*example_reports()[:2], ("junk.txt", "不是报告".encode()))
    records = wait_for([j["id"] for j in jobs])
    assert [r["state"] for r in records] == ["succeeded", "succeeded", "failed"]
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("gongkai_jobs", state="succeeded") == 2
    assert delta("gongkai_jobs", state="failed") == 1
    for stage in ("fetching", "extracting", "parsing"):
        assert delta("gongkai_stage_duration_seconds_count", stage=stage) == 3
    assert (
        delta("gongkai_stage_duration_seconds_count", stage="storing") == 2
    )  # the failed one stops at parsing
    assert delta("gongkai_stage_duration_seconds_sum", stage="extracting") > 0
    assert after[("gongkai_queue_length", (("queue", "celery"),))] >= 0
