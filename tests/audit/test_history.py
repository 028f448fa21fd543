"""History machinery: operation ids, the bulk path, diffs, reverts and undos."""

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.diffs import history_entries
from audit.history import history_operation, record_history_in_migration
from audit.models import AuditEvent
from audit.selectors import operation_plan, revert_plan
from audit.services import record_bulk_update, records_soft_delete
from audit.services.reverts import history_revert, operation_undo
from tenants.services import SYSTEM_ACTOR_EMAIL
from tests.factories import (
    MembershipFactory,
    ProjectFactory,
    TagFactory,
    TaskFactory,
    UserFactory,
)
from work import services
from work.models import Project, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory(name="Website", key="WEB")


@pytest.fixture
def tasks(project):
    return [TaskFactory(project=project, title=f"Task number {n}") for n in range(3)]


def _latest(obj):
    return obj.history.order_by("-history_id").first()


# --- operations -----------------------------------------------------------------------
class TestOperations:
    def test_rows_written_in_an_operation_carry_its_id_and_reason(self, superuser):
        task = TaskFactory()
        with history_operation(reason="cleanup") as operation:
            services.task_update(
                actor=superuser, task=task, priority=Task.Priority.HIGH
            )
        row = _latest(task)
        assert (row.operation_id, row.history_change_reason) == (
            operation.id,
            "cleanup",
        )

    def test_rows_outside_an_operation_have_none(self, superuser):
        task = TaskFactory()
        services.task_update(actor=superuser, task=task, priority=Task.Priority.HIGH)
        assert _latest(task).operation_id is None

    def test_an_enclosing_operation_wins(self):
        with history_operation() as outer, history_operation() as inner:
            assert inner.id == outer.id

    def test_a_row_keeps_its_own_reason(self, superuser):
        task = TaskFactory()
        with history_operation(reason="the operation's"):
            services.task_update(
                actor=superuser,
                task=task,
                priority=Task.Priority.HIGH,
                reason="the row's",
            )
        assert _latest(task).history_change_reason == "the row's"


# --- the bulk path --------------------------------------------------------------------
class TestBulkUpdate:
    def test_one_statement_writes_rows_and_their_history(self, superuser, tasks):
        ids = [t.pk for t in tasks]
        with CaptureQueriesContext(connection) as queries:
            changed = record_bulk_update(
                actor=superuser,
                instances=Task.objects.filter(pk__in=ids),
                data={"status": Task.Status.CANCELLED},
                action="change_status",
                reason="waiting for the client",
            )
        assert changed == 3
        # JIT off for the statement, the UPDATE ... RETURNING feeding the INSERT of
        # the history rows and their tag links, JIT back, the audit event: four
        # statements (savepoints aside) whatever the number of rows.
        statements = [
            q["sql"]
            for q in queries.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
        ]
        assert len(statements) == 4, statements
        assert sum(s.startswith("WITH changed AS (UPDATE") for s in statements) == 1
        rows = Task.history.filter(id__in=ids, history_type="~")
        assert rows.count() == 3
        operation_ids = set(rows.values_list("operation_id", flat=True))
        assert len(operation_ids) == 1 and None not in operation_ids
        assert set(rows.values_list("history_user", "history_change_reason")) == {
            (superuser.pk, "waiting for the client")
        }
        assert set(
            Task.objects.filter(pk__in=ids).values_list("version", flat=True)
        ) == {2}
        event = AuditEvent.objects.get(action="bulk_action")
        assert event.changed_fields["operation_id"] == str(operation_ids.pop())
        assert event.changed_fields["reason"] == "waiting for the client"
        assert sorted(event.changed_fields["ids"]) == sorted(ids)

    def test_rows_already_in_that_state_are_left_alone(self, superuser, tasks):
        Task.objects.filter(pk=tasks[0].pk).update(status=Task.Status.CANCELLED)
        changed = record_bulk_update(
            actor=superuser,
            instances=tasks,
            data={"status": Task.Status.CANCELLED},
            action="change_status",
        )
        assert changed == 2
        assert not Task.history.filter(id=tasks[0].pk, history_type="~").exists()
        assert _latest(tasks[1]).history_change_reason == "change_status"

    def test_history_rows_keep_the_tags_of_the_task(self, superuser, tasks):
        tag = TagFactory(organization=tasks[0].organization, name="urgent")
        tasks[0].tags.add(tag)
        record_bulk_update(
            actor=superuser,
            instances=tasks[:1],
            data={"priority": Task.Priority.URGENT},
            action="prioritize",
        )
        assert [t.tag_id for t in _latest(tasks[0]).tags.all()] == [tag.pk]

    def test_invalid_values_are_refused_before_anything_is_written(
        self, superuser, tasks
    ):
        with pytest.raises(ValidationError):
            record_bulk_update(
                actor=superuser,
                instances=tasks,
                data={"status": "nonsense"},
                action="change_status",
            )
        assert not Task.history.filter(history_type="~").exists()

    def test_confirmed_admin_action_records_the_reason_given(
        self, admin_client, superuser, tasks
    ):
        admin_client.post(
            "/admin/work/task/",
            {
                "action": "change_status",
                "index": 0,
                "select_across": 0,
                "_selected_action": [t.pk for t in tasks],
                "apply": "yes",
                "status": Task.Status.DONE,
                "change_reason": "closed after the release",
            },
        )
        rows = Task.history.filter(history_type="~", status=Task.Status.DONE)
        assert rows.count() == 3
        assert set(rows.values_list("history_change_reason", flat=True)) == {
            "closed after the release"
        }
        assert rows.values("operation_id").distinct().count() == 1


