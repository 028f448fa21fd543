"""Every changelist runs the same number of queries for 10 and for 100 rows on the
page (no query per row), and never an unbounded COUNT(*)."""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.models import OrmQ, Schedule
from django_q.models import Task as QTask

from admin_theme.models import SavedView
from audit.services import audit_event_record
from tests.factories import (
    CommentFactory,
    InvoiceFactory,
    MembershipFactory,
    OrganizationFactory,
    PlanFactory,
    ProjectFactory,
    SubscriptionFactory,
    TagFactory,
    TaskFactory,
    UserFactory,
)
from work.models import Notification

pytestmark = pytest.mark.django_db


def _q_tasks(n, start, success):
    now = timezone.now()
    QTask.objects.bulk_create(
        QTask(
            id=f"{'ok' if success else 'ko'}{start + i:030d}",
            name=f"job-{start + i}",
            func="math.floor",
            started=now,
            stopped=now,
            success=success,
            result="boom" if not success else 1,
        )
        for i in range(n)
    )


def _axes_rows(model_name, n, start):
    model = apps.get_model("axes", model_name)
    model.objects.bulk_create(
        model(
            username=f"u{start + i}@example.com",
            ip_address="127.0.0.1",
            user_agent="ua",
            **({"failures_since_start": 1} if model_name == "AccessAttempt" else {}),
        )
        for i in range(n)
    )


def _import_jobs(n, owner):
    model = apps.get_model("audit", "ImportJob")
    model.objects.bulk_create(
        model(user=owner, model="work.task", file_name=f"f{i}.csv", file_format="csv")
        for i in range(n)
    )


def _recipes(org, owner, start):
    """How to make `n` rows of each registered model (by label), in one organization;
    `start` keeps names unique across calls."""
    return {
        "tenants.Organization": lambda n: OrganizationFactory.create_batch(n),
        "tenants.User": lambda n: [
            MembershipFactory(organization=org).user for _ in range(n)
        ],
        "tenants.Membership": lambda n: MembershipFactory.create_batch(
            n, organization=org
        ),
        "tenants.Plan": lambda n: PlanFactory.create_batch(n),
        "tenants.Subscription": lambda n: SubscriptionFactory.create_batch(
            n, organization=org
        ),
        "tenants.Invoice": lambda n: InvoiceFactory.create_batch(
            n, subscription=SubscriptionFactory(organization=org)
        ),
        "work.Project": lambda n: ProjectFactory.create_batch(
            n, organization=org, owner=owner
        ),
        "work.Tag": lambda n: TagFactory.create_batch(n, organization=org),
        "work.Task": lambda n: TaskFactory.create_batch(
            n, project=ProjectFactory(organization=org), assignee=owner
        ),
        "work.Comment": lambda n: CommentFactory.create_batch(
            n, task=TaskFactory(project__organization=org), author=owner
        ),
        "work.Notification": lambda n: Notification.objects.bulk_create(
            Notification(
                organization=org, recipient=owner, category="system", message=f"m{i}"
            )
            for i in range(n)
        ),
        "audit.AuditEvent": lambda n: [
            audit_event_record(
                actor=owner, action="login", organization=org, target=org
            )
            for _ in range(n)
        ],
        "audit.ImportJob": lambda n: _import_jobs(n, owner),
        "auth.Group": lambda n: Group.objects.bulk_create(
            Group(name=f"g{start + i}") for i in range(n)
        ),
        "admin_theme.SavedView": lambda n: SavedView.objects.bulk_create(
            SavedView(owner=owner, name=f"v{start + i}", model="work.task")
            for i in range(n)
        ),
        "django_q.Schedule": lambda n: Schedule.objects.bulk_create(
            Schedule(func="math.floor", name=f"s{start + i}") for i in range(n)
        ),
        "django_q.Success": lambda n: _q_tasks(n, start, success=True),
        "django_q.Failure": lambda n: _q_tasks(n, start, success=False),
        "django_q.OrmQ": lambda n: OrmQ.objects.bulk_create(
            OrmQ(key="backoffice", payload="x") for _ in range(n)
        ),
        "axes.AccessAttempt": lambda n: _axes_rows("AccessAttempt", n, start),
        "axes.AccessLog": lambda n: _axes_rows("AccessLog", n, start),
        "axes.AccessFailureLog": lambda n: _axes_rows("AccessFailureLog", n, start),
        "otp_totp.TOTPDevice": lambda n: [
            TOTPDevice.objects.create(user=UserFactory(), name="phone")
            for _ in range(n)
        ],
        "otp_static.StaticDevice": lambda n: [
            StaticDevice.objects.create(user=UserFactory(), name="codes")
            for _ in range(n)
        ],
    }


