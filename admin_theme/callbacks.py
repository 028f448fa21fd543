"""Unfold callbacks (dotted paths in settings.UNFOLD)."""

from django.conf import settings

from admin_theme.dashboard import dashboard_figures, overdue_task_badge
from admin_theme.reversing import cached_reverse
from admin_theme.saved_views import sidebar_group

ENVIRONMENT_COLORS = {
    "prod": "danger",
    "staging": "warning",
    "dev": "info",
    "test": "info",
}


def environment(request):
    """The label and colour of the environment badge in the header."""
    name = settings.ENVIRONMENT
    return [name.upper(), ENVIRONMENT_COLORS.get(name, "info")]


def dashboard(request, context):
    """Figures for the admin index, scoped to the user (see admin_theme.dashboard)."""
    context["dashboard"] = dashboard_figures(request.user)
    return context


def overdue_tasks_badge(request):
    return overdue_task_badge(request.user)


def _item(title, icon, app_model):
    app_label, model = app_model.split(".")
    return {
        "title": title,
        "icon": icon,
        "link": cached_reverse(f"admin:{app_label}_{model}_changelist"),
        "permission": lambda request: request.user.has_perm(
            f"{app_label}.view_{model}"
        ),
    }


def navigation(request):
    """Sidebar groups; each item shows only to users who may view its model.
    The user's saved views (own and shared with their roles) come first."""
    saved = sidebar_group(request) if request.user.is_authenticated else None
    return ([saved] if saved else []) + [
        {
            "title": "Tenants",
            "separator": True,
            "items": [
                _item("Organizations", "apartment", "tenants.organization"),
                _item("Users", "person", "tenants.user"),
                _item("Memberships", "group", "tenants.membership"),
            ],
        },
        {
            "title": "Work",
            "separator": True,
            "items": [
                _item("Projects", "folder", "work.project"),
                {
                    **_item("Tasks", "task_alt", "work.task"),
                    "badge": "admin_theme.callbacks.overdue_tasks_badge",
                },
                _item("Comments", "chat", "work.comment"),
                _item("Tags", "sell", "work.tag"),
                _item("Notifications", "notifications", "work.notification"),
            ],
        },
        {
            "title": "Billing",
            "separator": True,
            "items": [
                _item("Plans", "sell", "tenants.plan"),
                _item("Subscriptions", "autorenew", "tenants.subscription"),
                _item("Invoices", "receipt_long", "tenants.invoice"),
            ],
        },
        {
            "title": "Audit & jobs",
            "separator": True,
            "items": [
                _item("Audit events", "policy", "audit.auditevent"),
                _item("Schedules", "schedule", "django_q.schedule"),
                _item("Failed jobs", "error", "django_q.failure"),
                _item("Successful jobs", "check_circle", "django_q.success"),
            ],
        },
    ]


PALETTE_MODELS = [
    ("work", "task", "task_alt"),
    ("work", "project", "folder"),
    ("tenants", "organization", "apartment"),
    ("tenants", "user", "person"),
]
PALETTE_LIMIT = 8


def command_search(request, search_term):
    """The command palette's records: each model searched through its admin (so
    scoped to the user, pin included) and capped at a few hits per model."""
    from django.contrib import admin
    from django.urls import reverse
    from unfold.dataclasses import SearchResult

    results = []
    for app_label, model_name, icon in PALETTE_MODELS:
        model_admin = next(
            (
                model_admin
                for model, model_admin in admin.site._registry.items()
                if (model._meta.app_label, model._meta.model_name)
                == (app_label, model_name)
            ),
            None,
        )
        if model_admin is None or not model_admin.has_view_permission(request):
            continue
        queryset, _ = model_admin.get_search_results(
            request, model_admin.get_queryset(request), search_term
        )
        for obj in queryset[:PALETTE_LIMIT]:
            results.append(
                SearchResult(
                    title=str(obj),
                    description=obj._meta.verbose_name.capitalize(),
                    link=reverse(
                        f"admin:{app_label}_{model_name}_change", args=[obj.pk]
                    ),
                    icon=icon,
                )
            )
    return results
