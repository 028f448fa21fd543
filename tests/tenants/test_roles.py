import pytest
from django.contrib.auth.models import Group

from tenants import roles

pytestmark = pytest.mark.django_db


def _codenames(role):
    return set(
        Group.objects.get(name=role).permissions.values_list(
            "content_type__app_label", "codename"
        )
    )


def test_the_four_roles_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        roles.PLATFORM_ADMIN,
        roles.TENANT_MANAGER,
        roles.SUPPORT_AGENT,
        roles.FINANCE,
    }


def test_support_agents_fix_work_but_never_see_billing():
    perms = _codenames(roles.SUPPORT_AGENT)
    assert ("work", "change_task") in perms
    assert not {p for p in perms if p[1].endswith(("invoice", "subscription", "plan"))}
    assert ("tenants", "view_all_organizations") not in perms


def test_finance_runs_billing_and_imports_but_not_work():
    perms = _codenames(roles.FINANCE)
    assert {("tenants", "change_invoice"), ("tenants", "import_invoice")} <= perms
    assert not {p for p in perms if p[0] == "work"}


def test_tenant_managers_manage_organizations_but_only_view_billing():
    perms = _codenames(roles.TENANT_MANAGER)
    assert {
        ("tenants", "add_organization"),
        ("tenants", "suspend_organization"),
    } <= perms
    assert ("tenants", "view_invoice") in perms
    assert ("tenants", "change_invoice") not in perms
    assert ("django_q", "view_schedule") in perms


def test_only_platform_admins_may_revert_history():
    holders = set(
        Group.objects.filter(permissions__codename="revert_history").values_list(
            "name", flat=True
        )
    )
    assert holders == {roles.PLATFORM_ADMIN}
