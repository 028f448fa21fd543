"""Dashboard, sidebar badge, command palette and tenant pin: scoped like the lists."""

import datetime as dt
import json

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.admin_theme.access_matrix import FOREIGN, HOME, build_world
from work.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    cache.clear()
    world = build_world()
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    Task.objects.update(due_date=yesterday)  # every task is overdue
    return world


def _palette(client, term):
    return client.get("/admin/search/", {"s": term}).content.decode().lower()


def test_support_agent_dashboard_counts_only_their_organizations(client, world):
    client.force_login(world.users["support_agent"])
    page = client.get("/admin/")
    body = page.content.decode().lower()
    assert page.status_code == 200
    assert FOREIGN not in body
    kpis = {k["title"]: k["value"] for k in page.context["dashboard"]["kpis"]}
    assert kpis["Overdue tasks"] == 1  # the home task, not the foreign one
    assert "Open invoices" not in kpis  # billing is not the agent's business
    assert [
        row["organization"]
        for row in page.context["dashboard"]["overdue_by_organization"]
    ] == ["Homeland Inc"]


def test_finance_dashboard_shows_billing_not_tasks(client, world):
    client.force_login(world.users["finance"])
    figures = client.get("/admin/").context["dashboard"]
    titles = {k["title"] for k in figures["kpis"]}
    assert {"Open invoices", "Overdue invoices", "Active organizations"} <= titles
    assert "Overdue tasks" not in titles
    assert {row["plan"] for row in figures["mrr"]} == {"Global plan"}
    assert sum(row["subscriptions"] for row in figures["mrr"]) == 2


def test_platform_admin_sees_both_organizations(client, world):
    client.force_login(world.users["platform_admin"])
    figures = client.get("/admin/").context["dashboard"]
    kpis = {k["title"]: k["value"] for k in figures["kpis"]}
    assert kpis["Overdue tasks"] == 2
    assert kpis["Active organizations"] == 2
    assert "Failed jobs (24 h)" in kpis


def test_sidebar_badge_is_scoped(client, world):
    client.force_login(world.users["support_agent"])
    from admin_theme.dashboard import overdue_task_badge

    assert overdue_task_badge(world.users["support_agent"]) == "1"
    assert overdue_task_badge(world.users["platform_admin"]) == "2"
    assert overdue_task_badge(world.users["finance"]) == ""


def test_command_palette_finds_only_what_the_user_may_see(client, world):
    client.force_login(world.users["support_agent"])
    assert f"{HOME} task" in _palette(client, "task")
    assert FOREIGN not in _palette(client, "task")
    assert FOREIGN not in _palette(client, "araway")
    client.force_login(world.users["platform_admin"])
    assert f"{FOREIGN} task" in _palette(client, "task")


def test_pinning_limits_every_list_and_the_dashboard(client, world):
    admin_user = world.users["platform_admin"]
    client.force_login(admin_user)
    from tenants.models import Organization

    home_org = world.home[Organization]
    response = client.post(
        "/admin/pin/", {"organization": home_org.pk, "next": "/admin/"}
    )
    assert response.status_code == 302
    tasks_page = client.get("/admin/work/task/").content.decode().lower()
    assert f"{HOME} task" in tasks_page and FOREIGN not in tasks_page
    assert "pinned to homeland inc" in tasks_page  # the banner
    cache.clear()
    kpis = {
        k["title"]: k["value"]
        for k in client.get("/admin/").context["dashboard"]["kpis"]
    }
    assert kpis["Overdue tasks"] == 1
    client.post("/admin/unpin/", {"next": "/admin/"})
    assert FOREIGN in client.get("/admin/work/task/").content.decode().lower()


def test_an_agent_cannot_pin_a_foreign_organization(client, world):
    from tenants.models import Organization

    client.force_login(world.users["support_agent"])
    foreign = world.foreign[Organization]
    response = client.post("/admin/pin/", {"organization": foreign.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert "pinned_organization_id" not in client.session


def test_stats_refresh_counts_per_organization_and_the_job_is_audited(world):
    from admin_theme.jobs import refresh_dashboard_stats
    from admin_theme.models import OrganizationStats
    from audit.models import AuditEvent
    from tenants.models import Organization
    from tests.factories import TaskFactory

    home = world.home[Organization]
    TaskFactory(project=world.home[Task].project, status="DONE")
    assert refresh_dashboard_stats() == 2
    stats = OrganizationStats.objects.get(organization=home)
    assert (stats.open_tasks, stats.overdue_tasks) == (1, 1)
    today = timezone.localdate().isoformat()
    assert stats.created_by_day == {today: 2}
    event = AuditEvent.objects.get(action="job_run")
    assert event.changed_fields == {
        "job": "refresh_dashboard_stats",
        "organizations": 2,
    }


def test_dashboard_reads_the_snapshot_until_the_next_refresh(client, world):
    from admin_theme.services import organization_stats_refresh
    from tests.factories import TaskFactory

    client.force_login(world.users["platform_admin"])
    organization_stats_refresh()
    TaskFactory(
        project=world.home[Task].project,
        due_date=timezone.localdate() - dt.timedelta(days=3),
    )
    cache.clear()

    def overdue():
        kpis = client.get("/admin/").context["dashboard"]["kpis"]
        return {k["title"]: k["value"] for k in kpis}["Overdue tasks"]

    assert overdue() == 2
    organization_stats_refresh()
    cache.clear()
    assert overdue() == 3


def test_activity_chart_sums_the_days_of_the_organizations_the_user_sees(client, world):
    from admin_theme.models import OrganizationStats
    from admin_theme.services import organization_stats_refresh

    organization_stats_refresh()
    today = timezone.localdate()
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    old = (today - dt.timedelta(days=40)).isoformat()  # outside the 30 days
    OrganizationStats.objects.filter(organization=world.home[Task].organization).update(
        created_by_day={yesterday: 2, today.isoformat(): 1, old: 50},
        completed_by_day={yesterday: 1},
    )
    OrganizationStats.objects.exclude(
        organization=world.home[Task].organization
    ).update(created_by_day={yesterday: 7}, completed_by_day={})

    def chart(role):
        cache.clear()
        client.force_login(world.users[role])
        activity = json.loads(client.get("/admin/").context["dashboard"]["activity"])
        created, completed = (d["data"] for d in activity["datasets"])
        assert len(created) == len(completed) == 30
        return created[-2:], completed[-2:], sum(created)

    assert chart("support_agent") == ([2, 1], [1, 0], 3)
    assert chart("platform_admin") == ([9, 1], [1, 0], 10)
