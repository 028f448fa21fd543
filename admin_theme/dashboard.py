"""The figures of the admin index, each scoped to what the user may see.

Every query starts from `tenants.selectors.scope_to_user`, so a support agent's
dashboard counts only their organizations, and a pinned admin only the pinned one.
Task figures come from `OrganizationStats`, refreshed by a job every few minutes
(counting millions of tasks per page view is too slow); billing tables are small
and counted live.
Cards a role may not see (billing for support agents, tasks for finance) are left
out rather than shown empty. Figures are cached per user and scope for a minute.
"""

import datetime as dt
import json
from collections import Counter
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from admin_theme.models import OrganizationStats
from admin_theme.services import organization_stats_refresh
from tenants.models import Invoice, Organization, Subscription
from tenants.selectors import scope_to_user

CACHE_SECONDS = 60
# Organizations without precomputed figures are computed on the spot, a bounded
# number per page view; the refresh job covers the rest.
MAX_LIVE_REFRESH = 50
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
        stats = _stats(user)
        figures["kpis"].append(
            {
                "title": "Overdue tasks",
                "value": sum(row.overdue_tasks for row in stats),
                "icon": "schedule",
                "href": _list_url(
                    "work.task",
                    due_date__lt=today.isoformat(),
                    status__in="TODO,IN_PROGRESS",
                ),
            }
        )
        figures["overdue_by_organization"] = _overdue_by_organization(stats)
        figures["activity"] = _activity(stats, today)
        as_of = min((row.computed_at for row in stats), default=None)
        figures["stats_note"] = f"As of {as_of:%H:%M} UTC" if as_of else ""
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


def _stats(user) -> list[OrganizationStats]:
    """The precomputed figures of the organizations `user` may see; organizations
    that have none yet (new ones) are computed now."""
    visible = scope_to_user(Organization.objects.all(), user)
    missing = visible.filter(stats__isnull=True).values_list("pk", flat=True)
    missing_ids = list(missing[:MAX_LIVE_REFRESH])
    if missing_ids:
        organization_stats_refresh(organization_ids=missing_ids)
    return list(
        OrganizationStats.objects.filter(organization__in=visible).select_related(
            "organization"
        )
    )


def _overdue_by_organization(stats) -> list[dict]:
    top = sorted(
        (row for row in stats if row.overdue_tasks),
        key=lambda row: -row.overdue_tasks,
    )[:8]
    return [
        {
            "organization": row.organization.name,
            "overdue": row.overdue_tasks,
            "href": _list_url("work.task", organization__id__exact=row.organization_id),
        }
        for row in top
    ]


def _activity(stats, today) -> str:
    """Tasks created vs completed per day over the last 30 days, as chart JSON."""
    days = [today - dt.timedelta(days=29 - i) for i in range(30)]
    created = Counter()
    completed = Counter()
    for row in stats:
        created.update(row.created_by_day)
        completed.update(row.completed_by_day)
    return json.dumps(
        {
            "labels": [day.strftime("%d %b") for day in days],
            "datasets": [
                {
                    "label": "Created",
                    "data": [created.get(day.isoformat(), 0) for day in days],
                    "backgroundColor": "var(--color-primary-600)",
                },
                {
                    "label": "Completed",
                    "data": [completed.get(day.isoformat(), 0) for day in days],
                    "backgroundColor": "var(--color-primary-300)",
                },
            ],
        }
    )


def overdue_task_badge(user) -> str:
    """The sidebar badge on Tasks: overdue tasks the user may see (precomputed)."""
    if not user.has_perm("work.view_task"):
        return ""
    key = f"badge:overdue:{_cache_key(user)}"
    value = cache.get(key)
    if value is None:
        value = sum(row.overdue_tasks for row in _stats(user))
        cache.set(key, value, CACHE_SECONDS)
    return f"{value:,}" if value else ""
