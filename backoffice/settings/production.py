"""Production: safe by default. Secrets and hosts come only from the environment.

`python manage.py check --deploy --settings=backoffice.settings.production`
reports no issues (tests/test_production.py runs it).
"""

from backoffice.observability import json_logging_config
from backoffice.settings.base import *  # noqa: F403
from backoffice.settings.base import (
    BASE_DIR,
    MIDDLEWARE,
    REDIS_URL,
    database_config,
    env,
)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
ENVIRONMENT = env("ENVIRONMENT", default="prod")

# A managed PostgreSQL only: no embedded fallback in production. Connections are
# reused for CONN_MAX_AGE seconds and checked before reuse (CONN_HEALTH_CHECKS).
DATABASES = {"default": database_config(allow_embedded=False)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)

# Redis when there is one (it is also the job broker); otherwise the database,
# whose table `bin/release` creates with `createcachetable`.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
        }
    }

# WhiteNoise serves the collected static files right after SecurityMiddleware,
# compressed and under content-hashed names (cached for a year by browsers).
_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")
MIDDLEWARE = [
    *MIDDLEWARE[: _security + 1],
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[_security + 1 :],
]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# HTTPS is terminated by Fly's proxy, which sets X-Forwarded-Proto. /healthz is
# answered before the redirect (backoffice.health).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True

# EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, ... from one URL.
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))

# One JSON object per line, with request id, user id and organization id.
LOGGING = json_logging_config(level=env("LOG_LEVEL", default="INFO"))

SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=ENVIRONMENT,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        send_default_pii=False,
    )

# Access control (see base): two-factor on for staff, real client IP from Fly's proxy.
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=True)
TRUST_FLY_CLIENT_IP = env.bool("TRUST_FLY_CLIENT_IP", default=True)
