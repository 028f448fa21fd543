"""django-q2 task functions of the admin theme."""

from admin_theme.services import organization_stats_refresh
from tenants.services import job_run_record


def refresh_dashboard_stats() -> int:
    """Every few minutes: the dashboard's per-organization figures."""
    written = organization_stats_refresh()
    job_run_record(job="refresh_dashboard_stats", summary={"organizations": written})
    return written
