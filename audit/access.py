"""Audit of access: logins, failed logins, logouts and lock-outs become AuditEvents.

These are receivers of Django's and django-axes' authentication signals, the only
integration point those libraries offer; they record, they decide nothing.
"""

from axes.signals import user_locked_out
from django.contrib.auth.signals import (
    user_logged_in,
    user_logged_out,
    user_login_failed,
)
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import audit_event_record


@receiver(user_logged_in, dispatch_uid="audit_login")
def record_login(sender, request, user, **kwargs):
    audit_event_record(actor=user, action=AuditEvent.Action.LOGIN, target=user)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def record_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_event_record(actor=user, action=AuditEvent.Action.LOGOUT, target=user)


def _attempted_email(credentials) -> str:
    return str((credentials or {}).get("username", ""))[:254]


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def record_login_failed(sender, credentials, request=None, **kwargs):
    # No actor: the email may not exist, and the record must not say whether it does.
    email = _attempted_email(credentials)
    audit_event_record(
        actor=None,
        actor_label=email,
        action=AuditEvent.Action.LOGIN_FAILED,
        changes={"email": email},
    )


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def record_lockout(sender, request, username, ip_address, **kwargs):
    audit_event_record(
        actor=None,
        actor_label=username or "",
        action=AuditEvent.Action.LOCKOUT,
        changes={"email": username, "ip_address": ip_address},
    )
