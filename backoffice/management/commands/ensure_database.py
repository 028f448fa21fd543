import psycopg
from django.core.management.base import BaseCommand
from django.db import connection


class Command(BaseCommand):
    help = (
        "Create the configured database if it does not exist (e.g. from DATABASE_URL)."
    )

    def handle(self, *args, **options):
        params = connection.get_connection_params()
        name = params.pop("dbname")
        params["dbname"] = "postgres"
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True) as conn:
            if conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone():
                return
            conn.execute(f'CREATE DATABASE "{name}"')
        self.stdout.write(f"Created database {name}.")
