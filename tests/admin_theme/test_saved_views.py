"""Saved views: save a list's query, reopen it from the sidebar, share per role."""

import pytest
from django.contrib.auth.models import Group

from admin_theme.models import SavedView
from tenants import roles
from tests.conftest import staff_with_role

pytestmark = pytest.mark.django_db
TASKS = "/admin/work/task/"


def test_save_and_reopen_a_view_from_the_sidebar(client):
    agent = staff_with_role(roles.SUPPORT_AGENT, email="agent@example.com")
    client.force_login(agent)
    page = client.get(TASKS, {"status__exact": "TODO", "o": "-8"})
    assert 'id="save-view-form"' in page.content.decode()
    response = client.post(
        "/admin/saved-views/save/",
        {
            "name": "My open work",
            "model": "work.task",
            "query": "status__exact=TODO&o=-8&p=3",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"{TASKS}?status__exact=TODO&o=-8"  # page dropped
    view = SavedView.objects.get()
    assert (view.owner, view.query) == (agent, "status__exact=TODO&o=-8")
    assert view.history.get().history_user == agent
    index = client.get("/admin/").content.decode()
    assert "Saved views" in index and "My open work" in index
    # Saving the same name again overwrites rather than duplicating.
    client.post(
        "/admin/saved-views/save/",
        {"name": "My open work", "model": "work.task", "query": "status__exact=DONE"},
    )
    assert SavedView.objects.get().query == "status__exact=DONE"


def test_a_view_shared_with_a_role_appears_for_its_members_only(client):
    alice = staff_with_role(roles.SUPPORT_AGENT, email="alice@example.com")
    bob = staff_with_role(roles.SUPPORT_AGENT, email="bob@example.com")
    finance = staff_with_role(roles.FINANCE, email="fin@example.com")
    client.force_login(alice)
    client.post(
        "/admin/saved-views/save/",
        {
            "name": "Urgent",
            "model": "work.task",
            "query": "priority__exact=40",
            "shared_with": Group.objects.get(name=roles.SUPPORT_AGENT).pk,
        },
    )
    client.force_login(bob)
    assert "Urgent" in client.get("/admin/").content.decode()
    client.force_login(finance)
    assert "Urgent" not in client.get("/admin/").content.decode()


def test_sharing_with_a_role_one_does_not_have_is_refused(client):
    alice = staff_with_role(roles.SUPPORT_AGENT, email="alice@example.com")
    client.force_login(alice)
    response = client.post(
        "/admin/saved-views/save/",
        {
            "name": "Sneaky",
            "model": "work.task",
            "query": "",
            "shared_with": Group.objects.get(name=roles.FINANCE).pk,
        },
        HTTP_REFERER=TASKS,
    )
    assert response.status_code == 302
    assert not SavedView.objects.exists()


def test_unknown_list_or_missing_name_saves_nothing(client):
    client.force_login(staff_with_role(roles.SUPPORT_AGENT))
    for data in (
        {"name": "", "model": "work.task"},
        {"name": "x", "model": "auth.secret"},
    ):
        client.post("/admin/saved-views/save/", data, HTTP_REFERER=TASKS)
    assert not SavedView.objects.exists()
