"""The one place that decides which organizations a user sees, read directly."""

import pytest
from django.db import NotSupportedError
from guardian.shortcuts import assign_perm

from tenants import roles
from tenants.selectors import scope_to_user
from tenants.services import support_grant, support_revoke
from tests.conftest import staff_with_role
from tests.factories import OrganizationFactory, TaskFactory, UserFactory
from work.models import Task


def _visible(user, model=Task):
    return set(scope_to_user(model._base_manager.all(), user))


def test_an_agents_scope_is_their_support_grants_read_afresh_each_time(
    superuser, support_agent
):
    mine, other = TaskFactory(), TaskFactory()
    assert _visible(support_agent) == set()
    # Scope SQL is built once per agent; the grants it reads are read each time.
    support_grant(actor=superuser, organization=mine.organization, agent=support_agent)
    assert _visible(support_agent) == {mine}
    support_revoke(actor=superuser, organization=mine.organization, agent=support_agent)
    assert _visible(support_agent) == set()
    assert other not in _visible(support_agent)


def test_another_object_permission_on_an_organization_grants_no_scope(
    superuser, support_agent
):
    task = TaskFactory()
    assign_perm("tenants.change_organization", support_agent, task.organization)
    assert _visible(support_agent) == set()


def test_an_agents_scope_is_their_own(superuser, support_agent):
    theirs = TaskFactory()
    colleague = staff_with_role(roles.SUPPORT_AGENT, email="colleague@example.com")
    support_grant(actor=superuser, organization=theirs.organization, agent=colleague)
    assert _visible(colleague) == {theirs}
    assert _visible(support_agent) == set()


def test_a_pinned_user_sees_the_pinned_organization_only(superuser, support_agent):
    first, second = TaskFactory(), TaskFactory()
    for organization in (first.organization, second.organization):
        support_grant(actor=superuser, organization=organization, agent=support_agent)
    manager = staff_with_role(roles.TENANT_MANAGER, email="manager@example.com")
    for user in (support_agent, manager):
        user.pinned_organization_id = second.organization_id
        assert _visible(user) == {second}, user.email
    # Pinned to an organization outside their grants, an agent sees nothing.
    support_agent.pinned_organization_id = OrganizationFactory().pk
    assert _visible(support_agent) == set()


def test_an_inactive_user_sees_nothing(superuser, support_agent):
    task = TaskFactory()
    support_grant(actor=superuser, organization=task.organization, agent=support_agent)
    support_agent.is_active = False
    assert _visible(support_agent) == set()
    assert _visible(UserFactory(is_superuser=True, is_active=False)) == set()


def test_a_combined_or_sliced_queryset_is_refused_not_scoped_in_part(
    superuser, support_agent
):
    tasks = Task.objects.all()
    for queryset in (tasks.union(tasks), tasks[:5]):
        with pytest.raises((NotSupportedError, TypeError)):
            scope_to_user(queryset, support_agent)
