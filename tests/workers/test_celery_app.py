"""The Celery configuration the reliability of the service rests on."""

from __future__ import annotations

from gongkai.settings import Settings
from storage import TRANSIENT_ERRORS
from workers.celery_app import TASK_NAME, create_app
from workers.tasks import process_document


def test_reliability_settings() -> None:
    settings = Settings(task_soft_time_limit=100, task_time_limit=120)
    conf = create_app(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_ignore_result and not conf.result_backend
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (100, 120)
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit


def test_task_retries_only_transient_errors() -> None:
    assert process_document.name == TASK_NAME
    assert tuple(process_document.autoretry_for) == TRANSIENT_ERRORS
    assert process_document.retry_backoff
    assert not any(issubclass(ValueError, e) for e in TRANSIENT_ERRORS)


def test_batch_bookkeeping_does_not_wait_behind_documents() -> None:
    from workers.celery_app import BATCH_QUEUE, DEFAULT_QUEUE, EXPAND_TASK, EXPORT_TASK

    app = create_app(Settings())
    assert {q.name for q in app.conf.task_queues} == {DEFAULT_QUEUE, BATCH_QUEUE}  # a worker takes both
    router = app.amqp.router
    for task in (EXPAND_TASK, EXPORT_TASK):
        assert router.route({}, task)["queue"].name == BATCH_QUEUE
    assert router.route({}, TASK_NAME)["queue"].name == DEFAULT_QUEUE
