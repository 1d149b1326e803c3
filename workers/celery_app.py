"""The Celery application: Redis broker, no result backend (the job store is the record).

Run a worker with `celery -A workers.celery_app worker` (the local stack and docker-compose do).
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from gongkai.settings import Settings, get_settings

TASK_NAME = "gongkai.process_document"
EXPAND_TASK = "gongkai.expand_archive"  # args: batch id, archive id
EXPORT_TASK = "gongkai.export_batch"  # args: batch id
WEBHOOK_TASK = "gongkai.deliver_webhook"  # args: "job" | "batch", its id
SWEEP_TASK = "gongkai.sweep"  # no args; run by beat (see workers/sweeper.py)
DEFAULT_QUEUE = "celery"
# Short batch bookkeeping (expanding archives, writing exports) gets its own queue: a worker consumes
# both in turn, so a new archive is expanded while thousands of documents are still queued, instead
# of after them.
BATCH_QUEUE = "gongkai.batches"


def create_app(settings: Settings) -> Celery:
    app = Celery("gongkai", broker=settings.redis_url, include=["workers.tasks"])
    app.conf.update(
        # Results: the job record in Redis says everything; keep Celery from writing its own keys.
        task_ignore_result=True,
        result_backend=None,
        result_expires=3600,
        # A job is acknowledged only once it ran to the end; if the worker dies mid-job, the message
        # goes back to the queue instead of being lost.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # long tasks: don't let one worker hoard queued jobs
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # With acks_late on Redis, an unacked message is redelivered after the visibility timeout:
        # it must outlast the longest task or a slow job would run twice at once.
        broker_transport_options={"visibility_timeout": settings.task_time_limit + 300},
        broker_transport="workers.broker:Transport",  # kombu's Redis transport, surviving a lost connection
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_track_started=False,
        # Workers consume every queue listed here unless started with -Q.
        task_default_queue=DEFAULT_QUEUE,
        task_queues=(Queue(DEFAULT_QUEUE), Queue(BATCH_QUEUE)),
        task_routes={
            EXPAND_TASK: {"queue": BATCH_QUEUE},
            EXPORT_TASK: {"queue": BATCH_QUEUE},
            SWEEP_TASK: {"queue": BATCH_QUEUE},
        },
        # The sweeper, on a schedule: embedded in the local stack's worker (`-B`), a separate `beat`
        # service in docker-compose. A sweep not started within its interval is dropped: the next
        # one does the same work.
        beat_schedule={
            "sweep": {
                "task": SWEEP_TASK,
                "schedule": settings.sweep_interval_seconds,
                "options": {"expires": settings.sweep_interval_seconds},
            }
        },
    )
    return app


app = create_app(get_settings())
