"""Tests: real PostgreSQL (fresh test database each run), locmem email."""

from backoffice.settings.base import *  # noqa: F403
from backoffice.settings.base import Q_CLUSTER, database_config

DEBUG = False
SECRET_KEY = "test-only-key"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ENVIRONMENT = "test"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Jobs run in-process and synchronously in tests.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}

DATABASES = {"default": database_config(allow_embedded=True)}
