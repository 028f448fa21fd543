import smtplib

import pytest
from django.core.mail.backends.base import BaseEmailBackend

from tests.factories import MembershipFactory, OrganizationFactory


class UnreachableSMTPBackend(BaseEmailBackend):
    """An SMTP server that refuses every message, as one that is down would."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


@pytest.fixture
def smtp_down(settings):
    settings.EMAIL_BACKEND = "tests.work.conftest.UnreachableSMTPBackend"


@pytest.fixture
def acme(db):
    """An organization with an owner, an admin and a plain member."""
    org = OrganizationFactory(name="Acme", slug="acme")
    for role in ("owner", "admin", "member"):
        MembershipFactory(organization=org, role=role, user__email=f"{role}@acme.test")
    return org
