"""Writes of tenants, people and billing. Each is atomic, validated and audited."""

import datetime as dt
from decimal import Decimal
from functools import partial

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from audit.services import audit_event_record, record_create, record_update
from tenants.models import (
    Invoice,
    Membership,
    Organization,
    OrganizationUserObjectPermission,
    Plan,
    PlanTier,
    Subscription,
    User,
)
from tenants.selectors import (
    SUPPORT_PERMISSION,
    organization_has_current_subscription,
)


def organization_create(
    *, actor, name: str, slug: str, plan_tier: str = PlanTier.FREE
) -> Organization:
    return record_create(
        actor=actor, instance=Organization(name=name, slug=slug, plan_tier=plan_tier)
    )


def organization_update(*, actor, organization: Organization, **data) -> dict:
    return record_update(actor=actor, instance=organization, data=data)


@transaction.atomic
def user_create(
    *,
    actor,
    email: str,
    full_name: str = "",
    password: str | None = None,
    is_staff: bool = False,
) -> User:
    """Create a login; without a password it cannot sign in until one is set."""
    user = User(email=email.lower(), full_name=full_name, is_staff=is_staff)
    user.set_password(password)
    return record_create(actor=actor, instance=user)


def membership_create(
    *, actor, organization: Organization, user: User, role: str = Membership.Role.MEMBER
) -> Membership:
    membership = record_create(
        actor=actor,
        instance=Membership(organization=organization, user=user, role=role),
    )
    membership_welcome_queue(membership=membership)
    return membership


def plan_create(
    *,
    actor,
    code: str,
    name: str,
    tier: str,
    monthly_price: Decimal,
    currency: str = "EUR",
    max_members: int | None = None,
    max_projects: int | None = None,
) -> Plan:
    return record_create(
        actor=actor,
        instance=Plan(
            code=code,
            name=name,
            tier=tier,
            monthly_price=monthly_price,
            currency=currency,
            max_members=max_members,
            max_projects=max_projects,
        ),
    )


def subscription_create(
    *,
    actor,
    organization: Organization,
    plan: Plan,
    current_period_start: dt.datetime,
    current_period_end: dt.datetime,
    status: str = Subscription.Status.ACTIVE,
) -> Subscription:
    return record_create(
        actor=actor,
        instance=Subscription(
            organization=organization,
            plan=plan,
            status=status,
            current_period_start=current_period_start,
            current_period_end=current_period_end,
        ),
    )


def invoice_create(
    *,
    actor,
    subscription: Subscription,
    number: str,
    amount: Decimal,
    currency: str | None = None,
    issued_on: dt.date | None = None,
    due_on: dt.date | None = None,
    status: str = Invoice.Status.OPEN,
) -> Invoice:
    """Invoice a subscription, in the subscription's organization."""
    return record_create(
        actor=actor,
        instance=Invoice(
            organization_id=subscription.organization_id,
            subscription=subscription,
            number=number,
            amount=amount,
            currency=currency or subscription.plan.currency,
            issued_on=issued_on,
            due_on=due_on,
            status=status,
        ),
    )


SYSTEM_ACTOR_EMAIL = "system@backoffice.internal"


def system_actor() -> User:
    """The named actor of jobs, seeds and migrations: inactive, cannot log in. Its
    creation's history row names itself, like every row it writes."""
    user, created = User.objects.get_or_create(
        email=SYSTEM_ACTOR_EMAIL,
        defaults={
            "full_name": "System",
            "is_active": False,
            "password": make_password(None),
        },
    )
    if created:
        user.history.update(history_user=user)
    return user


@transaction.atomic
def support_grant(*, actor, organization: Organization, agent: User) -> bool:
    """Assign a support agent to an organization (a guardian object permission).

    Returns False when the agent already had it (nothing written).
    """
    if ObjectPermissionChecker(agent).has_perm(SUPPORT_PERMISSION, organization):
        return False
    assign_perm(f"tenants.{SUPPORT_PERMISSION}", agent, organization)
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.GRANT,
        organization=organization,
        target=agent,
        changes={"permission": SUPPORT_PERMISSION},
    )
    return True


@transaction.atomic
def support_revoke(*, actor, organization: Organization, agent: User) -> bool:
    """Remove a support agent from an organization; False when not assigned."""
    deleted, _ = OrganizationUserObjectPermission.objects.filter(
        user=agent,
        content_object=organization,
        permission__codename=SUPPORT_PERMISSION,
    ).delete()
    if not deleted:
        return False
    audit_event_record(
        actor=actor,
        action=AuditEvent.Action.REVOKE,
        organization=organization,
        target=agent,
        changes={"permission": SUPPORT_PERMISSION},
    )
    return True


# --- Jobs: their audit record and the side effects they queue ------------------------


def job_run_record(
    *, job: str, summary: dict, target=None, organization=None
) -> AuditEvent:
    """The `job_run` audit event of one run of `job`, by the system actor."""
    if organization is None and target is not None:
        organization = (
            target
            if isinstance(target, Organization)
            else getattr(target, "organization", None)
        )
    return audit_event_record(
        actor=system_actor(),
        action=AuditEvent.Action.JOB_RUN,
        organization=organization,
        target=target,
        changes={"job": job, **summary},
    )


def job_queue(func: str, **kwargs) -> str:
    """Queue the django-q2 task `func` now; returns its id.

    Always inside a transaction: outside one, django-q2's database broker closes
    the caller's connection (close_old_connections), and with it the server-side
    cursor of a job that queues while it iterates.
    """
    with transaction.atomic():
        return async_task(func, **kwargs)


