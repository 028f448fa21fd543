from playwright.sync_api import expect

from tests.e2e.conftest import login
from tests.factories import StaffFactory


def test_staff_logs_in_with_email_and_reaches_the_admin_index(page, screenshot):
    StaffFactory(email="ada@example.com", is_superuser=True)
    login(page, "ada@example.com", "correct horse")
    expect(page).to_have_url(f"{page.url.split('/admin/')[0]}/admin/")
    expect(page.get_by_role("link", name="Tasks").first).to_be_visible()
    assert screenshot("login_admin_index").exists()


def test_wrong_password_stays_on_the_login_page(page, screenshot):
    StaffFactory(email="ada@example.com")
    login(page, "ada@example.com", "wrong password")
    expect(page.locator("body")).to_contain_text("correct email")
    screenshot("login_refused")
