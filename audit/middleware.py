"""Keeps the current request's client address and user agent for audit events."""

from contextvars import ContextVar
from dataclasses import dataclass

from backoffice.security import client_ip


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None
    user_agent: str


current_request: ContextVar[RequestContext | None] = ContextVar(
    "current_request", default=None
)


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(
            RequestContext(
                ip_address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:500],
            )
        )
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
