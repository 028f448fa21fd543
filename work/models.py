from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import (
    MaxLengthValidator,
    MinLengthValidator,
    RegexValidator,
)
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length, Upper
from django.utils import timezone
from django.utils.html import strip_tags

from audit.history import AuditedHistoricalRecords
from tenants.models import (
    ORGANIZATION_ARRAY,
    OrganizationTrigrams,
    SoftDeleteManager,
    SoftDeleteMixin,
    SoftDeleteQuerySet,
    TenantMixin,
    TimestampMixin,
    VersionedMixin,
)

models.CharField.register_lookup(Length)

# Rows not in the trash: what every list but the trash shows.
LIVE = Q(deleted_at__isnull=True)


class ProjectQuerySet(SoftDeleteQuerySet):
    def active(self):
        return self.filter(status=Project.Status.ACTIVE)


class Project(TimestampMixin, SoftDeleteMixin, TenantMixin, models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    # The organization leads the unique key and the indexes (Meta): no index of
    # its own, which PostgreSQL preferred for an organization's newest projects
    # and then sorted them all (13k rows of the largest) instead of reading
    # (organization, -id) in order.
    organization = models.ForeignKey(
        "tenants.Organization",
        on_delete=models.CASCADE,
        related_name="projects",
        db_index=False,
    )
    name = models.CharField(max_length=200)
    key = models.CharField(
        max_length=10,
        validators=[
            RegexValidator(
                r"^[A-Z][A-Z0-9]{1,9}$", "2-10 capitals or digits, e.g. WEB."
            )
        ],
        help_text="Short code used in task references, unique per organization.",
    )
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_projects",
    )
    history = AuditedHistoricalRecords()

    objects = SoftDeleteManager.from_queryset(ProjectQuerySet)()
    all_objects = models.Manager.from_queryset(ProjectQuerySet)()

    class Meta:
        ordering = ["organization_id", "key"]
        permissions = [
            ("import_project", "Can import projects"),
            ("export_project", "Can export projects"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="project_unique_key_per_org"
            )
        ]
        indexes = [
            models.Index(
                fields=["organization", "status"], name="project_org_status_idx"
            ),
            # An organization's newest projects first (a support agent's
            # autocomplete, read organization by organization).
            models.Index(fields=["organization", "-id"], name="project_org_id_idx"),
            GinIndex(
                fields=["name"], name="project_name_trgm", opclasses=["gin_trgm_ops"]
            ),
            # The admin's exact search on the key compares UPPER(key).
            models.Index(Upper("key"), name="project_key_upper_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} – {self.name}"


class Tag(TimestampMixin, TenantMixin, models.Model):
    name = models.CharField(max_length=50)
    color = models.CharField(max_length=16, default="primary")
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["organization_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="tag_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TaskQuerySet(SoftDeleteQuerySet):
    def open(self):
        return self.exclude(status__in=[Task.Status.DONE, Task.Status.CANCELLED])

    def overdue(self, today=None):
        """Open tasks whose due date has passed."""
        return self.open().filter(due_date__lt=today or timezone.localdate())

    def assigned_to(self, user):
        return self.filter(assignee=user)


class Task(TimestampMixin, VersionedMixin, SoftDeleteMixin, TenantMixin, models.Model):
    class Status(models.TextChoices):
        TODO = "TODO", "To do"
        IN_PROGRESS = "IN_PROGRESS", "In progress"
        DONE = "DONE", "Done"
        CANCELLED = "CANCELLED", "Cancelled"

    class Priority(models.IntegerChoices):
        """The value is the sort weight: higher is more urgent."""

        LOW = 10, "Low"
        MEDIUM = 20, "Medium"
        HIGH = 30, "High"
        URGENT = 40, "Urgent"

    # The organization and the assignee lead composite indexes (Meta.indexes): no
    # index of their own, which every new task would also have to be written to.
    organization = models.ForeignKey(
        "tenants.Organization",
        on_delete=models.CASCADE,
        related_name="tasks",
        db_index=False,
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=255, validators=[MinLengthValidator(3)])
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.TODO
    )
    priority = models.PositiveSmallIntegerField(
        choices=Priority.choices, default=Priority.MEDIUM
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tasks",
        db_index=False,
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reported_tasks",
    )
    due_date = models.DateField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="tasks")
    history = AuditedHistoricalRecords(m2m_fields=[tags])

    objects = SoftDeleteManager.from_queryset(TaskQuerySet)()
    all_objects = models.Manager.from_queryset(TaskQuerySet)()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("import_task", "Can import tasks"),
            ("export_task", "Can export tasks"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(title__length__gte=3),
                name="task_title_min_length",
                violation_error_message="The title needs at least 3 characters.",
            ),
            models.CheckConstraint(
                condition=Q(priority__in=[10, 20, 30, 40]), name="task_priority_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization", "status", "due_date"],
                name="task_org_status_due_idx",
            ),
            models.Index(
                fields=["assignee", "status"], name="task_assignee_status_idx"
            ),
            # The orderings the task list offers, over live rows, each carrying the
            # organization: a support agent's list walks the index and filters on
            # it without reading the table (index-only), whatever its orgs' sizes.
            # A sorted column ties by id in its own direction (admin_theme's
            # IndexedOrderingChangeList): each index serves both directions.
            models.Index(
                fields=["-due_date", "-id"],
                include=["organization"],
                condition=LIVE,
                name="task_due_desc_live_idx",
            ),
            models.Index(
                fields=["-priority", "-id"],
                include=["organization"],
                condition=LIVE,
                name="task_priority_live_idx",
            ),
            models.Index(
                fields=["-created_at", "-id"],
                include=["organization"],
                condition=LIVE,
                name="task_created_live_idx",
            ),
            # Lists of one organization (support agents, the tenant switcher), by
            # creation and by due date: read organization by organization.
            models.Index(
                fields=["organization", "-created_at", "-id"],
                condition=LIVE,
                name="task_org_created_live_idx",
            ),
            models.Index(
                fields=["organization", "-due_date", "-id"],
                condition=LIVE,
                name="task_org_due_live_idx",
            ),
            # The trash (deleted rows, newest first).
            models.Index(
                fields=["-deleted_at"],
                condition=Q(deleted_at__isnull=False),
                name="task_trash_idx",
            ),
            # Title trigrams behind the task's organization as a one-element
            # array: a search of the whole table reads the title keys alone; a
            # support agent's search (`ARRAY[organization_id] && <their
            # organizations>`, selectors.overlapping) reads both in one
            # bitmap of their matches.
            GinIndex(
                ORGANIZATION_ARRAY,
                OpClass(F("title"), name="gin_trgm_ops"),
                name="task_org_title_trgm",
            ),
            # Title trigrams keyed by organization: a search scoped to some
            # organizations reads their postings alone (admin_theme.search).
            GinIndex(OrganizationTrigrams("title"), name="task_title_org_keys"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}" if self.pk else self.title

    def clean(self):
        super().clean()
        if self.project_id and self.organization_id:
            self.check_same_organization(project=self.project)


