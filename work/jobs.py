"""django-q2 task functions of work: the trash, digests, reminders, notifications.

Thin wrappers over services and selectors. Every run writes a `job_run` audit
event by the system actor; every email is sent at most once per key and retried
with backoff (tenants.job_support). Schedules: `manage.py register_schedules`.
"""

import datetime as dt
from itertools import batched

from django.utils import timezone

from tenants.job_support import email_message, email_send_once
from tenants.models import Membership, Organization, User
from tenants.selectors import organization_admin_emails
from tenants.services import job_queue, job_run_record, system_actor
from work.models import Comment, Notification, Project, Task
from work.selectors import overdue_assignee_ids, overdue_tasks_of, task_week_stats
from work.services import notification_create, trash_purge

CLEANUP_JOB = "work.jobs.cleanup_soft_deleted_records"
DIGEST_JOB = "work.jobs.generate_weekly_digest"
DIGEST_EMAIL_JOB = "work.jobs.weekly_digest_email"
OVERDUE_JOB = "work.jobs.remind_overdue_tasks"
OVERDUE_EMAIL_JOB = "work.jobs.overdue_reminder_email"
TASK_DONE_JOB = "work.jobs.task_done_notify"
WELCOME_JOB = "work.jobs.membership_welcome"

# Children before parents, so a batch mostly deletes rows no cascade has taken.
SOFT_DELETABLE = (Comment, Task, Project, Organization)
OVERDUE_LIST_LIMIT = 50


def cleanup_soft_deleted_records(
    *, older_than_days: int = 90, batch_size: int = 500
) -> dict:
    """Hard-delete rows in the trash for more than `older_than_days` days, one
    transaction per batch. History rows stay; the deletions are by the system
    actor. Safe to run twice: a deleted row is not found again."""
    actor = system_actor()
    deleted_before = timezone.now() - dt.timedelta(days=older_than_days)
    summary = {"older_than_days": older_than_days}
    for model in SOFT_DELETABLE:
        counts = {"deleted": 0, "protected": 0}
        pks = (
            model.all_objects.filter(deleted_at__lt=deleted_before)
            .order_by("pk")
            .values_list("pk", flat=True)
            .iterator(chunk_size=batch_size)
        )
        for batch in batched(pks, batch_size):
            result = trash_purge(
                actor=actor, model=model, pks=batch, deleted_before=deleted_before
            )
            for name, count in result.items():
                counts[name] += count
        summary[model._meta.label] = counts
    job_run_record(job=CLEANUP_JOB, summary=summary)
    return summary


