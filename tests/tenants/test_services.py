import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from tenants.models import Organization
from tenants.selectors import organizations_visible_to
from tenants.services import (
    invoice_create,
    membership_create,
    organization_create,
    organization_update,
    subscription_create,
    support_grant,
    support_revoke,
)
from tests.factories import (
    OrganizationFactory,
    PlanFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_organization_create_writes_history_and_audit_with_the_actor(superuser):
    org = organization_create(actor=superuser, name="Acme", slug="acme")
    history = org.history.get()
    assert history.history_type == "+"
    assert history.history_user == superuser
    event = AuditEvent.objects.get(action="create")
    assert (event.actor, event.organization, event.target) == (superuser, org, org)


def test_organization_update_records_old_and_new_values(superuser):
    org = OrganizationFactory(name="Acme")
    changes = organization_update(actor=superuser, organization=org, name="Acme Inc")
    assert changes == {"name": ["Acme", "Acme Inc"]}
    assert org.history.latest().history_user == superuser
    assert AuditEvent.objects.get(action="update").changed_fields == changes


def test_an_update_that_changes_nothing_writes_nothing(superuser):
    org = OrganizationFactory(name="Acme")
    assert organization_update(actor=superuser, organization=org, name="Acme") == {}
    assert not AuditEvent.objects.exists()


def test_invalid_input_changes_nothing(superuser):
    OrganizationFactory(slug="taken")
    with pytest.raises(ValidationError):
        organization_create(actor=superuser, name="Other", slug="taken")
    assert Organization.objects.count() == 1
    assert not AuditEvent.objects.exists()


def test_membership_create_refuses_a_duplicate(superuser):
    org, user = OrganizationFactory(), UserFactory()
    membership_create(actor=superuser, organization=org, user=user)
    with pytest.raises(ValidationError):
        membership_create(actor=superuser, organization=org, user=user)


def test_subscription_with_a_bad_period_is_refused(superuser):
    now = timezone.now()
    with pytest.raises(ValidationError, match="end after it starts"):
        subscription_create(
            actor=superuser,
            organization=OrganizationFactory(),
            plan=PlanFactory(),
            current_period_start=now,
            current_period_end=now,
        )


def test_invoice_follows_its_subscription_organization(superuser):
    subscription = SubscriptionFactory()
    invoice = invoice_create(
        actor=superuser,
        subscription=subscription,
        number="INV-1",
        amount=Decimal("12.50"),
        issued_on=dt.date(2026, 1, 1),
        due_on=dt.date(2026, 1, 15),
    )
    assert invoice.organization_id == subscription.organization_id
    assert invoice.currency == subscription.plan.currency
    assert invoice.history.get().history_user == superuser


def test_support_grant_and_revoke_are_audited_and_scope_the_agent(
    superuser, support_agent
):
    alpha, beta = OrganizationFactory(), OrganizationFactory()
    assert not organizations_visible_to(support_agent).exists()
    assert support_grant(actor=superuser, organization=alpha, agent=support_agent)
    assert not support_grant(actor=superuser, organization=alpha, agent=support_agent)
    assert list(organizations_visible_to(support_agent)) == [alpha]
    assert support_revoke(actor=superuser, organization=alpha, agent=support_agent)
    assert not organizations_visible_to(support_agent).exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["grant", "revoke"]
    assert beta not in organizations_visible_to(support_agent)
