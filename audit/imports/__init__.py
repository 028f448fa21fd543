"""Bulk imports as `ImportJob` records: upload, dry-run preview, confirm, import.

The uploaded file is kept in its ImportJob row, in PostgreSQL, until the import
ends: the web machine that shows the preview, the one that takes the confirmation
and the job worker that runs a large import need not be the same (the default
file storage is each machine's own disk, and a temporary file would be too).

Small files run in the request; above `IMPORT_ASYNC_THRESHOLD_ROWS` rows (default
5,000) each stage runs as a django-q2 task, writes its progress where the page can
poll it, and the user is told when the import ends.

Every history row an import writes carries the job's `operation_id` (see
`audit.history`), so the import can be found, and undone, as a whole.
"""

import datetime as dt
import hashlib
import logging
import math
import time
import zlib

from django.apps import apps
from django.conf import settings
from django.core.mail import send_mail
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone
from django_q.tasks import async_task
from psycopg import sql

from audit.history import history_operation, snapshot_links
from audit.imports.engine import Importer, ImportResult
from audit.imports.files import ImportFileError, open_table
from audit.models import AuditEvent, ImportJob
from audit.resources import ScopedModelResource, resource_for
from audit.services import audit_event_record, record_create

logger = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024


def async_threshold() -> int:
    """Files with more rows than this are imported by a job worker."""
    return settings.IMPORT_ASYNC_THRESHOLD_ROWS


def max_file_size() -> int:
    return settings.IMPORT_MAX_FILE_SIZE


def import_job_create(
    *,
    actor,
    resource_class: type[ScopedModelResource],
    file_name: str,
    payload: bytes,
    file_format: str,
) -> ImportJob:
    """Record an upload and check that the file can be read: its format, its
    header, every row. A file that cannot be imported gives a failed job whose
    message says why; otherwise the job waits for its preview to run."""
    job = ImportJob(
        user=actor,
        user_label=actor.email,
        model=resource_class.model_label(),
        file_name=file_name[:255],
        file_sha256=hashlib.sha256(payload).hexdigest(),
        file_size=len(payload),
        file_format=file_format,
        stage=ImportJob.Stage.PREVIEW,
    )
    try:
        if len(payload) > max_file_size():
            raise ImportFileError(
                f"The file is larger than {max_file_size() // MEGABYTE} MB; split it "
                "into smaller files."
            )
        table = open_table(payload, file_format)
        Importer(resource_class, user=actor, reason="", write=False).bind(table.headers)
        job.total_rows = sum(1 for _ in table.rows)
        if not job.total_rows:
            raise ImportFileError("The file has a header but no rows.")
    except ImportFileError as error:
        job.status = ImportJob.Status.FAILED
        job.message = str(error)
        job.finished_at = timezone.now()
    else:
        # Compressed: CSV shrinks several times, and so does the memory the
        # database driver needs to send and read it.
        job.payload = zlib.compress(payload, 1)
        job.status = ImportJob.Status.QUEUED
    job.save()
    return job


def import_job_start(*, job: ImportJob) -> None:
    """Run the job's stage in this process, or queue it for a worker when large."""
    if job.total_rows > async_threshold():
        async_task(
            "audit.imports.import_job_execute",
            job.pk,
            in_background=True,
            task_name=f"import-{job.operation_id}-{job.stage}",
        )
    else:
        import_job_execute(job.pk)


def import_job_confirm(*, actor, job: ImportJob) -> bool:
    """Start the import of a previewed job. False when the job was not awaiting
    confirmation (confirmed already, failed, or not `actor`'s)."""
    confirmed = ImportJob.objects.filter(
        pk=job.pk, user=actor, status=ImportJob.Status.PREVIEWED
    ).update(
        stage=ImportJob.Stage.IMPORT, status=ImportJob.Status.QUEUED, processed_rows=0
    )
    if not confirmed:
        return False
    job.refresh_from_db()
    import_job_start(job=job)
    return True


# A preview keeps its file (in the database) until it is confirmed; one left
# unconfirmed this long is expired and its file dropped.
PREVIEW_LIFETIME = dt.timedelta(hours=24)


def import_previews_expire(*, now=None) -> int:
    """Expire the previews nobody confirmed within `PREVIEW_LIFETIME`: their
    stored files are dropped and they can no longer be confirmed. Returns how many."""
    now = now or timezone.now()
    return ImportJob.objects.filter(
        status=ImportJob.Status.PREVIEWED, finished_at__lt=now - PREVIEW_LIFETIME
    ).update(
        status=ImportJob.Status.EXPIRED,
        payload=None,
        message="Not confirmed within 24 hours: upload the file again to import it.",
    )


