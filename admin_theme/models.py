from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models

from audit.history import AuditedHistoricalRecords
from tenants.models import TimestampMixin


class SavedView(TimestampMixin, models.Model):
    """A named changelist query (filters, search, order) a staff user can reopen
    from the sidebar; shared with a role when `shared_with` is set.

    Saved views belong to staff, not to a tenant: they carry no organization, and
    the changelist they open is scoped like any other.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=80)
    model = models.CharField(max_length=100, help_text="app_label.model_name")
    query = models.CharField(max_length=2000, blank=True)
    shared_with = models.ForeignKey(
        Group,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Everyone in this role sees the view in their sidebar.",
    )
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["model", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "model", "name"], name="saved_view_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model})"


class OrganizationStats(models.Model):
    """Task figures of one organization, precomputed for the dashboard and badges.

    Counting overdue tasks or a month of activity over millions of rows on every
    page view is too slow, so a job refreshes these rows every few minutes and the
    dashboard sums the rows the user may see. A derived cache, not business data:
    it has no history, and can be rebuilt at any time.
    """

    organization = models.OneToOneField(
        "tenants.Organization",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="stats",
    )
    computed_at = models.DateTimeField()
    open_tasks = models.PositiveIntegerField(default=0)
    overdue_tasks = models.PositiveIntegerField(default=0)
    created_by_day = models.JSONField(default=dict, help_text="{date: count}, 30 days")
    completed_by_day = models.JSONField(default=dict, help_text="{date: count}")

    class Meta:
        verbose_name_plural = "organization stats"
        indexes = [models.Index(fields=["-overdue_tasks"], name="orgstats_overdue_idx")]

    def __str__(self) -> str:
        return f"Stats of organization {self.organization_id} at {self.computed_at}"
