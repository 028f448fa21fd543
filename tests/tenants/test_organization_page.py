"""An organization's page lists its subscriptions, invoices and projects (view-only
related lists) beside the members it edits."""

import re

import pytest
from django.urls import reverse

from admin_theme.admin import RelatedListInline
from admin_theme.result_rows import related_rows
from tenants import roles
from tenants.models import Invoice
from tenants.services import support_grant
from tests.admin_forms import change_form_data
from tests.conftest import staff_with_role
from tests.factories import (
    InvoiceFactory,
    OrganizationFactory,
    ProjectFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def _links(body: str, app: str, model: str) -> list[int]:
    """Ids of the rows linked to their own change page, in page order."""
    pattern = rf'href="/admin/{app}/{model}/(\d+)/change/"'
    return [int(pk) for pk in re.findall(pattern, body)]


def test_invoices_and_projects_are_listed_a_page_at_a_time_each_linking_to_its_page(
    admin_client,
):
    organization = OrganizationFactory()
    subscription = SubscriptionFactory(organization=organization)
    invoices = InvoiceFactory.create_batch(12, subscription=subscription)
    projects = ProjectFactory.create_batch(3, organization=organization)
    foreign = InvoiceFactory()
    url = reverse("admin:tenants_organization_change", args=[organization.pk])

    body = admin_client.get(url).content.decode()
    newest_first = sorted(invoices, key=lambda i: (i.issued_on, i.pk), reverse=True)
    assert _links(body, "tenants", "invoice") == [i.pk for i in newest_first[:10]]
    assert sorted(_links(body, "work", "project")) == sorted(p.pk for p in projects)
    assert _links(body, "tenants", "subscription") == [subscription.pk]
    assert foreign.number not in body
    # Nothing to edit: no row inputs, the management forms only.
    assert 'name="invoices-0-id"' not in body
    assert 'name="invoices-TOTAL_FORMS"' in body

    second = admin_client.get(url, {"invoices-page": 2}).content.decode()
    assert _links(second, "tenants", "invoice") == [i.pk for i in newest_first[10:]]


def test_saving_an_organization_leaves_its_listed_rows_alone_even_when_posted(
    admin_client,
):
    organization = OrganizationFactory(name="Before")
    invoice = InvoiceFactory(subscription__organization=organization, number="INV-1")
    url = reverse("admin:tenants_organization_change", args=[organization.pk])
    data = change_form_data(admin_client.get(url))
    data["name"] = "After"
    # A forged row for the view-only list changes nothing.
    data.update({"invoices-0-id": invoice.pk, "invoices-0-number": "FORGED"})

    response = admin_client.post(url, data)

    assert response.status_code == 302
    organization.refresh_from_db()
    invoice.refresh_from_db()
    assert (organization.name, invoice.number) == ("After", "INV-1")
    assert Invoice.objects.count() == 1


def test_a_support_agent_sees_the_lists_their_role_may_view(client):
    agent = staff_with_role(roles.SUPPORT_AGENT)
    organization = OrganizationFactory()
    support_grant(actor=agent, organization=organization, agent=agent)
    project = ProjectFactory(organization=organization)
    InvoiceFactory(subscription__organization=organization)
    client.force_login(agent)

    body = client.get(
        reverse("admin:tenants_organization_change", args=[organization.pk])
    ).content.decode()

    assert _links(body, "work", "project") == [project.pk]
    assert 'name="projects-0-id"' not in body
    assert 'id="invoices-group"' not in body  # finance's, not the agent's


def test_listed_rows_show_what_unfolds_read_only_fields_show(admin_client):
    """`related_rows` gives each listed row's cells as Unfold's read-only fields
    render them through Django's admin forms (a plan's link, amounts, dates,
    statuses, an owner's link), the first linking to the row's page."""
    organization = OrganizationFactory()
    subscription = SubscriptionFactory(organization=organization)
    InvoiceFactory.create_batch(3, subscription=subscription)
    ProjectFactory.create_batch(2, organization=organization)
    url = reverse("admin:tenants_organization_change", args=[organization.pk])
    response = admin_client.get(url)
    lists = [
        listed
        for listed in response.context["inline_admin_formsets"]
        if isinstance(listed.opts, RelatedListInline)
    ]
    assert len(lists) == 3
    for listed in lists:
        djangos = [
            [
                (field.field["name"], field.contents())
                for fieldset in form
                for line in fieldset
                for field in line
            ]
            for form in listed
        ]
        rows = related_rows(listed)
        assert djangos and [cells for _, cells in rows] == djangos
        opts = listed.opts.model._meta
        assert [link for link, _ in rows] == [
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])
            for pk in listed.formset.get_queryset().values_list("pk", flat=True)
        ]
