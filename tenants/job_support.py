"""Machinery the jobs of every app share (the jobs themselves live in `jobs.py`).

- `advisory_lock`: a PostgreSQL session advisory lock, held on a connection of its
  own, so two runs of a job on two machines never overlap.
- `email_send_once`: an email sent at most once per key, with exponential backoff.
- `job_run_again`: a failed run queued again (the "run again" admin action).

Retries. With `ack_failures`, the cluster does not run a failed task again; its
`retry` only re-delivers a task whose worker died. Jobs that touch the outside
(email) therefore retry themselves: a failed send schedules a one-off django-q2
Schedule (`ONCE`) of the same job with `attempt + 1` after 2**attempt minutes
(1, 2, 4, 8), and the last attempt raises, so the run is kept as a failure that a
platform admin can run again. No worker sleeps while it waits.

Sending twice. The send and its `job_run` audit event (status "sent") commit
together under a transaction-scoped advisory lock on the key, and the job first
looks for that event: a re-delivered, retried or re-queued job finds it and sends
nothing. Only a crash between the SMTP hand-off and that commit can repeat an email.
"""

import datetime as dt
import smtplib
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django_q.models import Failure, Schedule
from django_q.tasks import async_task

from audit.models import AuditEvent
from audit.selectors import job_email_sent
from audit.services import audit_event_record
from tenants.services import job_run_record

EMAIL_MAX_ATTEMPTS = 5
EMAIL_ERRORS = (smtplib.SMTPException, OSError)


class JobLocked(Exception):
    """Another run of the job holds its lock."""


def advisory_lock_key(name: str) -> int:
    """The advisory lock number of a job: stable across processes and machines."""
    return zlib.crc32(name.encode())


@contextmanager
def advisory_lock(name: str) -> Iterator[None]:
    """Hold the session advisory lock of `name` for the block, or raise JobLocked.

    The lock lives on a dedicated connection: the batches commit and roll back on
    the default one without touching it, and it goes when the process does.
    """
    key = advisory_lock_key(name)
    lock_connection = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with lock_connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if not cursor.fetchone()[0]:
                raise JobLocked(
                    f"Another run of {name} holds its lock (PostgreSQL advisory "
                    f"lock {key}); this run stops without changing anything."
                )
        try:
            yield
        finally:
            with lock_connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    finally:
        lock_connection.close()


def email_message(
    *, template: str, subject: str, to: list[str], context: dict
) -> EmailMultiAlternatives:
    """A text email with an HTML alternative, from `<template>.txt` and `.html`."""
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )
    message.attach_alternative(
        render_to_string(f"{template}.html", context), "text/html"
    )
    return message


def email_send_once(
    *,
    job: str,
    key: str,
    target: models.Model,
    attempt: int,
    retry_kwargs: dict,
    compose: Callable[[], EmailMultiAlternatives | None],
    details: dict | None = None,
) -> dict:
    """Send the email `compose()` builds unless `job` already sent `key`.

    `compose` runs inside the transaction, so what it writes (a notification) is
    kept only with the send; it returns None when there is nothing to send. On a
    send error the job is scheduled again with `attempt + 1` (see the module
    docstring); `retry_kwargs` are its other keyword arguments. Every run writes
    a `job_run` audit event about `target`; returns its summary.
    """
    summary = {"key": key, "attempt": attempt, **(details or {})}
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])
            if job_email_sent(target=target, job=job, key=key):
                summary["status"] = "already sent"
            elif (message := compose()) is None:
                summary["status"] = "nothing to send"
            else:
                message.send()
                summary.update(status="sent", to=message.to)
            job_run_record(job=job, target=target, summary=summary)
            return summary
    except EMAIL_ERRORS as error:
        summary["error"] = f"{type(error).__name__}: {error}"
        if attempt + 1 >= EMAIL_MAX_ATTEMPTS:
            job_run_record(
                job=job, target=target, summary={**summary, "status": "failed"}
            )
            raise
        retry_at = timezone.now() + dt.timedelta(minutes=2**attempt)
        Schedule.objects.create(
            name=f"Retry #{attempt + 1} of {key}"[:100],
            func=job,
            kwargs=repr({**retry_kwargs, "attempt": attempt + 1}),
            schedule_type=Schedule.ONCE,
            next_run=retry_at,
        )
        summary.update(status="retry scheduled", retry_at=retry_at.isoformat())
        job_run_record(job=job, target=target, summary=summary)
        return summary


@transaction.atomic
def job_run_again(*, actor, failure: Failure) -> str:
    """Queue a failed run again with its function and arguments; returns the task id.

    The failure stays listed; the new run gets a task of its own.
    """
    task_id = async_task(
        failure.func,
        *(failure.args or ()),
        hook=failure.hook,
        group=failure.group,
        **(failure.kwargs or {}),
    )
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.JOB_RUN,
        target=failure,
        changes={"job": failure.func, "run_again_of": failure.pk, "task": task_id},
    )
    return task_id
