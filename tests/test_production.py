"""Production settings and processes, run for real: `check --deploy`, Sentry,
and a smoke test of gunicorn and the job cluster against the test database."""

import gzip
import http.client
import json
import re
import socket
import sys
import threading
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import environ
import pytest
from django.db import connection

from backoffice import pgtools
from backoffice.models import JobClusterHeartbeat
from tests.processes import (
    ChildProcess,
    database_url,
    free_port,
    production_env,
    run_command,
    venv_script,
)

# The command of fly.toml's `web` process group and of the Dockerfile's CMD.
GUNICORN = [
    venv_script("gunicorn"),
    "--config",
    "backoffice/gunicorn.conf.py",
    "backoffice.wsgi:application",
]
# fly.toml's `worker` process group.
QCLUSTER = [sys.executable, "manage.py", "qcluster"]
MANAGE = [sys.executable, "manage.py"]
HTTPS = {"X-Forwarded-Proto": "https"}


def test_database_url_for_the_test_database_parses_back_to_it(db):
    parsed = environ.Env.db_url_config(database_url(connection.settings_dict))
    assert pgtools.conninfo(parsed) == pgtools.conninfo(connection.settings_dict)


def test_check_deploy_reports_no_issues(db):
    result = run_command(
        [*MANAGE, "check", "--deploy"], production_env(connection.settings_dict)
    )
    assert result.stdout == "System check identified no issues (0 silenced).\n"
    assert result.stderr == ""


def test_sentry_is_imported_only_when_sentry_dsn_is_set(db):
    script = "import sys, django; django.setup(); print('sentry_sdk' in sys.modules)"
    result = run_command(
        [sys.executable, "-c", script], production_env(connection.settings_dict)
    )
    assert result.stdout == "False\n"


class _SentryIngest(BaseHTTPRequestHandler):
    """Stands in for sentry.io on a local port; keeps what was posted."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.received.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_sentry_reports_to_the_configured_dsn(db):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SentryIngest)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dsn = f"http://publickey@127.0.0.1:{server.server_port}/42"
        script = (
            "import django; django.setup(); import sentry_sdk; "
            "sentry_sdk.capture_message('sentry smoke test'); sentry_sdk.flush(5)"
        )
        run_command(
            [sys.executable, "-c", script],
            production_env(connection.settings_dict, SENTRY_DSN=dsn),
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [path for path, _ in server.received] == ["/api/42/envelope/"]
    assert b"sentry smoke test" in server.received[0][1]


def test_healthz_answers_503_when_the_database_is_unreachable(db):
    missing = {**connection.settings_dict, "NAME": "no_such_database_healthz"}
    script = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/healthz'); print(r.status_code, r.content.decode())"
    )
    result = run_command([sys.executable, "-c", script], production_env(missing))
    status, body = result.stdout.split(" ", 1)
    assert status == "503"
    assert json.loads(body)["database"] == "error: OperationalError"


class _FirstStylesheet(HTMLParser):
    def __init__(self):
        super().__init__()
        self.href = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "link" and attrs.get("rel") == "stylesheet" and not self.href:
            self.href = attrs["href"]


def _get(port: int, path: str, headers: dict[str, str]):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


@pytest.fixture
def production_stack(transactional_db, tmp_path):
    """gunicorn and the job cluster with production settings, on the test
    database, after the release-time set-up (collectstatic, createcachetable)."""
    port = free_port()
    env = production_env(
        connection.settings_dict,
        STATIC_ROOT=str(tmp_path / "static"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        Q_WORKERS="1",
    )
    run_command([*MANAGE, "collectstatic", "--noinput"], env)
    run_command([*MANAGE, "createcachetable"], env)
    worker = ChildProcess(QCLUSTER, env)
    web = ChildProcess(GUNICORN, env)
    try:
        web.wait_for_port(port, timeout=60)
        assert worker.wait_for_output(
            lambda lines: any("running" in line for line in lines), timeout=60
        ), "\n".join(worker.lines)
        yield port, web, worker
    finally:
        web.stop()
        worker.stop()


def test_production_smoke(production_stack):
    port, web, worker = production_stack

    # The job cluster wrote its heartbeat; /healthz, called like a platform
    # checker (private address, plain HTTP), says all is well.
    heartbeat = JobClusterHeartbeat.objects.get()
    assert heartbeat.host == socket.gethostname()
    response, body = _get(port, "/healthz", {"Host": "172.19.0.2:8000"})
    assert response.status == 200, body
    health = json.loads(body)
    assert (health["database"], health["jobs"]) == ("ok", "ok")
    assert health["heartbeat_age_seconds"] < 60

    # Plain HTTP is redirected to HTTPS.
    response, _ = _get(port, "/admin/login/", {})
    assert response.status == 301
    assert response.getheader("Location") == f"https://127.0.0.1:{port}/admin/login/"

    # Over HTTPS (as Fly's proxy forwards it) the login page renders, safely.
    headers = {**HTTPS, "X-Request-ID": "smoke-login-1"}
    response, body = _get(port, "/admin/login/", headers)
    assert response.status == 200
    assert b'name="password"' in body
    assert (
        response.getheader("Strict-Transport-Security")
        == "max-age=31536000; includeSubDomains; preload"
    )
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Referrer-Policy") == "same-origin"
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("X-Request-ID") == "smoke-login-1"
    csrf_cookie = response.getheader("Set-Cookie")
    assert "Secure" in csrf_cookie and "HttpOnly" in csrf_cookie

    # Its stylesheet is served by WhiteNoise under a content-hashed name.
    parser = _FirstStylesheet()
    parser.feed(body.decode())
    assert re.fullmatch(r"/static/.+\.[0-9a-f]{12}\.css", parser.href), parser.href
    response, css = _get(port, parser.href, {**HTTPS, "Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/css")
    assert response.getheader("Content-Encoding") == "gzip"
    assert "immutable" in response.getheader("Cache-Control")
    assert css

    # Every line either process wrote is one JSON object; the request's lines
    # carry its id.
    web.stop()
    worker.stop()
    records = [json.loads(line) for line in web.lines + worker.lines]
    assert {"time", "level", "logger", "message", "request_id"} <= set(records[0])
    [access] = [r for r in records if r["request_id"] == "smoke-login-1"]
    assert (access["logger"], access["status"]) == ("backoffice.request", 200)
    assert any("Q Cluster" in r["message"] for r in records)
