"""django-q2 task functions of audit: the history retention and the expiry of
unconfirmed import previews. Thin wrappers over services; every run writes a
`job_run` audit event by the system actor."""

from audit.imports import import_previews_expire
from audit.services.retention import history_retention_apply
from tenants.job_support import advisory_lock
from tenants.services import job_run_record

RETENTION_JOB = "audit.jobs.apply_history_retention"


def apply_history_retention(*, batch_size: int = 5000) -> dict:
    """Delete the history rows older than their model's retention, in batches of
    `batch_size` rows, one transaction each. One run at a time (advisory lock)."""
    with advisory_lock(RETENTION_JOB):
        summary = history_retention_apply(batch_size=batch_size)
    job_run_record(job=RETENTION_JOB, summary={"models": summary})
    return summary


def expire_import_previews() -> dict:
    """Drop the stored files of import previews left unconfirmed for a day."""
    summary = {"expired": import_previews_expire()}
    job_run_record(job="audit.jobs.expire_import_previews", summary=summary)
    return summary
