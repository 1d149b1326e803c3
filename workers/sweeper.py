"""The sweeper: settles jobs and archive expansions whose worker died as a whole.

A worker's pool child that dies is noticed by its main process (the message is requeued at once);
a worker killed as a whole (main process and children: OOM killer, SIGKILL, a lost machine) leaves
its jobs `running` and its messages unacknowledged until the broker's visibility timeout, ~16
minutes later. Every job that starts is indexed with a deadline (started + task_time_limit +
sweep_margin_seconds; storage/jobs.py), when Celery's hard time limit has surely ended any live
attempt; the sweeper reads only the entries past their deadline (a sorted-set range, O(stuck jobs)).

Each job is settled in one Lua call that re-checks it: still `running`, deadline still passed (a new
attempt moves it). The lost attempt is counted; the job is re-queued, or failed once it has used up
`task_max_lost_attempts`, or cancelled if a client asked. Re-queueing puts the dead attempt's own
message back at the head of its queue (taking it out of the broker's unacked set), so the broker
cannot also redeliver it later and run the job a second time. Archive expansions are indexed and
swept the same way (storage/batches.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from gongkai.log import get_logger
from storage import BatchStore, JobStore
from storage.metrics import Counter, Metrics

log = get_logger("gongkai.sweeper")

# kombu's Redis transport keeps each delivered, unacknowledged message in this hash (delivery tag →
# JSON [message, exchange, routing key]) and the tag's delivery time in the sorted set.
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"

# KEYS[1] unacked hash, KEYS[2] unacked index, KEYS[3] the queue; ARGV: delivery tag, the message
# to put back. Only if the tag is still unacked: kombu's own restore may have taken it first.
_RESTORE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
"""


@dataclass(frozen=True)
class SweepServices:
    jobs: JobStore
    batches: BatchStore
    metrics: Metrics


@dataclass
class SweepReport:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    archives_requeued: list[tuple[str, str]] = field(default_factory=list)
    archives_failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def finished(self) -> list[str]:
        """Jobs the sweep finished (their batch may be finished now)."""
        return self.failed + self.cancelled

    def counts(self) -> dict[str, int]:
        return {
            "requeued": len(self.requeued),
            "failed": len(self.failed),
            "cancelled": len(self.cancelled),
            "archives_requeued": len(self.archives_requeued),
            "archives_failed": len(self.archives_failed),
        }


def sweep(
    services: SweepServices,
    *,
    max_lost_attempts: int,
    resend_document: Callable[[str], None],
    resend_archive: Callable[[str, str], None],
    reject_archive: Callable[[str, str, int], None],
) -> SweepReport:
    report = SweepReport()
    jobs = services.jobs
    for job_id in jobs.overdue():
        outcome = jobs.sweep(job_id, max_lost_attempts=max_lost_attempts)
        if not outcome:
            continue  # a new attempt or an outcome got there first
        log.warning("job.swept", job_id=job_id, outcome=outcome)
        if outcome == "requeued":
            resend_document(job_id)
            report.requeued.append(job_id)
        elif outcome == "failed":
            report.failed.append(job_id)
        else:
            report.cancelled.append(job_id)
    for batch_id, archive_id in services.batches.overdue_expansions():
        losses = services.batches.sweep_expansion(batch_id, archive_id)
        if not losses:
            continue
        services.metrics.incr(Counter.SWEPT_ARCHIVES)
        if losses >= max_lost_attempts:
            log.error(
                "archive.swept", batch_id=batch_id, archive_id=archive_id, losses=losses, outcome="failed"
            )
            reject_archive(batch_id, archive_id, losses)
            report.archives_failed.append((batch_id, archive_id))
        else:
            log.warning(
                "archive.swept", batch_id=batch_id, archive_id=archive_id, losses=losses, outcome="requeued"
            )
            resend_archive(batch_id, archive_id)
            report.archives_requeued.append((batch_id, archive_id))
    return report


def restore_unacked(client: redis.Redis[str], task_id: str, queue: str) -> bool:
    """Put the broker's unacknowledged message of this task back at the head of `queue`; False if
    the broker holds none (acknowledged, or already restored by the broker itself).

    The unacked set holds one message per busy worker slot, so the scan is small."""
    restore = client.register_script(_RESTORE)
    for tag, raw in client.hscan_iter(UNACKED):
        try:
            message, _exchange, _routing_key = json.loads(raw)
            if message.get("headers", {}).get("id") != task_id:
                continue
            message["headers"]["redelivered"] = True
            message.get("properties", {}).get("delivery_info", {})["redelivered"] = True
        except (ValueError, TypeError, AttributeError):
            continue
        if restore(keys=[UNACKED, UNACKED_INDEX, queue], args=[tag, json.dumps(message)]):
            return True
    return False
