"""Import and export in the admin, over HTTP: upload, preview, confirm, the error
report, bad files, large files in the background, exports (filters, scope,
selectable columns, formula cells, streaming), and the permissions of each role."""

import csv
import datetime as dt
import io
import json

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from audit.imports import _ProgressWriter
from audit.jobs import expire_import_previews
from audit.models import AuditEvent, ImportJob
from audit.resources import resource_for
from audit.services import record_soft_delete
from tenants import roles
from tenants.models import Invoice, Plan
from tenants.services import support_grant
from tests.factories import (
    InvoiceFactory,
    OrganizationFactory,
    PlanFactory,
    ProjectFactory,
    SubscriptionFactory,
    TaskFactory,
)
from tests.import_export_helpers import (
    csv_bytes,
    snapshot,
    staff_in,
    xlsx_bytes,
)
from work.models import Notification, Task

pytestmark = pytest.mark.django_db

FORMAT_INDEX = {"csv": "0", "xlsx": "1", "json": "2"}
PLAN_HEADER = ["code", "name", "tier", "monthly_price", "currency", "is_active"]
TASK_HEADER = ["organization", "project", "id", "title", "status", "priority"]


@pytest.fixture
def finance(db):
    return staff_in(roles.FINANCE, email="fay@staff.test")


@pytest.fixture
def acme(db):
    organization = OrganizationFactory(name="Acme", slug="acme")
    ProjectFactory(organization=organization, key="WEB")
    return organization


def _url(model, name: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=args)


def _upload(client, model, payload: bytes, file_format="csv", name=None):
    upload = SimpleUploadedFile(name or f"upload.{file_format}", payload)
    return client.post(
        _url(model, "import"),
        {"resource": "0", "format": FORMAT_INDEX[file_format], "import_file": upload},
    )


def _latest_job() -> ImportJob:
    return ImportJob.objects.order_by("-id").first()


def _csv_rows(response) -> list[list[str]]:
    content = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(content, newline="")))


# --- import ------------------------------------------------------------------------


def test_finance_previews_then_confirms_a_plan_import(client, finance):
    PlanFactory(code="pro", name="Pro", tier="pro", monthly_price="99.00")
    PlanFactory(code="free", name="Free", tier="free", monthly_price="0.00")
    client.force_login(finance)
    changelist = client.get(_url(Plan, "changelist"))
    assert _url(Plan, "import") in changelist.content.decode()
    assert _url(Plan, "export") in changelist.content.decode()
    assert client.get(_url(Plan, "import")).status_code == 200
    rows = [
        PLAN_HEADER,
        ["pro", "Pro", "pro", "119.00", "EUR", "True"],
        ["free", "Free", "free", "0.00", "EUR", "True"],
        ["team", "Team", "starter", "39.00", "EUR", "True"],
    ]

    response = _upload(client, Plan, csv_bytes(rows))

    job = _latest_job()
    assert response.status_code == 302
    assert response["Location"] == _url(Plan, "import_job", job.pk)
    page = client.get(response["Location"]).content.decode()
    assert 'data-kind="update" data-row="2"' in page
    assert 'data-kind="unchanged" data-row="3"' in page
    assert 'data-kind="new" data-row="4"' in page
    assert "<del" in page and "99.00" in page and "119.00" in page
    assert "Confirm import" in page
    assert Plan.objects.get(code="pro").monthly_price == 99

    confirmed = client.post(_url(Plan, "process_import"), {"job": job.pk})

    assert confirmed.status_code == 302
    assert confirmed["Location"] == _url(Plan, "changelist")
    assert Plan.objects.get(code="pro").monthly_price == 119
    assert Plan.objects.filter(code="team").exists()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED
    assert (job.user, job.file_name, job.file_format) == (finance, "upload.csv", "csv")
    assert len(job.file_sha256) == 64 and job.duration is not None
    again = client.post(_url(Plan, "process_import"), {"job": job.pk})
    assert again.status_code == 302
    assert Plan.history.filter(operation_id=job.operation_id).count() == 2


