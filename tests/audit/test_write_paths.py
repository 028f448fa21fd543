"""No write path without history and its actor.

Walks every public function of the service modules, every admin action of every
registered ModelAdmin (found in the admin registry, list actions and Unfold's
row and detail actions included), an admin form save, and every job. Each must
leave history rows all made by the right actor (and at least one when it changes
business data) and, for business events, an audit event by that actor. A new
service, action or job without a recipe here fails the walk.
"""

import datetime as dt
import inspect
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Max
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_q.models import Failure

from admin_theme import jobs as admin_theme_jobs
from admin_theme.models import SavedView
from audit import jobs as audit_jobs
from audit import services as audit_services
from audit.history import history_model_of, history_operation, tracked_models
from audit.models import AuditEvent
from audit.services import retention as audit_retention
from audit.services import reverts as audit_reverts
from tenants import jobs as tenant_jobs
from tenants import services as tenant_services
from tenants.models import Organization, Subscription, User
from tenants.services import SYSTEM_ACTOR_EMAIL, system_actor
from tests.factories import (
    CommentFactory,
    InvoiceFactory,
    MembershipFactory,
    OrganizationFactory,
    PlanFactory,
    ProjectFactory,
    StaffFactory,
    SubscriptionFactory,
    TagFactory,
    TaskFactory,
    UserFactory,
)
from work import jobs as work_jobs
from work import services as work_services
from work.models import Comment, Notification, Project, Task

pytestmark = pytest.mark.django_db

NOW = timezone.now()


# --- what a write path left behind ----------------------------------------------------
class Recorder:
    """The history rows and audit events written since it was made."""

    def __init__(self):
        self.marks = {
            model: history_model_of(model).objects.aggregate(m=Max("history_id"))["m"]
            or 0
            for model in tracked_models()
        }
        self.event_mark = AuditEvent.objects.aggregate(m=Max("id"))["m"] or 0

    def history(self) -> list:
        return [
            row
            for model, mark in self.marks.items()
            for row in history_model_of(model).objects.filter(history_id__gt=mark)
        ]

    def events(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(id__gt=self.event_mark))


@dataclass
class Expect:
    actor: User
    history: bool = True  # business data changes: at least one history row
    events: set[str] = field(default_factory=set)  # audit actions, by the actor


def check(recorder: Recorder, expect: Expect) -> list[str]:
    problems = []
    rows = recorder.history()
    if expect.history and not rows:
        problems.append("no history row")
    strangers = [
        f"{row._meta.label} #{row.history_id} by {row.history_user_id}"
        for row in rows
        if row.history_user_id != expect.actor.pk
    ]
    if strangers:
        problems.append(f"history rows by another actor: {strangers}")
    events = recorder.events()
    by_actor = {e.action for e in events if e.actor_id == expect.actor.pk}
    if not expect.events <= by_actor:
        problems.append(f"audit events {expect.events - by_actor} missing")
    others = [e.action for e in events if e.actor_id != expect.actor.pk]
    if others:
        problems.append(f"audit events by another actor: {others}")
    return problems


# --- a world to write in --------------------------------------------------------------
@dataclass
class World:
    actor: User
    organization: Organization
    member: User
    agent: User
    subscription: Subscription
    objects: dict


