"""The sweeper against the real redis-server: stuck jobs and expansions, and the broker's messages.

A Redis database of its own: the integration stack's worker consumes the queues of database 0."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from gongkai.settings import Settings
from gongkai.stack import Stack
from storage import ArchiveEntry, ArchiveState, BatchStore, JobState, JobStore
from storage.batches import new_batch_id
from storage.jobs import now
from storage.metrics import Metrics
from tests.conftest import make_job
from workers import sweeper
from workers.celery_app import BATCH_QUEUE, SWEEP_TASK, create_app


@pytest.fixture
def client(services: Stack) -> Iterator[redis.Redis[str]]:
    url = services.settings.redis_url.rsplit("/", 1)[0] + "/5"
    c: redis.Redis[str] = redis.Redis.from_url(url, decode_responses=True)
    c.flushdb()
    yield c
    c.close()


def _unacked(client: redis.Redis[str], tag: str, task_id: str, queue: str) -> None:
    message = {"body": "e30=", "headers": {"id": task_id, "task": "t"}, "properties": {"delivery_info": {}}}
    client.hset(sweeper.UNACKED, tag, json.dumps([message, queue, queue]))
    client.zadd(sweeper.UNACKED_INDEX, {tag: 1.0})


def test_a_stuck_job_is_requeued_with_its_own_message_then_failed(client: redis.Redis[str]) -> None:
    jobs = JobStore(client, running_deadline_seconds=0)  # overdue as soon as it starts
    batches = BatchStore(client)
    services = sweeper.SweepServices(jobs=jobs, batches=batches, metrics=Metrics(client))
    job = jobs.create(make_job())
    other = jobs.create(make_job())
    jobs.start_attempt(job.id)
    _unacked(client, "tag-1", job.id, "celery")
    _unacked(client, "tag-2", other.id, "celery")  # another job's message is left alone
    sent: list[str] = []

    def resend(job_id: str) -> None:
        if not sweeper.restore_unacked(client, job_id, "celery"):
            sent.append(job_id)

    def run() -> sweeper.SweepReport:
        return sweeper.sweep(
            services,
            max_lost_attempts=2,
            resend_document=resend,
            resend_archive=lambda b, a: None,
            reject_archive=lambda b, a, n: None,
        )

    assert run().requeued == [job.id]
    assert jobs.get(job.id).state == JobState.QUEUED and jobs.get(job.id).lost_attempts == 1
    [restored] = client.lrange("celery", 0, -1)
    assert json.loads(restored)["headers"] == {"id": job.id, "task": "t", "redelivered": True}
    assert client.hkeys(sweeper.UNACKED) == ["tag-2"] and client.zrange(sweeper.UNACKED_INDEX, 0, -1) == [
        "tag-2"
    ]
    assert sent == [] and run().counts()["requeued"] == 0  # swept once

    jobs.start_attempt(job.id)  # its second attempt dies too; its message is gone from the broker
    report = run()
    assert report.failed == [job.id] and report.finished == [job.id]
    assert jobs.get(job.id).state == JobState.FAILED
    assert Metrics(client).counters()["jobs_swept"] == 2
    # a job whose message the broker no longer holds gets a fresh one
    third = jobs.create(make_job())
    jobs.start_attempt(third.id)
    assert run().requeued == [third.id] and sent == [third.id]


def test_a_stuck_expansion_is_resent_then_rejected(client: redis.Redis[str]) -> None:
    batches = BatchStore(client)
    services = sweeper.SweepServices(jobs=JobStore(client), batches=batches, metrics=Metrics(client))
    batch_id = new_batch_id()
    entry = ArchiveEntry(id="0", filename="a.zip", sha256="b" * 64, size=1, original_key="k")
    batches.create(batch_id, files=1, archives=[entry])
    resent: list[tuple[str, str]] = []
    rejected: list[tuple[str, str, int]] = []

    def run() -> sweeper.SweepReport:
        return sweeper.sweep(
            services,
            max_lost_attempts=2,
            resend_document=lambda j: None,
            resend_archive=lambda b, a: resent.append((b, a)),
            reject_archive=lambda b, a, n: rejected.append((b, a, n)),
        )

    batches.start_expansion(batch_id, "0", now() + timedelta(hours=1))
    assert run().archives_requeued == [] and resent == []  # not overdue
    batches.start_expansion(batch_id, "0", now() - timedelta(seconds=1))
    assert run().archives_requeued == [(batch_id, "0")] and resent == [(batch_id, "0")]
    assert run().archives_requeued == []  # off the index until its re-run starts
    batches.start_expansion(batch_id, "0", now() - timedelta(seconds=1))
    assert run().archives_failed == [(batch_id, "0")] and rejected == [(batch_id, "0", 2)]

    # an expansion that finished is off the index: nothing to sweep
    done = entry.model_copy(update={"id": "1"})
    client.hset(f"gongkai:batch:{batch_id}:archives", "1", done.model_dump_json())
    batches.start_expansion(batch_id, "1", now() - timedelta(seconds=1))
    batches.finish_archive(batch_id, done.model_copy(update={"state": ArchiveState.EXPANDED}))
    assert batches.overdue_expansions() == []


def test_the_sweep_runs_on_beat_every_interval_on_the_batch_queue() -> None:
    app = create_app(Settings(sweep_interval_seconds=7))
    entry = app.conf.beat_schedule["sweep"]
    assert (entry["task"], entry["schedule"], entry["options"]["expires"]) == (SWEEP_TASK, 7, 7)
    assert app.amqp.router.route({}, SWEEP_TASK)["queue"].name == BATCH_QUEUE
