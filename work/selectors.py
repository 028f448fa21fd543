"""Reads of projects and tasks for the jobs: weekly figures, overdue work."""

import datetime as dt

from django.db.models import Count, Q, QuerySet

from tenants.models import Organization, User
from work.models import Task


def task_week_stats(
    *, organization: Organization, start: dt.datetime, end: dt.datetime
) -> dict[str, int]:
    """Tasks of `organization` created and completed in [start, end), and those
    overdue and open at `end`, in one query."""
    open_ = ~Q(status__in=[Task.Status.DONE, Task.Status.CANCELLED])
    return Task.objects.filter(organization=organization).aggregate(
        created=Count("pk", filter=Q(created_at__gte=start, created_at__lt=end)),
        completed=Count(
            "pk",
            filter=Q(
                status=Task.Status.DONE, completed_at__gte=start, completed_at__lt=end
            ),
        ),
        overdue=Count("pk", filter=open_ & Q(due_date__lt=end.date())),
        open=Count("pk", filter=open_),
    )


def overdue_tasks(*, today: dt.date) -> QuerySet[Task]:
    """Open tasks past their due date, outside the trash and in live organizations."""
    return Task.objects.overdue(today=today).filter(
        project__deleted_at__isnull=True, organization__deleted_at__isnull=True
    )


def overdue_assignee_ids(*, today: dt.date) -> QuerySet:
    """Ids of the active users with at least one overdue task, in order."""
    return (
        overdue_tasks(today=today)
        .filter(assignee__is_active=True)
        .order_by("assignee_id")
        .values_list("assignee_id", flat=True)
        .distinct()
    )


def overdue_tasks_of(*, user: User, today: dt.date) -> QuerySet[Task]:
    """`user`'s overdue tasks, oldest due date first."""
    return (
        overdue_tasks(today=today)
        .filter(assignee=user)
        .select_related("project", "organization")
        .order_by("due_date", "id")
    )
