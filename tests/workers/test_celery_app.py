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
