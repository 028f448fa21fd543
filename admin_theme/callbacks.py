"""Unfold callbacks (dotted paths in settings.UNFOLD)."""

from django.conf import settings
from django.urls import reverse_lazy

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
    """Figures for the admin index (filled in by the dashboard issue)."""
    return context


def _item(title, icon, app_model):
    app_label, model = app_model.split(".")
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(f"admin:{app_label}_{model}_changelist"),
        "permission": lambda request: request.user.has_perm(
            f"{app_label}.view_{model}"
        ),
    }


def navigation(request):
    """Sidebar groups; each item shows only to users who may view its model."""
    return [
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
                _item("Tasks", "task_alt", "work.task"),
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
