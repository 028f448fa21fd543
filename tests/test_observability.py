"""Request ids, JSON log lines, /healthz and the job cluster's heartbeat."""

import datetime as dt
import io
import json
import logging
import os
import socket

import pytest
from django.utils import timezone

from backoffice.heartbeat import OrmBroker, record_heartbeat
from backoffice.models import JobClusterHeartbeat
from backoffice.observability import (
    JsonFormatter,
    RequestContextFilter,
    organization_id_var,
    request_id_var,
    user_id_var,
)
from tests.factories import OrganizationFactory


@pytest.fixture
def json_log():
    """Records of every logger, formatted as production formats them; returns
    a function that gives the lines written so far, parsed."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    access = logging.getLogger("backoffice.request")
    access_level = access.level
    root.addHandler(handler)
    access.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    access.setLevel(access_level)


def test_json_formatter_writes_one_object_per_line_with_context_and_extras():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    tokens = [
        (request_id_var, request_id_var.set("req-1")),
        (user_id_var, user_id_var.set(7)),
        (organization_id_var, organization_id_var.set(3)),
    ]
    try:
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            logger.error(
                "failed for %s",
                "someone",
                exc_info=True,
                extra={"when": dt.date(2026, 1, 2)},
            )
    finally:
        logger.removeHandler(handler)
        for var, token in tokens:
            var.reset(token)

    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert record["logger"] == "tests.json"
    assert record["message"] == "failed for someone"
    assert (record["request_id"], record["user_id"], record["organization_id"]) == (
        "req-1",
        7,
        3,
    )
    assert record["when"] == "2026-01-02"
    assert record["exception"].startswith("Traceback")
    assert "ValueError: bad\nvalue" in record["exception"]
    assert dt.datetime.fromisoformat(record["time"]).tzinfo is not None


def test_request_log_lines_carry_request_user_and_pinned_organization(
    admin_client, superuser, json_log
):
    organization = OrganizationFactory()
    session = admin_client.session
    session["pinned_organization_id"] = organization.pk
    session.save()

    response = admin_client.get("/admin/", HTTP_X_REQUEST_ID="support-ticket-42")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "support-ticket-42"
    [access] = [r for r in json_log() if r["logger"] == "backoffice.request"]
    assert access["request_id"] == "support-ticket-42"
    assert access["user_id"] == superuser.pk
    assert access["organization_id"] == organization.pk
    assert (access["method"], access["path"], access["status"]) == (
        "GET",
        "/admin/",
        200,
    )


def test_anonymous_request_without_pinned_organization_logs_nulls(client, db, json_log):
    client.get("/admin/login/", HTTP_X_REQUEST_ID="anon-1")
    [access] = [r for r in json_log() if r["request_id"] == "anon-1"]
    assert access["user_id"] is None
    assert access["organization_id"] is None


@pytest.mark.parametrize(
    "incoming",
    ["", "has spaces", "x" * 129, "-leading-dash", "new\nline", "ünïcode"],
)
def test_request_id_is_a_new_uuid4_unless_the_incoming_one_is_sane(
    client, db, incoming
):
    response = client.get("/admin/login/", HTTP_X_REQUEST_ID=incoming)
    request_id = response["X-Request-ID"]
    assert request_id != incoming
    assert len(request_id) == 32 and int(request_id, 16) >= 0


@pytest.mark.parametrize(
    "incoming",
    ["abc", "6f1c2d9e-aaaa-4bbb-8ccc-0123456789ab", "a" * 128, "fly:req.1_2"],
)
def test_a_sane_incoming_request_id_is_kept(client, db, incoming):
    response = client.get("/admin/login/", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] == incoming


def test_request_context_is_cleared_when_the_request_finishes(admin_client):
    admin_client.get("/admin/")
    assert (request_id_var.get(), user_id_var.get(), organization_id_var.get()) == (
        None,
        None,
        None,
    )


def test_healthz_200_with_a_fresh_heartbeat_from_a_platform_checker(client, db):
    record_heartbeat()
    # A platform checker calls the machine's private address over plain HTTP.
    response = client.get("/healthz", HTTP_HOST="172.19.0.2:8000")
    assert response.status_code == 200
    body = response.json()
    assert (body["database"], body["jobs"]) == ("ok", "ok")
    assert body["heartbeat_age_seconds"] <= 1


def test_healthz_503_when_the_heartbeat_is_stale(client, db, settings, json_log):
    record_heartbeat()
    JobClusterHeartbeat.objects.update(
        beat_at=timezone.now()
        - dt.timedelta(seconds=settings.HEALTHZ_MAX_HEARTBEAT_AGE + 5)
    )

    response = client.get("/healthz", HTTP_X_REQUEST_ID="probe-7")

    assert response.status_code == 503
    body = response.json()
    assert (body["database"], body["jobs"]) == ("ok", "stale heartbeat")
    assert body["heartbeat_age_seconds"] >= settings.HEALTHZ_MAX_HEARTBEAT_AGE + 5
    # Django logs the 503 after the middleware chain returned: still with its id.
    [warning] = [r for r in json_log() if r["logger"] == "django.request"]
    assert warning["message"] == "Service Unavailable: /healthz"
    assert warning["request_id"] == "probe-7"


def test_healthz_follows_the_max_heartbeat_age_setting(client, db, settings):
    record_heartbeat()
    JobClusterHeartbeat.objects.update(
        beat_at=timezone.now() - dt.timedelta(seconds=30)
    )
    settings.HEALTHZ_MAX_HEARTBEAT_AGE = 60
    assert client.get("/healthz").status_code == 200
    settings.HEALTHZ_MAX_HEARTBEAT_AGE = 20
    assert client.get("/healthz").status_code == 503


def test_healthz_503_when_no_cluster_ever_beat(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["jobs"] == "no heartbeat"


def test_broker_status_writes_a_throttled_heartbeat(db, settings):
    settings.JOBS_HEARTBEAT_INTERVAL = 3600
    broker = OrmBroker()

    broker.set_stat("django_q:backoffice:cluster:1", "status", 3)
    heartbeat = JobClusterHeartbeat.objects.get()
    assert (heartbeat.cluster, heartbeat.host, heartbeat.pid) == (
        "backoffice",
        socket.gethostname(),
        os.getpid(),
    )
    assert timezone.now() - heartbeat.beat_at < dt.timedelta(seconds=5)

    # The guard loop saves its status every half second; the heartbeat is
    # written once an interval.
    JobClusterHeartbeat.objects.all().delete()
    broker.set_stat("django_q:backoffice:cluster:1", "status", 3)
    assert not JobClusterHeartbeat.objects.exists()
