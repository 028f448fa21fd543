import os

import pytest
from django.contrib.auth.models import Group

from tenants import roles
from tests.factories import OrganizationFactory, StaffFactory, UserFactory

# The Redis path needs a Redis server: .ci/run runs it with REDIS_URL set (a
# newcomer's `make test` may have none, and then does not collect it).
collect_ignore = [] if os.environ.get("REDIS_URL") else ["test_redis_paths.py"]


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def staff_with_role(role: str, **kwargs):
    user = StaffFactory(**kwargs)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def two_orgs(db):
    return OrganizationFactory(name="Alpha", slug="alpha"), OrganizationFactory(
        name="Beta", slug="beta"
    )


@pytest.fixture
def support_agent(db):
    return staff_with_role(roles.SUPPORT_AGENT, email="agent@example.com")
