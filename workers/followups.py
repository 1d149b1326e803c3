"""What follows a job's outcome: the batch's exports once its last job is done, the job's webhook.

Shared by the worker (after it runs a job) and the API (a job answered from an earlier result, or
cancelled while queued, never reaches a worker; without this its webhook and its batch's exports
would wait for nothing). Claims in Redis make each follow-up happen once, whoever gets there first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gongkai.log import get_logger
from storage import BatchStore, Job, JobNotFound, JobStore
from storage.deliveries import DeliveryLog, Kind
from workers.celery_app import BATCH_QUEUE, EXPORT_TASK, WEBHOOK_TASK

log = get_logger("gongkai.followups")

SendTask = Callable[..., Any]  # Celery.send_task


def export_task_id(batch_id: str) -> str:
    return f"export-{batch_id}"


@dataclass(frozen=True)
class Followups:
    send_task: SendTask
    jobs: JobStore
    batches: BatchStore
    deliveries: DeliveryLog

    def after_job(self, job_id: str, job: Job | None = None) -> None:
        """`job`: the record with its outcome, when the caller has it (else it is read)."""
        with contextlib.suppress(JobNotFound):
            job = job or self.jobs.get(job_id)
            if job.batch_id:
                self.maybe_export(job.batch_id)
            elif job.callback_url and job.state.finished:
                self.queue_webhook("job", job_id)

    def maybe_export(self, batch_id: str) -> None:
        """Queue the batch's exports if it is finished and nobody did yet (the export task then
        announces the batch)."""
        if self.batches.claim_export(batch_id):
            log.info("batch.finished", batch_id=batch_id)
            self.send_task(EXPORT_TASK, args=[batch_id], task_id=export_task_id(batch_id))

    def queue_webhook(self, kind: Kind, item_id: str) -> None:
        # The claim makes it once per job or batch, however often the job is redelivered.
        if self.deliveries.claim(kind, item_id):
            try:
                self.send_task(WEBHOOK_TASK, args=[kind, item_id], queue=BATCH_QUEUE)
            except Exception:
                self.deliveries.release(kind, item_id)
                raise
