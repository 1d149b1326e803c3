"""The worker's broker transport against the real Redis: a channel closed after its connection was
released (Redis went away mid-task) must not raise, and keeps its unacked message for a later restore."""

from __future__ import annotations

from kombu import Connection, Exchange, Queue

from gongkai.stack import Stack
from workers.celery_app import create_app


def test_the_celery_app_uses_the_guarded_transport(services: Stack) -> None:
    app = create_app(services.settings)
    with app.connection_for_write() as connection:
        assert connection.transport_cls == "workers.broker:Transport"
        assert type(connection.default_channel.qos).__module__ == "workers.broker"


def test_a_channel_closed_after_its_connection_is_gone_keeps_its_unacked_message(services: Stack) -> None:
    url = services.settings.redis_url.rsplit("/", 1)[0] + "/5"  # a database of its own
    queue = Queue("broker-test", Exchange("broker-test"), "broker-test")
    with Connection(url, transport="workers.broker:Transport") as connection:
        channel = connection.default_channel
        redis = channel.client
        redis.flushdb()
        connection.Producer().publish(
            {"n": 1}, exchange=queue.exchange, routing_key="broker-test", declare=[queue]
        )
        assert queue(channel).get(no_ack=False) is not None  # delivered, not acknowledged: a task running
        transport = channel.connection
        transport_client, transport.client = transport.client, None  # as kombu leaves it on a lost connection
        channel.close()  # kombu's own transport raises AttributeError here and the worker exits
        transport.client = transport_client
        assert redis.hlen("unacked") == 1  # still there, for the visibility timeout or the sweeper
        redis.flushdb()
