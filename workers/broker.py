"""The Redis broker transport, with one kombu failure worked around.

When the connection to Redis drops while a message is unacknowledged (a task running under
acks_late), kombu closes the channel and puts the message back through a connection it has already
released: `AttributeError: 'NoneType' object has no attribute 'hostname'`, and the worker process
exits instead of reconnecting (kombu 5.7; celery/kombu#582 and #970 show the same path). The message
is still in the broker's unacked set, from where kombu restores it after the visibility timeout and
the sweeper sooner (workers/sweeper.py), so a restore with no connection left is skipped, and the
worker goes on to reconnect.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis

from gongkai.log import get_logger

log = get_logger("gongkai.broker")


class QoS(redis.QoS):
    def restore_unacked_once(self, stderr: Any = None) -> None:
        transport = self.channel.connection
        if transport is None or transport.client is None:  # the connection is released already
            log.warning("broker.restore_skipped", unacked=len(self._delivered or ()))
            return
        super().restore_unacked_once(stderr)


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel
