"""The demo world behind `manage.py seed_demo`.

The small world (plans, staff, organizations, members, projects, billing,
comments) goes through the services, so it has history and audit events like
real data. Tasks in bulk are streamed with PostgreSQL COPY, each with its
creation history row, so a million of them take about a minute.
"""

import datetime as dt
import json
import random
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.utils import timezone

from tenants import roles
from tenants.models import Membership, Organization, Plan, PlanTier, Subscription, User
from tenants.services import (
    invoice_create,
    membership_create,
    organization_create,
    plan_create,
    subscription_create,
    support_grant,
    system_actor,
    user_create,
)
from work.models import Comment, Project, Tag, Task
from work.services import comment_create, project_create, tag_create

DEMO_PASSWORD = "backoffice-demo"
DEMO_LOGINS = [
    ("admin@demo.test", "Ada Admin", roles.PLATFORM_ADMIN),
    ("manager@demo.test", "Max Manager", roles.TENANT_MANAGER),
    ("support@demo.test", "Sam Support", roles.SUPPORT_AGENT),
    ("finance@demo.test", "Fay Finance", roles.FINANCE),
]
PLANS = [
    ("free", "Free", PlanTier.FREE, "0.00", 5, 3),
    ("starter", "Starter", PlanTier.STARTER, "29.00", 15, 20),
    ("pro", "Pro", PlanTier.PRO, "99.00", 100, None),
    ("enterprise", "Enterprise", PlanTier.ENTERPRISE, "499.00", None, None),
]
# (name, tier, members, projects, task weight): sizes vary a lot, as in real life.
ORGANIZATIONS = [
    ("Acme Corporation", PlanTier.ENTERPRISE, 24, 8, 30),
    ("Globex", PlanTier.PRO, 16, 6, 18),
    ("Initech", PlanTier.PRO, 12, 5, 12),
    ("Umbrella Labs", PlanTier.STARTER, 8, 4, 9),
    ("Stark Industries", PlanTier.ENTERPRISE, 20, 7, 10),
    ("Wayne Enterprises", PlanTier.PRO, 10, 4, 7),
    ("Hooli", PlanTier.STARTER, 6, 3, 5),
    ("Pied Piper", PlanTier.STARTER, 5, 3, 4),
    ("Vandelay Industries", PlanTier.FREE, 3, 2, 2),
    ("Soylent", PlanTier.FREE, 3, 1, 1),
    ("Tyrell Corp", PlanTier.PRO, 9, 4, 1.5),
    ("Cyberdyne Systems", PlanTier.FREE, 2, 1, 0.5),
]
SUPPORTED_ORGANIZATIONS = ["acme-corporation", "globex", "initech"]
FIRST_NAMES = [
    "Alice",
    "Bob",
    "Chloe",
    "David",
    "Emma",
    "Felix",
    "Grace",
    "Hugo",
    "Iris",
    "Jonas",
    "Kara",
    "Liam",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Will",
    "Xena",
    "Yann",
    "Zoe",
]
LAST_NAMES = [
    "Adams",
    "Brown",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ivanov",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Martin",
    "Nowak",
    "Olsen",
    "Petit",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Vogel",
    "Weber",
    "Young",
    "Zimmer",
]
PROJECTS = [
    ("WEB", "Website"),
    ("APP", "Mobile app"),
    ("API", "Public API"),
    ("OPS", "Operations"),
    ("MKT", "Marketing"),
    ("DATA", "Data platform"),
    ("SEC", "Security"),
    ("HR", "People"),
]
TAGS = [
    ("bug", "danger"),
    ("feature", "success"),
    ("chore", "info"),
    ("urgent", "warning"),
]
VERBS = [
    "Fix",
    "Add",
    "Remove",
    "Refactor",
    "Document",
    "Test",
    "Review",
    "Update",
    "Migrate",
    "Investigate",
    "Design",
    "Ship",
]
THINGS = [
    "login page",
    "checkout flow",
    "invoice PDF",
    "search index",
    "billing webhook",
    "onboarding email",
    "dark mode",
    "CSV export",
    "rate limiter",
    "audit log",
    "password reset",
    "push notifications",
    "dashboard chart",
    "user avatar",
    "SSO settings",
    "API pagination",
    "cache layer",
    "release notes",
]
QUALIFIERS = [
    "on Safari",
    "for mobile",
    "in staging",
    "for enterprise tenants",
    "after the upgrade",
    "under load",
    "for new users",
    "in the EU region",
    "before the launch",
    "on slow networks",
]
STATUS_WEIGHTS = [
    (Task.Status.TODO, 35),
    (Task.Status.IN_PROGRESS, 15),
    (Task.Status.DONE, 45),
    (Task.Status.CANCELLED, 5),
]
PRIORITY_WEIGHTS = [(10, 30), (20, 45), (30, 20), (40, 5)]
TASK_COLUMNS = [
    "id",
    "organization_id",
    "project_id",
    "title",
    "description",
    "status",
    "priority",
    "assignee_id",
    "reporter_id",
    "due_date",
    "completed_at",
    "custom_fields",
    "created_at",
    "updated_at",
    "deleted_at",
    "version",
]
HISTORY_COLUMNS = [
    *TASK_COLUMNS,
    "history_date",
    "history_type",
    "history_user_id",
    "history_change_reason",
]


