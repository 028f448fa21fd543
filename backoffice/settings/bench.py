"""Benchmarks (`make bench`): dev settings against a separate benchmark database.

The database is the project's server (DATABASE_URL's, else the embedded one) with
the name `<name>_bench`, or `<name><BENCH_DB_SUFFIX>` (`_bench_10k` for the small
one). DEBUG is off (no query log, cached templates), and the URLconf adds the
stock Django admin at /stock-admin/ for comparison (bench/stock.py).
"""

from backoffice.settings.dev import *  # noqa: F403
from backoffice.settings.dev import DATABASES, MIDDLEWARE, TEMPLATES, env

DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"

DATABASES["default"]["NAME"] += env("BENCH_DB_SUFFIX", default="_bench")
DATABASES["default"]["CONN_MAX_AGE"] = None  # one connection for the whole run

# Stock requests render Django's own admin templates (bench/stock_templates.py).
MIDDLEWARE = ["bench.stock_templates.StockTemplatesMiddleware", *MIDDLEWARE]
TEMPLATES = [
    {
        **TEMPLATES[0],
        "APP_DIRS": False,
        "OPTIONS": {
            **TEMPLATES[0]["OPTIONS"],
            "loaders": [
                (
                    "bench.stock_templates.Loader",
                    [
                        "bench.stock_templates.StockAdminLoader",
                        "django.template.loaders.filesystem.Loader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
        },
    }
]
