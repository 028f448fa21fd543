from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from backoffice import pgtools


class Command(BaseCommand):
    help = (
        "Dump the configured database (pg_dump, custom format) into "
        "backups/<timestamp>.dump and print the file's path."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output-dir",
            type=Path,
            default=settings.BASE_DIR / "backups",
            help="Where to write the dump (default: backups/ in the project).",
        )

    def handle(self, *args, output_dir: Path, **options):
        output_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = output_dir / f"{stamp}.dump"
        # Written under a temporary name: a failed dump never looks like a backup.
        partial = target.with_suffix(".dump.partial")
        try:
            pgtools.run(
                "pg_dump",
                ["--format=custom", "--no-owner", f"--file={partial}"],
                connection.settings_dict,
            )
            partial.rename(target)
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(str(target.resolve()))
