import random
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from backoffice import demo


class Command(BaseCommand):
    help = (
        "Build the demo world (idempotent): organizations, members, billing, "
        "projects, tasks with history, and one login per role."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--tasks",
            type=int,
            default=3000,
            help="Top the task table up to this many rows (default 3000).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing but print the logins when demo data already exists.",
        )
        parser.add_argument("--seed", type=int, default=2026, help="Random seed.")

    def handle(self, *args, tasks, if_empty, seed, **options):
        if settings.ENVIRONMENT == "prod":
            raise CommandError("seed_demo refuses to run with production settings.")
        rng = random.Random(seed)
        if if_empty and demo.is_seeded():
            self.stdout.write("Demo data present; nothing to seed.")
        else:
            started = time.monotonic()
            demo.build_world(rng=rng)
            report = demo.seed_tasks(target=tasks, rng=rng, log=self.stdout.write)
            demo.seed_comments(rng=rng)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
                cursor.execute(
                    "SELECT pg_size_pretty(pg_database_size(current_database()))"
                )
                size = cursor.fetchone()[0]
            self.stdout.write(
                self.style.SUCCESS(
                    f"Seeded in {time.monotonic() - started:.1f}s: "
                    f"{report.created_tasks:,} new tasks, "
                    f"{report.total_tasks:,} in all; "
                    f"database size {size}."
                )
            )
        self.stdout.write(f"Demo logins (password for all: {demo.DEMO_PASSWORD}):")
        for email, _, role in demo.DEMO_LOGINS:
            self.stdout.write(f"  {role:<15} {email}")
