"""Batch records and their counters against the real redis-server."""

from __future__ import annotations

from storage import ArchiveEntry, ArchiveState, BatchStore, JobState, JobStore, Stage
from storage.batches import member_job_id, new_batch_id
from tests.conftest import make_job


def test_counts_follow_job_states_once_per_job_whatever_the_retries(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    batches.create(batch_id, files=3, archives=[])
    made = [make_job(batch_id=batch_id) for _ in range(3)]
    assert all(jobs.create_new(j) for j in made)
    assert not jobs.create_new(made[0])  # a re-run expansion meets the same id: not counted again
    assert batches.get(batch_id).counts.queued == 3
    a, b, c = (j.id for j in made)

    # a: transient error, Celery retry, then success; then redelivered after success and re-run
    jobs.start_attempt(a)
    jobs.update(a, state=JobState.QUEUED, stage=Stage.RETRYING)
    jobs.start_attempt(a)
    jobs.succeed(a, result_key="r", media_type="text/plain")
    jobs.start_attempt(a)
    jobs.succeed(a, result_key="r", media_type="text/plain")
    # b: fails twice (redelivered)
    for _ in range(2):
        jobs.start_attempt(b)
        jobs.fail(b, "not_a_report", "no")
    jobs.start_attempt(c)
    batch = batches.get(batch_id)
    assert batch.counts.model_dump() == {
        "queued": 0,
        "running": 1,
        "succeeded": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert batch.total == 3 and not batch.finished
    assert not batches.claim_export(batch_id)
    jobs.succeed(c, result_key="r", media_type="text/plain")
    assert batches.get(batch_id).finished
    assert batches.claim_export(batch_id) and not batches.claim_export(batch_id)
    assert batches.job_ids(batch_id) == [a, b, c]
    assert batches.job_ids(batch_id, 1, 1) == [b]
    assert [r["state"] for r in batches.job_rows([a, b])] == ["succeeded", "failed"]


def test_an_archive_keeps_its_batch_open_until_it_is_expanded_once(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    entry = ArchiveEntry(id="0", filename="a.zip", sha256="a" * 64, size=1, original_key="k")
    batches.create(batch_id, files=1, archives=[entry])
    assert not batches.get(batch_id).finished
    member = make_job(id=member_job_id(batch_id, "0", 0), batch_id=batch_id)
    assert member_job_id(batch_id, "0", 0) == member.id  # stable across re-runs
    jobs.create_new(member)
    jobs.start_attempt(member.id)
    jobs.succeed(member.id, result_key="r", media_type=None)
    assert not batches.get(batch_id).finished  # the archive is still expanding
    done = entry.model_copy(update={"state": ArchiveState.EXPANDED, "members": 1, "skipped": 0})
    assert batches.finish_archive(batch_id, done)
    assert not batches.finish_archive(batch_id, done)  # a redelivered expansion changes nothing
    batch = batches.get(batch_id)
    assert batch.archives_pending == 0 and batch.finished
    assert batches.archives(batch_id) == [done]


def test_one_export_builder_at_a_time(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    token = batches.lock_export(batch_id, 60)
    assert token is not None
    assert batches.lock_export(batch_id, 60) is None  # the API or a second worker: wait instead
    assert not batches.unlock_export(batch_id, "not-the-holder")
    assert batches.lock_export(batch_id, 60) is None
    assert batches.unlock_export(batch_id, token)
    again = batches.lock_export(batch_id, 60)
    assert again is not None and again != token
    assert 0 < int(jobs.redis.ttl(f"gongkai:batch:{batch_id}:export-lock")) <= 60