def job_queue_on_commit(func: str, **kwargs) -> None:
    """Queue the django-q2 task `func` once the current transaction commits."""
    transaction.on_commit(partial(job_queue, func, **kwargs), robust=True)


def membership_welcome_queue(*, membership: Membership) -> None:
    """After commit, queue the welcome notification and email of a new member."""
    job_queue_on_commit("work.jobs.membership_welcome", membership_id=membership.pk)


@transaction.atomic
def organization_subscriptions_expire(
    *, actor, organization: Organization, subscriptions: list[Subscription]
) -> dict:
    """Mark ended subscriptions expired. Unless a current subscription remains, move
    the organization to the free tier and, after commit, queue one email to its
    owners and admins.

    Returns {"subscriptions": [ids], "plan_tier": [old, new]} (no "plan_tier" when
    the tier did not change).
    """
    for subscription in subscriptions:
        record_update(
            actor=actor,
            instance=subscription,
            data={"status": Subscription.Status.EXPIRED},
            reason="Subscription period ended",
        )
    ids = sorted(subscription.pk for subscription in subscriptions)
    if organization_has_current_subscription(organization=organization):
        return {"subscriptions": ids}
    changes = organization_update(
        actor=actor, organization=organization, plan_tier=PlanTier.FREE
    )
    job_queue_on_commit(
        "tenants.jobs.subscription_expired_email",
        organization_id=organization.pk,
        subscription_ids=ids,
    )
    return {"subscriptions": ids, **changes}


# --- Tenant and billing actions ------------------------------------------------------


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise ValidationError(
            {"reason": "Give a reason (it is kept in the audit log)."}
        )
    return reason


@transaction.atomic
def _organization_set_status(
    *, actor, organization: Organization, status: str, action: str, reason: str
) -> None:
    """Move an organization to `status`; the reason goes on history and audit."""
    reason = _required_reason(reason)
    if organization.status == status:
        label = Organization.Status(status).label.lower()
        raise ValidationError(f"{organization} is already {label}.")
    record_update(
        actor=actor, instance=organization, data={"status": status}, reason=reason
    )
    audit_event_record(
        actor=actor,
        action=action,
        organization=organization,
        target=organization,
        changes={"reason": reason},
    )


def organization_suspend(*, actor, organization: Organization, reason: str) -> None:
    """Suspend an active organization; the reason is kept on history and audit."""
    _organization_set_status(
        actor=actor,
        organization=organization,
        status=Organization.Status.SUSPENDED,
        action=AuditEvent.Action.SUSPEND,
        reason=reason,
    )


def organization_reactivate(*, actor, organization: Organization, reason: str) -> None:
    """Reactivate a suspended organization; the reason is kept on history and audit."""
    _organization_set_status(
        actor=actor,
        organization=organization,
        status=Organization.Status.ACTIVE,
        action=AuditEvent.Action.REACTIVATE,
        reason=reason,
    )


def organization_change_plan(
    *, actor, organization: Organization, plan_tier: str
) -> dict:
    if plan_tier not in PlanTier.values:
        raise ValidationError({"plan_tier": f"Unknown plan tier {plan_tier!r}."})
    return record_update(
        actor=actor, instance=organization, data={"plan_tier": plan_tier}
    )


MAX_EXTENSION_DAYS = 366


def subscription_extend(*, actor, subscription: Subscription, days: int) -> dict:
    """Push the current period's end back by `days` (1 to 366)."""
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise ValidationError({"days": f"Extend by 1 to {MAX_EXTENSION_DAYS} days."})
    if subscription.status in (
        Subscription.Status.CANCELLED,
        Subscription.Status.EXPIRED,
    ):
        raise ValidationError(
            f"A {subscription.get_status_display().lower()} subscription cannot be "
            "extended; create a new one."
        )
    return record_update(
        actor=actor,
        instance=subscription,
        data={
            "current_period_end": subscription.current_period_end
            + dt.timedelta(days=days)
        },
        reason=f"extended by {days} days",
    )


def subscription_cancel(*, actor, subscription: Subscription, reason: str = "") -> dict:
    if subscription.status in (
        Subscription.Status.CANCELLED,
        Subscription.Status.EXPIRED,
    ):
        raise ValidationError(f"Subscription {subscription.pk} is already ended.")
    return record_update(
        actor=actor,
        instance=subscription,
        data={"status": Subscription.Status.CANCELLED, "cancelled_at": timezone.now()},
        reason=reason.strip() or "cancelled",
    )


def invoice_mark_paid(*, actor, invoice: Invoice, paid_at=None) -> dict:
    if invoice.status != Invoice.Status.OPEN:
        raise ValidationError(
            f"Invoice {invoice.number} is {invoice.get_status_display().lower()}; "
            "only open invoices can be marked paid."
        )
    return record_update(
        actor=actor,
        instance=invoice,
        data={"status": Invoice.Status.PAID, "paid_at": paid_at or timezone.now()},
    )


def invoice_void(*, actor, invoice: Invoice, reason: str = "") -> dict:
    if invoice.status not in (Invoice.Status.DRAFT, Invoice.Status.OPEN):
        raise ValidationError(
            f"Invoice {invoice.number} is {invoice.get_status_display().lower()}; "
            "only draft or open invoices can be voided."
        )
    return record_update(
        actor=actor,
        instance=invoice,
        data={"status": Invoice.Status.VOID},
        reason=reason.strip() or "voided",
    )
