"""The figures of the admin index, each scoped to what the user may see.

Every query starts from `tenants.selectors.scope_to_user`, so a support agent's
dashboard counts only their organizations, and a pinned admin only the pinned one.
Cards a role may not see (billing for support agents, tasks for finance) are left
out rather than shown empty. Figures are cached per user and scope for a minute.
"""

import datetime as dt
import json
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from tenants.models import Invoice, Organization, Subscription
from tenants.selectors import scope_to_user
from work.models import Task

CACHE_SECONDS = 60
BILLED_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.PAST_DUE)


def _list_url(app_model: str, **filters) -> str:
    """A changelist URL with its filters in the query string."""
    app_label, model = app_model.split(".")
    url = reverse(f"admin:{app_label}_{model}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def _cache_key(user) -> str:
    pinned = getattr(user, "pinned_organization_id", None) or "all"
    return f"dashboard:{user.pk}:{pinned}"


def dashboard_figures(user) -> dict:
    """All the dashboard's figures for `user` (cached for a minute)."""
    key = _cache_key(user)
    figures = cache.get(key)
    if figures is None:
        figures = _compute(user)
        cache.set(key, figures, CACHE_SECONDS)
    return figures


def _compute(user) -> dict:
    today = timezone.localdate()
    figures: dict = {"kpis": []}
    if user.has_perm("tenants.view_organization"):
        organizations = scope_to_user(Organization.objects.all(), user)
        figures["kpis"].append(
            {
                "title": "Active organizations",
                "value": organizations.filter(
                    status=Organization.Status.ACTIVE
                ).count(),
                "icon": "apartment",
                "href": _list_url("tenants.organization", status__exact="active"),
            }
        )
    if user.has_perm("tenants.view_subscription"):
        figures["mrr"] = _mrr(user)
    if user.has_perm("tenants.view_invoice"):
        figures["kpis"].extend(_invoices(user, today))
    if user.has_perm("work.view_task"):
        tasks = scope_to_user(Task.objects.all(), user)
        figures["kpis"].append(
            {
                "title": "Overdue tasks",
                "value": tasks.overdue(today).count(),
                "icon": "schedule",
                "href": _list_url(
                    "work.task",
                    due_date__lt=today.isoformat(),
                    status__in="TODO,IN_PROGRESS",
                ),
            }
        )
        figures["overdue_by_organization"] = _overdue_by_organization(tasks, today)
        figures["activity"] = _activity(tasks, today)
    if user.is_superuser or user.has_perm("django_q.view_schedule"):
        from django_q.models import Failure

        since = timezone.now() - dt.timedelta(hours=24)
        figures["kpis"].append(
            {
                "title": "Failed jobs (24 h)",
                "value": Failure.objects.filter(stopped__gte=since).count(),
                "icon": "error",
                "href": _list_url("django_q.failure"),
            }
        )
    return figures


def _mrr(user) -> list[dict]:
    rows = (
        scope_to_user(Subscription.objects.all(), user)
        .filter(status__in=BILLED_STATUSES, current_period_end__gt=timezone.now())
        .values("plan__name", "plan__currency")
        .annotate(total=Sum("plan__monthly_price"), subscriptions=Count("pk"))
        .order_by("-total")
    )
    return [
        {
            "plan": row["plan__name"],
            "currency": row["plan__currency"],
            "total": row["total"] or Decimal("0"),
            "subscriptions": row["subscriptions"],
        }
        for row in rows
    ]


def _invoices(user, today) -> list[dict]:
    invoices = scope_to_user(Invoice.objects.all(), user).filter(
        status=Invoice.Status.OPEN
    )
    totals = invoices.aggregate(
        open_count=Count("pk"),
        overdue_count=Count("pk", filter=Q(due_on__lt=today)),
    )
    return [
        {
            "title": "Open invoices",
            "value": totals["open_count"],
            "icon": "receipt_long",
            "href": _list_url("tenants.invoice", status__exact="open"),
        },
        {
            "title": "Overdue invoices",
            "value": totals["overdue_count"],
            "icon": "warning",
            "href": _list_url(
                "tenants.invoice", status__exact="open", due_on__lt=today.isoformat()
            ),
        },
    ]


def _overdue_by_organization(tasks, today) -> list[dict]:
    rows = (
        tasks.overdue(today)
        .values("organization_id", "organization__name")
        .annotate(overdue=Count("pk"))
        .order_by("-overdue")[:8]
    )
    return [
        {
            "organization": row["organization__name"],
            "overdue": row["overdue"],
            "href": _list_url(
                "work.task", organization__id__exact=row["organization_id"]
            ),
        }
        for row in rows
    ]


def _activity(tasks, today) -> str:
    """Tasks created vs completed per day over the last 30 days, as chart JSON."""
    start = today - dt.timedelta(days=29)
    since = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    created = dict(
        tasks.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    completed = dict(
        tasks.filter(completed_at__gte=since)
        .annotate(day=TruncDate("completed_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    days = [start + dt.timedelta(days=i) for i in range(30)]
    return json.dumps(
        {
            "labels": [day.strftime("%d %b") for day in days],
            "datasets": [
                {
                    "label": "Created",
                    "data": [created.get(day, 0) for day in days],
                    "backgroundColor": "var(--color-primary-600)",
                },
                {
                    "label": "Completed",
                    "data": [completed.get(day, 0) for day in days],
                    "backgroundColor": "var(--color-primary-300)",
                },
            ],
        }
    )


def overdue_task_badge(user) -> str:
    """The sidebar badge on Tasks: the user's overdue tasks, cached for a minute."""
    if not user.has_perm("work.view_task"):
        return ""
    key = f"badge:overdue:{_cache_key(user)}"
    value = cache.get(key)
    if value is None:
        value = scope_to_user(Task.objects.all(), user).overdue().count()
        cache.set(key, value, CACHE_SECONDS)
    return f"{value:,}" if value else ""
