"""Work jobs and event side effects: real database, django-q2 sync, locmem mail."""

import ast
import datetime as dt
import smtplib

import pytest
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler

from audit.models import AuditEvent
from tenants.models import Organization
from tenants.services import membership_create, system_actor
from tests.factories import (
    CommentFactory,
    InvoiceFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    TaskFactory,
    UserFactory,
)
from work.jobs import (
    cleanup_soft_deleted_records,
    generate_weekly_digest,
    remind_overdue_tasks,
    task_done_notify,
)
from work.models import Notification, Task
from work.services import task_update

pytestmark = pytest.mark.django_db

NOW = timezone.now()
TODAY = timezone.localdate()


def _job_runs(job):
    return AuditEvent.objects.filter(action="job_run", changed_fields__job=job)


# --- cleanup_soft_deleted_records ---------------------------------------------------


def _trash(obj, days_ago):
    type(obj).all_objects.filter(pk=obj.pk).update(
        deleted_at=NOW - dt.timedelta(days=days_ago)
    )


def test_cleanup_hard_deletes_old_trash_keeping_history_by_the_system_actor(acme):
    old_project = ProjectFactory(organization=acme)
    task_in_old_project = TaskFactory(project=old_project)
    comment_in_old_project = CommentFactory(task=task_in_old_project)
    _trash(old_project, 100)
    old_task, recent_task = TaskFactory(organization=acme), TaskFactory()
    _trash(old_task, 95)
    _trash(recent_task, 10)
    old_comment = CommentFactory(task__project__organization=acme)
    _trash(old_comment, 91)
    old_org = OrganizationFactory()
    MembershipFactory(organization=old_org)
    _trash(old_org, 120)
    billed_org = InvoiceFactory().organization  # invoices are kept, so is it
    _trash(billed_org, 120)

    summary = cleanup_soft_deleted_records()

    gone = [old_project, task_in_old_project, comment_in_old_project, old_task]
    gone += [old_comment, old_org]
    for obj in gone:
        assert not type(obj).all_objects.filter(pk=obj.pk).exists()
        deletion = type(obj).history.get(id=obj.pk, history_type="-")
        assert deletion.history_user == system_actor()
    assert Task.all_objects.filter(pk=recent_task.pk).exists()
    assert Organization.all_objects.filter(pk=billed_org.pk).exists()
    assert summary["work.Project"] == {"deleted": 1, "protected": 0}
    assert summary["tenants.Organization"] == {"deleted": 1, "protected": 1}
    deletes = AuditEvent.objects.filter(action="delete", actor=system_actor())
    assert deletes.count() == 4  # one per row deleted from the trash
    project_event = deletes.get(target_object_id=str(old_project.pk))
    assert project_event.changed_fields["rows"] == {
        "work.Comment": 1,
        "work.Task": 1,
        "work.Project": 1,
    }
    assert _job_runs("work.jobs.cleanup_soft_deleted_records").get().actor == (
        system_actor()
    )

    again = cleanup_soft_deleted_records()
    assert again["work.Task"] == again["work.Comment"] == {"deleted": 0, "protected": 0}


# --- generate_weekly_digest ---------------------------------------------------------


def test_weekly_digest_goes_to_owners_and_admins_once(acme, mailoutbox):
    monday = TODAY - dt.timedelta(days=TODAY.weekday() + 7)
    in_week = dt.datetime.combine(monday, dt.time(10), tzinfo=dt.UTC)
    project = ProjectFactory(organization=acme)
    TaskFactory(project=project, created_at=in_week, due_date=monday)  # overdue
    TaskFactory(
        project=project,
        created_at=in_week,
        status=Task.Status.DONE,
        completed_at=in_week + dt.timedelta(days=1),
    )
    TaskFactory(project=project, created_at=in_week, status=Task.Status.CANCELLED)
    TaskFactory(project=project, created_at=in_week - dt.timedelta(days=30))
    OrganizationFactory(status=Organization.Status.SUSPENDED)  # no digest
    quiet = OrganizationFactory()  # no owners or admins: nothing to send
    MembershipFactory(organization=quiet, role="member")

    summary = generate_weekly_digest()

    assert summary == {"week_start": monday.isoformat(), "emails_queued": 2}
    [email] = mailoutbox
    assert email.to == ["admin@acme.test", "owner@acme.test"]
    assert email.subject == f"Acme: your week of {monday:%d %B %Y}"
    figures = [" ".join(line.split()) for line in email.body.splitlines()]
    assert "Tasks created: 3" in figures
    assert "Tasks completed: 1" in figures
    assert "Overdue now: 1" in figures
    assert "Open now: 2" in figures
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and "<table" in html

    generate_weekly_digest()
    assert len(mailoutbox) == 1
    statuses = _job_runs("work.jobs.weekly_digest_email").values_list(
        "changed_fields__status", flat=True
    )
    assert sorted(statuses) == [
        "already sent",
        "nothing to send",
        "nothing to send",
        "sent",
    ]


# --- remind_overdue_tasks -----------------------------------------------------------


