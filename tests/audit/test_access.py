"""Login and session security, and the audit of access."""

import datetime as dt

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEvent
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct horse"


def _login(client, email, password, **headers):
    return client.post(
        LOGIN, {"username": email, "password": password}, headers=headers
    )


@pytest.fixture
def ada(db):
    return StaffFactory(email="ada@example.com")


class TestNoEnumeration:
    def test_unknown_email_and_wrong_password_get_the_same_page(self, client, ada):
        unknown = _login(client, "nobody@example.com", "whatever")
        wrong = _login(client, "ada@example.com", "whatever")
        assert unknown.status_code == wrong.status_code == 200

        def normalise(response, email):
            body = response.content.decode()
            body = body.replace(email, "EMAIL")
            token = response.context["csrf_token"]
            return body.replace(str(token), "TOKEN")

        assert normalise(unknown, "nobody@example.com") == normalise(
            wrong, "ada@example.com"
        )

    def test_unknown_email_also_runs_the_password_hasher(
        self, client, ada, monkeypatch
    ):
        # Same timing class: Django hashes the password even for an unknown user.
        from django.contrib.auth.hashers import MD5PasswordHasher

        calls = []
        original = MD5PasswordHasher.encode

        def counting(self, password, salt):
            calls.append(password)
            return original(self, password, salt)

        monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
        _login(client, "nobody@example.com", "whatever")
        unknown_calls = len(calls)
        _login(client, "ada@example.com", "whatever")
        assert unknown_calls >= 1
        assert len(calls) - unknown_calls == unknown_calls


class TestLockOut:
    def test_sixth_attempt_is_locked_out_and_not_before(self, client, ada):
        for attempt in range(1, 6):
            response = _login(client, "ada@example.com", f"wrong-{attempt}")
            assert response.status_code == 200, f"attempt {attempt} was refused early"
            assert "correct email" in response.content.decode()
        sixth = _login(client, "ada@example.com", PASSWORD)
        assert sixth.status_code == 429
        assert "locked" in sixth.content.decode()
        assert not client.get("/admin/").wsgi_request.user.is_authenticated

    def test_lockout_is_per_email_whatever_its_case(self, client, ada):
        for attempt in range(5):
            _login(client, "ADA@example.com" if attempt % 2 else "ada@example.com", "x")
        assert _login(client, "Ada@Example.com", PASSWORD).status_code == 429

    def test_forged_x_forwarded_for_does_not_reset_the_count(self, client, ada):
        for attempt in range(5):
            _login(
                client,
                "ada@example.com",
                "wrong",
                X_FORWARDED_FOR=f"10.0.0.{attempt}",
            )
        forged = _login(client, "ada@example.com", PASSWORD, X_FORWARDED_FOR="10.9.9.9")
        assert forged.status_code == 429

    def test_behind_fly_the_real_client_ip_is_the_key(self, client, ada, settings):
        settings.TRUST_FLY_CLIENT_IP = True
        for _ in range(5):
            _login(client, "ada@example.com", "wrong", FLY_CLIENT_IP="203.0.113.7")
        blocked = _login(
            client,
            "ada@example.com",
            PASSWORD,
            FLY_CLIENT_IP="203.0.113.7",
            X_FORWARDED_FOR="198.51.100.1",
        )
        assert blocked.status_code == 429
        # Another client (another real IP) is not locked out by someone else's failures.
        other = _login(client, "ada@example.com", PASSWORD, FLY_CLIENT_IP="203.0.113.8")
        assert other.status_code == 302

    def test_lockout_expires_after_thirty_minutes(self, client, ada):
        from axes.models import AccessAttempt

        for _ in range(5):
            _login(client, "ada@example.com", "wrong")
        assert _login(client, "ada@example.com", PASSWORD).status_code == 429
        AccessAttempt.objects.update(
            attempt_time=AccessAttempt.objects.get().attempt_time
            - dt.timedelta(minutes=31)
        )
        assert _login(client, "ada@example.com", PASSWORD).status_code == 302


class TestAuditOfAccess:
    def test_login_failed_login_and_lockout_are_recorded_with_ip_and_agent(
        self, client, ada
    ):
        _login(client, "ada@example.com", PASSWORD, USER_AGENT="pytest-browser")
        client.logout()
        for _ in range(5):
            _login(client, "ada@example.com", "wrong", USER_AGENT="pytest-browser")
        actions = list(
            AuditEvent.objects.order_by("id").values_list("action", flat=True)
        )
        assert actions[:2] == ["login", "logout"]
        assert actions.count("login_failed") == 5
        assert "lockout" in actions
        failed = AuditEvent.objects.filter(action="login_failed").first()
        assert failed.ip_address == "127.0.0.1"
        assert failed.user_agent == "pytest-browser"
        assert failed.actor is None and failed.actor_label == "ada@example.com"


