"""Batch records and their counters against the real redis-server."""

from __future__ import annotations

from datetime import timedelta

from storage import ArchiveEntry, ArchiveState, BatchStore, JobState, JobStore, Stage
from storage.batches import member_job_id, new_batch_id
from storage.jobs import now
from tests.conftest import make_job


def test_counts_follow_job_states_once_per_job_whatever_the_retries(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    batches.create(batch_id, files=3, archives=[])
    made = [make_job(batch_id=batch_id) for _ in range(3)]
    assert all(jobs.create_new(j) for j in made)
    assert not jobs.create_new(made[0])  # a re-run expansion meets the same id: not counted again
    assert batches.get(batch_id).counts["queued"] == 3
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
    assert batch.counts == {"queued": 0, "running": 1, "succeeded": 1, "failed": 1, "cancelled": 0}
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


def test_each_state_pages_in_batch_order_from_its_own_index(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    batches.create(batch_id, files=30, archives=[])
    made = [make_job(batch_id=batch_id) for _ in range(30)]
    for job in made:
        jobs.create_new(job)
    ids = [j.id for j in made]
    for i, job_id in enumerate(ids):
        if i % 3 == 0:
            continue  # stays queued
        jobs.start_attempt(job_id)
        if i % 3 == 1:
            jobs.succeed(job_id, result_key="r", media_type=None)
        elif i % 2:
            jobs.fail(job_id, "not_a_report", f"no {i}")
        # the others stay running
    expected = {
        "queued": [j for i, j in enumerate(ids) if i % 3 == 0],
        "succeeded": [j for i, j in enumerate(ids) if i % 3 == 1],
        "failed": [j for i, j in enumerate(ids) if i % 3 == 2 and i % 2],
        "running": [j for i, j in enumerate(ids) if i % 3 == 2 and not i % 2],
    }
    batch = batches.get(batch_id)
    for state in JobState:
        assert batches.job_ids_in_state(batch_id, state) == expected.get(state.value, [])
        assert batch.counts[state.value] == len(expected.get(state.value, []))
        pages = [i for o in range(0, 12, 4) for i in batches.job_ids_in_state(batch_id, state, o, 4)]
        assert pages == expected.get(state.value, [])
    # a retried job leaves running for queued and keeps its place in the batch order
    retried = expected["running"][0]
    jobs.update(retried, state=JobState.QUEUED, stage=Stage.RETRYING)
    queued = batches.job_ids_in_state(batch_id, JobState.QUEUED)
    assert queued == [j for j in ids if j in expected["queued"] or j == retried]
    rows = batches.job_rows(batches.job_ids_in_state(batch_id, JobState.FAILED, 0, 1))
    assert rows[0]["error"] == {"code": "not_a_report", "message": "no 5"}


def test_pages_and_eta_follow_the_jobs(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    batches.create(batch_id, files=3, archives=[])
    a, b, c = (make_job(batch_id=batch_id, source_path=f"dir/{n}.pdf") for n in "abc")
    for job in (a, b, c):
        jobs.create_new(job)
    batch = batches.get(batch_id)
    assert (batch.pages_done, batch.pages_total, batch.first_started) == (0, 0, None)
    assert batch.eta_seconds(now()) is None  # nothing has run
    jobs.start_attempt(a.id)
    jobs.set_progress(a.id, 0, 10)
    jobs.set_progress(a.id, 4, 10)
    jobs.start_attempt(b.id)
    jobs.set_progress(b.id, 1, 3)
    batch = batches.get(batch_id)
    assert (batch.pages_done, batch.pages_total) == (5, 13)
    assert batch.eta_seconds(now()) is None  # started, but nothing has finished yet
    # a's worker died: the redelivered attempt counts its pages again from 0, not on top
    jobs.start_attempt(a.id)
    jobs.set_progress(a.id, 0, 10)
    jobs.set_progress(a.id, 10, 10)
    jobs.succeed(a.id, result_key="r", media_type=None)
    batch = batches.get(batch_id)
    assert (batch.pages_done, batch.pages_total) == (11, 13) and batch.ran == 1
    assert batch.first_started is not None
    # one job ran in `elapsed` seconds; two are left
    later = batch.first_started + timedelta(seconds=30)
    assert batch.eta_seconds(later) == 60.0
    jobs.set_progress(b.id, 3, 3)
    jobs.succeed(b.id, result_key="r", media_type=None)
    jobs.start_attempt(c.id)
    jobs.fail(c.id, "not_a_report", "no")
    batch = batches.get(batch_id)
    assert batch.finished and batch.eta_seconds(later) == 0.0 and batch.ran == 3
    assert (batch.pages_done, batch.pages_total) == (13, 13)
    assert batches.job_rows([b.id])[0]["source_path"] == "dir/b.pdf"


def test_counts_cover_every_job_state(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    batches.create(batch_id, files=0, archives=[])
    assert list(batches.get(batch_id).counts) == [s.value for s in JobState]


def test_a_cursor_page_holds_while_jobs_change_state(jobs: JobStore) -> None:
    batches = BatchStore(jobs.redis)
    batch_id = new_batch_id()
    batches.create(batch_id, files=10, archives=[])
    made = [make_job(batch_id=batch_id) for _ in range(10)]
    for job in made:
        jobs.create_new(job)
    ids = [j.id for j in made]
    first = batches.job_page(batch_id, JobState.QUEUED, after=None, offset=0, limit=3)
    assert first == [(i, ids[i]) for i in range(3)]
    jobs.start_attempt(ids[1])  # leaves the queued state between two pages
    by_cursor = batches.job_page(batch_id, JobState.QUEUED, after=first[-1][0], offset=0, limit=3)
    assert [job_id for _, job_id in by_cursor] == ids[3:6]
    by_offset = batches.job_page(batch_id, JobState.QUEUED, after=None, offset=3, limit=3)
    assert [job_id for _, job_id in by_offset] == ids[4:7]  # an offset would have skipped ids[3]
    assert batches.job_page(batch_id, None, after=7, offset=0, limit=5) == [(8, ids[8]), (9, ids[9])]
    assert batches.job_page(batch_id, JobState.RUNNING, after=None, offset=0, limit=5) == [(1, ids[1])]
