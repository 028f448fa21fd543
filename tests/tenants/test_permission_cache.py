"""A user's model permissions are read once, then from the cache, until a change
to groups or permissions: the next request sees every change."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tenants import roles
from tests.conftest import staff_with_role

pytestmark = pytest.mark.django_db

TASKS = reverse("admin:work_task_changelist")


def _permission_queries(client, url=TASKS):
    with CaptureQueriesContext(connection) as queries:
        status = client.get(url).status_code
    reads = [
        q
        for q in queries.captured_queries
        if q["sql"].startswith('SELECT "django_content_type"."app_label"')
    ]
    return status, len(reads)


@pytest.fixture
def agent_client(client):
    agent = staff_with_role(roles.SUPPORT_AGENT)
    client.force_login(agent)
    return agent, client


def test_permissions_are_read_once_then_remembered(agent_client):
    _, client = agent_client
    assert _permission_queries(client) == (200, 2)  # the user's and their groups'
    assert _permission_queries(client) == (200, 0)


def test_leaving_a_role_takes_effect_on_the_next_request(agent_client):
    agent, client = agent_client
    assert _permission_queries(client)[0] == 200
    agent.groups.clear()
    assert _permission_queries(client) == (403, 2)


def test_a_role_losing_a_permission_takes_effect_on_the_next_request(agent_client):
    _, client = agent_client
    assert _permission_queries(client)[0] == 200
    group = Group.objects.get(name=roles.SUPPORT_AGENT)
    group.permissions.remove(*group.permissions.filter(codename__endswith="_task"))
    assert _permission_queries(client)[0] == 403


def test_a_permission_granted_directly_takes_effect(client):
    user = staff_with_role(roles.FINANCE)
    client.force_login(user)
    assert _permission_queries(client)[0] == 403
    user.user_permissions.add(_view_task())
    assert _permission_queries(client)[0] == 200


def test_the_generation_moves_again_when_the_change_commits(
    agent_client, django_capture_on_commit_callbacks
):
    """A request reading the database between the change and its commit would
    remember the old set under the new generation; the commit moves it on."""
    agent, client = agent_client
    with django_capture_on_commit_callbacks() as callbacks:
        agent.groups.clear()
        assert _permission_queries(client)[0] == 403
    assert _permission_queries(client)[1] == 0  # remembered, until the commit
    for callback in callbacks:
        callback()
    assert _permission_queries(client)[1] == 2


def _view_task():
    return Permission.objects.get(content_type__app_label="work", codename="view_task")
