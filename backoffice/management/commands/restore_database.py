from pathlib import Path

import environ
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from backoffice import pgtools

# Relations (tables, views, sequences...) outside PostgreSQL's own schemas.
USER_RELATIONS = """
    SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'
"""


class Command(BaseCommand):
    help = (
        "Restore a backup_database dump into an empty database: the configured "
        "one, or --target-database-url. Refuses a database that has tables."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="A .dump from backup_database.")
        parser.add_argument(
            "--target-database-url",
            default="",
            help="postgres://... of the (empty) database to restore into; "
            "default: the configured database.",
        )

    def handle(self, *args, file: Path, target_database_url: str, **options):
        if not file.is_file():
            raise CommandError(f"No such backup file: {file}")
        if target_database_url:
            target = environ.Env.db_url_config(target_database_url)
        else:
            target = connection.settings_dict
        name = target["NAME"]
        try:
            with pgtools.connect(target) as conn:
                relations = conn.execute(USER_RELATIONS).fetchone()[0]
        except Exception as exc:
            raise CommandError(
                f"Cannot connect to database {name!r} (create it first, empty): {exc}"
            ) from exc
        if relations:
            raise CommandError(
                f"Refusing to restore: database {name!r} is not empty "
                f"({relations} tables, sequences or other relations). Restore "
                "into a new, empty database (createdb) and point the application "
                "at it, or drop and recreate this one yourself."
            )
        # One transaction: a failed restore leaves the database empty again.
        pgtools.run(
            "pg_restore",
            [
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                f"--dbname={name}",
                str(file),
            ],
            target,
        )
        self.stdout.write(f"Restored {file} into database {name!r}.")
