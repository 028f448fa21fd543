"""Estimated counts and deep pages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from admin_theme import paginator as paginator_module
from admin_theme.paginator import EstimatedCountPaginator
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
