"""An agent cannot create a row in a foreign organization through the add view."""

import pytest
from django.urls import reverse

from tenants import roles
from tenants.services import support_grant
from tests.conftest import staff_with_role
from tests.factories import OrganizationFactory, ProjectFactory
from work.models import Project, Task

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client(client):
    home, foreign = OrganizationFactory(name="Home"), OrganizationFactory(name="Away")
    agent = staff_with_role(roles.SUPPORT_AGENT)
    support_grant(actor=agent, organization=home, agent=agent)
    client.force_login(agent)
    return client, home, foreign


def test_task_in_a_foreign_organization_is_refused(agent_client):
    client, _, foreign = agent_client
    foreign_project = ProjectFactory(organization=foreign)
    response = client.post(
        reverse("admin:work_task_add"),
        {
            "organization": foreign.pk,
            "project": foreign_project.pk,
            "title": "Sneaky task",
            "status": "TODO",
            "priority": 20,
            "custom_fields": "{}",
            "comments-TOTAL_FORMS": 0,
            "comments-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Select a valid choice" in body
    assert "Away" not in body
    assert not Task.objects.filter(title="Sneaky task").exists()


def test_task_mixing_own_organization_and_foreign_project_is_refused(agent_client):
    client, home, foreign = agent_client
    response = client.post(
        reverse("admin:work_task_add"),
        {
            "organization": home.pk,
            "project": ProjectFactory(organization=foreign).pk,
            "title": "Mixed task",
            "status": "TODO",
            "priority": 20,
            "custom_fields": "{}",
            "comments-TOTAL_FORMS": 0,
            "comments-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 200
    assert not Task.objects.filter(title="Mixed task").exists()


def test_project_in_own_organization_is_created_with_history(agent_client):
    client, home, _ = agent_client
    response = client.post(
        reverse("admin:work_project_add"),
        {
            "organization": home.pk,
            "name": "Support tooling",
            "key": "SUP",
            "status": "active",
            "description": "",
            "tasks-TOTAL_FORMS": 0,
            "tasks-INITIAL_FORMS": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    project = Project.objects.get(key="SUP")
    assert project.organization == home
    assert project.history.get().history_type == "+"