class TestSessionLifetime:
    def _session_time(self, client, key, seconds_ago):
        import time

        session = client.session
        session[key] = int(time.time()) - seconds_ago
        session.save()

    def test_idle_session_expires_after_thirty_minutes(self, client, ada):
        client.force_login(ada)
        assert client.get("/admin/").status_code == 200
        self._session_time(client, "_last_seen", 29 * 60)
        assert client.get("/admin/").status_code == 200
        self._session_time(client, "_last_seen", 31 * 60)
        response = client.get("/admin/")
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
        assert not client.get("/admin/").wsgi_request.user.is_authenticated

    def test_sessions_end_after_twelve_hours_even_when_active(self, client, ada):
        client.force_login(ada)
        client.get("/admin/")
        self._session_time(client, "_started_at", 12 * 3600 + 1)
        assert client.get("/admin/").status_code == 302


class TestTwoFactor:
    @pytest.fixture(autouse=True)
    def _require_2fa(self, settings):
        settings.REQUIRE_2FA = True

    ADMIN_URLS = [
        "/admin/",
        "/admin/work/task/",
        "/admin/tenants/organization/",
        "/admin/tenants/organization/add/",
        "/admin/audit/auditevent/",
        "/admin/autocomplete/?app_label=work&model_name=task&field_name=project",
        "/admin/password_change/",
    ]

    def test_every_admin_url_requires_enrolment_then_a_code(self, client, ada):
        from django.contrib import admin
        from django.urls import reverse

        client.force_login(ada)
        changelists = [
            reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist")
            for m in admin.site._registry
        ]
        for url in [*self.ADMIN_URLS, *changelists]:
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/2fa/setup/"), url

    def test_enrolment_confirms_a_device_and_issues_recovery_codes(self, client, ada):
        client.force_login(ada)
        page = client.get("/admin/2fa/setup/?next=/admin/work/task/")
        assert page.status_code == 200 and "<svg" in page.content.decode()
        device = TOTPDevice.objects.get(user=ada)
        code = f"{totp(device.bin_key):06d}"
        done = client.post(
            "/admin/2fa/setup/", {"token": code, "next": "/admin/work/task/"}
        )
        assert done.status_code == 200
        assert len(done.context["codes"]) == 10
        assert client.get("/admin/").status_code == 200

    def test_a_wrong_enrolment_code_confirms_nothing(self, client, ada):
        client.force_login(ada)
        client.get("/admin/2fa/setup/")
        wrong = client.post("/admin/2fa/setup/", {"token": "000000"})
        assert "not valid" in wrong.content.decode()
        assert not TOTPDevice.objects.filter(user=ada, confirmed=True).exists()
        assert client.get("/admin/")["Location"].startswith("/admin/2fa/setup/")

    def test_enrolled_staff_verify_with_a_code_or_a_recovery_code(self, client, ada):
        device = TOTPDevice.objects.create(user=ada, name="phone", confirmed=True)
        static = ada.staticdevice_set.create(name="Recovery codes")
        StaticToken.objects.create(device=static, token="recover1")
        client.force_login(ada)
        response = client.get("/admin/work/task/")
        assert response["Location"].startswith("/admin/2fa/verify/")
        good = client.post(
            "/admin/2fa/verify/", {"token": "recover1", "next": "/admin/work/task/"}
        )
        assert good["Location"] == "/admin/work/task/"
        assert client.get("/admin/").status_code == 200
        assert not StaticToken.objects.filter(token="recover1").exists()  # single use
        assert device.pk

    def test_a_wrong_code_is_refused_and_audited(self, client, ada):
        TOTPDevice.objects.create(user=ada, name="phone", confirmed=True)
        client.force_login(ada)
        bad = client.post("/admin/2fa/verify/", {"token": "123456"})
        assert bad.status_code == 200 and "not valid" in bad.content.decode()
        assert client.get("/admin/")["Location"].startswith("/admin/2fa/verify/")
        assert AuditEvent.objects.filter(action="login_failed", actor=ada).exists()

    def test_verify_refuses_an_offsite_next(self, client, ada):
        TOTPDevice.objects.create(user=ada, name="phone", confirmed=True)
        static = ada.staticdevice_set.create(name="Recovery codes")
        StaticToken.objects.create(device=static, token="recover1")
        client.force_login(ada)
        response = client.post(
            "/admin/2fa/verify/", {"token": "recover1", "next": "https://evil.example/"}
        )
        assert response["Location"] == "/admin/"
