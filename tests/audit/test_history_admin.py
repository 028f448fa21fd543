"""History pages: timeline, as-of, revert, operations and their undo, an
organization's recent changes, table sizes; and the read-only audit event admin."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_event_record, record_update
from tenants import roles
from tenants.services import support_grant
from tests.conftest import staff_with_role
from tests.factories import (
    InvoiceFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    TaskFactory,
)
from work import services
from work.models import Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def home():
    return OrganizationFactory(name="Home Org", slug="home-org")


@pytest.fixture
def foreign():
    return OrganizationFactory(name="Faraway Org", slug="faraway-org")


@pytest.fixture
def task(home, superuser):
    task = TaskFactory(
        project=ProjectFactory(organization=home, key="HOME"),
        title="Ship the release",
        custom_fields={"estimate": 3},
    )
    alice = MembershipFactory(organization=home, user__email="alice@home.test").user
    services.task_update(
        actor=superuser,
        task=task,
        assignee=alice,
        status=Task.Status.IN_PROGRESS,
        custom_fields={"estimate": 8, "sprint": 4},
        reason="planning",
    )
    return task


@pytest.fixture
def agent(home, superuser):
    agent = staff_with_role(roles.SUPPORT_AGENT, email="agent@staff.test")
    support_grant(actor=superuser, organization=home, agent=agent)
    return agent


def _history_url(obj, name="history", *args):
    opts = obj._meta
    return reverse(
        f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[obj.pk, *args]
    )


def _latest(obj):
    return obj.history.order_by("-history_id").first()


# --- timeline -------------------------------------------------------------------------
class TestTimeline:
    def test_field_level_changes_by_name_and_by_key(self, admin_client, task):
        body = admin_client.get(_history_url(task)).content.decode()
        assert "alice@home.test" in body  # the assignee by name, not by id
        assert "In progress" in body
        assert 'data-key="sprint"' in body and 'data-key="estimate"' in body
        assert "planning" in body
        assert "root@example.com" in body  # who

    def test_filters_by_field_user_and_date(self, admin_client, task, superuser):
        other = MembershipFactory(organization=task.organization).user
        services.task_update(actor=other, task=task, title="Ship it now")
        url = _history_url(task)

        by_field = admin_client.get(url, {"field": "title"}).content.decode()
        assert by_field.count("data-history-id=") == 2  # creation and the rename

        by_user = admin_client.get(url, {"actor": other.pk}).content.decode()
        assert by_user.count("data-history-id=") == 1

        tomorrow = (timezone.now() + timezone.timedelta(days=1)).date().isoformat()
        later = admin_client.get(url, {"since": tomorrow}).content.decode()
        assert "data-history-id=" not in later

    def test_a_support_agent_reads_their_organizations_only(
        self, client, agent, task, foreign
    ):
        client.force_login(agent)
        assert client.get(_history_url(task)).status_code == 200
        foreign_task = TaskFactory(project=ProjectFactory(organization=foreign))
        assert client.get(_history_url(foreign_task)).status_code == 404
        as_of = _history_url(foreign_task, "history_as_of")
        assert client.get(as_of).status_code == 404

    def test_simple_historys_own_revert_is_disabled(self, admin_client, task):
        record = _latest(task)
        url = _history_url(task, "simple_history", record.history_id)
        assert admin_client.get(url).status_code == 200
        response = admin_client.post(url, {"title": "Sneaky"})
        assert response.status_code == 403
        task.refresh_from_db()
        assert task.title == "Ship the release"


# --- as of ----------------------------------------------------------------------------
def test_as_of_shows_the_object_as_it_was(admin_client, task, superuser):
    an_hour_ago = timezone.now() - timezone.timedelta(hours=1)
    task.history.update(history_date=an_hour_ago)
    moment = an_hour_ago + timezone.timedelta(minutes=30)
    services.task_update(actor=superuser, task=task, title="Renamed later")
    response = admin_client.get(
        _history_url(task, "history_as_of"),
        {"at_0": moment.strftime("%Y-%m-%d"), "at_1": moment.strftime("%H:%M:%S")},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert '<td class="break-all" data-then>Ship the release</td>' in body
    assert '<td class="break-all">Renamed later</td>' in body  # now


def test_as_of_before_the_creation_says_so(admin_client, task):
    response = admin_client.get(
        _history_url(task, "history_as_of"), {"at_0": "2001-01-01", "at_1": "00:00"}
    )
    assert "did not exist yet" in response.content.decode()


# --- revert ---------------------------------------------------------------------------
class TestRevertPages:
    def test_get_shows_the_change_post_applies_it(self, admin_client, task):
        record = _latest(task)
        url = _history_url(task, "history_revert", record.history_id)
        preview = admin_client.get(url, {"mode": "change"}).content.decode()
        assert "In progress" in preview and "To do" in preview
        task.refresh_from_db()
        assert task.status == Task.Status.IN_PROGRESS  # GET changed nothing

        response = admin_client.post(f"{url}?mode=change", {"reason": "not started"})

        assert response.status_code == 302
        task.refresh_from_db()
        assert (task.status, task.assignee) == (Task.Status.TODO, None)
        assert AuditEvent.objects.filter(action="revert").count() == 1

    def test_a_refused_revert_says_why_and_changes_nothing(
        self, admin_client, superuser, home
    ):
        project = ProjectFactory(organization=home, key="OLD")
        record_update(actor=superuser, instance=project, data={"key": "MID"})
        version = _latest(project)
        record_update(actor=superuser, instance=project, data={"key": "NOW"})
        ProjectFactory(organization=home, key="MID")
        url = _history_url(project, "history_revert", version.history_id)

        response = admin_client.post(f"{url}?mode=version", {"reason": "go back"})

        assert response.status_code == 200
        assert "already exists" in response.content.decode()
        project.refresh_from_db()
        assert project.key == "NOW"

    def test_reverting_needs_the_revert_permission(self, client, agent, task):
        client.force_login(agent)  # may change the task, may not revert it
        url = _history_url(task, "history_revert", _latest(task).history_id)
        assert client.get(url).status_code == 403
        assert client.post(url, {"reason": "try"}).status_code == 403
        agent.user_permissions.add(Permission.objects.get(codename="revert_history"))
        assert client.get(url).status_code == 200


# --- operations -----------------------------------------------------------------------
class TestOperationPage:
    def _bulk_done(self, actor, project, count=3):
        tasks = [TaskFactory(project=project) for _ in range(count)]
        services.tasks_set_status(actor=actor, tasks=tasks, status=Task.Status.DONE)
        return tasks, _latest(tasks[0]).operation_id

    def test_preview_then_undo(self, admin_client, superuser, home):
        _, operation_id = self._bulk_done(superuser, ProjectFactory(organization=home))
        url = reverse("admin:audit_auditevent_operation", args=[operation_id])

        preview = admin_client.get(url).content.decode()
        assert preview.count("restore it") == 3
        assert "Done" in preview and "To do" in preview

        response = admin_client.post(url, {"reason": "wrong list"})
        assert response.status_code == 302
        assert not Task.objects.filter(status=Task.Status.DONE).exists()

    def test_refusal_names_the_rows_changed_since(self, admin_client, superuser, home):
        tasks, operation_id = self._bulk_done(
            superuser, ProjectFactory(organization=home)
        )
        services.task_update(actor=superuser, task=tasks[2], title="Touched later")
        url = reverse("admin:audit_auditevent_operation", args=[operation_id])

        preview = admin_client.get(url).content.decode()
        assert f"#{tasks[2].pk}" in preview and "confirm-undo" not in preview
        response = admin_client.post(url, {"reason": "wrong list"}, follow=True)
        assert "changed after the operation" in response.content.decode()
        assert Task.objects.filter(status=Task.Status.DONE).count() == 3

    def test_scoped_like_everything_else(self, client, agent, superuser, foreign, home):
        _, foreign_operation = self._bulk_done(
            superuser, ProjectFactory(organization=foreign)
        )
        _, home_operation = self._bulk_done(
            superuser, ProjectFactory(organization=home)
        )
        client.force_login(agent)
        url = "admin:audit_auditevent_operation"
        assert client.get(reverse(url, args=[foreign_operation])).status_code == 404
        page = client.get(reverse(url, args=[home_operation]))
        assert page.status_code == 200 and "confirm-undo" not in page.content.decode()
        assert (
            client.post(
                reverse(url, args=[home_operation]), {"reason": "x" * 5}
            ).status_code
            == 403
        )


# --- an organization's recent changes -------------------------------------------------
class TestOrganizationChanges:
    def test_every_model_newest_first(self, admin_client, task, home):
        url = reverse("admin:audit_auditevent_organization_changes", args=[home.pk])
        body = admin_client.get(url).content.decode()
        assert 'data-model="work.task"' in body
        assert 'data-model="work.project"' in body
        assert 'data-model="tenants.membership"' in body
        assert "alice@home.test" in body

    def test_filter_by_model(self, admin_client, task, home):
        url = reverse("admin:audit_auditevent_organization_changes", args=[home.pk])
        body = admin_client.get(url, {"model": "work.project"}).content.decode()
        assert 'data-model="work.project"' in body
        assert 'data-model="work.task"' not in body

    def test_scoped_to_the_agents_organizations(
        self, client, agent, home, foreign, task
    ):
        client.force_login(agent)
        name = "admin:audit_auditevent_organization_changes"
        assert client.get(reverse(name, args=[home.pk])).status_code == 200
        assert client.get(reverse(name, args=[foreign.pk])).status_code == 404

    def test_finance_reads_billing_models_only(self, client, task, home):
        InvoiceFactory(subscription__organization=home)
        client.force_login(staff_with_role(roles.FINANCE, email="fin@staff.test"))
        url = reverse("admin:audit_auditevent_organization_changes", args=[home.pk])
        body = client.get(url).content.decode()
        assert 'data-model="tenants.invoice"' in body
        assert 'data-model="work.task"' not in body


# --- sizes ----------------------------------------------------------------------------
def test_history_table_sizes_for_platform_admins_only(admin_client, client, task):
    url = reverse("admin:audit_auditevent_history_sizes")
    body = admin_client.get(url).content.decode()
    assert 'data-table="work_historicaltask"' in body
    assert 'data-table="work_historicaltask_tags"' in body
    client.force_login(staff_with_role(roles.TENANT_MANAGER, email="tm@staff.test"))
    assert client.get(url).status_code == 403


# --- the audit event admin ------------------------------------------------------------
class TestAuditEventAdmin:
    @pytest.fixture
    def event(self, superuser, task):
        return audit_event_record(
            actor=superuser,
            action=AuditEvent.Action.UPDATE,
            organization=task.organization,
            target=task,
            changes={"title": ["a", "b"]},
        )

    def test_nobody_may_add_change_or_delete_not_even_a_superuser(
        self, admin_client, event
    ):
        base = "admin:audit_auditevent"
        assert admin_client.get(reverse(f"{base}_add")).status_code == 403
        assert admin_client.post(reverse(f"{base}_add"), {}).status_code == 403
        change = reverse(f"{base}_change", args=[event.pk])
        assert admin_client.get(change).status_code == 200  # read-only view
        assert admin_client.post(change, {"action": "login"}).status_code == 403
        delete = reverse(f"{base}_delete", args=[event.pk])
        assert admin_client.get(delete).status_code == 403
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
        response = admin_client.post(
            reverse(f"{base}_changelist"),
            {
                "action": "delete_selected",
                "_selected_action": [event.pk],
                "post": "yes",
            },
        )
        assert AuditEvent.objects.filter(pk=event.pk).exists()
        assert response.status_code in (200, 302)
        event.refresh_from_db()
        assert event.action == "update"

    def test_links_to_the_targets_admin_page(self, admin_client, event, task):
        body = admin_client.get(reverse("admin:audit_auditevent_changelist")).content
        assert reverse("admin:work_task_change", args=[task.pk]).encode() in body

    def test_filters_by_actor_action_organization_and_dates(
        self, admin_client, event, superuser
    ):
        url = reverse("admin:audit_auditevent_changelist")
        for query in (
            {"actor__id__exact": superuser.pk},
            {"action__exact": "update"},
            {"organization__id__exact": event.organization_id},
            {"created_at_from_0": "2000-01-01", "created_at_from_1": "00:00"},
        ):
            response = admin_client.get(url, query)
            assert response.status_code == 200, query
            assert (
                f"/admin/audit/auditevent/{event.pk}/change/"
                in response.content.decode()
            )

    def test_csv_export_streams_and_is_audited(self, client, agent, event, foreign):
        audit_event_record(
            actor=None, action=AuditEvent.Action.UPDATE, organization=foreign
        )
        client.force_login(agent)
        response = client.post(
            reverse("admin:audit_auditevent_changelist"),
            {
                "action": "export_csv",
                "select_across": 1,
                "index": 0,
                "_selected_action": [event.pk],
            },
        )
        assert response.streaming
        rows = list(
            csv.DictReader(
                io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))
            )
        )
        assert {row["organization"] for row in rows} == {"Home Org"}
        export = AuditEvent.objects.get(action="export")
        assert export.actor == agent
        assert export.changed_fields["rows"] == len(rows)
        assert export.changed_fields["complete"] is True
