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
from decimal import Decimal

from django.core.cache import cache
from django.db import connections
from django.db.models import Count, Min, Q, QuerySet, Sum
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
        totals = stats.aggregate(overdue=Sum("overdue_tasks"), as_of=Min("computed_at"))
        figures["kpis"].append(
            {
                "title": "Overdue tasks",
                "value": totals["overdue"] or 0,
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
        as_of = totals["as_of"]
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


def _stats(user) -> QuerySet[OrganizationStats]:
    """The precomputed figures of the organizations `user` may see; organizations
    that have none yet (new ones) are computed now. Summed by PostgreSQL: reading
    the rows of a thousand organizations (their JSON included) was ~100 ms of
    Python per dashboard, and the sidebar badge read them again."""
    visible = scope_to_user(Organization.objects.all(), user)
    missing = visible.filter(stats__isnull=True).values_list("pk", flat=True)
    missing_ids = list(missing[:MAX_LIVE_REFRESH])
    if missing_ids:
        organization_stats_refresh(organization_ids=missing_ids)
    return OrganizationStats.objects.filter(organization__in=visible)


def _overdue_by_organization(stats) -> list[dict]:
    top = stats.filter(overdue_tasks__gt=0).order_by(
        "-overdue_tasks", "organization__name"
    )[:8]
    return [
        {
            "organization": row["organization__name"],
            "overdue": row["overdue_tasks"],
            "href": _list_url("work.task", organization__id__exact=row["organization"]),
        }
        for row in top.values("organization", "organization__name", "overdue_tasks")
    ]


def _activity(stats, today) -> str:
    """Tasks created vs completed per day over the last 30 days, as chart JSON;
    the organizations' {day: count} figures summed by PostgreSQL, one sum per day
    and kind, in one query."""
    days = [(today - dt.timedelta(days=29 - i)).isoformat() for i in range(30)]
    kinds = ("created_by_day", "completed_by_day")
    sql, params = stats.values(*kinds).query.sql_with_params()
    sums = ", ".join(f"SUM((s.{kind} ->> %s)::bigint)" for kind in kinds for _ in days)
    with connections[stats.db].cursor() as cursor:
        cursor.execute(
            f"SELECT {sums} FROM ({sql}) s({', '.join(kinds)})",
            [*days, *days, *params],
        )
        totals = [int(total or 0) for total in cursor.fetchone()]
    return json.dumps(
        {
            "labels": [dt.date.fromisoformat(day).strftime("%d %b") for day in days],
            "datasets": [
                {
                    "label": label,
                    "data": totals[n * len(days) : (n + 1) * len(days)],
                    "backgroundColor": color,
                }
                for n, (label, color) in enumerate(
                    (
                        ("Created", "var(--color-primary-600)"),
                        ("Completed", "var(--color-primary-300)"),
                    )
                )
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
        value = _stats(user).aggregate(total=Sum("overdue_tasks"))["total"] or 0
        cache.set(key, value, CACHE_SECONDS)
    return f"{value:,}" if value else ""
