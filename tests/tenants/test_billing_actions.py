"""Organization, subscription and invoice actions: services and admin."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import AuditEvent
from tenants import roles, services
from tenants.models import Invoice, Organization, Subscription
from tests.conftest import staff_with_role
from tests.factories import InvoiceFactory, OrganizationFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _act(client, url, action, objects, **data):
    return client.post(
        url,
        {
            "action": action,
            "index": 0,
            "select_across": 0,
            ACTION_CHECKBOX_NAME: [o.pk for o in objects],
            **data,
        },
    )


ORGS = "/admin/tenants/organization/"
SUBS = "/admin/tenants/subscription/"
INVOICES = "/admin/tenants/invoice/"


class TestOrganizationActions:
    def test_suspend_needs_a_reason_and_is_audited(self, superuser):
        org = OrganizationFactory()
        with pytest.raises(ValidationError, match="reason"):
            services.organization_suspend(actor=superuser, organization=org, reason=" ")
        services.organization_suspend(
            actor=superuser, organization=org, reason="Unpaid invoices"
        )
        org.refresh_from_db()
        assert org.status == "suspended"
        assert org.history.latest().history_change_reason == "Unpaid invoices"
        event = AuditEvent.objects.get(action="suspend")
        assert event.changed_fields == {"reason": "Unpaid invoices"}
        with pytest.raises(ValidationError, match="already suspended"):
            services.organization_suspend(
                actor=superuser, organization=org, reason="again"
            )

    def test_admin_suspend_and_reactivate_with_confirmation(self, admin_client):
        orgs = [OrganizationFactory(), OrganizationFactory()]
        page = _act(admin_client, ORGS, "suspend", orgs)
        assert (
            page.status_code == 200 and "Suspend organizations" in page.content.decode()
        )
        missing_reason = _act(admin_client, ORGS, "suspend", orgs, apply="yes")
        assert "This field is required" in missing_reason.content.decode()
        assert not Organization.objects.filter(status="suspended").exists()
        _act(admin_client, ORGS, "suspend", orgs, apply="yes", reason="Fraud check")
        assert Organization.objects.filter(status="suspended").count() == 2
        _act(admin_client, ORGS, "reactivate", orgs, apply="yes", reason="Cleared")
        assert Organization.objects.filter(status="active").count() == 2

    def test_bulk_suspend_is_all_or_nothing(self, admin_client):
        active = OrganizationFactory()
        already = OrganizationFactory(status="suspended")
        response = _act(
            admin_client,
            ORGS,
            "suspend",
            [active, already],
            apply="yes",
            reason="x y z",
        )
        assert "already suspended" in str(list(response.wsgi_request._messages))
        active.refresh_from_db()
        assert active.status == "active"

    def test_detail_suspend_action_confirms(self, admin_client):
        org = OrganizationFactory()
        url = reverse("admin:tenants_organization_suspend_detail", args=[org.pk])
        assert admin_client.get(url).status_code == 200
        response = admin_client.post(url, {"apply": "yes", "reason": "Chargeback"})
        assert response.status_code == 302
        org.refresh_from_db()
        assert org.status == "suspended"

    def test_change_plan(self, admin_client):
        org = OrganizationFactory(plan_tier="free")
        _act(admin_client, ORGS, "change_plan", [org], apply="yes", plan_tier="pro")
        org.refresh_from_db()
        assert org.plan_tier == "pro"
        bad = _act(
            admin_client, ORGS, "change_plan", [org], apply="yes", plan_tier="gold"
        )
        assert "Select a valid choice" in bad.content.decode()

    def test_support_agents_and_finance_cannot_suspend(self, client):
        org = OrganizationFactory()
        client.force_login(staff_with_role(roles.FINANCE))
        _act(client, ORGS, "suspend", [org], apply="yes", reason="Not mine to do")
        org.refresh_from_db()
        assert org.status == "active"


class TestSubscriptionActions:
    def test_extend_pushes_the_period_end(self, superuser):
        sub = SubscriptionFactory()
        end = sub.current_period_end
        services.subscription_extend(actor=superuser, subscription=sub, days=30)
        sub.refresh_from_db()
        assert sub.current_period_end == end + dt.timedelta(days=30)
        assert sub.version == 2
        with pytest.raises(ValidationError, match="1 to 366"):
            services.subscription_extend(actor=superuser, subscription=sub, days=0)

    def test_admin_extend_and_cancel(self, client):
        finance = staff_with_role(roles.FINANCE)
        client.force_login(finance)
        sub = SubscriptionFactory()
        end = sub.current_period_end
        bad = _act(client, SUBS, "extend", [sub], apply="yes", days="9999")
        assert "less than or equal to 366" in bad.content.decode()
        _act(client, SUBS, "extend", [sub], apply="yes", days="10")
        _act(client, SUBS, "cancel", [sub], apply="yes", reason="Customer left")
        sub.refresh_from_db()
        assert sub.current_period_end == end + dt.timedelta(days=10)
        assert sub.status == "cancelled" and sub.cancelled_at is not None
        with pytest.raises(ValidationError, match="already ended"):
            services.subscription_cancel(actor=finance, subscription=sub)

    def test_tenant_managers_cannot_extend(self, client):
        client.force_login(staff_with_role(roles.TENANT_MANAGER))
        sub = SubscriptionFactory()
        end = sub.current_period_end
        _act(client, SUBS, "extend", [sub], apply="yes", days="10")
        sub.refresh_from_db()
        assert sub.current_period_end == end


class TestInvoiceActions:
    def test_mark_paid_and_void_rules(self, superuser):
        invoice = InvoiceFactory(status="open")
        services.invoice_mark_paid(actor=superuser, invoice=invoice)
        assert invoice.status == "paid" and invoice.paid_at is not None
        with pytest.raises(ValidationError, match="only draft or open"):
            services.invoice_void(actor=superuser, invoice=invoice)

    def test_admin_mark_paid_is_all_or_nothing(self, client):
        client.force_login(staff_with_role(roles.FINANCE))
        open_one = InvoiceFactory(status="open")
        void_one = InvoiceFactory(status="void")
        confirm = _act(client, INVOICES, "mark_paid", [open_one, void_one])
        assert "Mark invoices paid" in confirm.content.decode()
        response = _act(
            client, INVOICES, "mark_paid", [open_one, void_one], apply="yes"
        )
        assert "only open invoices" in str(list(response.wsgi_request._messages))
        assert Invoice.objects.get(pk=open_one.pk).status == "open"
        _act(client, INVOICES, "void", [open_one], apply="yes")
        assert Invoice.objects.get(pk=open_one.pk).status == "void"

    def test_support_agents_cannot_touch_invoices(self, client, support_agent):
        client.force_login(support_agent)
        invoice = InvoiceFactory(status="open")
        assert client.get(INVOICES).status_code == 403
        _act(client, INVOICES, "mark_paid", [invoice], apply="yes")
        assert Invoice.objects.get(pk=invoice.pk).status == "open"
        assert Subscription.objects.count() == 1
