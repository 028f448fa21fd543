"""Schedules and the subscription-expiry job, against the real database."""

import ast
import datetime as dt
import json

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Failure, Schedule, Success
from django_q.scheduler import scheduler

from audit.models import AuditEvent
from tenants.job_support import advisory_lock_key
from tenants.jobs import SYNC_JOB
from tenants.management.commands.register_schedules import SCHEDULES
from tenants.models import Organization, Subscription
from tenants.services import system_actor
from tests.factories import MembershipFactory, OrganizationFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


# --- register_schedules --------------------------------------------------------------


def test_register_schedules_creates_each_schedule_once():
    call_command("register_schedules")
    call_command("register_schedules")

    schedules = {s.name: s for s in Schedule.objects.all()}
    assert len(schedules) == Schedule.objects.count() == len(SCHEDULES) == 7
    cadences = {(s.func, s.schedule_type, s.cron) for s in schedules.values()}
    assert cadences == {
        ("tenants.jobs.sync_expired_subscriptions", Schedule.CRON, "0 1 * * *"),
        ("work.jobs.cleanup_soft_deleted_records", Schedule.CRON, "0 2 * * *"),
        ("work.jobs.remind_overdue_tasks", Schedule.CRON, "0 7 * * *"),
        ("work.jobs.generate_weekly_digest", Schedule.CRON, "0 8 * * 1"),
        ("audit.jobs.apply_history_retention", Schedule.CRON, "0 3 * * *"),
        ("admin_theme.jobs.refresh_dashboard_stats", Schedule.CRON, "*/5 * * * *"),
        ("audit.jobs.expire_import_previews", Schedule.CRON, "17 * * * *"),
    }
    assert all(s.func in settings.JOB_FUNCTIONS_ALLOWED for s in schedules.values())
    assert all(s.next_run > timezone.now() for s in schedules.values())
    sync = schedules["Sync expired subscriptions"]
    assert ast.literal_eval(sync.kwargs) == {"since_hours": 48}
    cleanup = schedules["Clean up soft-deleted records"]
    assert (cleanup.next_run.hour, cleanup.next_run.minute) == (2, 0)
    assert schedules["Weekly digest"].next_run.weekday() == 0


def test_every_registered_schedule_runs_through_the_clusters_scheduler():
    call_command("register_schedules")
    Schedule.objects.update(next_run=timezone.now() - dt.timedelta(seconds=1))

    scheduler()  # sync mode: each task runs at once

    assert set(Success.objects.values_list("func", flat=True)) == {
        job.func for job in SCHEDULES
    }
    assert not Failure.objects.exists()
    assert AuditEvent.objects.filter(action="job_run").count() == len(SCHEDULES)


def test_register_schedules_keeps_a_platform_admins_change():
    call_command("register_schedules")
    Schedule.objects.filter(name="Remind overdue tasks").update(cron="30 6 * * *")
    call_command("register_schedules")
    assert Schedule.objects.get(name="Remind overdue tasks").cron == "30 6 * * *"


# --- sync_expired_subscriptions: a small world ----------------------------------------


def _org(slug, *, tier="pro", admins=("owner", "admin"), members=("member",)):
    org = OrganizationFactory(name=slug.title(), slug=slug, plan_tier=tier)
    for role in (*admins, *members):
        MembershipFactory(
            organization=org, role=role, user__email=f"{role}@{slug}.example"
        )
    return org


def _subscription(org, *, ended_hours_ago, status=Subscription.Status.ACTIVE):
    end = timezone.now() - dt.timedelta(hours=ended_hours_ago)
    return SubscriptionFactory(
        organization=org,
        status=status,
        current_period_start=end - dt.timedelta(days=30),
        current_period_end=end,
    )