@pytest.fixture
def world(db) -> World:
    organization = OrganizationFactory(name="Walk Org", slug="walk")
    member = MembershipFactory(
        organization=organization, user__email="member@walk.test", role="owner"
    ).user
    project = ProjectFactory(organization=organization, key="WALK")
    tag = TagFactory(organization=organization, name="walk-tag")
    task = TaskFactory(project=project, title="A task to walk", assignee=member)
    task.tags.add(tag)
    subscription = SubscriptionFactory(organization=organization)
    invoice = InvoiceFactory(subscription=subscription)
    comment = CommentFactory(task=task, content="A comment")
    notification = Notification.objects.create(
        organization=organization, recipient=member, category="system", message="hi"
    )
    system_actor()
    objects = {
        model._meta.label: obj
        for model, obj in [
            (Organization, organization),
            (User, UserFactory(email="plain@walk.test")),
            (Project, project),
            (Task, task),
            (Comment, comment),
            (Notification, notification),
            (type(tag), tag),
            (type(invoice), invoice),
            (Subscription, subscription),
            (type(subscription.plan), subscription.plan),
            (
                type(member.memberships.first()),
                MembershipFactory(organization=organization),
            ),
        ]
    }
    actor = StaffFactory(email="actor@staff.test", is_superuser=True)
    objects["admin_theme.SavedView"] = SavedView.objects.create(
        owner=actor, name="Mine", model="work.task", query="status=DONE"
    )
    return World(
        actor=actor,
        organization=organization,
        member=member,
        agent=StaffFactory(email="agent@staff.test"),
        subscription=subscription,
        objects=objects,
    )


def _fresh_task(world, **kwargs) -> Task:
    return TaskFactory(project=world.objects["work.Project"], **kwargs)


# --- services -------------------------------------------------------------------------
def _tenants(w: World):
    a, org = w.actor, w.organization
    sub, invoice = w.subscription, w.objects["tenants.Invoice"]
    ended = SubscriptionFactory(
        organization=org,
        current_period_start=NOW - dt.timedelta(days=40),
        current_period_end=NOW - dt.timedelta(hours=1),
    )
    other_invoice = InvoiceFactory(subscription=sub)
    new_user, plan = UserFactory(), PlanFactory()
    return {
        "organization_create": lambda: tenant_services.organization_create(
            actor=a, name="New Org", slug="new-org"
        ),
        "organization_update": lambda: tenant_services.organization_update(
            actor=a, organization=org, name="Renamed Org"
        ),
        "user_create": lambda: tenant_services.user_create(
            actor=a, email="new@walk.test"
        ),
        "membership_create": lambda: tenant_services.membership_create(
            actor=a, organization=org, user=new_user
        ),
        "plan_create": lambda: tenant_services.plan_create(
            actor=a, code="walk", name="Walk", tier="pro", monthly_price=5
        ),
        "subscription_create": lambda: tenant_services.subscription_create(
            actor=a,
            organization=org,
            plan=plan,
            current_period_start=NOW,
            current_period_end=NOW + dt.timedelta(days=30),
        ),
        "invoice_create": lambda: tenant_services.invoice_create(
            actor=a, subscription=sub, number="INV-WALK", amount=10
        ),
        "organization_subscriptions_expire": lambda: (
            tenant_services.organization_subscriptions_expire(
                actor=a, organization=org, subscriptions=[ended]
            )
        ),
        "organization_suspend": lambda: tenant_services.organization_suspend(
            actor=a, organization=org, reason="unpaid invoices"
        ),
        "organization_change_plan": lambda: tenant_services.organization_change_plan(
            actor=a, organization=org, plan_tier="pro"
        ),
        "subscription_extend": lambda: tenant_services.subscription_extend(
            actor=a, subscription=sub, days=10
        ),
        "subscription_cancel": lambda: tenant_services.subscription_cancel(
            actor=a, subscription=sub, reason="moving away"
        ),
        "invoice_mark_paid": lambda: tenant_services.invoice_mark_paid(
            actor=a, invoice=invoice
        ),
        "invoice_void": lambda: tenant_services.invoice_void(
            actor=a, invoice=other_invoice, reason="duplicate"
        ),
        "support_grant": lambda: tenant_services.support_grant(
            actor=a, organization=org, agent=w.agent
        ),
    }


