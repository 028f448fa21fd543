"""Imports of organizations, memberships and billing: natural keys, validation by
the models (fields, clean(), check and unique constraints), the roles' import and
export permissions, and the same resources through django-import-export's own
row-by-row path."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import tablib
from django.contrib.auth.models import Group, Permission

from audit.history import history_operation
from audit.models import ImportJob
from tenants import roles
from tenants.models import Invoice, Membership, Organization, Plan, Subscription
from tenants.resources import InvoiceResource, PlanResource
from tests.factories import (
    InvoiceFactory,
    MembershipFactory,
    OrganizationFactory,
    PlanFactory,
    SubscriptionFactory,
    UserFactory,
)
from tests.import_export_helpers import csv_bytes, preview, run_import, snapshot

pytestmark = pytest.mark.django_db

PLAN_HEADER = ["code", "name", "tier", "monthly_price", "currency", "is_active"]
INVOICE_HEADER = [
    "organization",
    "number",
    "subscription",
    "amount",
    "status",
    "issued_on",
    "due_on",
    "paid_at",
]


def test_plans_are_created_and_updated_by_code(superuser):
    PlanFactory(code="pro", name="Pro", monthly_price=Decimal("99.00"))
    rows = [
        PLAN_HEADER,
        ["pro", "Pro", "pro", "109.00", "EUR", "True"],
        ["team", "Team", "starter", "49.50", "USD", "False"],
    ]

    job = run_import(superuser, Plan, csv_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (job.rows_new, job.rows_updated) == (1, 1)
    assert Plan.objects.get(code="pro").monthly_price == Decimal("109.00")
    team = Plan.objects.get(code="team")
    assert (team.currency, team.is_active) == ("USD", False)


def test_model_validation_names_the_row_column_and_reason(superuser):
    rows = [
        PLAN_HEADER,
        ["gold", "Gold", "platinum", "10", "EUR", "True"],  # not a tier
        ["neg", "Negative", "pro", "-1", "EUR", "True"],  # check constraint
        ["cheap", "Cheap", "pro", "ten", "EUR", "True"],  # not a number
        ["Not a slug!", "Bad code", "pro", "1", "EUR", "True"],
    ]

    job = preview(superuser, Plan, csv_bytes(rows))

    errors = {(e["row"], e["column"]): e["message"] for e in job.errors}
    assert errors[(2, "tier")] == "Value 'platinum' is not a valid choice."
    assert "greater than or equal to 0" in errors[(3, "monthly_price")]
    assert errors[(4, "monthly_price")] == "“ten” value must be a decimal number."
    assert "valid “slug”" in errors[(5, "code")]
    assert job.status == ImportJob.Status.FAILED and job.rows_with_errors == 4


def test_invoice_check_constraints_are_checked_per_row(superuser):
    subscription = SubscriptionFactory(organization=OrganizationFactory(slug="acme"))
    rows = [
        INVOICE_HEADER,
        [
            "acme",
            "INV-1",
            subscription.pk,
            "10",
            "open",
            "2026-02-01",
            "2026-01-01",
            "",
        ],
        ["acme", "INV-2", subscription.pk, "10", "paid", "2026-01-01", "", ""],
        ["acme", "INV-3", subscription.pk, "10", "paid", "", "", "2026-01-05 10:00"],
    ]

    job = preview(superuser, Invoice, csv_bytes(rows))

    assert [(e["row"], e["message"]) for e in job.errors] == [
        (2, "The due date cannot precede the issue date."),
        (3, "A paid invoice needs its payment date."),
    ]
    assert job.rows_new == 1


def test_an_invoice_names_a_subscription_of_its_own_organization(superuser):
    acme = OrganizationFactory(slug="acme")
    own = SubscriptionFactory(organization=acme)
    foreign = SubscriptionFactory(organization=OrganizationFactory(slug="globex"))
    rows = [
        INVOICE_HEADER,
        ["acme", "INV-10", own.pk, "10", "open", "", "", ""],
        ["acme", "INV-11", foreign.pk, "10", "open", "", "", ""],
    ]

    job = preview(superuser, Invoice, csv_bytes(rows))

    assert [e["message"] for e in job.errors] == [
        f"Unknown subscription “{foreign.pk}”."
    ]


def test_an_invoice_number_taken_in_another_organization_is_refused(superuser):
    InvoiceFactory(number="INV-7", subscription__organization__slug="globex")
    subscription = SubscriptionFactory(organization=OrganizationFactory(slug="acme"))
    rows = [INVOICE_HEADER, ["acme", "INV-7", subscription.pk, "5", "open", "", "", ""]]

    job = preview(superuser, Invoice, csv_bytes(rows))

    assert job.errors[0]["column"] == "number"
    assert job.errors[0]["message"] == "Invoice with this number already exists."


def test_invoices_are_updated_by_organization_and_number(superuser):
    invoice = InvoiceFactory(number="INV-9", amount=Decimal("10.00"))
    version = invoice.version
    rows = [
        INVOICE_HEADER,
        [
            invoice.organization.slug,
            "INV-9",
            invoice.subscription_id,
            "12.50",
            "paid",
            str(invoice.issued_on),
            str(invoice.due_on),
            "2026-01-31T12:00:00+01:00",
        ],
    ]

    job = run_import(superuser, Invoice, csv_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    invoice.refresh_from_db()
    assert (invoice.amount, invoice.status) == (Decimal("12.50"), "paid")
    assert invoice.paid_at == dt.datetime(2026, 1, 31, 11, 0, tzinfo=dt.UTC)
    assert invoice.version == version + 1
    assert invoice.history.first().history_type == "~"


def test_memberships_name_people_by_email_and_organizations_by_slug(superuser):
    acme = OrganizationFactory(slug="acme")
    ada = UserFactory(email="ada@example.com")
    bob = UserFactory(email="bob@example.com")
    MembershipFactory(organization=acme, user=bob, role="member")
    rows = [
        ["organization", "user", "role"],
        ["acme", "ADA@example.com", "admin"],
        ["acme", "bob@example.com", "owner"],
        ["acme", "carol@example.com", "member"],
    ]

    job = preview(superuser, Membership, csv_bytes(rows))

    assert [r["kind"] for r in job.preview["rows"]] == ["new", "update", "error"]
    assert job.errors[0]["message"] == "Unknown user “carol@example.com”."
    rows.pop()
    job = run_import(superuser, Membership, csv_bytes(rows))
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert Membership.objects.get(user=ada).role == "admin"
    assert Membership.objects.get(user=bob).role == "owner"


def test_organizations_are_keyed_by_slug(superuser):
    OrganizationFactory(slug="acme", name="Acme")
    rows = [
        ["slug", "name", "status", "plan_tier", "created_at"],
        ["acme", "Acme Corporation", "active", "pro", "2020-01-01"],  # read-only
        ["globex", "Globex", "suspended", "free", ""],
    ]

    job = run_import(superuser, Organization, csv_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert Organization.objects.get(slug="acme").name == "Acme Corporation"
    assert Organization.objects.get(slug="globex").status == "suspended"


def test_subscriptions_are_named_by_id_within_their_organization(superuser):
    plan = PlanFactory(code="pro")
    subscription = SubscriptionFactory(
        organization=OrganizationFactory(slug="acme"), plan=plan
    )
    header = ["organization", "id", "plan", "status"]
    header += ["current_period_start", "current_period_end"]
    rows = [
        header,
        ["acme", subscription.pk, "pro", "cancelled", "2026-01-01", "2026-02-01"],
        ["acme", "", "pro", "trialing", "2026-03-01", "2026-02-01"],  # ends early
    ]

    job = preview(superuser, Subscription, csv_bytes(rows))

    assert [r["kind"] for r in job.preview["rows"]] == ["update", "error"]
    assert job.errors[0]["message"] == "The period must end after it starts."


def test_unknown_and_missing_columns_are_reported_before_any_row(superuser):
    job = preview(superuser, Plan, csv_bytes([["code", "price"], ["x", "1"]]))
    assert job.status == ImportJob.Status.FAILED
    assert job.message.startswith("Unknown column(s): price. The columns of plans")

    job = preview(superuser, Invoice, csv_bytes([["number", "amount"], ["1", "1"]]))
    assert job.message.startswith("Missing column(s): organization;")


def test_finance_imports_and_exports_billing_and_nobody_else_does():
    codes = {
        f"{action}_{model}"
        for action in ("import", "export")
        for model in ("plan", "subscription", "invoice")
    }
    finance = set(
        Group.objects.get(name=roles.FINANCE).permissions.values_list(
            "codename", flat=True
        )
    )
    assert codes <= finance
    assert {c for c in finance if c.startswith(("import_", "export_"))} == codes
    for role in (roles.TENANT_MANAGER, roles.SUPPORT_AGENT, roles.PLATFORM_ADMIN):
        perms = Group.objects.get(name=role).permissions.values_list(
            "codename", flat=True
        )
        assert not {c for c in perms if c.startswith(("import_", "export_"))}
    models = ("organization", "membership", "plan", "project", "task")
    for model in models:
        for action in ("import", "export"):
            assert Permission.objects.filter(codename=f"{action}_{model}").exists()


def test_the_resources_work_through_django_import_exports_own_path(superuser):
    """`resource.import_data` (the library's row-by-row path, the benchmark's
    baseline): same natural keys, same scope, history by the user."""
    subscription = SubscriptionFactory(organization=OrganizationFactory(slug="acme"))
    dataset = tablib.Dataset(headers=INVOICE_HEADER)
    dataset.append(["acme", "INV-1", subscription.pk, "10", "open", "", "", ""])
    before = snapshot(Invoice)

    operation = uuid.uuid4()
    resource = InvoiceResource(user=superuser, change_reason="Default path")
    with history_operation(operation):
        result = resource.import_data(dataset, dry_run=False)

    assert not result.has_errors() and not result.has_validation_errors()
    invoice = Invoice.objects.get(number="INV-1")
    record = invoice.history.get()
    assert (record.history_user, record.history_change_reason) == (
        superuser,
        "Default path",
    )
    assert record.operation_id == operation
    assert snapshot(Invoice)["tenants.Invoice"] == before["tenants.Invoice"] + 1


def test_the_default_path_rejects_foreign_keys_outside_the_scope_too():
    """A finance user sees every organization; a user who sees none gets every
    organization as unknown."""
    OrganizationFactory(slug="acme")
    nobody = UserFactory(is_staff=True)
    dataset = tablib.Dataset(headers=PLAN_HEADER)
    dataset.append(["p1", "P1", "pro", "1", "EUR", "True"])
    result = PlanResource(user=nobody).import_data(dataset, dry_run=True)
    assert not result.has_validation_errors()  # plans are global

    dataset = tablib.Dataset(headers=INVOICE_HEADER)
    dataset.append(["acme", "INV-2", "1", "10", "open", "", "", ""])
    result = InvoiceResource(user=nobody).import_data(dataset, dry_run=True)
    assert result.has_errors() or result.has_validation_errors()
    assert not Invoice.objects.exists()
