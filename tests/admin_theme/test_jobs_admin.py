"""Jobs in the admin: who may change schedules, the allow-list, "run again"."""

import datetime as dt
import uuid

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure, OrmQ, Schedule, Success
from unfold.admin import ModelAdmin

from admin_theme.jobs_admin import failed_jobs_last_24h
from audit.models import AuditEvent
from tenants import roles
from tests.conftest import staff_with_role
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:django_q_schedule_add")


def _schedule_form(**overrides):
    now = timezone.now() + dt.timedelta(hours=1)
    return {
        "name": "Nightly reminders",
        "func": "work.jobs.remind_overdue_tasks",
        "schedule_type": Schedule.DAILY,
        "repeats": "-1",
        "next_run_0": now.strftime("%Y-%m-%d"),
        "next_run_1": now.strftime("%H:%M:%S"),
        **overrides,
    }


def _failure(func="work.jobs.remind_overdue_tasks", *, stopped=None, kwargs=None):
    stopped = stopped or timezone.now()
    return Failure.objects.create(
        id=uuid.uuid4().hex,
        name="failed-run",
        func=func,
        args=(),
        kwargs=kwargs or {},
        started=stopped - dt.timedelta(seconds=3),
        stopped=stopped,
        success=False,
        result="SMTPServerDisconnected: Connection unexpectedly closed",
    )


@pytest.fixture
def manager_client(client):
    client.force_login(staff_with_role(roles.TENANT_MANAGER, email="tm@example.com"))
    return client


def test_the_jobs_admins_are_unfolds():
    for model in (Schedule, Success, Failure, OrmQ):
        assert isinstance(admin.site._registry[model], ModelAdmin), model


def test_a_tenant_manager_views_schedules_but_cannot_add_or_change_them(
    manager_client,
):
    schedule = Schedule.objects.create(
        name="Weekly digest",
        func="work.jobs.generate_weekly_digest",
        schedule_type=Schedule.CRON,
        cron="0 8 * * 1",
    )
    change_url = reverse("admin:django_q_schedule_change", args=[schedule.pk])

    assert (
        manager_client.get(reverse("admin:django_q_schedule_changelist")).status_code
        == 200
    )
    assert manager_client.get(change_url).status_code == 200  # read-only
    assert manager_client.get(ADD_URL).status_code == 403
    assert manager_client.post(ADD_URL, _schedule_form()).status_code == 403
    changed = _schedule_form(func="work.jobs.remind_overdue_tasks", cron="")
    assert manager_client.post(change_url, changed).status_code == 403

    assert Schedule.objects.count() == 1
    schedule.refresh_from_db()
    assert (schedule.func, schedule.cron) == (
        "work.jobs.generate_weekly_digest",
        "0 8 * * 1",
    )


def test_a_function_off_the_allow_list_is_refused(admin_client):
    response = admin_client.post(ADD_URL, _schedule_form(func="os.system"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "“os.system” is not an allowed job function" in errors["func"][0]
    assert "JOB_FUNCTIONS_ALLOWED" in errors["func"][0]
    assert not Schedule.objects.exists()


def test_a_platform_admin_adds_an_allowed_schedule_audited(admin_client, superuser):
    response = admin_client.post(ADD_URL, _schedule_form())

    assert response.status_code == 302
    schedule = Schedule.objects.get()
    assert schedule.func == "work.jobs.remind_overdue_tasks"
    event = AuditEvent.objects.get(action="create")
    assert (event.actor, event.target) == (superuser, schedule)


def test_run_again_queues_a_failed_run_and_audits_it(admin_client, superuser):
    failure = _failure(kwargs={"today": "2026-01-05"})

    response = admin_client.post(
        reverse("admin:django_q_failure_changelist"),
        {"action": "run_again", "_selected_action": [failure.pk]},
    )

    assert response.status_code == 302
    # Sync mode: the queued run has run already, with the same arguments.
    rerun = Success.objects.get(func="work.jobs.remind_overdue_tasks")
    assert rerun.kwargs == {"today": "2026-01-05"}
    assert Failure.objects.filter(pk=failure.pk).exists()  # the record stays
    event = AuditEvent.objects.get(action="job_run", actor=superuser)
    assert event.changed_fields == {
        "job": "work.jobs.remind_overdue_tasks",
        "run_again_of": failure.pk,
        "task": rerun.pk,
    }
    assert event.target_object_id == failure.pk


def test_only_platform_admins_run_again(client):
    viewer = StaffFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_failure"))
    client.force_login(viewer)
    failure = _failure()
    changelist = reverse("admin:django_q_failure_changelist")
    assert client.get(changelist).status_code == 200

    response = client.post(
        changelist, {"action": "run_again", "_selected_action": [failure.pk]}
    )

    # The action is not theirs: the list answers again, and nothing runs.
    assert response.status_code == 200
    assert "run_again" not in response.context["cl"].model_admin.get_actions(
        response.wsgi_request
    )
    assert not Success.objects.exists()
    assert not AuditEvent.objects.filter(action="job_run").exists()


def test_failed_jobs_last_24h_counts_recent_failures(rf):
    _failure()
    _failure(stopped=timezone.now() - dt.timedelta(hours=23))
    _failure(stopped=timezone.now() - dt.timedelta(days=2))
    assert failed_jobs_last_24h(rf.get("/admin/")) == 2
