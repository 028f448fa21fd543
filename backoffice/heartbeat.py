"""The job cluster's heartbeat: a row in PostgreSQL that `/healthz` can age.

Why not django-q2's own `Stat.get_all()`? The cluster's guard loop saves a `Stat`
every 0.5 s, but only into a cache, with a 3-second expiry: with the default
per-process memory cache the web process never sees it, and with a shared cache
a stat either exists or has expired, so there is no age to compare with a
threshold and a cache eviction or flush reads as a dead cluster.

So the cluster writes its own heartbeat from that same guard loop. The guard
saves its `Stat` through the broker's `set_stat()`; the brokers below do what
django-q2's ORM and Redis brokers do and, at most every
`JOBS_HEARTBEAT_INTERVAL` seconds, upsert a `JobClusterHeartbeat` row. No
schedule is involved: the row is fresh exactly while a guard loop runs (the
loop that also restarts dead workers and runs the scheduler), it survives cache
flushes, and it lives in the database `/healthz` checks anyway.
`Q_CLUSTER["broker_class"]` in the settings selects the broker.
"""

import os
import socket
import time

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf

from backoffice.models import JobClusterHeartbeat


def record_heartbeat(cluster: str | None = None) -> None:
    """Upsert the cluster's heartbeat row with the current time."""
    JobClusterHeartbeat.objects.bulk_create(
        [
            JobClusterHeartbeat(
                cluster=cluster or Conf.CLUSTER_NAME,
                host=socket.gethostname(),
                pid=os.getpid(),
                beat_at=timezone.now(),
            )
        ],
        update_conflicts=True,
        unique_fields=["cluster"],
        update_fields=["host", "pid", "beat_at"],
    )


def last_heartbeat():
    """When any job cluster last beat, or None if none ever has."""
    return (
        JobClusterHeartbeat.objects.order_by("-beat_at")
        .values_list("beat_at", flat=True)
        .first()
    )


class HeartbeatMixin:
    """Adds a throttled heartbeat to the broker's cluster-status writes."""

    _next_beat = 0.0

    def set_stat(self, key: str, value: str, timeout: int):
        result = super().set_stat(key, value, timeout)
        now = time.monotonic()
        if now >= self._next_beat:
            # Set before writing: a database outage is retried once an
            # interval (django-q2 logs the error), not on every guard cycle.
            self._next_beat = now + settings.JOBS_HEARTBEAT_INTERVAL
            # The guard process is long-lived: drop a connection that broke or
            # outlived CONN_MAX_AGE, as django-q2's ORM broker does (never
            # inside a transaction, where Django would close it).
            if transaction.get_autocommit():
                close_old_connections()
            record_heartbeat()
        return result


class OrmBroker(HeartbeatMixin, ORM):
    pass


class RedisBroker(HeartbeatMixin, Redis):
    pass
