"""Task actions: services (all-or-nothing, history, one audit event) and the admin
(confirmation first, happy path, permission denied, bad input)."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.urls import reverse

from audit.models import AuditEvent
from tenants import roles
from tenants.services import support_grant
from tests.conftest import staff_with_role
from tests.factories import MembershipFactory, ProjectFactory, TaskFactory, UserFactory
from work import services
from work.models import Task

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/work/task/"


@pytest.fixture
def project():
    return ProjectFactory()


@pytest.fixture
def tasks(project):
    return [TaskFactory(project=project) for _ in range(3)]


@pytest.fixture
def member(project):
    return MembershipFactory(organization=project.organization).user


def _post_action(client, action, tasks, url=CHANGELIST, **data):
    payload = {
        "action": action,
        "index": 0,
        "select_across": 0,
        ACTION_CHECKBOX_NAME: [t.pk for t in tasks],
        **data,
    }
    return client.post(url, payload)


# --- services -------------------------------------------------------------------
class TestServices:
    def test_assign_writes_history_per_task_and_one_audit_event(
        self, superuser, tasks, member
    ):
        assert services.tasks_assign(actor=superuser, tasks=tasks, assignee=member) == 3
        assert Task.objects.filter(assignee=member).count() == 3
        latest = [t.history.latest() for t in tasks]
        assert {(h.history_user, h.history_change_reason) for h in latest} == {
            (superuser, "assign")
        }
        event = AuditEvent.objects.get(action="bulk_action")
        assert event.changed_fields["action"] == "assign"
        assert event.changed_fields["count"] == 3

    def test_assign_refuses_a_non_member_and_changes_nothing(self, superuser, tasks):
        outsider = UserFactory()
        with pytest.raises(ValidationError, match="not a member"):
            services.tasks_assign(actor=superuser, tasks=tasks, assignee=outsider)
        assert not Task.objects.filter(assignee=outsider).exists()
        assert not AuditEvent.objects.exists()

    def test_status_done_stamps_completed_at(self, superuser, tasks):
        services.tasks_set_status(actor=superuser, tasks=tasks, status="DONE")
        assert all(t.completed_at for t in Task.objects.all())
        with pytest.raises(ValidationError):
            services.tasks_set_status(actor=superuser, tasks=tasks, status="NOPE")

    def test_due_date(self, superuser, tasks):
        day = dt.date(2027, 1, 31)
        assert (
            services.tasks_set_due_date(actor=superuser, tasks=tasks, due_date=day) == 3
        )
        assert set(Task.objects.values_list("due_date", flat=True)) == {day}

    def test_move_within_the_organization(self, superuser, tasks, project):
        other = ProjectFactory(organization=project.organization)
        assert services.tasks_move(actor=superuser, tasks=tasks, project=other) == 3
        assert set(Task.objects.values_list("project", flat=True)) == {other.pk}

    def test_move_refuses_mixed_organizations_and_foreign_projects(
        self, superuser, tasks
    ):
        foreign_task = TaskFactory()
        with pytest.raises(ValidationError, match="2 organizations"):
            services.tasks_move(
                actor=superuser, tasks=[*tasks, foreign_task], project=tasks[0].project
            )
        with pytest.raises(ValidationError, match="another organization"):
            services.tasks_move(
                actor=superuser, tasks=tasks, project=foreign_task.project
            )
        assert Task.objects.filter(project=tasks[0].project).count() == 3


# --- admin ----------------------------------------------------------------------
class TestAdmin:
    def test_bulk_assign_confirms_first_then_says_what_it_did(
        self, admin_client, tasks, member
    ):
        page = _post_action(admin_client, "assign", tasks)
        assert page.status_code == 200
        assert "Assign tasks" in page.content.decode()
        assert member.email in page.content.decode()  # picker limited to members
        assert not Task.objects.filter(assignee=member).exists()

        done = _post_action(
            admin_client, "assign", tasks, apply="yes", assignee=member.pk
        )
        assert done.status_code == 302
        assert Task.objects.filter(assignee=member).count() == 3
        messages = [str(m) for m in done.wsgi_request._messages]
        assert messages == [f"3 task(s) assigned to {member.email}."]

    def test_assign_picker_refuses_a_user_of_another_organization(
        self, admin_client, tasks
    ):
        outsider = MembershipFactory().user
        response = _post_action(
            admin_client, "assign", tasks, apply="yes", assignee=outsider.pk
        )
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
        assert not Task.objects.filter(assignee=outsider).exists()

    def test_mixed_organization_move_is_refused_with_a_clear_message(
        self, admin_client, tasks
    ):
        response = _post_action(admin_client, "move", [*tasks, TaskFactory()])
        assert response.status_code == 302
        messages = [str(m) for m in response.wsgi_request._messages]
        assert "several organizations" in messages[0]

    def test_move_status_and_due_date_through_the_admin(
        self, admin_client, tasks, project
    ):
        other = ProjectFactory(organization=project.organization, key="NEW")
        _post_action(admin_client, "move", tasks, apply="yes", project=other.pk)
        _post_action(admin_client, "change_status", tasks, apply="yes", status="DONE")
        _post_action(
            admin_client, "set_due_date", tasks, apply="yes", due_date="2027-02-01"
        )
        assert set(Task.objects.values_list("project", "status", "due_date")) == {
            (other.pk, "DONE", dt.date(2027, 2, 1))
        }

    def test_bad_date_changes_nothing(self, admin_client, tasks):
        response = _post_action(
            admin_client, "set_due_date", tasks, apply="yes", due_date="31/31/2027"
        )
        assert response.status_code == 200
        assert "Enter a valid date" in response.content.decode()
        assert not Task.objects.filter(due_date__isnull=False).exists()

    def test_trash_and_restore(self, admin_client, tasks):
        _post_action(admin_client, "move_to_trash", tasks[:2], apply="yes")
        assert Task.objects.count() == 1
        trash = admin_client.get(f"{CHANGELIST}?trash=1")
        assert trash.status_code == 200
        assert str(tasks[0].title) in trash.content.decode()
        _post_action(
            admin_client,
            "restore_from_trash",
            tasks[:2],
            url=f"{CHANGELIST}?trash=1",
            apply="yes",
        )
        assert Task.objects.count() == 3

    def test_hard_delete_is_for_platform_admins_only(self, client, tasks, project):
        agent = staff_with_role(roles.SUPPORT_AGENT)
        support_grant(actor=agent, organization=project.organization, agent=agent)
        client.force_login(agent)
        delete_url = reverse("admin:work_task_delete", args=[tasks[0].pk])
        assert client.get(delete_url).status_code == 403
        response = _post_action(client, "delete_selected", tasks, post="yes")
        assert Task.all_objects.count() == 3
        assert response.status_code == 302  # the action is not offered to agents
        assert "No action selected" in str(list(response.wsgi_request._messages))

    def test_permission_denied_for_roles_without_change(self, client, tasks, member):
        manager = staff_with_role(roles.TENANT_MANAGER)  # view-only on tasks
        client.force_login(manager)
        response = _post_action(
            client, "assign", tasks, apply="yes", assignee=member.pk
        )
        assert not Task.objects.filter(assignee=member).exists()
        # The action is not offered to a view-only role: refused, list shown again.
        assert response.status_code == 200
        assert response.context["action_form"] is None  # no action offered at all

    def test_row_action_confirms_before_marking_done(self, admin_client, tasks):
        url = reverse("admin:work_task_mark_done", args=[tasks[0].pk])
        page = admin_client.get(url)
        assert page.status_code == 200 and "Mark the task done" in page.content.decode()
        assert Task.objects.get(pk=tasks[0].pk).status == "TODO"
        admin_client.post(url, {"apply": "yes"})
        assert Task.objects.get(pk=tasks[0].pk).status == "DONE"

    def test_list_rows_carry_their_own_links_and_badges(self, admin_client, tasks):
        page = admin_client.get(reverse("admin:work_task_changelist")).content.decode()
        for task in tasks:
            # The row's "Mark done", its checkbox and its project link name that row.
            assert reverse("admin:work_task_mark_done", args=[task.pk]) in page
            assert f'name="_selected_action" value="{task.pk}"' in page
            assert reverse("admin:work_project_change", args=[task.project_id]) in page
        # Each row's status badge is exactly Unfold's label for it.
        badge = render_to_string(
            "unfold/helpers/display_label.html",
            {"label": "TODO", "label_type": "info", "multiple": False},
        )
        assert page.count(badge) == len(tasks)

    def test_row_action_on_a_foreign_task_is_404(self, client, tasks):
        agent = staff_with_role(roles.SUPPORT_AGENT)
        client.force_login(agent)
        url = reverse("admin:work_task_mark_done", args=[tasks[0].pk])
        assert client.post(url, {"apply": "yes"}).status_code == 404
        assert Task.objects.get(pk=tasks[0].pk).status == "TODO"
