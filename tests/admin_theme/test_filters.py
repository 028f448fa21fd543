"""The autocomplete list filters name a selected row only inside the user's scope."""

import pytest
from django.urls import reverse

from tenants import roles
from tenants.services import support_grant
from tests.conftest import staff_with_role
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db
TASKS = reverse("admin:work_task_changelist")


@pytest.fixture
def agent_client(client):
    home = OrganizationFactory(name="Homestead Ltd")
    foreign = OrganizationFactory(name="Faraway Corp")
    agent = staff_with_role(roles.SUPPORT_AGENT)
    support_grant(actor=agent, organization=home, agent=agent)
    client.force_login(agent)
    return client, home, foreign


def _filter_form(page):
    forms = [
        choice["form"]
        for spec in page.context["cl"].filter_specs
        if getattr(spec, "field_path", None) == "organization"
        for choice in spec.choices(page.context["cl"])
    ]
    return forms[0]


def test_the_selected_own_organization_is_named(agent_client):
    client, home, _ = agent_client
    page = client.get(TASKS, {"organization__id__exact": home.pk})
    assert page.status_code == 200
    assert list(_filter_form(page).fields["organization__id__exact"].queryset) == [home]
    assert "Homestead Ltd" in page.content.decode()


def test_a_forged_foreign_organization_is_not_named(agent_client):
    client, _, foreign = agent_client
    page = client.get(TASKS, {"organization__id__exact": foreign.pk})
    assert page.status_code == 200
    assert "Faraway Corp" not in page.content.decode()


def test_nothing_selected_resolves_nothing(agent_client, django_assert_num_queries):
    client, _, _ = agent_client
    page = client.get(TASKS)
    form = _filter_form(page)
    with django_assert_num_queries(0):
        assert list(form.fields["organization__id__exact"].queryset) == []