@pytest.fixture
def world():
    """Two organizations to expire, and four the job must leave alone."""
    acme, globex = _org("acme"), _org("globex", tier="starter")
    renewed = _org("renewed")
    _subscription(renewed, ended_hours_ago=-24 * 20)  # the renewal, still running
    return {
        "expire": [
            _subscription(acme, ended_hours_ago=2),
            _subscription(
                globex, ended_hours_ago=3, status=Subscription.Status.PAST_DUE
            ),
        ],
        "expire_keep_tier": _subscription(renewed, ended_hours_ago=1),
        "untouched": [
            _subscription(_org("older"), ended_hours_ago=30),  # outside the window
            _subscription(_org("future"), ended_hours_ago=-48),  # still running
            _subscription(
                _org("gone"), ended_hours_ago=1, status=Subscription.Status.CANCELLED
            ),
        ],
    }


def _state():
    """Everything the job may touch, to compare before and after."""
    return (
        sorted(Subscription.objects.values_list("pk", "status")),
        sorted(Organization.all_objects.values_list("slug", "plan_tier")),
        Subscription.history.count(),
        Organization.history.count(),
        AuditEvent.objects.count(),
    )


def _run(*args, execute=True, capture):
    """The command, with the on-commit callbacks run (or dropped, like a crash)."""
    with capture(execute=execute):
        call_command("sync_expired_subscriptions", *args)


def test_dry_run_changes_nothing(world, mailoutbox, capsys, caplog):
    before = _state()
    call_command("sync_expired_subscriptions", "--dry-run")

    assert _state() == before
    assert mailoutbox == []
    out = capsys.readouterr().out
    assert "Dry run: would expire 3 subscriptions of 3 organizations" in out
    logged = [json.loads(r.message) for r in caplog.records if r.name == "tenants.jobs"]
    assert {(line["slug"], line["dry_run"]) for line in logged} == {
        ("acme", True),
        ("globex", True),
        ("renewed", True),
    }


def test_run_expires_the_right_rows_and_emails_owners_and_admins(
    world, mailoutbox, capsys, caplog, django_capture_on_commit_callbacks
):
    untouched = sorted(
        Subscription.objects.filter(
            pk__in=[s.pk for s in world["untouched"]]
        ).values_list("pk", "status", "organization__plan_tier")
    )

    _run(capture=django_capture_on_commit_callbacks)

    for subscription in [*world["expire"], world["expire_keep_tier"]]:
        subscription.refresh_from_db()
        assert subscription.status == Subscription.Status.EXPIRED
        assert subscription.history.first().history_user == system_actor()
    tiers = dict(Organization.objects.values_list("slug", "plan_tier"))
    assert (tiers["acme"], tiers["globex"], tiers["renewed"]) == ("free", "free", "pro")
    assert Organization.history.filter(history_user=system_actor()).count() == 2
    assert (
        sorted(
            Subscription.objects.filter(
                pk__in=[s.pk for s in world["untouched"]]
            ).values_list("pk", "status", "organization__plan_tier")
        )
        == untouched
    )

    # One email per downgraded organization, to its owners and admins only.
    assert sorted(m.to for m in mailoutbox) == [
        ["admin@acme.example", "owner@acme.example"],
        ["admin@globex.example", "owner@globex.example"],
    ]
    assert "Free plan" in mailoutbox[0].body
    assert mailoutbox[0].alternatives[0].mimetype == "text/html"

    run = AuditEvent.objects.get(action="job_run", changed_fields__job=SYNC_JOB)
    assert run.actor == system_actor()
    assert run.changed_fields["organizations"] == 3
    assert run.changed_fields["subscriptions"] == 3
    assert run.changed_fields["moved_to_free"] == 2
    assert AuditEvent.objects.filter(action="update", actor=system_actor()).count() == 5
    logged = [json.loads(r.message) for r in caplog.records if r.name == "tenants.jobs"]
    assert {line["slug"]: line.get("plan_tier") for line in logged} == {
        "acme": ["pro", "free"],
        "globex": ["starter", "free"],
        "renewed": None,
    }
    assert (
        "Batch 1: 3 organizations, 3 subscriptions expired" in capsys.readouterr().out
    )