def _work(w: World):
    a, org, project = w.actor, w.organization, w.objects["work.Project"]
    task, comment = w.objects["work.Task"], w.objects["work.Comment"]
    trashed = _fresh_task(w, deleted_at=NOW - dt.timedelta(days=100))
    fresh = [_fresh_task(w) for _ in range(4)]
    destination = ProjectFactory(organization=org, key="DEST")
    return {
        "project_create": lambda: work_services.project_create(
            actor=a, organization=org, name="New project", key="NEW"
        ),
        "tag_create": lambda: work_services.tag_create(
            actor=a, organization=org, name="new-tag"
        ),
        "task_create": lambda: work_services.task_create(
            actor=a,
            project=project,
            title="Created by the walk",
            tags=[w.objects["work.Tag"]],
        ),
        "task_update": lambda: work_services.task_update(
            actor=a, task=task, title="Updated by the walk"
        ),
        "comment_create": lambda: work_services.comment_create(
            actor=a, task=task, content="Another comment"
        ),
        "comment_edit": lambda: work_services.comment_edit(
            actor=a, comment=comment, content="Edited"
        ),
        "notification_create": lambda: work_services.notification_create(
            actor=a,
            organization_id=org.pk,
            recipient=w.member,
            category="system",
            message="Walk",
        ),
        "tasks_assign": lambda: work_services.tasks_assign(
            actor=a, tasks=[fresh[0]], assignee=w.member
        ),
        "tasks_set_status": lambda: work_services.tasks_set_status(
            actor=a, tasks=[fresh[1]], status=Task.Status.DONE
        ),
        "tasks_set_due_date": lambda: work_services.tasks_set_due_date(
            actor=a, tasks=[fresh[2]], due_date=dt.date(2030, 1, 1)
        ),
        "tasks_move": lambda: work_services.tasks_move(
            actor=a,
            tasks=[fresh[3]],
            project=destination,
        ),
        "trash_purge": lambda: work_services.trash_purge(
            actor=a, model=Task, pks=[trashed.pk], deleted_before=NOW
        ),
    }


def _audit(w: World):
    a = w.actor

    def operation_to_undo():
        with history_operation() as operation:
            work_services.task_update(actor=a, task=_fresh_task(w), title="Undo me")
        return operation.id

    def change_to_revert():
        task = _fresh_task(w, title="Before")
        work_services.task_update(actor=a, task=task, title="After")
        return task.history.order_by("-history_id").first()

    undo_id, revert_record = operation_to_undo(), change_to_revert()
    fresh = [_fresh_task(w) for _ in range(5)]
    trashed = [_fresh_task(w, deleted_at=NOW) for _ in range(2)]
    return {
        "record_create": lambda: audit_services.record_create(
            actor=a,
            instance=Task(
                organization=w.organization,
                project=w.objects["work.Project"],
                title="Record",
            ),
        ),
        "record_update": lambda: audit_services.record_update(
            actor=a, instance=fresh[0], data={"title": "Recorded"}
        ),
        "record_soft_delete": lambda: audit_services.record_soft_delete(
            actor=a, instance=fresh[1]
        ),
        "record_restore": lambda: audit_services.record_restore(
            actor=a, instance=trashed[0]
        ),
        "record_bulk_update": lambda: audit_services.record_bulk_update(
            actor=a,
            instances=[fresh[2]],
            data={"priority": Task.Priority.HIGH},
            action="prioritize",
        ),
        "records_soft_delete": lambda: audit_services.records_soft_delete(
            actor=a, instances=[fresh[3]]
        ),
        "records_restore": lambda: audit_services.records_restore(
            actor=a, instances=[trashed[1]]
        ),
        "records_delete": lambda: audit_services.records_delete(
            actor=a, instances=[fresh[4]]
        ),
        "history_revert": lambda: audit_reverts.history_revert(
            actor=a, record=revert_record, reason="walk"
        ),
        "operation_undo": lambda: audit_reverts.operation_undo(
            actor=a, operation_id=undo_id, reason="walk"
        ),
    }


