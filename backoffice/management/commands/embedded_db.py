from django.conf import settings
from django.core.management.base import BaseCommand

from backoffice.embedded_db import stop_embedded_database


class Command(BaseCommand):
    help = (
        "Manage the embedded PostgreSQL under .data/ (used when DATABASE_URL is unset)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["stop", "url"])

    def handle(self, *args, action, **options):
        if action == "url":
            self.stdout.write(str(settings.DATABASES["default"]))
            return
        stopped = stop_embedded_database(settings.DATA_DIR)
        self.stdout.write("Embedded PostgreSQL stopped." if stopped else "Not running.")