def test_a_second_run_sends_no_second_email(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    _run(capture=django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2
    after_first = _state()[:4]

    _run(capture=django_capture_on_commit_callbacks)

    assert len(mailoutbox) == 2
    assert _state()[:4] == after_first


def test_emails_lost_by_a_crash_after_commit_are_sent_once_by_the_next_run(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    # The process dies after the batch commits, before the queued emails go out.
    _run(execute=False, capture=django_capture_on_commit_callbacks)
    assert mailoutbox == []
    assert Subscription.objects.filter(status="expired").count() == 3

    _run(capture=django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2

    _run(capture=django_capture_on_commit_callbacks)
    assert len(mailoutbox) == 2
    runs = AuditEvent.objects.filter(
        action="job_run", changed_fields__job=SYNC_JOB
    ).order_by("id")
    assert [e.changed_fields["emails_queued_again"] for e in runs] == [0, 2, 0]


def test_a_failing_batch_leaves_the_other_batches_committed(
    mailoutbox, capsys, django_capture_on_commit_callbacks
):
    slugs = ["first", "second", "Not A Slug!", "fourth", "fifth"]
    for slug in slugs:  # created in this order: the batches follow the ids
        _subscription(_org(slug), ended_hours_ago=1)

    with pytest.raises(CommandError, match=r"Batches \[2\] failed"):
        _run("--batch-size", "2", capture=django_capture_on_commit_callbacks)

    expired = set(
        Subscription.objects.filter(status="expired").values_list(
            "organization__slug", flat=True
        )
    )
    assert expired == {"first", "second", "fifth"}
    tiers = dict(Organization.objects.values_list("slug", "plan_tier"))
    assert [tiers[slug] for slug in slugs] == ["free", "free", "pro", "pro", "free"]
    assert {m.to[0].split("@")[1] for m in mailoutbox} == {
        "first.example",
        "second.example",
        "fifth.example",
    }
    out = capsys.readouterr().out
    assert "Batch 2: failed and rolled back" in out
    assert "Batch 3: 1 organizations, 1 subscriptions expired" in out
    run = AuditEvent.objects.get(action="job_run", changed_fields__job=SYNC_JOB)
    assert run.changed_fields["failed_batches"] == [2]


@pytest.fixture
def lock_held_elsewhere():
    """The job's advisory lock, held by another session (another machine's run)."""
    db = connection.settings_dict
    other = psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=True,
    )
    key = advisory_lock_key(SYNC_JOB)
    assert other.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]
    yield other
    other.close()


def test_a_concurrent_run_exits_at_once_and_changes_nothing(
    world, lock_held_elsewhere, mailoutbox, django_capture_on_commit_callbacks
):
    before = _state()
    with pytest.raises(CommandError, match="holds its lock"):
        _run(capture=django_capture_on_commit_callbacks)
    assert _state() == before
    assert mailoutbox == []

    # Once the other run is over, the job runs; and it released the lock after.
    key = advisory_lock_key(SYNC_JOB)
    lock_held_elsewhere.execute("SELECT pg_advisory_unlock(%s)", [key])
    _run(capture=django_capture_on_commit_callbacks)
    assert Subscription.objects.filter(status="expired").count() == 3
    taken = lock_held_elsewhere.execute("SELECT pg_try_advisory_lock(%s)", [key])
    assert taken.fetchone()[0]


def test_the_expiry_email_skips_organizations_without_owners_or_admins(
    mailoutbox, django_capture_on_commit_callbacks
):
    lonely = _org("lonely", admins=())
    _subscription(lonely, ended_hours_ago=1)
    _run(capture=django_capture_on_commit_callbacks)
    lonely.refresh_from_db()
    assert lonely.plan_tier == "free"
    assert mailoutbox == []
    email_run = AuditEvent.objects.get(
        action="job_run", changed_fields__job="tenants.jobs.subscription_expired_email"
    )
    assert email_run.changed_fields["status"] == "nothing to send"