# Expected audit events of each service (history rows are always expected).
SERVICE_EVENTS = {
    "organization_create": {"create"},
    "organization_update": {"update"},
    "user_create": {"create"},
    "membership_create": {"create"},
    "plan_create": {"create"},
    "subscription_create": {"create"},
    "invoice_create": {"create"},
    "organization_subscriptions_expire": {"update"},
    "organization_suspend": {"suspend", "update"},
    "organization_change_plan": {"update"},
    "subscription_extend": {"update"},
    "subscription_cancel": {"update"},
    "invoice_mark_paid": {"update"},
    "invoice_void": {"update"},
    "project_create": {"create"},
    "tag_create": {"create"},
    "task_create": {"create"},
    "task_update": {"update"},
    "comment_create": {"create"},
    "comment_edit": {"update"},
    "notification_create": {"create"},
    "tasks_assign": {"bulk_action"},
    "tasks_set_status": {"bulk_action"},
    "tasks_set_due_date": {"bulk_action"},
    "tasks_move": {"bulk_action"},
    "trash_purge": {"delete"},
    "record_create": {"create"},
    "record_update": {"update"},
    "record_soft_delete": {"soft_delete"},
    "record_restore": {"restore"},
    "record_bulk_update": {"bulk_action"},
    "records_soft_delete": {"bulk_action"},
    "records_restore": {"bulk_action"},
    "records_delete": {"delete"},
    "history_revert": {"revert"},
    "operation_undo": {"revert"},
}
# Services walked by their own tests below, or that write no business data.
SERVICES_ELSEWHERE = {
    "system_actor": "test_the_system_actor_records_its_own_creation",
    "organization_reactivate": "test_reactivation_after_a_suspension",
    "support_revoke": "test_grants_and_revocations_are_audit_events",
    "support_grant": "test_grants_and_revocations_are_audit_events",
    "job_run_record": "the audit event of every job run, walked with the jobs",
    "job_queue": "queues a job (django-q2), walked with the jobs",
    "job_queue_on_commit": "queues a job after commit, walked with the jobs",
    "membership_welcome_queue": "queues a job after commit, walked with the jobs",
    "task_done_notification_queue": "queues a job after commit, walked with jobs",
    "audit_event_record": "the audit event itself, used by every path above",
    "diff_fields": "a pure function: reads two objects, writes nothing",
    "save_with_history": "the primitive of the record_* services above",
    "history_retention_apply": "deletes history rows only: see the retention job",
}
SERVICE_MODULES = (
    tenant_services,
    work_services,
    audit_services,
    audit_reverts,
    audit_retention,
)


def _public_functions(module) -> set[str]:
    return {
        name
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and not name.startswith("_")
    }


def test_every_service_is_walked():
    found = set().union(*(_public_functions(m) for m in SERVICE_MODULES))
    walked = set(SERVICE_EVENTS) | set(SERVICES_ELSEWHERE)
    assert found - walked == set(), "add a recipe for the new service(s)"
    assert walked - found == set(), "a recipe names a service that is gone"


@pytest.mark.parametrize("name", sorted(SERVICE_EVENTS))
def test_service_writes_history_by_its_actor_and_an_audit_event(world, name):
    recipes = {**_tenants(world), **_work(world), **_audit(world)}
    recorder = Recorder()
    recipes[name]()
    assert check(recorder, Expect(world.actor, events=SERVICE_EVENTS[name])) == []


def test_reasons_given_by_staff_are_on_the_history_rows(world):
    tenant_services.organization_suspend(
        actor=world.actor, organization=world.organization, reason="unpaid invoices"
    )
    row = world.organization.history.order_by("-history_id").first()
    assert row.history_change_reason == "unpaid invoices"


def test_reactivation_after_a_suspension(world):
    tenant_services.organization_suspend(
        actor=world.actor, organization=world.organization, reason="unpaid"
    )
    recorder = Recorder()
    tenant_services.organization_reactivate(
        actor=world.actor, organization=world.organization, reason="paid"
    )
    assert check(recorder, Expect(world.actor, events={"reactivate"})) == []