class Comment(TimestampMixin, SoftDeleteMixin, TenantMixin, models.Model):
    MAX_LENGTH = 5000

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="comments",
    )
    content = models.TextField(validators=[MaxLengthValidator(MAX_LENGTH)])
    is_edited = models.BooleanField(default=False)
    edit_history = models.JSONField(default=list, blank=True, editable=False)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["task", "created_at"], name="comment_task_idx")]

    def __str__(self) -> str:
        text = self.content if len(self.content) <= 60 else self.content[:57] + "…"
        return f"Comment on #{self.task_id}: {text}"

    def clean(self):
        self.content = strip_tags(self.content or "").strip()
        super().clean()
        if self.task_id and self.organization_id:
            self.check_same_organization(task=self.task)


class Notification(TimestampMixin, TenantMixin, models.Model):
    class Category(models.TextChoices):
        TASK_DONE = "task_done", "Task done"
        TASK_ASSIGNED = "task_assigned", "Task assigned"
        WELCOME = "welcome", "Welcome"
        OVERDUE = "overdue", "Overdue reminder"
        DIGEST = "digest", "Weekly digest"
        SYSTEM = "system", "System"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    category = models.CharField(max_length=32, choices=Category.choices)
    message = models.CharField(max_length=500)
    read_at = models.DateTimeField(null=True, blank=True)
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["recipient", "read_at"], name="notif_recipient_read_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.message[:40]}"
