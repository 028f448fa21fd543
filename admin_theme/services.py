"""Writes of the admin theme: the dashboard's precomputed organization figures."""

import datetime as dt

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from admin_theme.models import OrganizationStats
from tenants.models import Organization
from work.models import Task

ACTIVITY_DAYS = 30


def _by_organization(rows) -> dict[int, dict[str, int]]:
    result: dict[int, dict[str, int]] = {}
    for organization_id, day, count in rows:
        result.setdefault(organization_id, {})[day.isoformat()] = count
    return result


@transaction.atomic
def organization_stats_refresh(*, organization_ids=None) -> int:
    """Recompute the dashboard figures of some (default: every) organization with
    three grouped queries over the task table; returns how many rows were written."""
    now = timezone.now()
    today = timezone.localdate()
    since = now - dt.timedelta(days=ACTIVITY_DAYS)
    organizations = Organization.all_objects.all()
    tasks = Task.objects.all()
    if organization_ids is not None:
        organizations = organizations.filter(pk__in=organization_ids)
        tasks = tasks.filter(organization_id__in=organization_ids)
    open_statuses = [Task.Status.TODO, Task.Status.IN_PROGRESS]
    counts = {
        row["organization_id"]: row
        for row in tasks.filter(status__in=open_statuses)
        .values("organization_id")
        .annotate(open=Count("pk"), overdue=Count("pk", filter=Q(due_date__lt=today)))
    }
    created = _by_organization(
        tasks.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values_list("organization_id", "day")
        .annotate(n=Count("pk"))
    )
    completed = _by_organization(
        tasks.filter(completed_at__gte=since)
        .annotate(day=TruncDate("completed_at"))
        .values_list("organization_id", "day")
        .annotate(n=Count("pk"))
    )
    rows = [
        OrganizationStats(
            organization_id=organization_id,
            computed_at=now,
            open_tasks=counts.get(organization_id, {}).get("open", 0),
            overdue_tasks=counts.get(organization_id, {}).get("overdue", 0),
            created_by_day=created.get(organization_id, {}),
            completed_by_day=completed.get(organization_id, {}),
        )
        for organization_id in organizations.values_list("pk", flat=True)
    ]
    OrganizationStats.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["organization"],
        update_fields=[
            "computed_at",
            "open_tasks",
            "overdue_tasks",
            "created_by_day",
            "completed_by_day",
        ],
    )
    return len(rows)