def test_overdue_reminder_sends_one_digest_per_assignee(acme, mailoutbox):
    alice, bob, carol = (
        UserFactory(email=f"{name}@acme.test") for name in ("alice", "bob", "carol")
    )
    dave = UserFactory(email="dave@acme.test", is_active=False)
    project = ProjectFactory(organization=acme, key="WEB")
    yesterday = TODAY - dt.timedelta(days=1)
    for title in ("Fix the login page", "Renew the certificate"):
        TaskFactory(project=project, assignee=alice, due_date=yesterday, title=title)
    TaskFactory(project=project, assignee=bob, due_date=yesterday, title="Call Globex")
    TaskFactory(project=project, assignee=carol, due_date=TODAY, title="Not yet due")
    TaskFactory(
        project=project,
        assignee=carol,
        due_date=yesterday,
        status=Task.Status.DONE,
        title="Already done",
    )
    TaskFactory(project=project, assignee=dave, due_date=yesterday, title="Left")

    assert remind_overdue_tasks()["emails_queued"] == 2

    by_recipient = {tuple(m.to): m.body for m in mailoutbox}
    assert set(by_recipient) == {("alice@acme.test",), ("bob@acme.test",)}
    assert "Fix the login page" in by_recipient[("alice@acme.test",)]
    assert "Renew the certificate" in by_recipient[("alice@acme.test",)]
    assert "Call Globex" not in by_recipient[("alice@acme.test",)]
    assert "Call Globex" in by_recipient[("bob@acme.test",)]

    remind_overdue_tasks()
    assert len(mailoutbox) == 2


# --- Event side effects -------------------------------------------------------------


def test_a_new_membership_gets_a_welcome_email_and_notification(
    acme, superuser, mailoutbox, django_capture_on_commit_callbacks
):
    newcomer = UserFactory(email="newcomer@acme.test")
    with django_capture_on_commit_callbacks(execute=True):
        membership_create(actor=superuser, organization=acme, user=newcomer)

    [email] = mailoutbox
    assert (email.to, email.subject) == (["newcomer@acme.test"], "Welcome to Acme")
    notification = Notification.objects.get(recipient=newcomer)
    assert notification.category == Notification.Category.WELCOME
    assert notification.organization == acme
    assert notification.history.get().history_user == system_actor()


def test_a_task_moved_to_done_notifies_its_assignee(
    acme, superuser, mailoutbox, django_capture_on_commit_callbacks
):
    assignee = UserFactory(email="assignee@acme.test")
    task = TaskFactory(project__organization=acme, assignee=assignee, title="Ship it")

    with django_capture_on_commit_callbacks(execute=True):
        task_update(actor=superuser, task=task, priority=Task.Priority.HIGH)
    assert mailoutbox == [] and not Notification.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        task_update(actor=superuser, task=task, status=Task.Status.DONE)

    [email] = mailoutbox
    assert (email.to, email.subject) == (["assignee@acme.test"], "Done: Ship it")
    notification = Notification.objects.get()
    assert (notification.recipient, notification.category) == (assignee, "task_done")

    # Safe to run twice: the same completion is announced once.
    task.refresh_from_db()
    task_done_notify(task_id=task.pk, completed_at=task.completed_at.isoformat())
    assert len(mailoutbox) == 1 and Notification.objects.count() == 1


# --- Retries with backoff -----------------------------------------------------------


def test_a_failed_send_is_retried_later_with_backoff(
    acme, superuser, settings, smtp_down, mailoutbox, django_capture_on_commit_callbacks
):
    assignee = UserFactory(email="assignee@acme.test")
    task = TaskFactory(project__organization=acme, assignee=assignee)
    with django_capture_on_commit_callbacks(execute=True):
        task_update(actor=superuser, task=task, status=Task.Status.DONE)

    # Nothing half-done: no email, no notification; a retry in 2**0 = 1 minute.
    assert mailoutbox == [] and not Notification.objects.exists()
    retry = Schedule.objects.get(func="work.jobs.task_done_notify")
    assert retry.schedule_type == Schedule.ONCE
    delay = retry.next_run - timezone.now()
    assert dt.timedelta(seconds=50) < delay <= dt.timedelta(minutes=1)
    assert ast.literal_eval(retry.kwargs)["attempt"] == 1
    [run] = _job_runs("work.jobs.task_done_notify")
    assert run.changed_fields["status"] == "retry scheduled"

    # The server is back; the cluster's scheduler runs the retry when it is due.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Schedule.objects.filter(pk=retry.pk).update(
        next_run=timezone.now() - dt.timedelta(seconds=1)
    )
    scheduler()

    [email] = mailoutbox
    assert email.to == ["assignee@acme.test"]
    assert Notification.objects.filter(category="task_done").count() == 1
    assert not Schedule.objects.filter(pk=retry.pk).exists()  # a ONCE schedule goes


def test_the_last_attempt_fails_for_good(acme, smtp_down):
    task = TaskFactory(
        project__organization=acme,
        assignee=UserFactory(),
        status=Task.Status.DONE,
        completed_at=NOW,
    )
    with pytest.raises(smtplib.SMTPServerDisconnected):
        task_done_notify(task_id=task.pk, completed_at=NOW.isoformat(), attempt=4)
    assert not Schedule.objects.exists()
    [run] = _job_runs("work.jobs.task_done_notify")
    assert (run.changed_fields["status"], run.changed_fields["attempt"]) == (
        "failed",
        4,
    )