def _last_week(week_start: str | None) -> tuple[dt.datetime, dt.datetime]:
    """[Monday 00:00, next Monday 00:00) UTC of `week_start`, else of last week."""
    if week_start:
        monday = dt.date.fromisoformat(week_start)
    else:
        today = timezone.now().date()
        monday = today - dt.timedelta(days=today.weekday() + 7)
    start = dt.datetime.combine(monday, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(weeks=1)


def generate_weekly_digest(*, week_start: str | None = None) -> dict:
    """Queue one digest email per active organization (Mondays, for last week)."""
    start, _ = _last_week(week_start)
    queued = 0
    organizations = Organization.objects.filter(
        status=Organization.Status.ACTIVE
    ).order_by("pk")
    for organization_id in organizations.values_list("pk", flat=True).iterator():
        job_queue(
            DIGEST_EMAIL_JOB,
            organization_id=organization_id,
            week_start=start.date().isoformat(),
        )
        queued += 1
    summary = {"week_start": start.date().isoformat(), "emails_queued": queued}
    job_run_record(job=DIGEST_JOB, summary=summary)
    return summary


def weekly_digest_email(
    *, organization_id: int, week_start: str, attempt: int = 0
) -> dict:
    """The week's task figures of an organization, to its owners and admins."""
    organization = Organization.all_objects.get(pk=organization_id)
    start, end = _last_week(week_start)

    def compose():
        to = organization_admin_emails(organization=organization)
        if not to:
            return None
        return email_message(
            template="work/emails/weekly_digest",
            subject=f"{organization.name}: your week of {start:%d %B %Y}",
            to=to,
            context={
                "organization": organization,
                "start": start,
                "end": end - dt.timedelta(days=1),
                "stats": task_week_stats(
                    organization=organization, start=start, end=end
                ),
            },
        )

    return email_send_once(
        job=DIGEST_EMAIL_JOB,
        key=f"weekly_digest:{organization_id}:{week_start}",
        target=organization,
        attempt=attempt,
        retry_kwargs={"organization_id": organization_id, "week_start": week_start},
        compose=compose,
    )


def remind_overdue_tasks(*, today: str | None = None) -> dict:
    """Queue one reminder email per assignee with overdue tasks (daily)."""
    day = dt.date.fromisoformat(today) if today else timezone.localdate()
    queued = 0
    for user_id in overdue_assignee_ids(today=day).iterator(chunk_size=1000):
        job_queue(OVERDUE_EMAIL_JOB, user_id=user_id, today=day.isoformat())
        queued += 1
    summary = {"today": day.isoformat(), "emails_queued": queued}
    job_run_record(job=OVERDUE_JOB, summary=summary)
    return summary


def overdue_reminder_email(*, user_id: int, today: str, attempt: int = 0) -> dict:
    """A user's overdue tasks in one email, once a day."""
    user = User.objects.get(pk=user_id)
    day = dt.date.fromisoformat(today)

    def compose():
        tasks = list(overdue_tasks_of(user=user, today=day)[: OVERDUE_LIST_LIMIT + 1])
        if not tasks or not user.is_active:
            return None
        return email_message(
            template="work/emails/overdue_reminder",
            subject=f"You have overdue tasks ({day:%d %B %Y})",
            to=[user.email],
            context={
                "user": user,
                "tasks": tasks[:OVERDUE_LIST_LIMIT],
                "more": len(tasks) > OVERDUE_LIST_LIMIT,
            },
        )

    return email_send_once(
        job=OVERDUE_EMAIL_JOB,
        key=f"overdue_reminder:{user_id}:{today}",
        target=user,
        attempt=attempt,
        retry_kwargs={"user_id": user_id, "today": today},
        compose=compose,
    )


def task_done_notify(*, task_id: int, completed_at: str, attempt: int = 0) -> dict:
    """Tell a task's assignee it is done: a notification and an email. Nothing
    when the task was reopened since, or completed again (a later run says it)."""
    task = Task.all_objects.select_related("assignee", "project").get(pk=task_id)

    def compose():
        assignee = task.assignee
        still_done = (
            task.status == Task.Status.DONE
            and task.completed_at is not None
            and task.completed_at.isoformat() == completed_at
        )
        if not still_done or assignee is None or not assignee.is_active:
            return None
        notification_create(
            actor=system_actor(),
            organization_id=task.organization_id,
            recipient=assignee,
            category=Notification.Category.TASK_DONE,
            message=f"Task “{task.title}” in {task.project.key} is done.",
        )
        return email_message(
            template="work/emails/task_done",
            subject=f"Done: {task.title}",
            to=[assignee.email],
            context={"task": task, "user": assignee},
        )

    return email_send_once(
        job=TASK_DONE_JOB,
        key=f"task_done:{task_id}:{completed_at}",
        target=task,
        attempt=attempt,
        retry_kwargs={"task_id": task_id, "completed_at": completed_at},
        compose=compose,
    )


def membership_welcome(*, membership_id: int, attempt: int = 0) -> dict:
    """Welcome a new member: a notification and an email."""
    membership = Membership.objects.select_related("user", "organization").get(
        pk=membership_id
    )

    def compose():
        user = membership.user
        if not user.is_active:
            return None
        notification_create(
            actor=system_actor(),
            organization_id=membership.organization_id,
            recipient=user,
            category=Notification.Category.WELCOME,
            message=f"Welcome to {membership.organization.name}.",
        )
        return email_message(
            template="work/emails/welcome",
            subject=f"Welcome to {membership.organization.name}",
            to=[user.email],
            context={"membership": membership, "user": user},
        )

    return email_send_once(
        job=WELCOME_JOB,
        key=f"welcome:{membership_id}",
        target=membership,
        attempt=attempt,
        retry_kwargs={"membership_id": membership_id},
        compose=compose,
    )
