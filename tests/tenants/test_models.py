import datetime as dt

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.models import Membership, Organization, Subscription, User
from tests.factories import (
    InvoiceFactory,
    MembershipFactory,
    OrganizationFactory,
    SubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


class TestEmailLogin:
    def test_email_is_the_login_and_case_does_not_matter(self, rf):
        user = UserFactory(email="ada@example.com")
        request = rf.post("/admin/login/")
        login = {"username": "ADA@example.com", "password": "correct horse"}
        assert authenticate(request, **login) == user

    def test_wrong_password_is_refused(self, rf):
        UserFactory(email="ada@example.com")
        request = rf.post("/admin/login/")
        login = {"username": "ada@example.com", "password": "nope"}
        assert authenticate(request, **login) is None

    def test_admin_login_form_takes_the_email(self, client):
        UserFactory(email="ada@example.com", is_staff=True)
        response = client.post(
            "/admin/login/?next=/admin/",
            {"username": "ada@example.com", "password": "correct horse"},
        )
        assert response.status_code == 302
        assert response["Location"] == "/admin/"


class TestUserManager:
    def test_create_user_normalises_email_and_hashes_password(self):
        user = User.objects.create_user("Bob@Example.COM", "s3cret-pass")
        assert user.email == "bob@example.com"
        assert user.check_password("s3cret-pass")
        assert not user.is_staff and not user.is_superuser

    def test_create_superuser(self):
        user = User.objects.create_superuser("root@example.com", "s3cret-pass")
        assert user.is_staff and user.is_superuser

    def test_email_is_required(self):
        with pytest.raises(ValueError, match="email"):
            User.objects.create_user("", "x")


class TestSoftDelete:
    def test_default_manager_hides_deleted_rows_and_all_objects_sees_them(self):
        kept = OrganizationFactory()
        gone = OrganizationFactory(deleted_at=timezone.now())
        assert list(Organization.objects.all()) == [kept]
        assert set(Organization.all_objects.all()) == {kept, gone}
        assert list(Organization.all_objects.deleted()) == [gone]


class TestConstraints:
    def test_period_must_end_after_it_starts(self):
        now = timezone.now()
        subscription = SubscriptionFactory.build(
            organization=OrganizationFactory(),
            plan=SubscriptionFactory().plan,
            current_period_start=now,
            current_period_end=now - dt.timedelta(days=1),
        )
        with pytest.raises(ValidationError, match="end after it starts"):
            subscription.full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            subscription.save()

    def test_membership_is_unique_per_user_and_organization(self):
        membership = MembershipFactory()
        with pytest.raises(IntegrityError), transaction.atomic():
            Membership.objects.create(
                user=membership.user, organization=membership.organization
            )
        assert Membership.objects.count() == 1

    def test_invoice_of_a_foreign_subscription_is_rejected(self):
        invoice = InvoiceFactory.build(
            subscription=SubscriptionFactory(), organization=OrganizationFactory()
        )
        with pytest.raises(ValidationError, match="same organization"):
            invoice.full_clean()

    def test_paid_invoice_needs_a_payment_date(self):
        invoice = InvoiceFactory()
        invoice.status = "paid"
        with pytest.raises(IntegrityError), transaction.atomic():
            invoice.save()

    def test_subscription_str_is_informative(self):
        subscription = SubscriptionFactory(status=Subscription.Status.PAST_DUE)
        assert "Past due" in str(subscription)
        assert subscription.organization.name in str(subscription)
