"""Login and session security: client address, session lifetime, two-factor."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect, render
from django.urls import reverse


def client_ip(request) -> str | None:
    """The client's address. Behind Fly's proxy it is `Fly-Client-IP`, which the
    proxy sets itself; `X-Forwarded-For` is never trusted (clients can forge it)."""
    if settings.TRUST_FLY_CLIENT_IP:
        fly = request.META.get("HTTP_FLY_CLIENT_IP", "").strip()
        if fly:
            return fly
    return request.META.get("REMOTE_ADDR") or None


def login_username(request, credentials) -> str:
    """The lock-out key's email: case-insensitive, so ADA@x and ada@x count together."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return username.strip().lower()


def lockout_response(request, original_response, credentials):
    """django-axes flags the failure that reaches the limit; that attempt still gets
    the ordinary "wrong credentials" page, and the lock holds from the next one on
    (so the 6th attempt is refused, not the 5th)."""
    reached_now = (
        getattr(request, "axes_failures_since_start", 0) == settings.AXES_FAILURE_LIMIT
    )
    if reached_now and original_response is not None:
        return original_response
    return render(request, "admin_theme/locked_out.html", status=429)


class SessionLifetimeMiddleware:
    """Ends staff sessions after `SESSION_IDLE_TIMEOUT` seconds idle and
    `SESSION_COOKIE_AGE` seconds in all, whatever the cookie says."""

    IDLE_KEY = "_last_seen"
    START_KEY = "_started_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            session = request.session
            started = session.setdefault(self.START_KEY, now)
            last_seen = session.get(self.IDLE_KEY, now)
            if (
                now - last_seen > settings.SESSION_IDLE_TIMEOUT
                or now - started > settings.SESSION_COOKIE_AGE
            ):
                logout(request)
                return redirect(f"{reverse('admin:login')}?next={request.path}")
            # Writing once a minute is enough to track idleness.
            if now - last_seen >= 60 or self.IDLE_KEY not in session:
                session[self.IDLE_KEY] = now
        return self.get_response(request)


class TwoFactorMiddleware:
    """With `REQUIRE_2FA`, a staff user reaches /admin/ only after a second factor:
    enrolment (TOTP + recovery codes) first, then a code at every login."""

    OPEN_PATHS = ("login/", "logout/", "2fa/", "jsi18n/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.REQUIRE_2FA and self._needs_second_factor(request):
            from django_otp import devices_for_user

            enrolled = any(devices_for_user(request.user, confirmed=True))
            target = "admin_theme:2fa_verify" if enrolled else "admin_theme:2fa_setup"
            return redirect(f"{reverse(target)}?next={request.path}")
        return self.get_response(request)

    def _needs_second_factor(self, request) -> bool:
        admin_root = reverse("admin:index")
        if not request.path.startswith(admin_root):
            return False
        if request.path[len(admin_root) :].startswith(self.OPEN_PATHS):
            return False
        user = request.user
        return user.is_authenticated and user.is_staff and not user.is_verified()
