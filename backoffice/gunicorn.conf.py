"""gunicorn settings for the `web` process group.

The Dockerfile, fly.toml and the smoke test in tests/test_production.py all run
`gunicorn --config backoffice/gunicorn.conf.py backoffice.wsgi:application`.
"""

import os

from backoffice.observability import json_logging_config

# Fly routes to 0.0.0.0:$PORT; the smoke test binds 127.0.0.1:<free port>.
bind = [os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")]
# Sync workers: ~150 MB each, so 3 fit a 1 GB machine with room to spare.
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 60
# Below fly.toml's kill_timeout, so in-flight requests finish on deploys.
graceful_timeout = 25
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 1000
max_requests_jitter = 100
# Worker heartbeat files on tmpfs, not on the container's overlay filesystem.
worker_tmp_dir = "/dev/shm"

# No gunicornc control socket: nothing uses it, and it would live in $HOME.
control_socket_disable = True

# Logs: JSON lines on stderr. Access lines come from Django's RequestIdMiddleware
# (with request, user and organization ids); gunicorn's own are dropped there.
logconfig_dict = json_logging_config(level=os.environ.get("LOG_LEVEL", "INFO"))
