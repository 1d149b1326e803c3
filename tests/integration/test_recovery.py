"""A worker killed as a whole (main process and pool children) mid-OCR: the sweeper re-queues its
job once the job's deadline has passed, and the job finishes once, its lost attempt counted. An
archive expansion left behind by a dead worker is swept and re-run the same way.

A stack of its own with short limits (a 100 s hard time limit, a sweep every second): a worker and
an API on their own Redis database (so its queue is not the session worker's) and the session's S3.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from gongkai.settings import Settings
from gongkai.stack import Stack, free_port
from storage import BatchStore, JobStore
from storage.metrics import Metrics
from tests.conftest import example_reports
from tests.integration.conftest import FINISHED
from tests.integration.test_scan_upload import _scanned_tables_pdf

# Room for the whole OCR of three pages on a busy 2-core machine, yet a deadline reached in minutes.
SOFT_LIMIT, HARD_LIMIT, MARGIN = 90, 100, 2


@pytest.fixture(scope="module")
def short_stack(services: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = services.settings
    settings = base.model_copy(
        update={
            "data_dir": tmp_path_factory.mktemp("recovery-var"),
            "redis_url": base.redis_url.rsplit("/", 1)[0] + "/1",
            "api_port": free_port({base.api_port}),
            "task_soft_time_limit": SOFT_LIMIT,
            "task_time_limit": HARD_LIMIT,
            "sweep_interval_seconds": 1.0,
            "sweep_margin_seconds": MARGIN,
            "worker_concurrency": 1,
        }
    )
    stack = Stack(settings)
    JobStore.from_settings(settings).redis.flushdb()
    try:
        stack.up(("worker", "api"))
        yield stack
    finally:
        stack.down(("worker", "api"))


def _kill_whole(stack: Stack, name: str) -> None:
    pid = stack.pid(name)
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # the main process and every child at once: nobody records anything
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)  # started by this process: reap it
    deadline = time.monotonic() + 30
    while any(_in_group(pid, int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()):
        assert time.monotonic() < deadline, "the worker's children outlived SIGKILL"
        time.sleep(0.1)


def _in_group(pgid: int, pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return int(fields[2]) == pgid and fields[0] != "Z"


def _events(log: Path, job_id: str) -> list[dict[str, Any]]:
    found = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("job_id") == job_id:
                found.append(record)
    return found


def _assert_all_acked(jobs: JobStore, timeout: float = 10.0) -> None:
    """No message stays in the broker's unacked set. A task's message is acked just after it returns,
    a moment after the job's outcome is visible, so this waits that moment out."""
    deadline = time.monotonic() + timeout
    while jobs.redis.hlen("unacked") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs.redis.hlen("unacked") == 0, list(jobs.redis.hgetall("unacked").values())


def _auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.dev_key()}"}