def test_grants_and_revocations_are_audit_events(world):
    """Object permissions have no history table: the audit event is the record."""
    recorder = Recorder()
    tenant_services.support_grant(
        actor=world.actor, organization=world.organization, agent=world.agent
    )
    tenant_services.support_revoke(
        actor=world.actor, organization=world.organization, agent=world.agent
    )
    expect = Expect(world.actor, history=False, events={"grant", "revoke"})
    assert check(recorder, expect) == []


def test_the_system_actor_records_its_own_creation(db):
    recorder = Recorder()
    actor = system_actor()
    assert actor.email == SYSTEM_ACTOR_EMAIL and not actor.has_usable_password()
    assert check(recorder, Expect(actor)) == []


# --- admin actions --------------------------------------------------------------------
ACTION_DATA = {
    ("tenants.Organization", "suspend"): {"reason": "unpaid invoices"},
    ("tenants.Organization", "suspend_detail"): {"reason": "unpaid invoices"},
    ("tenants.Organization", "reactivate"): {"reason": "paid"},
    ("tenants.Organization", "reactivate_detail"): {"reason": "paid"},
    ("tenants.Organization", "change_plan"): {"plan_tier": "enterprise"},
    ("tenants.Subscription", "extend"): {"days": 10},
    ("tenants.Subscription", "cancel"): {"reason": "moving away"},
    ("tenants.Invoice", "void"): {"reason": "duplicate"},
    ("work.Task", "change_status"): {"status": "DONE"},
    ("work.Task", "set_due_date"): {"due_date": "2030-01-01"},
}
ACTION_EVENTS = {
    "suspend": {"suspend"},
    "suspend_detail": {"suspend"},
    "reactivate": {"reactivate"},
    "reactivate_detail": {"reactivate"},
    "change_plan": {"update"},
    "extend": {"update"},
    "cancel": {"update"},
    "mark_paid": {"update"},
    "void": {"update"},
    "delete_selected": {"delete"},
}
# Actions that write no business data of ours, and why.
ACTIONS_WITHOUT_HISTORY = {
    ("tenants.Organization", "open_support_agents"): "opens a page, writes nothing",
    ("audit.AuditEvent", "export_csv"): "walked in test_history_admin (export event)",
    ("audit.AuditEvent", "history_sizes"): "opens a page, writes nothing",
    ("django_q.Failure", "run_again"): "test_run_again_is_an_audit_event",
}
# Registered models that are not business data: sign-in records and devices, job
# queue records and roles (kept by migrations).
UNTRACKED_APPS = {"auth", "axes", "django_q", "otp_static", "otp_totp"}


def _superuser_request(path="/"):
    request = RequestFactory().get(path)
    request.user = User(email="x@y.z", is_staff=True, is_superuser=True)
    return request


def registered_actions() -> list[tuple[str, str, str]]:
    """(model label, action, kind) of every admin: Django actions (in the list
    and in the trash), Unfold's list, row and detail actions."""
    found = set()
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        for path in ("/", "/?trash=1"):
            for name in model_admin.get_actions(_superuser_request(path)):
                found.add((label, name, "changelist"))
        for kind in ("actions_list", "actions_row", "actions_detail"):
            for name in getattr(model_admin, kind, None) or ():
                found.add((label, name, kind))
    return sorted(found)


ACTIONS = registered_actions()


def _walked(label: str, name: str) -> bool:
    app = label.split(".")[0]
    return app not in UNTRACKED_APPS and (label, name) not in ACTIONS_WITHOUT_HISTORY


def _subject(world, label: str, name: str):
    obj = world.objects[label]
    if name == "restore_from_trash":
        type(obj)._base_manager.filter(pk=obj.pk).update(deleted_at=NOW)
    if name in ("reactivate", "reactivate_detail"):
        Organization.objects.filter(pk=obj.pk).update(status="suspended")
    if label == "tenants.User" and name == "delete_selected":
        return UserFactory(email="deletable@walk.test")
    if label == "tenants.Organization" and name == "delete_selected":
        return OrganizationFactory(name="Deletable", slug="deletable")
    if label == "tenants.Plan" and name == "delete_selected":
        return PlanFactory(code="deletable")
    if label in ("tenants.Subscription", "tenants.Invoice") and name == (
        "delete_selected"
    ):
        return InvoiceFactory() if label.endswith("Invoice") else SubscriptionFactory()
    return obj


