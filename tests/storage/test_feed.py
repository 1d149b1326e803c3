"""The change feed against the real redis-server: appended in the write that finishes a job, once."""

from __future__ import annotations

import pytest

from storage import BatchStore, JobState, JobStore
from storage.batches import new_batch_id
from storage.feed import BadCursor, Feed, decode_cursor, encode_cursor, feed_key
from tests.conftest import TEST_TENANT, make_job


def read_all(feed: Feed, since: str | None, limit: int = 2) -> list[tuple[str, str]]:
    """Every entry after `since`, paging `limit` at a time: (job id, state)."""
    seen: list[tuple[str, str]] = []
    while True:
        page = feed.read(since, limit, TEST_TENANT)
        seen += [(e.job_id, e.state.value) for e in page.results]
        if not page.results:
            assert page.next == since  # an empty page keeps the caller where it was
            return seen
        since = page.next


def test_a_job_is_fed_once_when_it_first_finishes(jobs: JobStore) -> None:
    feed = Feed(jobs.redis)
    start = feed.tail(TEST_TENANT)
    done, failed, queued = (jobs.create(make_job()) for _ in range(3))
    for job in (done, failed):
        jobs.start_attempt(job.id)
    jobs.succeed(done.id, result_key="k", media_type="text/plain")
    jobs.fail(failed.id, "not_a_report", "no")
    # a redelivery runs the finished job again and finishes it again: not fed a second time
    jobs.start_attempt(done.id)
    jobs.succeed(done.id, result_key="k", media_type="text/plain")
    jobs.update(failed.id, state=JobState.FAILED)
    assert read_all(feed, start) == [(done.id, "succeeded"), (failed.id, "failed")]
    assert queued.id not in {j for j, _ in read_all(feed, start)}


def test_entries_carry_batch_error_and_time(jobs: JobStore) -> None:
    feed = Feed(jobs.redis)
    start = feed.tail(TEST_TENANT)
    batch_id = new_batch_id()
    BatchStore(jobs.redis).create(batch_id, files=1, archives=[])
    job = make_job(batch_id=batch_id)
    jobs.create_new(job)
    jobs.fail(job.id, "corrupt_file", "bad pdf")
    [entry] = feed.read(start, 10, TEST_TENANT).results
    assert (entry.job_id, entry.batch_id, entry.state) == (job.id, batch_id, JobState.FAILED)
    assert entry.error is not None and entry.error.code == "corrupt_file"
    assert entry.finished is not None
    assert BatchStore(jobs.redis).get(batch_id).counts["failed"] == 1  # the batch counters still move


def test_feeds_are_per_tenant(jobs: JobStore) -> None:
    feed = Feed(jobs.redis)
    job = jobs.create(make_job())
    jobs.redis.hset(f"gongkai:job:{job.id}", "tenant", '"acme"')
    before = feed.tail(TEST_TENANT)
    jobs.fail(job.id, "not_a_report", "no")
    assert feed.read(before, 10, TEST_TENANT).results == []  # the tenant it was made for no longer
    assert [e.job_id for e in feed.read(None, 10, tenant="acme").results] == [job.id]
    assert feed_key("acme") == "gongkai:feed:acme"


def test_cursors_are_opaque_and_checked() -> None:
    assert decode_cursor(encode_cursor("1700000000000-3")) == "1700000000000-3"
    for bad in ("!!", encode_cursor("nope"), encode_cursor("12-x")):
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_entries_older_than_the_job_records_are_trimmed(jobs: JobStore) -> None:
    store = JobStore(jobs.redis, ttl_seconds=3600)
    jobs.redis.xadd(feed_key("trim"), {"job_id": '"ancient"', "state": '"failed"'}, id="1-0")
    job = store.create(make_job())
    jobs.redis.hset(f"gongkai:job:{job.id}", "tenant", '"trim"')
    store.fail(job.id, "not_a_report", "no")
    assert [e.job_id for e in Feed(jobs.redis).read(None, 10, tenant="trim").results] == [job.id]