# --- diffs ----------------------------------------------------------------------------
class TestDiffs:
    def test_foreign_keys_by_name_choices_by_label_json_by_key(self, superuser):
        task = TaskFactory(custom_fields={"estimate": 3, "team": "web"})
        alice = MembershipFactory(
            organization=task.organization, user__email="alice@example.com"
        ).user
        services.task_update(
            actor=superuser,
            task=task,
            assignee=alice,
            status=Task.Status.IN_PROGRESS,
            custom_fields={"estimate": 5, "sprint": 12},
        )
        (entry,) = history_entries(Task, [_latest(task)])
        changes = {c.name: c for c in entry.changes}
        assert (changes["assignee"].old, changes["assignee"].new) == (
            "—",
            str(alice),
        )
        assert changes["status"].new == "In progress"
        keys = {k.key: (k.old, k.new) for k in changes["custom_fields"].keys}
        assert keys == {
            "estimate": ("3", "5"),
            "sprint": ("—", "12"),
            "team": ('"web"', "—"),
        }
        assert "version" not in changes and "updated_at" not in changes

    def test_a_deleted_related_row_is_named_by_its_id(self, superuser):
        task = TaskFactory()
        gone = UserFactory()
        MembershipFactory(organization=task.organization, user=gone)
        services.task_update(actor=superuser, task=task, assignee=gone)
        gone_id = gone.pk
        Task.objects.filter(pk=task.pk).update(assignee=None)
        gone.delete()
        (entry,) = history_entries(Task, [_latest(task)])
        assert {c.name: c.new for c in entry.changes}["assignee"] == (
            f"#{gone_id} (deleted)"
        )

    def test_creation_lists_the_values_set(self, project):
        task = TaskFactory(project=project, title="Write the docs")
        (entry,) = history_entries(Task, [_latest(task)])
        assert entry.kind == "created"
        assert {c.name: c.new for c in entry.changes}["project"] == str(project)


# --- reverts --------------------------------------------------------------------------
class TestRevert:
    def test_revert_one_change_restores_only_its_fields(self, superuser):
        task = TaskFactory(title="Original title")
        services.task_update(actor=superuser, task=task, title="Renamed title")
        change = _latest(task)
        services.task_update(actor=superuser, task=task, priority=Task.Priority.URGENT)

        changes = history_revert(
            actor=superuser, record=change, reason="rename was a mistake"
        )

        task.refresh_from_db()
        assert (task.title, task.priority) == ("Original title", Task.Priority.URGENT)
        assert changes["title"] == ["Renamed title", "Original title"]
        row = _latest(task)
        assert (row.history_user, row.history_change_reason) == (
            superuser,
            "rename was a mistake",
        )
        assert row.operation_id is not None
        event = AuditEvent.objects.get(action="revert")
        assert event.changed_fields["history_id"] == change.history_id
        assert event.changed_fields["reason"] == "rename was a mistake"

    def test_a_field_changed_again_since_is_not_overwritten(self, superuser):
        task = TaskFactory(title="Original title")
        services.task_update(actor=superuser, task=task, title="Second title")
        change = _latest(task)
        services.task_update(actor=superuser, task=task, title="Third title")

        with pytest.raises(ValidationError, match="changed again"):
            history_revert(actor=superuser, record=change, reason="undo it")
        task.refresh_from_db()
        assert task.title == "Third title"
        assert not AuditEvent.objects.filter(action="revert").exists()

    def test_restore_a_whole_version_with_its_tags(self, superuser):
        task = TaskFactory(title="First title", priority=Task.Priority.LOW)
        urgent = TagFactory(organization=task.organization, name="urgent")
        task.tags.add(urgent)
        version = _latest(task)
        services.task_update(
            actor=superuser, task=task, title="Later", priority=Task.Priority.URGENT
        )
        task.tags.clear()

        history_revert(
            actor=superuser, record=version, reason="back to the start", whole=True
        )

        task.refresh_from_db()
        assert (task.title, task.priority) == ("First title", Task.Priority.LOW)
        assert list(task.tags.all()) == [urgent]

    def test_a_version_that_breaks_a_constraint_is_refused_and_nothing_changes(
        self, superuser, project
    ):
        other = ProjectFactory(organization=project.organization, key="OLD")
        services_project_update(superuser, other, key="NEW")
        version = _latest(other)  # key NEW ...
        services_project_update(superuser, other, key="LATER")
        services_project_update(superuser, project, key="NEW")  # ... taken since

        with pytest.raises(ValidationError, match="already exists"):
            history_revert(
                actor=superuser, record=version, reason="put it back", whole=True
            )
        other.refresh_from_db()
        assert other.key == "LATER"
        assert not AuditEvent.objects.filter(action="revert").exists()

    def test_the_creation_has_no_change_to_revert(self, superuser):
        task = TaskFactory()
        plan = revert_plan(record=_latest(task), whole=False)
        assert "creation" in plan.problems[0]


