"""Create the job schedules that are missing; run by `make run` and on release.

Idempotent: a schedule is found by its name, and one that exists is left as it
is, so a platform admin's change in the admin survives the next deploy.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand
from django_q.models import Schedule


@dataclass(frozen=True)
class JobSchedule:
    name: str
    func: str
    cron: str  # UTC, as the cluster runs in settings.TIME_ZONE = "UTC"
    kwargs: dict = field(default_factory=dict)


# Every schedule of the project. The history-retention issue adds its job here.
SCHEDULES = [
    JobSchedule(
        name="Sync expired subscriptions",
        func="tenants.jobs.sync_expired_subscriptions",
        cron="0 1 * * *",
        # Two days of window for a daily run: one missed run loses nothing.
        kwargs={"since_hours": 48},
    ),
    JobSchedule(
        name="Clean up soft-deleted records",
        func="work.jobs.cleanup_soft_deleted_records",
        cron="0 2 * * *",
    ),
    JobSchedule(
        name="Remind overdue tasks",
        func="work.jobs.remind_overdue_tasks",
        cron="0 7 * * *",
    ),
    JobSchedule(
        name="Weekly digest",
        func="work.jobs.generate_weekly_digest",
        cron="0 8 * * 1",
    ),
    JobSchedule(
        name="History retention",
        func="audit.jobs.apply_history_retention",
        # Daily, at the quietest hour: batches of 5,000 rows keep each lock short.
        cron="0 3 * * *",
    ),
    JobSchedule(
        name="Expire unconfirmed import previews",
        func="audit.jobs.expire_import_previews",
        # Hourly: a preview's stored file lives at most a day and an hour.
        cron="17 * * * *",
    ),
    JobSchedule(
        name="Refresh dashboard figures",
        func="admin_theme.jobs.refresh_dashboard_stats",
        # Every 5 minutes: the dashboard and the sidebar badge read these figures.
        cron="*/5 * * * *",
    ),
]


class Command(BaseCommand):
    help = "Create the job schedules that are missing (existing ones are kept)."

    def handle(self, *args, **options):
        for job in SCHEDULES:
            if job.func not in settings.JOB_FUNCTIONS_ALLOWED:
                raise ImproperlyConfigured(
                    f"register_schedules: {job.func} is missing from "
                    "settings.JOB_FUNCTIONS_ALLOWED."
                )
            _, created = Schedule.objects.get_or_create(
                name=job.name,
                defaults={
                    "func": job.func,
                    "kwargs": repr(job.kwargs) if job.kwargs else None,
                    "schedule_type": Schedule.CRON,
                    "cron": job.cron,
                },
            )
            state = "created" if created else "exists, kept"
            self.stdout.write(f"{job.name} ({job.func}, {job.cron}): {state}")