@pytest.mark.parametrize(
    "label,name,kind",
    [a for a in ACTIONS if _walked(a[0], a[1])],
    ids=[f"{a[0]}.{a[1]}" for a in ACTIONS if _walked(a[0], a[1])],
)
def test_admin_action_writes_history_by_the_user(client, world, label, name, kind):
    client.force_login(world.actor)
    obj = _subject(world, label, name)
    app_label, model_name = obj._meta.app_label, obj._meta.model_name
    data = {"apply": "yes", "post": "yes", **ACTION_DATA.get((label, name), {})}
    if (label, name) == ("work.Task", "assign"):
        data["assignee"] = MembershipFactory(organization=world.organization).user.pk
    if (label, name) == ("work.Task", "move"):
        data["project"] = ProjectFactory(organization=world.organization).pk
    recorder = Recorder()
    if kind == "changelist":
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
        if name == "restore_from_trash":
            url += "?trash=1"
        data.update(
            {
                "action": name,
                "index": 0,
                "select_across": 0,
                ACTION_CHECKBOX_NAME: obj.pk,
            }
        )
    else:
        url = reverse(f"admin:{app_label}_{model_name}_{name}", args=[obj.pk])
    response = client.post(url, data)
    assert response.status_code in (200, 302)
    events = ACTION_EVENTS.get(name, {"bulk_action"})
    assert check(recorder, Expect(world.actor, events=events)) == []


def test_every_action_is_walked_or_explained():
    untracked = [
        (label, name)
        for label, name, _ in ACTIONS
        if label.split(".")[0] in UNTRACKED_APPS
    ]
    for label, name in untracked:
        assert (
            name in ("delete_selected", "cleanup_expired_attempts")
            or (
                label,
                name,
            )
            in ACTIONS_WITHOUT_HISTORY
        ), f"{label}.{name} writes what, and where?"
    assert {a[:2] for a in ACTIONS} >= set(ACTIONS_WITHOUT_HISTORY)


def test_run_again_is_an_audit_event(client, world):
    failure = Failure.objects.create(
        id="f" * 32,
        name="walk-failure",
        func="math.floor",
        args=(1,),
        started=NOW,
        stopped=NOW,
        success=False,
    )
    client.force_login(world.actor)
    recorder = Recorder()
    client.post(
        reverse("admin:django_q_failure_changelist"),
        {"action": "run_again", "index": 0, ACTION_CHECKBOX_NAME: failure.pk},
    )
    expect = Expect(world.actor, history=False, events={"job_run"})
    assert check(recorder, expect) == []