def services_project_update(actor, project, **data):
    from audit.services import record_update

    record_update(actor=actor, instance=project, data=data)


# --- undoing an operation -------------------------------------------------------------
class TestUndo:
    def test_undo_a_bulk_action_restores_every_row(self, superuser, tasks):
        services.tasks_set_status(actor=superuser, tasks=tasks, status=Task.Status.DONE)
        operation_id = _latest(tasks[0]).operation_id

        result = operation_undo(
            actor=superuser, operation_id=operation_id, reason="wrong tasks"
        )

        assert (result["restored"], result["deleted"]) == (3, 0)
        assert set(
            Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list(
                "status", "completed_at", "version"
            )
        ) == {(Task.Status.TODO, None, 3)}
        undo_rows = Task.history.filter(operation_id=result["operation_id"])
        assert undo_rows.count() == 3
        assert set(undo_rows.values_list("history_user", "history_change_reason")) == {
            (superuser.pk, "wrong tasks")
        }
        event = AuditEvent.objects.get(action="revert")
        assert event.changed_fields["undone_operation_id"] == str(operation_id)

    def test_undo_is_refused_naming_rows_changed_since(self, superuser, tasks):
        services.tasks_set_status(actor=superuser, tasks=tasks, status=Task.Status.DONE)
        operation_id = _latest(tasks[0]).operation_id
        editor = UserFactory(email="editor@example.com")
        services.task_update(actor=editor, task=tasks[1], title="Edited afterwards")

        with pytest.raises(ValidationError) as refused:
            operation_undo(
                actor=superuser, operation_id=operation_id, reason="wrong tasks"
            )

        message = " ".join(refused.value.messages)
        assert f"#{tasks[1].pk}" in message and "editor@example.com" in message
        assert f"#{tasks[0].pk}" not in message
        assert Task.objects.filter(status=Task.Status.DONE).count() == 3
        assert not AuditEvent.objects.filter(action="revert").exists()

    def test_undo_of_a_soft_delete_brings_rows_back(self, superuser, tasks):
        records_soft_delete(actor=superuser, instances=tasks)
        operation_id = _latest(tasks[0]).operation_id
        operation_undo(actor=superuser, operation_id=operation_id, reason="oops")
        assert Task.objects.filter(pk__in=[t.pk for t in tasks]).count() == 3

    def test_undo_deletes_the_rows_an_operation_created(self, superuser, project):
        with history_operation() as operation:
            services.project_create(
                actor=superuser,
                organization=project.organization,
                name="Imported",
                key="IMP",
            )
        result = operation_undo(
            actor=superuser, operation_id=operation.id, reason="bad import"
        )
        assert result["deleted"] == 1
        assert not Project.objects.filter(key="IMP").exists()
        assert Project.history.filter(history_type="-", key="IMP").get().history_user
        assert operation_plan(operation_id=operation.id).items

    def test_an_undo_can_be_undone(self, superuser, tasks):
        services.tasks_set_status(actor=superuser, tasks=tasks, status=Task.Status.DONE)
        first = operation_undo(
            actor=superuser,
            operation_id=_latest(tasks[0]).operation_id,
            reason="wrong tasks",
        )
        operation_undo(
            actor=superuser, operation_id=first["operation_id"], reason="they were"
        )
        assert Task.objects.filter(status=Task.Status.DONE).count() == 3

    def test_an_unknown_operation_is_refused(self, superuser):
        with pytest.raises(ValidationError, match="No history rows"):
            operation_undo(actor=superuser, operation_id=uuid.uuid4(), reason="why")


# --- data migrations ------------------------------------------------------------------
def test_a_data_migration_records_history_by_the_system_actor():
    from django.apps import apps

    task = TaskFactory(title="Before the migration")
    Task.objects.filter(pk=task.pk).update(title="After the migration")

    written = record_history_in_migration(
        apps, label="work.Task", pks=[task.pk], reason="0042_rename_titles"
    )

    assert written == 1
    row = _latest(task)
    assert (row.title, row.history_user.email, row.history_change_reason) == (
        "After the migration",
        SYSTEM_ACTOR_EMAIL,
        "0042_rename_titles",
    )
    assert row.operation_id is not None
    assert row.history_date <= timezone.now() + dt.timedelta(seconds=1)
