"""Assigning support agents from the organization's admin page."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tenants import roles
from tenants.selectors import organizations_visible_to
from tests.conftest import staff_with_role
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager():
    return staff_with_role(roles.TENANT_MANAGER, email="manager@example.com")


@pytest.fixture
def org():
    return OrganizationFactory(name="Acme")


def _url(org_id):
    return reverse("admin:tenants_organization_support", args=[org_id])


def test_tenant_manager_assigns_and_unassigns_an_agent_with_confirmation(
    client, manager, org, support_agent
):
    client.force_login(manager)
    change_page = client.get(
        reverse("admin:tenants_organization_change", args=[org.pk])
    )
    assert "Support agents" in change_page.content.decode()  # the detail action
    page = client.get(_url(org.pk))
    assert page.status_code == 200
    assert "No support agent is assigned" in page.content.decode()

    response = client.post(_url(org.pk), {"action": "grant", "agent": support_agent.pk})
    assert response.status_code == 302
    assert list(organizations_visible_to(support_agent)) == [org]
    grant = AuditEvent.objects.get(action="grant")
    assert (grant.actor, grant.organization, grant.target) == (
        manager,
        org,
        support_agent,
    )

    # Unassigning asks first and changes nothing until confirmed.
    ask = client.post(_url(org.pk), {"action": "revoke", "agent": support_agent.pk})
    assert ask.status_code == 200 and "Yes, unassign" in ask.content.decode()
    assert organizations_visible_to(support_agent).exists()
    done = client.post(
        _url(org.pk), {"action": "revoke", "agent": support_agent.pk, "confirm": "yes"}
    )
    assert done.status_code == 302
    assert not organizations_visible_to(support_agent).exists()
    assert AuditEvent.objects.filter(action="revoke", actor=manager).count() == 1


def test_only_support_agents_can_be_assigned(client, manager, org):
    finance = staff_with_role(roles.FINANCE, email="finance@example.com")
    client.force_login(manager)
    response = client.post(_url(org.pk), {"action": "grant", "agent": finance.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not AuditEvent.objects.filter(action="grant").exists()


def test_support_agents_and_finance_cannot_open_the_page(client, org, support_agent):
    finance = staff_with_role(roles.FINANCE, email="finance@example.com")
    client.force_login(finance)
    assert client.get(_url(org.pk)).status_code == 403
    client.force_login(support_agent)
    # The agent does not even see the organization: 404, like a missing one.
    assert client.get(_url(org.pk)).status_code == 404


def test_missing_organization_is_404(client, manager):
    client.force_login(manager)
    assert client.get(_url(999999)).status_code == 404


def test_a_member_added_in_the_admin_gets_the_welcome_email(
    admin_client, org, django_capture_on_commit_callbacks, mailoutbox
):
    from tests.factories import UserFactory

    newcomer = UserFactory(email="newcomer@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:tenants_membership_add"),
            {"organization": org.pk, "user": newcomer.pk, "role": "member"},
        )
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["newcomer@example.com"]]


def test_bulk_done_notifies_each_assignee(
    superuser, django_capture_on_commit_callbacks, mailoutbox
):
    from tests.factories import MembershipFactory, TaskFactory
    from work.models import Notification
    from work.services import tasks_set_status

    member = MembershipFactory().user
    tasks = [
        TaskFactory(
            project__organization=member.memberships.get().organization, assignee=member
        )
        for _ in range(2)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        tasks_set_status(actor=superuser, tasks=tasks, status="DONE")
    assert (
        Notification.objects.filter(recipient=member, category="task_done").count() == 2
    )
    assert len(mailoutbox) == 2
