"""Imports of projects and tasks through the services the admin uses: natural keys
resolved in the user's scope, the per-row preview, all-or-nothing writes with
history and one audit event, on the real database."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission

from audit.models import AuditEvent, ImportJob
from audit.services import record_soft_delete
from tenants import roles
from tenants.services import support_grant
from tests.factories import (
    OrganizationFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)
from tests.import_export_helpers import (
    csv_bytes,
    json_bytes,
    preview,
    run_import,
    snapshot,
    staff_in,
    xlsx_bytes,
)
from work.models import Project, Task

pytestmark = pytest.mark.django_db

TASK_HEADER = ["organization", "project", "id", "title", "status", "priority"]


@pytest.fixture
def acme(db):
    organization = OrganizationFactory(name="Acme", slug="acme")
    ProjectFactory(organization=organization, key="WEB", name="Website")
    return organization


def _web(acme) -> Project:
    return Project.objects.get(organization=acme, key="WEB")


def test_preview_shows_each_row_as_new_update_or_unchanged_and_writes_nothing(
    superuser, acme
):
    changed = TaskFactory(project=_web(acme), title="Old title", priority=20)
    same = TaskFactory(project=_web(acme), title="Stays the same", priority=20)
    before = snapshot(Task)
    rows = [
        TASK_HEADER,
        ["acme", "WEB", changed.pk, "New title", "TODO", "30"],
        ["acme", "WEB", same.pk, "Stays the same", "TODO", "20"],
        ["acme", "WEB", "", "A brand new task", "TODO", "10"],
    ]

    job = preview(superuser, Task, csv_bytes(rows))

    assert job.status == ImportJob.Status.PREVIEWED
    assert (job.rows_new, job.rows_updated, job.rows_unchanged) == (1, 1, 1)
    assert job.rows_with_errors == 0
    assert [r["kind"] for r in job.preview["rows"]] == ["update", "unchanged", "new"]
    update = job.preview["rows"][0]["cells"]
    title = TASK_HEADER.index("title")
    assert update[title] == {"value": "New title", "old": "Old title"}
    assert update[TASK_HEADER.index("priority")] == {"value": "30", "old": "20"}
    assert update[TASK_HEADER.index("status")]["old"] is None  # unchanged cell
    assert snapshot(Task) == before
    changed.refresh_from_db()
    assert changed.title == "Old title"


def test_import_writes_rows_and_history_by_the_user_with_one_audit_event(
    superuser, acme
):
    existing = TaskFactory(project=_web(acme), title="Before", priority=20)
    version = existing.version
    rows = [TASK_HEADER, ["acme", "WEB", existing.pk, "After", "DONE", "40"]]
    rows += [["acme", "WEB", "", f"New task {n}", "TODO", "20"] for n in range(3)]
    audit_before = AuditEvent.objects.count()

    job = run_import(superuser, Task, csv_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    assert (job.rows_new, job.rows_updated, job.rows_unchanged) == (3, 1, 0)
    assert job.payload is None  # the upload is dropped once imported
    existing.refresh_from_db()
    assert (existing.title, existing.status, existing.priority) == ("After", "DONE", 40)
    assert existing.version == version + 1
    written = Task.history.filter(operation_id=job.operation_id)
    assert written.count() == 4
    assert set(written.values_list("history_type", flat=True)) == {"+", "~"}
    assert set(written.values_list("history_user", flat=True)) == {superuser.pk}
    assert set(written.values_list("history_change_reason", flat=True)) == {
        "Import of upload.csv"
    }
    new = Task.objects.get(title="New task 0")
    assert (new.organization, new.project) == (acme, _web(acme))
    assert new.history.get().history_type == "+"
    events = AuditEvent.objects.all()[: AuditEvent.objects.count() - audit_before]
    assert [e.action for e in events] == ["import"]
    event = events[0]
    assert event.actor == superuser and event.organization == acme
    assert event.changed_fields["operation_id"] == str(job.operation_id)
    assert (event.changed_fields["new"], event.changed_fields["updated"]) == (3, 1)
    assert event.changed_fields["rows"] == 4


def test_every_chunk_of_a_large_import_is_written_with_its_history(
    superuser, acme, settings
):
    """Several chunks: all but the last are written while the next is validated."""
    settings.IMPORT_ASYNC_THRESHOLD_ROWS = 20_000
    rows = [TASK_HEADER] + [
        ["acme", "WEB", "", f"Task {n}", "TODO", "20"] for n in range(4_500)
    ]

    job = run_import(superuser, Task, csv_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.message
    assert Task.objects.count() == 4_500
    history = Task.history.filter(operation_id=job.operation_id)
    assert history.count() == 4_500
    assert set(history.values_list("history_user", "history_type")) == {
        (superuser.pk, "+")
    }
    assert sorted(history.values_list("id", flat=True)) == sorted(
        Task.objects.values_list("id", flat=True)
    )


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_one_bad_row_in_ten_thousand_changes_nothing(
    superuser, acme, position, settings
):
    """The row turns bad after the preview (its project goes to the trash), so the
    import itself meets it after writing the chunks before it: all rolled back.
    In the request (the background path also notifies the user: see the admin
    tests)."""
    settings.IMPORT_ASYNC_THRESHOLD_ROWS = 20_000
    web = _web(acme)
    doomed = ProjectFactory(organization=acme, key="OLD")
    updated = [TaskFactory(project=web, title=f"Existing {n}") for n in range(50)]
    rows = [TASK_HEADER]
    rows += [["acme", "WEB", t.pk, f"Renamed {t.pk}", "DONE", "30"] for t in updated]
    rows += [["acme", "WEB", "", f"Task {n}", "TODO", "20"] for n in range(9_950)]
    bad_index = {"first": 1, "middle": 5_000, "last": 10_000}[position]
    rows[bad_index] = ["acme", "OLD", "", "Lands in a trashed project", "TODO", "20"]
    job = preview(superuser, Task, csv_bytes(rows))
    assert job.status == ImportJob.Status.PREVIEWED, job.message
    record_soft_delete(actor=superuser, instance=doomed)
    before = snapshot(Task, Project)

    from audit.imports import import_job_confirm

    assert import_job_confirm(actor=superuser, job=job)
    job.refresh_from_db()

    assert job.status == ImportJob.Status.FAILED
    assert snapshot(Task, Project) == before
    assert job.rows_with_errors == 1
    assert job.errors == [
        {
            "row": bad_index + 1,  # the header is row 1
            "column": "project",
            "message": "Unknown project “OLD”.",
            "value": "OLD",
        }
    ]
    assert not Task.objects.filter(title__startswith="Renamed").exists()


def test_a_file_with_a_bad_row_cannot_be_confirmed(superuser, acme):
    rows = [TASK_HEADER, ["acme", "WEB", "", "Fine", "TODO", "20"]]
    rows += [["acme", "WEB", "", "x", "TODO", "20"]]  # title too short

    job = preview(superuser, Task, csv_bytes(rows))

    from audit.imports import import_job_confirm

    assert job.status == ImportJob.Status.FAILED
    assert job.errors[0]["row"] == 3 and job.errors[0]["column"] == "title"
    assert "at least 3 characters" in job.errors[0]["message"]
    assert not import_job_confirm(actor=superuser, job=job)
    assert not Task.objects.exists()


def test_foreign_organization_keys_are_unknown_exactly_like_missing_ones(acme):
    """A support agent allowed to import tasks, assigned to Acme only."""
    agent = staff_in(roles.SUPPORT_AGENT, email="agent@staff.test")
    agent.user_permissions.add(Permission.objects.get(codename="import_task"))
    support_grant(actor=agent, organization=acme, agent=agent)
    faraway = OrganizationFactory(slug="faraway")
    foreign_project = ProjectFactory(organization=faraway, key="WEB")
    foreign_task = TaskFactory(project=foreign_project)
    foreign_user = UserFactory(email="someone@faraway.test")
    rows = [
        [*TASK_HEADER, "assignee"],
        ["faraway", "WEB", "", "Foreign organization", "TODO", "20", ""],
        ["nowhere", "WEB", "", "Missing organization", "TODO", "20", ""],
        ["acme", "WEB", foreign_task.pk, "Foreign task id", "TODO", "20", ""],
        ["acme", "WEB", 999_999_999, "Missing task id", "TODO", "20", ""],
        ["acme", "WEB", "", "Foreign person", "TODO", "20", foreign_user.email],
        ["acme", "WEB", "", "Missing person", "TODO", "20", "nobody@nowhere.test"],
    ]

    job = preview(agent, Task, csv_bytes(rows))

    messages = [(e["column"], e["message"]) for e in job.errors]
    assert messages == [
        ("organization", "Unknown organization “faraway”."),
        ("organization", "Unknown organization “nowhere”."),
        ("id", f"Unknown task “{foreign_task.pk}”."),
        ("id", "Unknown task “999999999”."),
        ("assignee", "Unknown user “someone@faraway.test”."),
        ("assignee", "Unknown user “nobody@nowhere.test”."),
    ]
    foreign_task.refresh_from_db()
    assert foreign_task.title != "Foreign task id"


def test_a_task_id_of_another_project_is_unknown(superuser, acme):
    other = TaskFactory(project=ProjectFactory(organization=acme, key="APP"))
    rows = [TASK_HEADER, ["acme", "WEB", other.pk, "Moved?", "TODO", "20"]]

    job = preview(superuser, Task, csv_bytes(rows))

    assert job.errors[0]["message"] == f"Unknown task “{other.pk}”."


def test_two_rows_naming_the_same_row_are_refused(superuser, acme):
    rows = [["organization", "key", "name"], ["acme", "API", "Api"]]
    rows += [["acme", "API", "Api again"]]

    job = preview(superuser, Project, csv_bytes(rows))

    assert job.errors == [
        {
            "row": 3,
            "column": "organization, key",
            "message": "Row 2 already names this project.",
            "value": "",
        }
    ]


def test_a_project_in_the_trash_is_not_imported_over(superuser, acme):
    record_soft_delete(actor=superuser, instance=_web(acme))
    rows = [["organization", "key", "name"], ["acme", "WEB", "Website again"]]

    job = preview(superuser, Project, csv_bytes(rows))

    assert job.errors[0]["message"] == "This project is in the trash; restore it first."


def test_projects_name_their_owner_by_email(superuser, acme):
    owner = UserFactory(email="owner@acme.test")
    rows = [["organization", "key", "name", "owner"]]
    rows += [["acme", "OPS", "Operations", "Owner@Acme.test"]]

    job = run_import(superuser, Project, csv_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert Project.objects.get(key="OPS").owner == owner


@pytest.mark.parametrize("file_format", ["xlsx", "json"])
def test_xlsx_and_json_files_import_like_csv(superuser, acme, file_format):
    rows = [
        [*TASK_HEADER, "due_date", "completed_at", "custom_fields"],
        [
            "acme",
            "WEB",
            "",
            "From a spreadsheet",
            "DONE",
            30,
            dt.date(2026, 3, 1) if file_format == "xlsx" else "2026-03-01",
            dt.datetime(2026, 3, 2, 9, 30)
            if file_format == "xlsx"
            else "2026-03-02T09:30:00+00:00",
            '{"points": 5}' if file_format == "xlsx" else {"points": 5},
        ],
    ]
    payload = xlsx_bytes(rows) if file_format == "xlsx" else json_bytes(rows)

    job = run_import(superuser, Task, payload, file_format)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    task = Task.objects.get(title="From a spreadsheet")
    assert (task.priority, task.due_date) == (30, dt.date(2026, 3, 1))
    assert task.completed_at == dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
    assert task.custom_fields == {"points": 5}


def test_semicolon_csv_with_a_byte_order_mark(superuser, acme):
    rows = [TASK_HEADER, ["acme", "WEB", "", "Tâche accentuée", "TODO", "20"]]

    job = run_import(superuser, Task, csv_bytes(rows, delimiter=";", bom=True))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert Task.objects.get().title == "Tâche accentuée"


def test_cells_quoted_by_our_exports_come_back_as_they_were(superuser, acme):
    rows = [TASK_HEADER, ["acme", "WEB", "", "'=1+1 is not a formula", "TODO", "20"]]

    run_import(superuser, Task, csv_bytes(rows))

    assert Task.objects.get().title == "=1+1 is not a formula"