REGISTERED = sorted(admin.site._registry.items(), key=lambda i: i[0]._meta.label)


def _changelist_queries(client, model, model_admin, monkeypatch):
    monkeypatch.setattr(model_admin, "list_per_page", 200)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    client.get(url)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def _make(model, org, owner, n, start=0):
    recipe = _recipes(org, owner, start).get(model._meta.label)
    assert recipe is not None, f"no recipe makes {model._meta.label} rows: add one"
    recipe(n)


@pytest.mark.parametrize(
    "model,model_admin", REGISTERED, ids=[m._meta.label for m, _ in REGISTERED]
)
def test_changelist_query_count_does_not_grow_with_rows(
    admin_client, superuser, model, model_admin, monkeypatch
):
    org = OrganizationFactory(name="Counted")
    _make(model, org, superuser, 10)
    with_10 = _changelist_queries(admin_client, model, model_admin, monkeypatch)
    _make(model, org, superuser, 90, start=10)
    with_100 = _changelist_queries(admin_client, model, model_admin, monkeypatch)
    assert (
        model_admin.get_queryset(admin_client.get("/admin/").wsgi_request).count()
        >= 100
    )
    assert len(with_10) == len(with_100), "\n".join(with_100)
    unbounded = [
        sql
        for sql in with_100
        if re.search(r"SELECT COUNT\(\*\)", sql) and "LIMIT" not in sql
    ]
    assert not unbounded, unbounded
    print(f"{model._meta.label}: {len(with_100)} queries")


@pytest.mark.parametrize(
    "sort,expected", [("due", ["due_date", "pk"]), ("-due", ["-due_date", "-pk"])]
)
def test_a_sorted_column_ties_by_id_in_its_own_direction(admin_client, sort, expected):
    """One (column, id) index serves both directions: no default ordering
    (`-created_at`) appended after the column the user picked."""
    project = ProjectFactory()
    same_day = timezone.localdate()
    tasks = TaskFactory.create_batch(
        3, organization=project.organization, project=project, due_date=same_day
    )
    model_admin = admin.site._registry[type(tasks[0])]
    request = admin_client.get("/admin/").wsgi_request
    column = model_admin.get_list_display(request).index("due_date") + 1  # checkbox
    order = f"-{column}" if sort.startswith("-") else str(column)
    page = admin_client.get(reverse("admin:work_task_changelist"), {"o": order})
    changelist = page.context["cl"]
    assert list(changelist.queryset.query.order_by) == expected
    ids = [task.pk for task in changelist.result_list]
    assert ids == sorted(ids, reverse=sort.startswith("-"))
    # Without a sorted column the admin's own ordering holds: newest first.
    page = admin_client.get(reverse("admin:work_task_changelist"))
    default = page.context["cl"].queryset.query.order_by
    assert list(default[:2]) == ["-created_at", "-id"]


def test_inline_autocomplete_rows_are_named_without_a_query_per_row(admin_client):
    """The members tab of an organization: each row's user is named from the row
    read with the inline, checked against the user's choices in one query."""
    organization = OrganizationFactory()
    url = reverse("admin:tenants_organization_change", args=[organization.pk])

    def visit():
        admin_client.get(url)  # warm the session
        with CaptureQueriesContext(connection) as queries:
            page = admin_client.get(url)
        assert page.status_code == 200
        return len(queries), page.content.decode()

    MembershipFactory(organization=organization)
    few, _ = visit()
    members = [MembershipFactory(organization=organization) for _ in range(5)]
    many, body = visit()
    assert many == few
    for membership in members:  # each row's select names its user
        assert f'<option value="{membership.user_id}" selected>' in body


def test_inline_autocomplete_names_only_rows_within_the_users_choices(client):
    """A task assigned to someone outside the agent's organizations: its row is
    not named on the project's tasks tab, as when each widget queried its row."""
    from tenants import roles
    from tenants.services import support_grant
    from tests.conftest import staff_with_role

    agent = staff_with_role(roles.SUPPORT_AGENT)
    project = ProjectFactory()
    support_grant(actor=agent, organization=project.organization, agent=agent)
    member = MembershipFactory(organization=project.organization).user
    outsider = UserFactory(email="outsider@elsewhere.test")
    TaskFactory(project=project, assignee=member)
    TaskFactory(project=project, assignee=outsider)
    client.force_login(agent)
    body = client.get(
        reverse("admin:work_project_change", args=[project.pk])
    ).content.decode()
    assert f'<option value="{member.pk}" selected>' in body
    assert f'value="{outsider.pk}" selected' not in body
    assert "outsider@elsewhere.test" not in body
