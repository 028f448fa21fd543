"""Local development: DEBUG on, local hosts only, a fixed insecure key."""

from backoffice.settings.base import *  # noqa: F403
from backoffice.settings.base import database_config, env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

DATABASES = {"default": database_config(allow_embedded=True)}