def test_an_admin_form_save_writes_history_by_the_user(client, world):
    task = world.objects["work.Task"]
    client.force_login(world.actor)
    url = reverse("admin:work_task_change", args=[task.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name in form.fields
    }
    data.update(
        {
            "title": "Saved in the admin",
            "tags": [t.pk for t in task.tags.all()],
            "version_seen": task.version,
            "custom_fields": "{}",
            "comments-TOTAL_FORMS": 0,
            "comments-INITIAL_FORMS": 0,
        }
    )
    recorder = Recorder()
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert check(recorder, Expect(world.actor, events={"update"})) == []
    task.refresh_from_db()
    assert task.title == "Saved in the admin"


# --- jobs -----------------------------------------------------------------------------
def _job_recipes(w: World):
    org, task = w.organization, w.objects["work.Task"]
    membership = w.objects["tenants.Membership"]
    return {
        "sync_expired_subscriptions": lambda: tenant_jobs.sync_expired_subscriptions(),
        "subscription_expired_email": lambda: tenant_jobs.subscription_expired_email(
            organization_id=org.pk, subscription_ids=[w.subscription.pk]
        ),
        "cleanup_soft_deleted_records": lambda: (
            work_jobs.cleanup_soft_deleted_records()
        ),
        "generate_weekly_digest": lambda: work_jobs.generate_weekly_digest(),
        "weekly_digest_email": lambda: work_jobs.weekly_digest_email(
            organization_id=org.pk, week_start="2026-01-05"
        ),
        "remind_overdue_tasks": lambda: work_jobs.remind_overdue_tasks(),
        "overdue_reminder_email": lambda: work_jobs.overdue_reminder_email(
            user_id=w.member.pk, today=NOW.date().isoformat()
        ),
        "task_done_notify": lambda: work_jobs.task_done_notify(
            task_id=task.pk, completed_at=task.completed_at.isoformat()
        ),
        "membership_welcome": lambda: work_jobs.membership_welcome(
            membership_id=membership.pk
        ),
        "apply_history_retention": lambda: audit_jobs.apply_history_retention(),
        "expire_import_previews": lambda: audit_jobs.expire_import_previews(),
        "refresh_dashboard_stats": lambda: admin_theme_jobs.refresh_dashboard_stats(),
    }


JOB_MODULES = (tenant_jobs, work_jobs, audit_jobs, admin_theme_jobs)
# Jobs that change business data: they must leave history rows.
JOBS_WRITING_DATA = {
    "sync_expired_subscriptions",
    "cleanup_soft_deleted_records",
    "task_done_notify",
    "membership_welcome",
}


def test_every_job_is_walked(world):
    found = set().union(*(_public_functions(m) for m in JOB_MODULES))
    assert found == set(_job_recipes(world))


@pytest.mark.parametrize(
    "name", sorted(set().union(*(_public_functions(m) for m in JOB_MODULES)))
)
def test_job_writes_history_and_its_run_as_the_system_actor(world, name):
    SubscriptionFactory(
        organization=world.organization,
        current_period_start=NOW - dt.timedelta(days=40),
        current_period_end=NOW - dt.timedelta(hours=2),
    )
    Task.objects.filter(pk=world.objects["work.Task"].pk).update(
        status=Task.Status.DONE, completed_at=NOW
    )
    world.objects["work.Task"].refresh_from_db()
    _fresh_task(world, deleted_at=NOW - dt.timedelta(days=100))
    _fresh_task(world, assignee=world.member, due_date=dt.date(2020, 1, 1))
    recorder = Recorder()
    _job_recipes(world)[name]()
    expect = Expect(
        system_actor(), history=name in JOBS_WRITING_DATA, events={"job_run"}
    )
    assert check(recorder, expect) == []


# --- imports -------------------------------------------------------------------------
def test_an_import_writes_history_by_the_user_and_is_undone_as_one(world):
    from tests.import_export_helpers import csv_bytes, run_import

    task = world.objects["work.Task"]
    rows = [
        ["organization", "project", "id", "title", "status", "priority"],
        ["walk", "WALK", task.pk, "Imported title", "DONE", "40"],
        ["walk", "WALK", "", "Imported task", "TODO", "20"],
    ]
    recorder = Recorder()
    job = run_import(world.actor, Task, csv_bytes(rows))
    assert job.status == "succeeded", job.message
    assert check(recorder, Expect(world.actor, events={"import"})) == []
    assert {r.operation_id for r in recorder.history()} == {job.operation_id}
    imported = task.history.filter(operation_id=job.operation_id).get()
    assert [link.tag_id for link in imported.tags.all()] == [
        world.objects["work.Tag"].pk
    ]

    result = audit_reverts.operation_undo(
        actor=world.actor, operation_id=job.operation_id, reason="wrong file"
    )

    assert (result["restored"], result["deleted"]) == (1, 1)
    task.refresh_from_db()
    assert task.title == "A task to walk"
    assert not Task.objects.filter(title="Imported task").exists()