@pytest.mark.ocr
def test_a_worker_killed_whole_mid_ocr_is_swept_and_its_job_finishes_once(
    short_stack: Stack, tmp_path: Path
) -> None:
    settings: Settings = short_stack.settings
    jobs = JobStore.from_settings(settings)
    api = f"http://{settings.api_host}:{settings.api_port}"
    with httpx.Client(base_url=api, timeout=30, headers=_auth(short_stack)) as client:
        pdf = _scanned_tables_pdf(tmp_path)
        response = client.post("/v1/documents", files=[("files", (pdf.name, pdf.read_bytes()))])
        assert response.status_code == 202, response.text
        job_id = response.json()["jobs"][0]["id"]
        deadline = time.monotonic() + 240
        while client.get(f"/v1/jobs/{job_id}").json()["progress"]["pages_done"] < 1:
            assert time.monotonic() < deadline, "the job never got past its first page"
            time.sleep(0.1)

        _kill_whole(short_stack, "worker")
        killed = jobs.get(job_id)
        assert killed.state == "running" and killed.attempts == 1
        assert killed.progress.pages_done < 3  # mid-OCR
        index_deadline = jobs.deadline(job_id)
        assert killed.started is not None and index_deadline is not None
        assert index_deadline == pytest.approx(killed.started.timestamp() + HARD_LIMIT + MARGIN, abs=0.01)

        short_stack.start("worker")  # a replacement worker, its beat sweeping every second
        record: dict[str, Any] = {}
        deadline = time.monotonic() + HARD_LIMIT + MARGIN + SOFT_LIMIT + 120
        while record.get("state") not in FINISHED:
            assert time.monotonic() < deadline, f"not finished: {record}"
            time.sleep(0.5)
            record = client.get(f"/v1/jobs/{job_id}").json()
        swept_at = time.time()

        assert record["state"] == "succeeded", record["error"]
        # It finished once: the dead attempt and the one the sweeper queued, nothing more.
        assert record["attempts"] == 2
        job = jobs.get(job_id)
        assert job.lost_attempts == 1
        assert job.started is not None and job.started.timestamp() >= index_deadline  # re-run after the sweep
        assert jobs.deadline(job_id) is None and not jobs.overdue()
        assert client.get(f"/v1/jobs/{job_id}/result").status_code == 200
        counters = Metrics(jobs.redis).counters()
        assert (counters["jobs_swept"], counters["jobs_lost"]) == (1, 1)
        assert counters["ocr_pages"] == 3  # the run that finished; the killed one counted nothing
        _assert_all_acked(jobs)  # the dead attempt's message is not waiting to run again
        scraped = client.get("/metrics").text
        assert "gongkai_jobs_swept_total 1.0" in scraped

    # The structured logs carry the job id: the API's queueing, the workers' start, sweep and success.
    api_events = {e["event"] for e in _events(short_stack.log_file("api"), job_id)}
    worker_events = [e["event"] for e in _events(short_stack.log_file("worker"), job_id)]
    assert "job.queued" in api_events
    assert worker_events.count("job.started") == 2
    assert "job.swept" in worker_events and "job.succeeded" in worker_events
    assert swept_at > index_deadline
    jobs.redis.close()


def test_an_archive_expansion_whose_worker_died_is_swept_and_finishes(short_stack: Stack) -> None:
    settings: Settings = short_stack.settings
    jobs = JobStore.from_settings(settings)
    batches = BatchStore(jobs.redis)
    api = f"http://{settings.api_host}:{settings.api_port}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in example_reports()[:2]:
            zf.write(path, path.name)
    short_stack.stop("worker")
    try:
        with httpx.Client(base_url=api, timeout=30, headers=_auth(short_stack)) as client:
            response = client.post("/v1/batches", files=[("files", ("reports.zip", buffer.getvalue()))])
            assert response.status_code == 202, response.text
            batch_id = response.json()["id"]
        # A worker takes the expansion and dies whole: its message sits in the broker's unacked set
        # (as kombu keeps it) and the expansion is indexed with a deadline that has passed.
        raw = jobs.redis.rpop("gongkai.batches")
        assert raw is not None
        message = json.loads(raw)
        assert message["headers"]["id"] == f"expand-{batch_id}-0"
        info = message["properties"]["delivery_info"]
        jobs.redis.hset("unacked", "dead-tag", json.dumps([message, info["exchange"], info["routing_key"]]))
        jobs.redis.zadd("unacked_index", {"dead-tag": time.time()})
        batches.start_expansion(batch_id, "0", datetime.now(UTC) - timedelta(seconds=1))
    finally:
        short_stack.start("worker")  # its beat sweeps every second

    deadline = time.monotonic() + 120
    while not (batch := batches.get(batch_id)).finished:
        assert time.monotonic() < deadline, f"batch not finished: {batch}"
        time.sleep(0.5)
    assert batch.counts["succeeded"] == 2 and batch.total == 2
    [archive] = batches.archives(batch_id)
    assert archive.state == "expanded" and archive.members == 2
    assert Metrics(jobs.redis).counters()["archives_swept"] == 1
    _assert_all_acked(jobs)
    assert not batches.overdue_expansions()
    jobs.redis.close()
