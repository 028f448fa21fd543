"""Reads of import jobs: each user sees their own, platform admins every one."""

from django.db.models import QuerySet

from audit.models import ImportJob


def import_jobs_visible_to(user) -> QuerySet[ImportJob]:
    jobs = ImportJob.objects.all()
    return jobs if user.is_superuser else jobs.filter(user=user)


def import_job_get(*, user, job_id: int, model_label: str) -> ImportJob:
    """One job of `model_label`; someone else's job is missing (DoesNotExist)."""
    return import_jobs_visible_to(user).get(pk=job_id, model=model_label)
