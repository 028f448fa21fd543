"""Estimated counts and deep pages."""

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from admin_theme import paginator as paginator_module
from admin_theme.paginator import EstimatedCountPaginator
from tenants import roles
from tenants.services import support_grant
from tests.conftest import staff_with_role
from tests.factories import ProjectFactory, TaskFactory
from work.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks():
    project = ProjectFactory()
    return [TaskFactory(project=project) for _ in range(30)]


def test_exact_count_below_the_cap(tasks):
    pages = EstimatedCountPaginator(Task.objects.order_by("-id"), 10)
    assert (pages.count, pages.is_estimated, pages.num_pages) == (30, False, 3)
    assert [t.pk for t in pages.page(2)] == sorted((t.pk for t in tasks), reverse=True)[
        10:20
    ]


def test_beyond_the_cap_the_count_is_estimated_and_deep_pages_are_served(
    tasks, monkeypatch
):
    monkeypatch.setattr(paginator_module, "CAP", 20)
    pages = EstimatedCountPaginator(
        Task.objects.select_related("project").order_by("-id"), 10
    )
    assert pages.is_estimated is False  # not computed yet
    assert pages.count >= 21 and pages.is_estimated
    assert list(pages.page(99)) == []  # past the estimate: empty, not an error
    third = list(pages.page(3))
    assert [t.pk for t in third] == sorted((t.pk for t in tasks), reverse=True)[20:30]
    assert third[0].project.key  # related rows still come with the page


def test_changelist_says_when_the_count_is_estimated(admin_client, tasks, monkeypatch):
    monkeypatch.setattr(paginator_module, "CAP", 20)
    page = admin_client.get("/admin/work/task/").content.decode()
    assert "(estimated)" in page


def test_autocomplete_pages_without_counting(admin_client):
    project = ProjectFactory(name="Website relaunch")
    for n in range(25):
        ProjectFactory(organization=project.organization, name=f"Website {n:02d}")
    url = (
        "/admin/autocomplete/?app_label=work&model_name=task&field_name=project"
        "&term=website"
    )
    admin_client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as queries:
        first = admin_client.get(url).json()
    assert len(first["results"]) == 20 and first["pagination"]["more"] is True
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"]]
    last = admin_client.get(url + "&page=2").json()
    assert len(last["results"]) == 6 and last["pagination"]["more"] is False
    seen = {r["id"] for r in first["results"]} | {r["id"] for r in last["results"]}
    assert len(seen) == 26


def test_autocomplete_answers_newest_first(admin_client):
    older = ProjectFactory(name="Website A", key="AAA")
    newer = ProjectFactory(organization=older.organization, name="Website B", key="BBB")
    answer = admin_client.get(
        "/admin/autocomplete/?app_label=work&model_name=task&field_name=project"
        "&term=website"
    ).json()
    # By the admin's ordering (organization, key) the older one came first.
    assert [r["id"] for r in answer["results"]] == [str(newer.pk), str(older.pk)]


def test_a_page_rows_are_read_by_id_within_the_scope_alone(client, monkeypatch):
    """The list's filters chose the page's ids; the rows are then read by id inside
    the user's scope, without the filters again (a filter beside the scope on the
    same column misled PostgreSQL's plan)."""
    monkeypatch.setattr(admin.site._registry[Task], "list_per_page", 2)
    agent = staff_with_role(roles.SUPPORT_AGENT)
    project = ProjectFactory()
    support_grant(actor=agent, organization=project.organization, agent=agent)
    mine = [TaskFactory(project=project, status=Task.Status.TODO) for _ in range(3)]
    TaskFactory(status=Task.Status.TODO)  # another organization's
    client.force_login(agent)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/work/task/", {"status__exact": "TODO"})
    newest = sorted((t.pk for t in mine), reverse=True)[:2]
    assert [t.pk for t in page.context["cl"].result_list] == newest
    (rows,) = [q["sql"] for q in queries if '"work_task"."id" IN (' in q["sql"]]
    assert "organizationuserobjectpermission" in rows  # the scope
    assert '"work_task"."status"' not in rows.split("WHERE", 1)[1]
