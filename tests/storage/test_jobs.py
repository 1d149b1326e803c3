"""JobStore against the real redis-server, including a restart (AOF)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gongkai.stack import Stack
from storage import BatchNotFound, BatchStore, ErrorCode, JobNotFound, JobState, JobStore, Stage
from storage.batches import CancelledBatch, new_batch_id
from storage.jobs import RUNNING_INDEX, CancelOutcome, now
from storage.metrics import Metrics
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


def test_a_queued_job_is_cancelled_and_never_started(jobs: JobStore) -> None:
    job = jobs.create(make_job())
    assert jobs.cancel(job.id) == CancelOutcome.CANCELLED
    assert jobs.cancel(job.id) == CancelOutcome.CANCELLED  # idempotent
    cancelled = jobs.get(job.id)
    assert cancelled.state == JobState.CANCELLED and cancelled.state.finished
    assert cancelled.error is not None and cancelled.error.code == "cancelled"
    # its broker message arrives anyway: the attempt is refused, nothing counted
    assert jobs.start_attempt(job.id) == 0
    assert jobs.get(job.id).attempts == 0 and jobs.get(job.id).state == JobState.CANCELLED


def test_start_counts_the_attempt_and_returns_the_record_it_left(jobs: JobStore) -> None:
    job = jobs.create(make_job(filename="a.txt"))
    started = jobs.start(job.id)
    assert started == jobs.get(job.id)
    assert started.state == JobState.RUNNING and started.stage == Stage.FETCHING
    assert started.attempts == 1 and started.filename == "a.txt" and started.started is not None
    assert jobs.start(job.id).lost_attempts == 1  # still running: the attempt before died
    cancelled = jobs.create(make_job())
    jobs.cancel(cancelled.id)
    refused = jobs.start(cancelled.id)
    assert refused.state == JobState.CANCELLED and refused.attempts == 0
    with pytest.raises(JobNotFound):
        jobs.start("nope")


def test_stage_and_progress_writes_bring_back_a_cancel_request(jobs: JobStore) -> None:
    job = jobs.create(make_job())
    jobs.start_attempt(job.id)
    assert jobs.enter_stage(job.id, Stage.EXTRACTING, media_type="text/plain") is False
    assert jobs.set_progress(job.id, 1, 3) is False
    assert jobs.cancel(job.id) == CancelOutcome.CANCELLING
    # written all the same, and the answer says the client asked to stop
    assert jobs.set_progress(job.id, 2, 3) is True
    assert jobs.enter_stage(job.id, Stage.PARSING) is True
    loaded = jobs.get(job.id)
    assert loaded.stage == Stage.PARSING and loaded.progress.pages_done == 2
    assert loaded.media_type == "text/plain" and loaded.state == JobState.RUNNING
    with pytest.raises(TypeError):
        jobs.enter_stage(job.id, Stage.PARSING, no_such_field=1)
    with pytest.raises(JobNotFound):
        jobs.enter_stage("nope", Stage.PARSING)


def test_a_running_job_is_asked_to_stop_and_a_finished_one_is_left(jobs: JobStore) -> None:
    running = jobs.create(make_job())
    jobs.start_attempt(running.id)
    assert not jobs.cancel_requested(running.id)
    assert jobs.cancel(running.id) == CancelOutcome.CANCELLING
    assert jobs.cancel_requested(running.id) and jobs.get(running.id).state == JobState.RUNNING
    assert jobs.mark_cancelled(running.id)
    assert jobs.get(running.id).state == JobState.CANCELLED
    assert not jobs.mark_cancelled(running.id)  # no longer running
    assert running.id not in jobs.overdue(now() + timedelta(days=1))

    done = jobs.create(make_job())
    jobs.start_attempt(done.id)
    jobs.succeed(done.id, result_key="r", media_type="text/plain")
    assert jobs.cancel(done.id) == CancelOutcome.FINISHED
    assert jobs.get(done.id).state == JobState.SUCCEEDED


def test_running_jobs_are_indexed_by_deadline_until_they_leave_running(jobs: JobStore) -> None:
    store = JobStore(jobs.redis, running_deadline_seconds=100)
    job = store.create(make_job())
    assert store.deadline(job.id) is None
    store.start_attempt(job.id)
    deadline = store.deadline(job.id)
    started = store.get(job.id).started
    assert deadline is not None and started is not None
    assert deadline == pytest.approx(started.timestamp() + 100, abs=0.01)
    assert job.id not in store.overdue(now())
    assert job.id in store.overdue(now() + timedelta(seconds=101))
    store.update(job.id, stage=Stage.PARSING)  # a write that keeps it running keeps its deadline
    assert store.deadline(job.id) == deadline
    store.succeed(job.id, result_key="r", media_type=None)
    assert store.deadline(job.id) is None


def test_sweeping_a_stuck_job_requeues_it_then_fails_it_once_its_lost_attempts_are_used(
    jobs: JobStore,
) -> None:
    store = JobStore(jobs.redis, running_deadline_seconds=10)
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    batches.create(batch_id, files=1, archives=[])
    job = make_job(batch_id=batch_id)
    store.create_new(job)
    lost_before = Metrics(jobs.redis).counters().get("jobs_lost", 0)

    store.start_attempt(job.id)
    late = now() + timedelta(seconds=11)
    assert store.sweep(job.id, max_lost_attempts=2, at=now()) == ""  # not overdue yet
    assert store.sweep(job.id, max_lost_attempts=2, at=late) == "requeued"
    requeued = store.get(job.id)
    assert (requeued.state, requeued.lost_attempts, requeued.attempts) == (JobState.QUEUED, 1, 1)
    assert store.sweep(job.id, max_lost_attempts=2, at=late) == ""  # swept once
    assert batches.get(batch_id).counts["queued"] == 1

    store.start_attempt(job.id)  # the re-queued run starts, and dies too
    assert store.get(job.id).lost_attempts == 1  # it was queued: this start counts nothing
    assert store.sweep(job.id, max_lost_attempts=2, at=now() + timedelta(seconds=11)) == "failed"
    failed = store.get(job.id)
    assert failed.state == JobState.FAILED and failed.error is not None
    assert failed.error.code == "internal_error" and "died 2 times" in failed.error.message
    counts = batches.get(batch_id).counts
    assert (counts["running"], counts["failed"]) == (0, 1) and batches.get(batch_id).finished
    assert Metrics(jobs.redis).counters()["jobs_lost"] == lost_before + 2


def test_a_sweep_leaves_a_job_whose_new_attempt_started_since(jobs: JobStore) -> None:
    store = JobStore(jobs.redis, running_deadline_seconds=10)
    job = store.create(make_job())
    store.start_attempt(job.id)
    overdue_at = now() + timedelta(seconds=11)
    assert job.id in store.overdue(overdue_at)
    # between the sweeper's look and its sweep, a redelivery starts the job again (new deadline)
    store.redis.zadd(RUNNING_INDEX, {job.id: overdue_at.timestamp() + 5})
    assert store.sweep(job.id, max_lost_attempts=5, at=overdue_at) == ""
    assert store.get(job.id).state == JobState.RUNNING


def test_a_stuck_job_asked_to_stop_is_swept_to_cancelled(jobs: JobStore) -> None:
    store = JobStore(jobs.redis, running_deadline_seconds=10)
    job = store.create(make_job())
    store.start_attempt(job.id)
    assert store.cancel(job.id) == CancelOutcome.CANCELLING
    assert store.sweep(job.id, max_lost_attempts=5, at=now() + timedelta(seconds=11)) == "cancelled"
    assert store.get(job.id).state == JobState.CANCELLED


def test_jobs_by_state_follow_every_transition(jobs: JobStore) -> None:
    metrics = Metrics(jobs.redis)
    before = metrics.jobs_by_state()
    a, b = jobs.create(make_job()), jobs.create(make_job())
    jobs.start_attempt(a.id)
    jobs.succeed(a.id, result_key="r", media_type=None)
    jobs.cancel(b.id)
    after = metrics.jobs_by_state()

    def delta(state: str) -> int:
        return after.get(state, 0) - before.get(state, 0)

    assert (delta("queued"), delta("running"), delta("succeeded"), delta("cancelled")) == (0, 0, 1, 1)


def test_a_cancelled_batch_cancels_its_queued_jobs_and_new_ones_are_born_cancelled(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    batches.create(batch_id, files=3, archives=[])
    queued, running, done = (make_job(batch_id=batch_id) for _ in range(3))
    for job in (queued, running, done):
        jobs.create_new(job)
    jobs.start_attempt(running.id)
    jobs.start_attempt(done.id)
    jobs.fail(done.id, "not_a_report", "no")

    assert batches.cancel(batch_id, jobs) == CancelledBatch(cancelled=1, cancelling=1)
    batch = batches.get(batch_id)
    assert batch.cancelled and not batch.finished  # the running job has yet to stop
    assert (batch.counts["cancelled"], batch.counts["running"], batch.counts["failed"]) == (1, 1, 1)
    late = make_job(batch_id=batch_id)  # an archive member recorded after the cancel
    assert jobs.create_new(late)
    assert jobs.get(late.id).state == JobState.CANCELLED
    jobs.mark_cancelled(running.id)
    batch = batches.get(batch_id)
    assert batch.finished and batch.counts["cancelled"] == 3 and batch.total == 4
    assert batches.cancel(batch_id, jobs) == CancelledBatch(cancelled=0, cancelling=0)
    with pytest.raises(BatchNotFound):
        batches.cancel(new_batch_id(), jobs)
