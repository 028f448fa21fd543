"""Expire ended subscriptions and move their organizations to the free tier."""

from django.core.management.base import BaseCommand, CommandError

from tenants.job_support import JobLocked
from tenants.jobs import JobIncomplete, sync_expired_subscriptions


def positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Expire the live subscriptions whose period ended in the last --since-hours, "
        "move their organizations to the free tier and email their owners and "
        "admins. One transaction per batch; never two runs at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Show what would change; change nothing.",
        )
        parser.add_argument("--since-hours", type=positive_int, default=24)
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=100,
            help="Organizations per transaction.",
        )

    def handle(self, *args, dry_run, since_hours, batch_size, **options):
        try:
            summary = sync_expired_subscriptions(
                since_hours=since_hours,
                batch_size=batch_size,
                dry_run=dry_run,
                progress=self.stdout.write,
            )
        except (JobLocked, JobIncomplete) as error:
            raise CommandError(str(error)) from error
        prefix = "Dry run: would expire" if dry_run else "Expired"
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix} {summary['subscriptions']} subscriptions of "
                f"{summary['organizations']} organizations "
                f"({summary['moved_to_free']} moved to the free tier)."
            )
        )
