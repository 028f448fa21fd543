"""Browser journeys of a support agent and of finance: log in, filter and search a
list, run a bulk action through its confirmation, pin a tenant, open the dashboard.
Each step leaves a screenshot in tests/e2e/artifacts/."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tenants import roles
from tenants.services import support_grant
from tests.conftest import staff_with_role
from tests.e2e.conftest import login
from tests.factories import (
    InvoiceFactory,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    SubscriptionFactory,
    TaskFactory,
)

PASSWORD = "correct horse"


def _pin(page, organization_name):
    page.click("#tenant-switcher")
    page.click(".select2-selection")
    page.fill(".select2-search__field", organization_name[:4])
    page.click(f".select2-results__option:has-text('{organization_name}')")
    page.click("#pin-form button[type=submit]")
    expect(page.locator("#tenant-pinned")).to_contain_text(
        f"Pinned to {organization_name}"
    )


@pytest.fixture
def support_world(transactional_db):
    acme = OrganizationFactory(name="Acme", slug="acme")
    globex = OrganizationFactory(name="Globex", slug="globex")
    agent = staff_with_role(roles.SUPPORT_AGENT, email="agent@example.com")
    support_grant(actor=agent, organization=acme, agent=agent)
    support_grant(actor=agent, organization=globex, agent=agent)
    dana = MembershipFactory(organization=acme, user__full_name="Dana Dev").user
    project = ProjectFactory(organization=acme, name="Website", key="WEB")
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    for title in ("Fix login redirect", "Fix login on Safari", "Fix login timeout"):
        TaskFactory(project=project, title=title, due_date=yesterday)
    TaskFactory(project=project, title="Write release notes", status="DONE")
    TaskFactory(
        project=ProjectFactory(organization=globex, key="OPS"),
        title="Globex login audit",
    )
    return agent, dana


def test_support_agent_journey(page, screenshot, support_world):
    agent, dana = support_world
    login(page, agent.email, PASSWORD)
    expect(page.locator("#dashboard")).to_be_visible()
    screenshot("support_01_dashboard")

    page.goto("/admin/work/task/?status__exact=TODO")
    page.fill("input[name=q]", "login")
    page.keyboard.press("Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(4)  # three Acme tasks, one Globex task
    expect(page.locator("#result_list")).not_to_contain_text("release notes")
    screenshot("support_02_tasks_filtered_and_searched")

    # Bulk assign the three Acme tasks, through the confirmation page.
    for title in ("Fix login redirect", "Fix login on Safari", "Fix login timeout"):
        page.locator("#result_list tbody tr", has_text=title).locator(
            "input.action-select"
        ).check()
    page.select_option("select[name=action]", "assign")
    page.locator("button[name=index]").first.click()
    expect(page.locator("#action-confirm")).to_contain_text("3 tasks selected")
    page.select_option("select[name=assignee]", str(dana.pk))
    screenshot("support_03_bulk_assign_confirmation")
    page.click("#confirm-action")
    expect(page.locator("body")).to_contain_text(f"3 task(s) assigned to {dana.email}")
    screenshot("support_04_bulk_assign_done")

    _pin(page, "Acme")
    page.goto("/admin/work/task/?q=login")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    expect(page.locator("#result_list")).not_to_contain_text("Globex")
    screenshot("support_05_pinned_to_acme")

    page.goto("/admin/")
    expect(page.locator("[data-kpi='Overdue tasks']")).to_contain_text("3")
    screenshot("support_06_dashboard_pinned")


@pytest.fixture
def finance_world(transactional_db):
    acme = OrganizationFactory(name="Acme", slug="acme")
    globex = OrganizationFactory(name="Globex", slug="globex")
    finance = staff_with_role(roles.FINANCE, email="finance@example.com")
    for org, count in ((acme, 3), (globex, 2)):
        subscription = SubscriptionFactory(organization=org)
        for n in range(count):
            InvoiceFactory(subscription=subscription, number=f"INV-{org.slug}-{n}")
    InvoiceFactory(
        subscription=SubscriptionFactory(organization=acme),
        number="INV-acme-void",
        status="void",
    )
    return finance


def test_finance_journey(page, screenshot, finance_world):
    login(page, finance_world.email, PASSWORD)
    expect(page.locator("[data-kpi='Open invoices']")).to_contain_text("5")
    screenshot("finance_01_dashboard")

    page.goto("/admin/tenants/invoice/?status__exact=open")
    page.fill("input[name=q]", "Acme")
    page.keyboard.press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    screenshot("finance_02_invoices_filtered_and_searched")

    page.locator("#action-toggle").check()
    page.select_option("select[name=action]", "mark_paid")
    page.locator("button[name=index]").first.click()
    expect(page.locator("#action-confirm")).to_contain_text("3 invoices selected")
    screenshot("finance_03_mark_paid_confirmation")
    page.click("#confirm-action")
    expect(page.locator("body")).to_contain_text("3 invoice(s) marked paid.")
    screenshot("finance_04_mark_paid_done")

    _pin(page, "Globex")
    page.goto("/admin/tenants/invoice/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    screenshot("finance_05_pinned_to_globex")
    page.goto("/admin/")
    expect(page.locator("[data-kpi='Open invoices']")).to_contain_text("2")
    screenshot("finance_06_dashboard_pinned")


@pytest.fixture
def manager_world(transactional_db):
    acme = OrganizationFactory(name="Acme", slug="acme")
    MembershipFactory(organization=acme, user__email="erin@acme.test")
    newcomer = MembershipFactory(user__email="finn@acme.test").user  # elsewhere
    for key in range(12):
        ProjectFactory(organization=acme, key=f"P{key:02d}", name=f"Project {key}")
    manager = staff_with_role(roles.TENANT_MANAGER, email="manager@example.com")
    return manager, acme, newcomer


def test_tenant_manager_adds_a_member_and_pages_the_projects(
    page, screenshot, manager_world
):
    manager, acme, newcomer = manager_world
    login(page, manager.email, PASSWORD)
    page.goto(f"/admin/tenants/organization/{acme.pk}/change/#memberships")
    members = page.locator("#memberships-group tbody.form-group:not(.empty-form)")
    expect(members).to_have_count(1)
    page.click("#memberships-group a.add-row")
    expect(members).to_have_count(2)
    members.last.locator(".select2-selection").click()
    page.fill(".select2-search__field", "finn")
    page.click(".select2-results__option:has-text('finn@acme.test')")
    members.last.locator("select[name$=-role]").select_option("admin")
    screenshot("manager_01_member_added_inline")
    page.click("button[name=_continue]")
    expect(page.locator("body")).to_contain_text("was changed successfully")
    assert acme.memberships.get(user=newcomer).role == "admin"

    # The projects tab: a related list, ten rows a page, paged in place.
    page.goto(f"/admin/tenants/organization/{acme.pk}/change/#projects")
    page.reload()  # the same page: only a load opens the tab the address names
    rows = page.locator("#projects-data tbody")
    expect(rows).to_have_count(10)
    page.locator("#projects-data .inline-pagination a:has-text('2')").click()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("P10")
    screenshot("manager_02_projects_page_2")
