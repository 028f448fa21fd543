"""Django for the benchmark scripts run against a benchmark database
(`DATABASE_URL=... python bench/<script>.py`): import/export and history."""

import os
import sys


def setup_django() -> None:
    if not os.environ.get("DATABASE_URL"):
        sys.exit("Set DATABASE_URL to a benchmark database (never the dev one).")
    os.environ["DEBUG"] = "0"  # no query log
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.dev")
    import django

    django.setup()
