"""Reads of audit events."""

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet

from audit.models import AuditEvent


def job_runs_about(*, target: models.Model, job: str) -> QuerySet[AuditEvent]:
    """The `job_run` events of `job` that name `target` (served by the target index)."""
    return AuditEvent.objects.filter(
        target_content_type=ContentType.objects.get_for_model(target),
        target_object_id=str(target.pk),
        action=AuditEvent.Action.JOB_RUN,
        changed_fields__job=job,
    )


def job_email_sent(*, target: models.Model, job: str, key: str) -> bool:
    """Whether `job` already sent the email `key` about `target`."""
    return (
        job_runs_about(target=target, job=job)
        .filter(changed_fields__key=key, changed_fields__status="sent")
        .exists()
    )