def test_an_unconfirmed_preview_expires_after_a_day_and_drops_its_file(client, finance):
    client.force_login(finance)
    rows = [PLAN_HEADER, ["team", "Team", "starter", "39.00", "EUR", "True"]]
    _upload(client, Plan, csv_bytes(rows))
    stale = _latest_job()
    _upload(client, Plan, csv_bytes(rows))
    fresh = _latest_job()
    assert stale.status == fresh.status == ImportJob.Status.PREVIEWED
    assert stale.payload is not None
    ImportJob.objects.filter(pk=stale.pk).update(
        finished_at=timezone.now() - dt.timedelta(hours=25)
    )

    assert expire_import_previews() == {"expired": 1}

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.payload) == (ImportJob.Status.EXPIRED, None)
    assert "upload the file again" in stale.message
    assert fresh.status == ImportJob.Status.PREVIEWED and fresh.payload is not None
    # An expired preview can no longer be confirmed: nothing is imported.
    client.post(_url(Plan, "process_import"), {"job": stale.pk})
    assert not Plan.objects.filter(code="team").exists()
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.JOB_RUN, changed_fields__expired=1
    ).exists()


def test_rows_with_errors_are_listed_and_downloadable_as_csv(client, finance):
    client.force_login(finance)
    rows = [PLAN_HEADER, ["ok", "Fine", "pro", "1", "EUR", "True"]]
    rows += [["=cmd", "Bad", "gold", "-1", "EUR", "True"]]

    _upload(client, Plan, csv_bytes(rows))

    job = _latest_job()
    page = client.get(_url(Plan, "import_job", job.pk)).content.decode()
    assert job.status == ImportJob.Status.FAILED
    assert "Confirm import" not in page
    assert "Value &#x27;gold&#x27; is not a valid choice." in page
    report = client.get(_url(Plan, "import_errors", job.pk))
    assert report["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert lines[0] == ["row", "column", "message", "value"]
    assert ["3", "tier", "Value 'gold' is not a valid choice.", "gold"] in lines
    assert any(line[:2] == ["3", "code"] and line[3] == "'=cmd" for line in lines)
    refused = client.post(_url(Plan, "process_import"), {"job": job.pk})
    assert refused["Location"] == _url(Plan, "import_job", job.pk)
    assert not Plan.objects.exists()


BAD_FILES = {
    "binary as CSV": ("csv", bytes(range(256)) * 40, "binary data"),
    "XLSX as CSV": ("csv", xlsx_bytes([PLAN_HEADER]), "binary data"),
    "truncated XLSX": (
        "xlsx",
        xlsx_bytes([PLAN_HEADER, ["a", "A", "pro", "1", "EUR", "True"]])[:700],
        "not a valid XLSX workbook",
    ),
    "CSV as XLSX": ("xlsx", csv_bytes([PLAN_HEADER]), "not a valid XLSX workbook"),
    "UTF-16": (
        "csv",
        "code,name\r\nx,Zoë\r\n".encode("utf-16"),
        "UTF-16",
    ),
    "latin-1": (
        "csv",
        "code,name,tier,monthly_price\r\nx,Zoë,pro,1\r\n".encode("latin-1"),
        "not UTF-8",
    ),
    "empty": ("csv", b"", "The submitted file is empty."),  # Django's own check
    "only a byte-order mark": ("csv", b"\xef\xbb\xbf\r\n", "The file is empty."),
    "header only": ("csv", csv_bytes([PLAN_HEADER]), "a header but no rows"),
    "10 MB in one column": (
        "csv",
        b"notes\r\n" + b"0123456789abcdef\r\n" * 600_000,
        "Unknown column(s): notes",
    ),
    "10 MB in one cell": (
        "csv",
        b"code,name\r\nx," + b"z" * 10_000_000 + b"\r\n",
        "longer than 131,072 characters",
    ),
    "JSON that is not a list": ("json", b'{"code": "x"}', "a list of objects"),
    "broken JSON": ("json", b'[{"code": ', "not valid JSON"),
    "XLSX as JSON": ("json", xlsx_bytes([PLAN_HEADER]), "not UTF-8"),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_a_file_that_is_not_what_it_claims_gets_a_clear_error(client, finance, case):
    file_format, payload, message = BAD_FILES[case]
    client.force_login(finance)

    response = _upload(client, Plan, payload, file_format)

    assert response.status_code == 200
    assert message in response.content.decode().replace("&#x27;", "'")
    job = _latest_job()  # none when the form refused the upload itself
    assert job is None or (job.status == "failed" and job.payload is None)
    assert not Plan.objects.exists()


def test_someone_elses_import_is_missing(client, finance):
    other = staff_in(roles.FINANCE, email="other@staff.test")
    client.force_login(other)
    _upload(client, Plan, csv_bytes([PLAN_HEADER, ["a", "A", "pro", "1", "EUR", "1"]]))
    job = _latest_job()
    client.force_login(finance)

    for name in ("import_job", "import_progress", "import_errors"):
        assert client.get(_url(Plan, name, job.pk)).status_code == 404
    assert client.post(_url(Plan, "process_import"), {"job": job.pk}).status_code == 404
    assert client.get(_url(Invoice, "import_job", job.pk)).status_code == 404
    assert not Plan.objects.exists()


def test_the_import_job_admin_lists_each_users_own_imports(client, finance, superuser):
    other = staff_in(roles.FINANCE, email="other@staff.test")
    ImportJob.objects.create(user=finance, model="tenants.plan", file_name="mine.csv")
    ImportJob.objects.create(user=other, model="tenants.plan", file_name="theirs.csv")
    client.force_login(finance)

    page = client.get(reverse("admin:audit_importjob_changelist")).content.decode()

    assert "mine.csv" in page and "theirs.csv" not in page
    client.force_login(superuser)
    page = client.get(reverse("admin:audit_importjob_changelist")).content.decode()
    assert "mine.csv" in page and "theirs.csv" in page


# --- permissions -------------------------------------------------------------------


def test_roles_without_the_permission_get_403(client, finance, support_agent, acme):
    manager = staff_in(roles.TENANT_MANAGER, email="max@staff.test")
    support_grant(actor=manager, organization=acme, agent=support_agent)
    refused = [
        (support_agent, Task),  # supports tasks, but no import/export permission
        (manager, Invoice),  # views billing only
        (finance, Task),  # billing only
    ]
    for user, model in refused:
        client.force_login(user)
        for name in ("import", "export"):
            assert client.get(_url(model, name)).status_code == 403, (user, model)
        assert client.post(_url(model, "process_import"), {"job": 1}).status_code == 403
        page = client.get(_url(model, "changelist")).content.decode()
        assert _url(model, "import") not in page
        assert _url(model, "export") not in page


def test_models_without_a_resource_have_no_import_or_export(client, superuser):
    client.force_login(superuser)
    for name in ("import", "export"):
        assert client.get(reverse(f"admin:work_comment_{name}")).status_code == 403


# --- background imports ------------------------------------------------------------


def test_a_large_import_runs_in_the_background_with_progress_and_a_notification(
    client, superuser, acme, settings
):
    settings.IMPORT_ASYNC_THRESHOLD_ROWS = 5
    client.force_login(superuser)
    rows = [TASK_HEADER] + [
        ["acme", "WEB", "", f"Background task {n}", "TODO", "20"] for n in range(12)
    ]

    response = _upload(client, Task, csv_bytes(rows))

    job = _latest_job()
    assert job.total_rows == 12
    page = client.get(response["Location"]).content.decode()
    assert "Confirm import" in page  # the django-q2 task ran (sync in tests)
    client.post(_url(Task, "process_import"), {"job": job.pk})
    progress = client.get(_url(Task, "import_progress", job.pk)).json()
    assert progress == {
        "status": "succeeded",
        "status_label": "Succeeded",
        "stage": "import",
        "processed": 12,
        "total": 12,
        "percent": 100,
        "finished": True,
        "new": 12,
        "updated": 0,
        "unchanged": 0,
        "errors": 0,
        "message": "Imported 12 rows: 12 new, 0 updated, 0 unchanged.",
    }
    assert Task.objects.count() == 12
    notification = Notification.objects.get(recipient=superuser)
    assert notification.organization == acme
    assert "succeeded" in notification.message and "upload.csv" in notification.message
    assert mail.outbox == []


def _running_plan_import(user, **counts) -> ImportJob:
    return ImportJob.objects.create(
        user=user,
        model="tenants.plan",
        file_name="big.csv",
        file_format="csv",
        status=ImportJob.Status.RUNNING,
        stage=ImportJob.Stage.IMPORT,
        **counts,
    )


def test_the_job_page_polls_its_progress_while_the_job_waits(client, superuser):
    job = _running_plan_import(superuser, total_rows=200, processed_rows=50)
    client.force_login(superuser)

    page = client.get(_url(Plan, "import_job", job.pk)).content.decode()
    progress = client.get(_url(Plan, "import_progress", job.pk)).json()

    assert f'data-url="{_url(Plan, "import_progress", job.pk)}"' in page
    assert (progress["percent"], progress["finished"]) == (25, False)


@pytest.mark.django_db(transaction=True)
def test_progress_is_written_at_most_twice_a_second(superuser):
    # Each write is a commit on a connection of its own: one per chunk of rows
    # was a disk flush every few milliseconds behind the import's own writes.
    job = _running_plan_import(superuser, total_rows=9000)
    progress = _ProgressWriter(job.pk)
    try:
        progress(2000)
        progress(4000)  # within the interval: not written
        job.refresh_from_db()
        assert job.processed_rows == 2000
        progress.written_at -= progress.interval  # as if half a second passed
        progress(6000)
        job.refresh_from_db()
        assert job.processed_rows == 6000
    finally:
        progress.close()


def test_a_background_import_of_global_rows_is_reported_by_email(
    client, finance, settings
):
    settings.IMPORT_ASYNC_THRESHOLD_ROWS = 1
    client.force_login(finance)
    rows = [
        PLAN_HEADER,
        ["a", "A", "pro", "1", "EUR", "1"],
        ["b", "B", "pro", "2", "EUR", "1"],
    ]
    _upload(client, Plan, csv_bytes(rows))
    job = _latest_job()

    client.post(_url(Plan, "process_import"), {"job": job.pk})

    assert Plan.objects.count() == 2
    assert [m.to for m in mail.outbox] == [[finance.email]]
    assert mail.outbox[0].subject == "Import of upload.csv succeeded"
    assert not Notification.objects.exists()


def test_a_failed_background_import_changes_nothing_but_tells_the_user(
    client, superuser, acme, settings
):
    settings.IMPORT_ASYNC_THRESHOLD_ROWS = 5
    other = ProjectFactory(organization=acme, key="OLD")
    client.force_login(superuser)
    rows = [TASK_HEADER] + [
        ["acme", "WEB", "", f"Task {n}", "TODO", "20"] for n in range(10)
    ]
    rows.append(["acme", "OLD", "", "Goes away", "TODO", "20"])
    _upload(client, Task, csv_bytes(rows))
    job = _latest_job()
    record_soft_delete(actor=superuser, instance=other)  # the row turns bad
    before = snapshot(Task)

    client.post(_url(Task, "process_import"), {"job": job.pk})

    after = snapshot(Task)
    notification = Notification.objects.get(recipient=superuser)
    assert "failed" in notification.message
    # Only the notification's own record was added; no task, no history row.
    assert after == {**before, "audit": before["audit"] + 1}
    assert AuditEvent.objects.latest("id").target == notification


# --- export ------------------------------------------------------------------------


def _export(client, model, query: str = "", file_format="csv", columns=None):
    resource = {"tenants.invoice": "invoiceresource", "work.task": "taskresource"}[
        model._meta.label_lower
    ]
    data = {"resource": "0", "format": FORMAT_INDEX[file_format]}
    for name in resource_for(model)().get_export_order():
        if columns is None or name in columns:
            data[f"{resource}_{name}"] = "on"
    return client.post(_url(model, "export") + query, data)


def test_export_respects_the_changelist_filters_and_search(client, finance):
    acme = OrganizationFactory(slug="acme")
    subscription = SubscriptionFactory(organization=acme)
    InvoiceFactory(subscription=subscription, number="INV-A1", status="open")
    InvoiceFactory(subscription=subscription, number="INV-A2", status="draft")
    InvoiceFactory(subscription=subscription, number="INV-B3", status="open")
    client.force_login(finance)
    assert (
        client.get(_url(Invoice, "export") + "?status__exact=open").status_code == 200
    )

    response = _export(client, Invoice, "?status__exact=open")
    assert isinstance(response, StreamingHttpResponse)
    rows = _csv_rows(response)
    searched = _csv_rows(_export(client, Invoice, "?status__exact=open&q=INV-B3"))

    assert rows[0] == [
        "organization",
        "number",
        "subscription",
        "amount",
        "currency",
        "status",
        "issued_on",
        "due_on",
        "paid_at",
    ]
    assert sorted(row[1] for row in rows[1:]) == ["INV-A1", "INV-B3"]
    assert rows[1][0] == "acme" and rows[1][2] == str(subscription.pk)
    assert [row[1] for row in searched[1:]] == ["INV-B3"]
    events = AuditEvent.objects.filter(action="export").order_by("id")
    assert [e.actor for e in events] == [finance, finance]
    assert [e.changed_fields["rows"] for e in events] == [2, 1]
    event = events.last()
    assert event.changed_fields["filters"] == {"status__exact": "open", "q": "INV-B3"}
    assert event.changed_fields["model"] == "tenants.invoice"


def test_a_support_agent_exports_only_their_organizations_tasks(client, support_agent):
    support_agent.user_permissions.add(Permission.objects.get(codename="export_task"))
    home, faraway = (
        OrganizationFactory(slug="home"),
        OrganizationFactory(slug="faraway"),
    )
    support_grant(actor=support_agent, organization=home, agent=support_agent)
    TaskFactory(project__organization=home, title="Home task")
    TaskFactory(project__organization=faraway, title="Faraway task")
    client.force_login(support_agent)

    rows = _csv_rows(_export(client, Task, columns=["organization", "title"]))
    filtered = _csv_rows(
        _export(
            client, Task, f"?organization__id__exact={faraway.pk}", columns=["title"]
        )
    )

    assert rows == [["organization", "title"], ["home", "Home task"]]
    assert filtered == [["title"]]
    counts = [
        e.changed_fields["rows"] for e in AuditEvent.objects.filter(action="export")
    ]
    assert sorted(counts) == [0, 1]


FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tTabbed", "\rReturned", "Plain"]


def test_formula_cells_are_neutralised_in_csv_and_xlsx(client, superuser, acme):
    project = acme.projects.get()
    for title in FORMULAS:
        TaskFactory(project=project, title=f"{title} task")
    client.force_login(superuser)

    csv_titles = [row[0] for row in _csv_rows(_export(client, Task, columns=["title"]))]
    workbook = _export(client, Task, file_format="xlsx", columns=["title"])
    sheet = openpyxl.load_workbook(
        io.BytesIO(b"".join(workbook.streaming_content))
    ).active
    xlsx_titles = [row[0] for row in sheet.iter_rows(values_only=True)]

    expected = {f"'{t} task" for t in FORMULAS[:-1]} | {"Plain task"}
    assert set(csv_titles[1:]) == expected
    # XML turns a carriage return into a line feed; the quote is what matters.
    assert set(xlsx_titles[1:]) == {t.replace("\r", "\n") for t in expected}
    assert all(cell.data_type == "s" for cell in sheet["A"])


def test_an_export_imports_back_unchanged(client, superuser, acme):
    project = acme.projects.get()
    TaskFactory(project=project, title="=SUM(1)", custom_fields={"points": 3})
    TaskFactory(project=project, title="Second", due_date="2026-05-01")
    client.force_login(superuser)
    exported = b"".join(_export(client, Task).streaming_content)

    _upload(client, Task, exported)

    job = _latest_job()
    assert (job.rows_unchanged, job.rows_new, job.rows_updated) == (2, 0, 0)


def test_json_export_streams_every_selected_column(client, superuser, acme):
    TaskFactory(project=acme.projects.get(), title="Jsonable", custom_fields={"a": 1})
    client.force_login(superuser)

    response = _export(
        client, Task, file_format="json", columns=["title", "custom_fields", "priority"]
    )

    assert isinstance(response, StreamingHttpResponse)
    assert json.loads(b"".join(response.streaming_content)) == [
        {"title": "Jsonable", "priority": 20, "custom_fields": {"a": 1}}
    ]
