"""Writes of tenants, people and billing. Each is atomic, validated and audited."""

import datetime as dt
from decimal import Decimal

from django.db import transaction
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
from tenants.selectors import SUPPORT_PERMISSION


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
    return record_create(
        actor=actor,
        instance=Membership(organization=organization, user=user, role=role),
    )


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
    """The named actor of jobs, seeds and migrations: inactive, cannot log in."""
    user, created = User.objects.get_or_create(
        email=SYSTEM_ACTOR_EMAIL, defaults={"full_name": "System", "is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
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