def import_job_execute(job_id: int, in_background: bool = False) -> None:
    """Run the current stage of an import job; the django-q2 task of large files.

    Preview: validate every row and write nothing. Import: validate and write every
    row in one transaction, rolled back when any row is bad, so the database is
    left exactly as it was (history and audit included).
    """
    job = ImportJob.objects.select_related("user").get(pk=job_id)
    if job.status != ImportJob.Status.QUEUED:
        return  # a task delivered twice: the first delivery runs it
    started = timezone.now()
    job.status, job.started_at = ImportJob.Status.RUNNING, started
    job.processed_rows = 0
    job.save(update_fields=["status", "started_at", "processed_rows"])
    write = job.stage == ImportJob.Stage.IMPORT
    progress = _ProgressWriter(job.pk) if in_background else None
    result, message = None, ""
    try:
        with transaction.atomic(), history_operation(job.operation_id):
            importer = Importer(
                resource_for(apps.get_model(job.model)),
                user=job.user,
                reason=f"Import of {job.file_name}",
                write=write,
                progress=progress,
            )
            payload = zlib.decompress(job.payload)
            result = importer.run(open_table(payload, job.file_format))
            if result.error_rows:
                transaction.set_rollback(True)
            elif write:
                snapshot_links(importer.model, operation_id=job.operation_id)
                _audit(job, result)
    except ImportFileError as error:
        result, message = None, str(error)
    except Exception:
        logger.exception("Import job %s stopped", job.pk)
        result = None
        message = "The import stopped on an unexpected error; nothing was written."
    finally:
        if progress is not None:
            progress.close()
    _record_outcome(job, result, message, started)
    if in_background and write:
        _notify(job, result)


class _ProgressWriter:
    """Progress of a background import, on a database connection of its own: the
    import's transaction stays invisible to the page polling it until it ends.
    Written at most every `interval` seconds (the page polls every second): each
    write is a commit, a disk flush the import's own writes wait behind."""

    interval = 0.5

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
        self.statement = sql.SQL(
            "UPDATE {} SET processed_rows = %s WHERE id = %s"
        ).format(sql.Identifier(ImportJob._meta.db_table))
        self.written_at = -math.inf

    def __call__(self, processed: int) -> None:
        now = time.monotonic()
        if now - self.written_at < self.interval:
            return
        self.written_at = now
        with self.connection.cursor() as cursor:
            cursor.execute(self.statement, [processed, self.job_id])

    def close(self) -> None:
        self.connection.close()


def _record_outcome(
    job: ImportJob, result: ImportResult | None, message: str, started
) -> None:
    job.finished_at = timezone.now()
    job.duration = job.finished_at - started
    write = job.stage == ImportJob.Stage.IMPORT
    if result is None:
        job.status = ImportJob.Status.FAILED
    else:
        job.processed_rows = result.processed
        job.rows_new, job.rows_updated = result.new, result.updated
        job.rows_unchanged, job.rows_with_errors = result.unchanged, result.error_rows
        job.errors = result.errors
        job.preview = {"headers": result.headers, "rows": result.preview}
        if result.error_rows:
            job.status = ImportJob.Status.FAILED
            message = (
                f"{result.error_rows:,} row(s) have errors; nothing was imported. "
                "Correct them and upload the file again."
            )
        elif write:
            job.status = ImportJob.Status.SUCCEEDED
            message = (
                f"Imported {result.processed:,} rows: {result.new:,} new, "
                f"{result.updated:,} updated, {result.unchanged:,} unchanged."
            )
        else:
            job.status = ImportJob.Status.PREVIEWED
    job.message = message
    fields = [
        "finished_at",
        "duration",
        "status",
        "processed_rows",
        "rows_new",
        "rows_updated",
        "rows_unchanged",
        "rows_with_errors",
        "errors",
        "preview",
        "message",
    ]
    if job.status != ImportJob.Status.PREVIEWED:
        job.payload = None  # the file is not needed any more
        fields.append("payload")
    job.save(update_fields=fields)


def _audit(job: ImportJob, result: ImportResult) -> None:
    from tenants.models import Organization

    organization = None
    if len(result.organization_ids) == 1:
        (organization_id,) = result.organization_ids
        organization = Organization.all_objects.get(pk=organization_id)
    audit_event_record(
        actor=job.user,
        action=AuditEvent.Action.IMPORT,
        organization=organization,
        target=job,
        changes={
            "model": job.model,
            "file": job.file_name,
            "sha256": job.file_sha256,
            "format": job.file_format,
            "operation_id": str(job.operation_id),
            "rows": result.processed,
            "new": result.new,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "organizations": len(result.organization_ids),
        },
    )


def _notify(job: ImportJob, result: ImportResult | None) -> None:
    """Tell the user a background import ended: a Notification when it concerns one
    organization (a notification belongs to one), an email otherwise."""
    from tenants.services import system_actor
    from work.models import Notification

    if job.user is None:
        return
    organizations = result.organization_ids if result is not None else set()
    status = job.get_status_display().lower()
    text = f"Import of {job.file_name}: {status}. {job.message}"
    if len(organizations) == 1:
        (organization_id,) = organizations
        record_create(
            actor=system_actor(),
            instance=Notification(
                organization_id=organization_id,
                recipient=job.user,
                category=Notification.Category.SYSTEM,
                message=text[:500],
            ),
        )
    elif job.user.email:
        send_mail(
            subject=f"Import of {job.file_name} {status}",
            message=text,
            from_email=None,
            recipient_list=[job.user.email],
        )
