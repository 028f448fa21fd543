"""The REDIS_URL path of the job cluster, against a real Redis.

Collected only when REDIS_URL is set (tests/conftest.py): .ci/run sets it, as
this machine runs Redis on 127.0.0.1:6379; a newcomer's machine may have none.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import django
django.setup()
from django_q.brokers import get_broker
broker = get_broker()
print(type(broker).__name__)
broker.enqueue("{payload}")
task_id, payload = broker.dequeue()[0]
print(payload.decode() if isinstance(payload, bytes) else payload)
broker.acknowledge(task_id)
"""


def test_the_cluster_uses_redis_when_redis_url_is_set():
    redis_url = os.environ.get("REDIS_URL")
    assert redis_url
    payload = f"ping-{uuid.uuid4().hex}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.test"}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(payload=payload)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    broker_name, echoed = result.stdout.split()[-2:]
    assert broker_name == "RedisBroker"
    assert echoed == payload
