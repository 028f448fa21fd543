"""Two-factor enrolment and verification for staff (django-otp: TOTP + recovery codes).

Enrolment shows a QR code and the secret, confirms the device with a first code,
then shows ten single-use recovery codes once. Verification accepts a TOTP code or
a recovery code. Both are audited.
"""

import secrets

import segno
from django import forms
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from audit.services import audit_event_record

RECOVERY_CODES = 10


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True}
        ),
    )


def _next_url(request) -> str:
    url = request.GET.get("next") or request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(url, {request.get_host()}):
        return url
    return "/admin/"


def _context(request, **extra) -> dict:
    return {**admin.site.each_context(request), "next": _next_url(request), **extra}


@login_required(login_url="admin:login")
def setup(request):
    """Enrol a TOTP device; on the first valid code, issue recovery codes."""
    user = request.user
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return redirect("admin_theme:2fa_verify")
    device, _ = TOTPDevice.objects.get_or_create(
        user=user, confirmed=False, defaults={"name": "Authenticator app"}
    )
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"].strip()):
            codes = _confirm_enrolment(user, device)
            otp_login(request, device)
            return render(
                request,
                "admin_theme/2fa_recovery_codes.html",
                _context(request, title="Recovery codes", codes=codes),
            )
        form.add_error("token", "That code is not valid. Check the time on your phone.")
    qr = segno.make(device.config_url, error="m").svg_inline(scale=5)
    return render(
        request,
        "admin_theme/2fa_setup.html",
        _context(
            request,
            title="Set up two-factor authentication",
            form=form,
            qr=qr,
            secret=device.config_url.split("secret=")[1].split("&")[0],
        ),
    )


@transaction.atomic
def _confirm_enrolment(user, device: TOTPDevice) -> list[str]:
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name="Recovery codes")
    codes = [secrets.token_hex(4) for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=c) for c in codes)
    audit_event_record(
        actor=user,
        action=AuditEvent.Action.GRANT,
        target=user,
        changes={"two_factor": "enrolled"},
    )
    return codes


@login_required(login_url="admin:login")
def verify(request):
    """Ask for a TOTP code or a recovery code."""
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["token"].strip())
        if device is not None:
            otp_login(request, device)
            return redirect(_next_url(request))
        audit_event_record(
            actor=request.user,
            action=AuditEvent.Action.LOGIN_FAILED,
            target=request.user,
            changes={"two_factor": "invalid code"},
        )
        form.add_error("token", "That code is not valid.")
    return render(
        request,
        "admin_theme/2fa_verify.html",
        _context(request, title="Two-factor authentication", form=form),
    )
