"""JobStore against the real redis-server, including a restart (AOF)."""

from __future__ import annotations

import pytest

from gongkai.stack import Stack
from storage import ErrorCode, JobNotFound, JobState, JobStore, Stage
from tests.conftest import make_job


def test_create_and_read(jobs: JobStore) -> None:
    job = jobs.create(make_job())
    loaded = jobs.get(job.id)
    assert loaded == job
    assert loaded.state == JobState.QUEUED and loaded.stage == Stage.QUEUED and loaded.attempts == 0


def test_unknown_job(jobs: JobStore) -> None:
    with pytest.raises(JobNotFound):
        jobs.get("nope")
    with pytest.raises(JobNotFound):
        jobs.update("nope", stage=Stage.PARSING)


def test_lifecycle(jobs: JobStore) -> None:
    job = jobs.create(make_job())
    assert jobs.start_attempt(job.id) == 1
    jobs.set_progress(job.id, 2, 5)
    running = jobs.get(job.id)
    assert running.state == JobState.RUNNING and running.started is not None
    assert (running.progress.pages_done, running.progress.pages_total) == (2, 5)

    jobs.fail(job.id, ErrorCode.INTERNAL_ERROR, "boom", media_type="text/plain")
    failed = jobs.get(job.id)
    assert failed.state == JobState.FAILED and failed.error is not None
    assert (failed.error.code, failed.error.message) == ("internal_error", "boom")
    assert failed.finished is not None and failed.media_type == "text/plain"

    # A re-run (redelivery) clears the old error and counts the attempt.
    assert jobs.start_attempt(job.id) == 2
    assert jobs.get(job.id).error is None
    jobs.succeed(job.id, result_key="jobs/x/result.json", media_type="text/plain")
    done = jobs.get(job.id)
    assert done.state == JobState.SUCCEEDED and done.stage == Stage.DONE and done.attempts == 2
    assert done.result_key == "jobs/x/result.json" and done.error is None


def test_an_attempt_that_died_is_counted_as_lost(jobs: JobStore) -> None:
    job = jobs.create(make_job())
    jobs.start_attempt(job.id)
    # Its worker died: nothing recorded an outcome, the broker redelivers, the job is still running.
    jobs.start_attempt(job.id)
    assert jobs.get(job.id).lost_attempts == 1
    # A retry after a transient error puts the job back to queued first: not a lost attempt.
    jobs.update(job.id, state=JobState.QUEUED, stage=Stage.RETRYING)
    jobs.start_attempt(job.id)
    jobs.fail(job.id, ErrorCode.INTERNAL_ERROR, "boom")
    jobs.start_attempt(job.id)  # a re-run after a recorded outcome
    again = jobs.get(job.id)
    assert (again.attempts, again.lost_attempts) == (4, 1)


def test_update_rejects_unknown_fields(jobs: JobStore) -> None:
    job = jobs.create(make_job())
    with pytest.raises(TypeError):
        jobs.update(job.id, colour="red")


def test_records_expire_after_the_ttl(jobs: JobStore) -> None:
    store = JobStore(jobs.redis, ttl_seconds=1000)
    job = store.create(make_job())
    assert 0 < jobs.redis.ttl(f"gongkai:job:{job.id}") <= 1000


def test_jobs_survive_a_redis_restart(services: Stack, jobs: JobStore) -> None:
    job = jobs.create(make_job())
    jobs.start_attempt(job.id)
    services.stop("redis")
    services.start("redis")
    reloaded = jobs.get(job.id)  # the client reconnects
    assert reloaded.state == JobState.RUNNING and reloaded.attempts == 1
