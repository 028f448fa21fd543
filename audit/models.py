import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only.")


class AuditEvent(models.Model):
    """A business event history cannot record. Append-only, here and in the database.

    Actor and organization are kept without a database constraint and with a
    snapshot of their label, so the record outlives what it describes.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        SOFT_DELETE = "soft_delete", "Move to trash"
        RESTORE = "restore", "Restore"
        LOGIN = "login", "Login"
        LOGIN_FAILED = "login_failed", "Failed login"
        LOGOUT = "logout", "Logout"
        LOCKOUT = "lockout", "Lock-out"
        GRANT = "grant", "Permission granted"
        REVOKE = "revoke", "Permission revoked"
        BULK_ACTION = "bulk_action", "Bulk action"
        IMPORT = "import", "Import"
        EXPORT = "export", "Export"
        JOB_RUN = "job_run", "Job run"
        SUSPEND = "suspend", "Suspend"
        REACTIVATE = "reactivate", "Reactivate"
        REVERT = "revert", "Revert"

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_label = models.CharField(max_length=254, blank=True)
    action = models.CharField(max_length=32, choices=Action.choices)
    organization = models.ForeignKey(
        "tenants.Organization",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    target_content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    target_object_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("target_content_type", "target_object_id")
    target_repr = models.CharField(max_length=300, blank=True)
    changed_fields = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("revert_history", "Can revert history and undo operations"),
        ]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="audit_created_idx"),
            models.Index(fields=["organization", "-created_at"], name="audit_org_idx"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
            models.Index(
                fields=["target_content_type", "target_object_id"],
                name="audit_target_idx",
            ),
        ]

    def __str__(self) -> str:
        who = self.actor_label or "system"
        what = f" {self.target_repr}" if self.target_repr else ""
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {who}: {self.get_action_display()}{what}"
        )

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")


class ImportJob(models.Model):
    """One bulk import: the uploaded file (kept in the database until the import
    ends, so any web or job process can read it), its preview, progress and result.

    `operation_id` is the operation id of every history row the import wrote
    (`audit.history`), so the import can be found, and undone, as a whole.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PREVIEWED = "previewed", "Awaiting confirmation"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        EXPIRED = "expired", "Expired (not confirmed)"

    class Stage(models.TextChoices):
        PREVIEW = "preview", "Preview (dry run)"
        IMPORT = "import", "Import"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        JSON = "json", "JSON"

    operation_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration = models.DurationField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="import_jobs",
    )
    user_label = models.CharField(max_length=254, blank=True)
    model = models.CharField(max_length=100, help_text="app_label.model_name")
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    file_size = models.PositiveBigIntegerField(default=0)
    file_format = models.CharField(max_length=8, choices=Format.choices)
    # The file, zlib-compressed, until the import ends.
    payload = models.BinaryField(null=True, blank=True, editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    stage = models.CharField(
        max_length=16, choices=Stage.choices, default=Stage.PREVIEW
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    rows_new = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    rows_with_errors = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, editable=False)
    preview = models.JSONField(default=dict, blank=True, editable=False)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="importjob_user_idx"),
            models.Index(fields=["model", "-created_at"], name="importjob_model_idx"),
        ]

    def __str__(self) -> str:
        return f"Import of {self.file_name} ({self.get_status_display()})"