@dataclass
class Report:
    created_tasks: int = 0
    total_tasks: int = 0


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def is_seeded() -> bool:
    return Organization.all_objects.exists()


def build_world(*, rng: random.Random) -> None:
    """Plans, demo staff, organizations with members, billing, projects and tags.

    Every piece is looked up first, so running it again adds only what is missing.
    """
    actor = system_actor()
    plans = {p.tier: p for p in Plan.objects.all()}
    for code, name, tier, price, members, projects in PLANS:
        if tier not in plans:
            plans[tier] = plan_create(
                actor=actor,
                code=code,
                name=name,
                tier=tier,
                monthly_price=Decimal(price),
                max_members=members,
                max_projects=projects,
            )
    staff = _demo_staff(actor)
    now = timezone.now()
    for index, (name, tier, n_members, n_projects, _) in enumerate(ORGANIZATIONS):
        org = Organization.all_objects.filter(slug=_slug(name)).first()
        if org is None:
            org = organization_create(
                actor=actor, name=name, slug=_slug(name), plan_tier=tier
            )
        _members(actor, org, n_members, index)
        _billing(actor, org, plans[tier], index, now)
        _projects(actor, org, n_projects, rng)
        if org.slug in SUPPORTED_ORGANIZATIONS:
            support_grant(
                actor=actor, organization=org, agent=staff[roles.SUPPORT_AGENT]
            )


def _demo_staff(actor) -> dict[str, User]:
    staff = {}
    for email, full_name, role in DEMO_LOGINS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = user_create(
                actor=actor,
                email=email,
                full_name=full_name,
                password=DEMO_PASSWORD,
                is_staff=True,
            )
            user.is_superuser = role == roles.PLATFORM_ADMIN
            user.save(update_fields=["is_superuser"])
            user.groups.add(Group.objects.get(name=role))
        staff[role] = user
    return staff


def _members(actor, org: Organization, count: int, index: int) -> None:
    existing = Membership.objects.filter(organization=org).count()
    for n in range(existing, count):
        first = FIRST_NAMES[(n + index) % len(FIRST_NAMES)]
        last = LAST_NAMES[(n * 7 + index) % len(LAST_NAMES)]
        email = f"{first}.{last}.{n}@{org.slug}.example".lower()
        user = User.objects.filter(email=email).first() or user_create(
            actor=actor, email=email, full_name=f"{first} {last}"
        )
        role = Membership.Role.OWNER if n == 0 else Membership.Role.MEMBER
        if n in (1, 2):
            role = Membership.Role.ADMIN
        membership_create(actor=actor, organization=org, user=user, role=role)


def _billing(actor, org: Organization, plan: Plan, index: int, now) -> None:
    if Subscription.objects.filter(organization=org).exists():
        return
    start = now - dt.timedelta(days=20 + index)
    status = Subscription.Status.ACTIVE if index % 5 else Subscription.Status.PAST_DUE
    subscription = subscription_create(
        actor=actor,
        organization=org,
        plan=plan,
        current_period_start=start,
        current_period_end=start + dt.timedelta(days=30),
        status=status,
    )
    if plan.monthly_price == 0:
        return
    for month in range(3):
        issued = (start - dt.timedelta(days=30 * month)).date()
        invoice_create(
            actor=actor,
            subscription=subscription,
            number=f"INV-{org.pk:04d}-{month + 1:03d}",
            amount=plan.monthly_price,
            issued_on=issued,
            due_on=issued + dt.timedelta(days=14),
        )


def _projects(actor, org: Organization, count: int, rng: random.Random) -> None:
    members = list(User.objects.filter(memberships__organization=org)[:10])
    have = set(
        Project.all_objects.filter(organization=org).values_list("key", flat=True)
    )
    for key, name in PROJECTS[:count]:
        if key not in have:
            project_create(
                actor=actor,
                organization=org,
                name=name,
                key=key,
                owner=rng.choice(members) if members else None,
            )
    have_tags = set(Tag.objects.filter(organization=org).values_list("name", flat=True))
    for name, color in TAGS:
        if name not in have_tags:
            tag_create(actor=actor, organization=org, name=name, color=color)


def _weighted(rng: random.Random, weighted: list[tuple]) -> list:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


def seed_tasks(*, target: int, rng: random.Random, batch_size: int = 50_000, log=None):
    """Top the task table up to `target` rows, with history, via COPY in batches."""
    report = Report()
    actor = system_actor()
    existing = Task.all_objects.count()
    missing = max(0, target - existing)
    org_weights = {_slug(name): weight for name, *_, weight in ORGANIZATIONS}
    projects = list(Project.objects.values_list("id", "organization_id"))
    orgs = dict(Organization.objects.values_list("id", "slug"))
    members: dict[int, list[int]] = {}
    for user_id, org_id in Membership.objects.values_list("user_id", "organization_id"):
        members.setdefault(org_id, []).append(user_id)
    weights = [org_weights.get(orgs[org_id], 1.0) for _, org_id in projects]
    tags: dict[int, list[int]] = {}
    for tag_id, org_id in Tag.objects.values_list("id", "organization_id"):
        tags.setdefault(org_id, []).append(tag_id)
    today = timezone.localdate()
    now = timezone.now()
    done = 0
    while done < missing:
        size = min(batch_size, missing - done)
        picks = rng.choices(projects, weights=weights, k=size)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence('work_task', 'id')) "
                "FROM generate_series(1, %s)",
                [size],
            )
            ids = [row[0] for row in cursor.fetchall()]
            rows = [
                _task_row(rng, task_id, project, members, actor.pk, today, now)
                for task_id, project in zip(ids, picks, strict=True)
            ]
            raw = cursor.connection
            with raw.cursor().copy(
                f"COPY work_task ({', '.join(TASK_COLUMNS)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            with raw.cursor().copy(
                f"COPY work_historicaltask ({', '.join(HISTORY_COLUMNS)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row((*row, row[12], "+", actor.pk, "seed_demo"))
            with raw.cursor().copy(
                "COPY work_task_tags (task_id, tag_id) FROM STDIN"
            ) as copy:
                for row in rows:
                    if rng.random() < 0.2 and tags.get(row[1]):
                        copy.write_row((row[0], rng.choice(tags[row[1]])))
            # Each creation history row keeps the task's tags, as simple-history
            # keeps them: a revert to that version keeps them too.
            cursor.execute(
                "INSERT INTO work_historicaltask_tags "
                "(id, task_id, tag_id, history_id) "
                "SELECT t.id, t.task_id, t.tag_id, h.history_id "
                "FROM work_task_tags t JOIN work_historicaltask h "
                "ON h.id = t.task_id AND h.history_type = '+' "
                "WHERE t.task_id = ANY(%s)",
                [ids],
            )
        done += size
        if log:
            log(f"  {existing + done:,} / {target:,} tasks")
    report.created_tasks = done
    report.total_tasks = existing + done
    return report


def _task_row(rng, task_id, project, members, actor_id, today, now):
    project_id, org_id = project
    people = members.get(org_id) or [None]
    status = _weighted(rng, STATUS_WEIGHTS)
    created = now - dt.timedelta(
        days=rng.random() ** 2 * 365, seconds=rng.randint(0, 86399)
    )
    due = (
        today + dt.timedelta(days=rng.randint(-60, 90)) if rng.random() < 0.7 else None
    )
    title = f"{rng.choice(VERBS)} {rng.choice(THINGS)} {rng.choice(QUALIFIERS)}"
    custom = {"story_points": rng.choice((1, 2, 3, 5, 8))} if rng.random() < 0.3 else {}
    return (
        task_id,
        org_id,
        project_id,
        title,
        "",
        status,
        _weighted(rng, PRIORITY_WEIGHTS),
        rng.choice(people) if rng.random() < 0.8 else None,
        rng.choice(people),
        due,
        created + dt.timedelta(days=rng.randint(1, 20)) if status == "DONE" else None,
        json.dumps(custom),
        created,
        created,
        None,
        1,
    )


def seed_comments(*, rng: random.Random, per_task: int = 2, tasks: int = 60) -> None:
    """A few comments on recent tasks, through the service (history and audit)."""
    if Comment.objects.exists():
        return
    for task in Task.objects.select_related("project").order_by("-id")[:tasks]:
        authors = list(
            User.objects.filter(memberships__organization_id=task.organization_id)[:5]
        )
        for _ in range(rng.randint(0, per_task)):
            comment_create(
                actor=rng.choice(authors),
                task=task,
                content=rng.choice(
                    [
                        "Reproduced on staging, looking into it.",
                        "Customer confirmed the fix works.",
                        "Blocked until the API change ships.",
                        "Can we split this into two tasks?",
                        "Moved to next sprint after the planning call.",
                    ]
                ),
            )
