"""Build (or reuse) a benchmark database with realistic distributions.

    python -m bench.build --tasks 1000000      # DJANGO_SETTINGS_MODULE=...bench

The database is `<project database name><BENCH_DB_SUFFIX>` on the project's
server (backoffice/settings/bench.py). A small marker table, `bench_marker`,
records what was built; a database whose marker names the same task count and
world version is reused (only `migrate` runs), any other is dropped and rebuilt.

The world (fixed whatever the task count, so pages compare across sizes):

- 1,000 organizations whose task counts follow Zipf's law (rank r gets 1/r of
  the weight: at 1M tasks the largest holds ~134k tasks, the smallest ~130);
- 100,000 users, each a member of one organization (Zipf-like too, the largest
  ~10k members), one in ten of a second one; owners, admins, members, guests;
- a project per ~10 tasks of an organization (100k projects at 1M tasks, the 1M
  of DESIGN.md at 10M), 4 tags per organization, a tag on one task in five;
- tasks: ids in creation order over three years (more recent = denser), mostly
  DONE (older tasks more so), 65% with a due date (open past-due ones are
  overdue), 80% assigned (skewed towards some members), 1% in the trash;
- history: a creation row for every row written here, and for DONE tasks a
  second row (the change to DONE, at completion time);
- plans, one current subscription per organization (older ones for half), up
  to 12 monthly invoices per paying organization (paid, open, some overdue);
- a platform admin and 3 support agents, each assigned (tenants.services
  .support_grant) to three organizations: "mixed" to ranks 1, 10 and 100,
  "medium" to ranks 20, 50 and 80, "small" to ranks 400, 700 and 1000.

Big tables go in with PostgreSQL COPY with their secondary indexes dropped
(recreated afterwards) and, when the role may, without FK triggers; history
rows are INSERT ... SELECT from the rows they record. Then VACUUM ANALYZE.
"""

import argparse
import datetime as dt
import itertools
import os
import random
import sys
import time

WORLD_VERSION = 1  # bump when the generated world changes: forces a rebuild
ORGANIZATIONS = 1_000
USERS = 100_000
TASKS_PER_PROJECT = 10
SEARCH_WORD = "invoice"  # in ~2.5% of titles
PASSWORD = "!bench-unusable"  # Django's "unusable password" prefix
ADMIN_EMAIL = "bench-admin@bench.test"
AGENTS = {
    "mixed": [1, 10, 100],
    "medium": [20, 50, 80],
    "small": [400, 700, 1000],
}
BATCH = 100_000
# Jobs that keep precomputed figures fresh in production (run every few minutes by
# the job cluster): run on every build or reuse, as the cluster would have.
PRECOMPUTE = ("admin_theme.jobs.refresh_dashboard_stats",)

# fmt: off
VERBS = [
    "Fix", "Add", "Remove", "Refactor", "Document", "Test", "Review", "Update",
    "Migrate", "Investigate", "Design", "Ship", "Automate", "Simplify", "Speed up",
    "Monitor",
]
THINGS = [
    "login page", "checkout flow", "invoice PDF", "search index", "billing webhook",
    "onboarding email", "dark mode", "CSV export", "rate limiter", "audit log",
    "password reset", "push notifications", "dashboard chart", "user avatar",
    "SSO settings", "API pagination", "cache layer", "release notes", "signup form",
    "team settings", "file upload", "email templates", "mobile menu",
    "payment retries", "access tokens", "usage reports", "error pages", "data import",
    "calendar sync", "slack integration", "permissions model", "comment editor",
    "status page", "backup job", "queue workers", "feature flags", "translations",
    "price table", "help center", "session timeout",
]
QUALIFIERS = [
    "on Safari", "for mobile", "in staging", "for enterprise tenants",
    "after the upgrade", "under load", "for new users", "in the EU region",
    "before the launch", "on slow networks", "", "",
]
PROJECT_NAMES = [
    ("WEB", "Website"), ("WAPP", "Web app"), ("SHOP", "Webshop"),
    ("APP", "Mobile app"), ("API", "Public API"), ("OPS", "Operations"),
    ("MKT", "Marketing"), ("DATA", "Data platform"), ("SEC", "Security"),
    ("HR", "People"), ("BIL", "Billing"), ("INF", "Infrastructure"),
]
FIRST = [
    "Alice", "Bob", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Iris",
    "Jonas", "Kara", "Liam", "Mia", "Noah", "Olga", "Paul", "Quinn", "Rosa", "Sven",
    "Tara", "Umar", "Vera", "Will", "Xena", "Yann", "Zoe",
]
LAST = [
    "Adams", "Brown", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen",
    "Ivanov", "Jensen", "Kowalski", "Lopez", "Martin", "Nowak", "Olsen", "Petit",
    "Quist", "Rossi", "Silva", "Tanaka", "Ueda", "Vogel", "Weber",
]
COMPANY_A = [
    "Blue", "Red", "Green", "Silver", "Golden", "North", "South", "East", "West",
    "Bright", "Quantum", "Rapid", "Iron", "Crystal", "Urban", "Solar", "Lunar",
    "Prime", "Nova", "Apex",
]
COMPANY_B = [
    "Systems", "Labs", "Works", "Logistics", "Foods", "Media", "Health", "Energy",
    "Robotics", "Analytics", "Studios", "Partners", "Networks", "Dynamics",
    "Ventures", "Retail", "Bank", "Cloud", "Motors", "Games",
]
# fmt: on


def log(message: str) -> None:
    print(f"[bench build] {message}", flush=True)


# --- database lifecycle (before Django touches the database) -------------------------


def _admin_connection():
    """A psycopg connection to the server's `postgres` database."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


def read_marker() -> dict | None:
    """What the benchmark database holds, or None (missing, empty or unfinished)."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    try:
        with psycopg.connect(**params, autocommit=True) as conn:
            row = conn.execute(
                "SELECT tasks, world_version, built_at, build_seconds FROM bench_marker"
            ).fetchone()
    except psycopg.Error:
        return None
    if row is None:
        return None
    return dict(
        zip(("tasks", "world_version", "built_at", "build_seconds"), row, strict=True)
    )


def recreate_database(name: str) -> None:
    from django.db import connection

    connection.close()
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# --- COPY helpers --------------------------------------------------------------------


def copy_columns(model, given: list[str]) -> tuple[list[str], tuple]:
    """COPY columns for `model`: the given ones, then every other NOT NULL column
    with its Django default (so a field added later does not break the build)."""
    from django.db import connection, models

    columns = list(given)
    constants = []
    for field in model._meta.concrete_fields:
        if field.column in given or field.null:
            continue
        if isinstance(field, models.AutoField | models.BigAutoField):
            raise RuntimeError(f"bench: give {model.__name__}.{field.column}")
        value = field.get_default()
        if value is None and isinstance(field, models.DateTimeField):
            value = dt.datetime.now(dt.UTC)
        if value is None:
            raise RuntimeError(
                f"bench: no value for {model._meta.db_table}.{field.column}; "
                "add it to bench/build.py"
            )
        columns.append(field.column)
        constants.append(field.get_db_prep_save(value, connection))
    return columns, tuple(constants)


def copy_rows(model, given: list[str], rows) -> int:
    """COPY `rows` (tuples in `given` order) into the model's table."""
    from django.db import connection

    columns, constants = copy_columns(model, given)
    count = 0
    with connection.cursor() as cursor:
        raw = cursor.connection
        sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor().copy(sql) as copy:
            for row in rows:
                copy.write_row(row + constants if constants else row)
                count += 1
    return count


def _text(value) -> str:
    """A value in COPY text format (our generated strings need no escaping)."""
    if value is None:
        return "\\N"
    return str(value)


def copy_text_lines(model, given: list[str], lines_batches) -> None:
    """COPY pre-formatted text lines (tab-separated `given` columns) in chunks."""
    from django.db import connection

    columns, constants = copy_columns(model, given)
    tail = ""
    if constants:
        from psycopg.types.json import Jsonb

        parts = []
        for value in constants:
            if isinstance(value, Jsonb):
                import json

                value = json.dumps(value.obj)
            elif isinstance(value, bool):
                value = "t" if value else "f"
            parts.append(_text(value))
        tail = "\t" + "\t".join(parts)
    with connection.cursor() as cursor:
        raw = cursor.connection
        sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor().copy(sql) as copy:
            for lines in lines_batches:
                if tail:
                    lines = [line + tail for line in lines]
                copy.write("\n".join(lines) + "\n")


def next_id(model) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {model._meta.db_table}")
        return cursor.fetchone()[0]


def reset_sequences(models) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            pk = model._meta.pk.column
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{pk}'), "
                f"(SELECT COALESCE(MAX({pk}), 1) FROM {table}))"
            )


def secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that back no constraint."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, pg_get_indexdef(i.indexrelid)
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass
              AND NOT EXISTS (
                  SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
              )
            """,
            [table],
        )
        return cursor.fetchall()


def history_insert(
    model,
    actor_id: int,
    *,
    where: str = "",
    date: str = "created_at",
    kind: str = "+",
    overrides: dict[str, str] | None = None,
) -> int:
    """History rows copied from the model's rows, in one INSERT ... SELECT."""
    from django.db import connection

    history = model.history.model
    own = {f.column for f in model._meta.concrete_fields}
    if date == "created_at" and date not in own:
        date = "date_joined" if "date_joined" in own else "now()"
    overrides = overrides or {}
    columns, expressions, params = [], [], []
    for field in history._meta.concrete_fields:
        column = field.column
        if column == "history_id":
            continue
        columns.append(column)
        if column == "history_date":
            expressions.append(date)
        elif column == "history_type":
            expressions.append("%s")
            params.append(kind)
        elif column == "history_user_id":
            expressions.append("%s")
            params.append(actor_id)
        elif column == "history_change_reason":
            expressions.append("%s")
            params.append("bench build")
        elif column in overrides:
            expressions.append(overrides[column])
        elif column in own:
            expressions.append(column)
        elif field.null:
            expressions.append("NULL")
        else:
            expressions.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
    sql = (
        f"INSERT INTO {history._meta.db_table} ({', '.join(columns)}) "
        f"SELECT {', '.join(expressions)} FROM {model._meta.db_table} "
        f"{'WHERE ' + where if where else ''}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# --- the world ------------------------------------------------------------------------


def zipf_counts(total: int, n: int, exponent: float, minimum: int = 0) -> list[int]:
    """`total` split over `n` ranks with weight 1/rank**exponent (largest remainder)."""
    weights = [1 / (rank**exponent) for rank in range(1, n + 1)]
    spare = total - minimum * n
    scale = spare / sum(weights)
    raw = [w * scale for w in weights]
    counts = [int(x) for x in raw]
    short = spare - sum(counts)
    order = sorted(range(n), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in order[:short]:
        counts[i] += 1
    return [c + minimum for c in counts]


class World:
    def __init__(self, tasks: int, seed: int):
        self.tasks = tasks
        self.rng = random.Random(seed)
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.today = self.now.date()

    def build(self) -> None:
        from django.db import connection, transaction

        from tenants.services import system_actor

        self.actor = system_actor()
        replica = self._without_fk_triggers()
        steps = [
            self.plans,
            self.organizations,
            self.users,
            self.memberships,
            self.projects_and_tags,
            self.tasks_,
            self.billing,
            self.history,
        ]
        for step in steps:
            started = time.monotonic()
            with transaction.atomic():
                step()
            log(f"{step.__name__.strip('_')}: {time.monotonic() - started:.1f}s")
        if replica:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
        self.staff()

    def _without_fk_triggers(self) -> bool:
        """Skip FK checks while loading (generated ids are consistent), if allowed."""
        from django.db import connection, transaction

        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
        except Exception:
            log("FK triggers stay on (the role may not set session_replication_role)")
            return False
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        return True

    # Plans exist in every database the demo seeds; here, only when missing.
    def plans(self):
        from decimal import Decimal

        from tenants.models import Plan, PlanTier

        specs = [
            ("free", "Free", PlanTier.FREE, "0.00", 5, 3),
            ("starter", "Starter", PlanTier.STARTER, "29.00", 15, 20),
            ("pro", "Pro", PlanTier.PRO, "99.00", 100, None),
            ("enterprise", "Enterprise", PlanTier.ENTERPRISE, "499.00", None, None),
        ]
        for code, name, tier, price, members, projects in specs:
            Plan.objects.get_or_create(
                code=code,
                defaults=dict(
                    name=name,
                    tier=tier,
                    monthly_price=Decimal(price),
                    max_members=members,
                    max_projects=projects,
                ),
            )
        self.plans_by_tier = {p.tier: p for p in Plan.objects.all()}

    def organizations(self):
        from tenants.models import Organization, PlanTier

        rng = self.rng
        self.task_counts = zipf_counts(self.tasks, ORGANIZATIONS, 1.0)
        self.member_counts = zipf_counts(USERS, ORGANIZATIONS, 0.9, minimum=3)
        first = next_id(Organization)
        self.org_ids = list(range(first, first + ORGANIZATIONS))
        rows = []
        for rank, org_id in enumerate(self.org_ids, start=1):
            if rank <= 20:
                tier = PlanTier.ENTERPRISE
            elif rank <= 150:
                tier = PlanTier.PRO
            elif rank <= 500:
                tier = PlanTier.STARTER
            else:
                tier = PlanTier.FREE
            name = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)} {rank}"
            created = self.now - dt.timedelta(days=1100 + rng.randint(0, 900))
            status = "suspended" if rng.random() < 0.02 else "active"
            rows.append(
                (org_id, name, f"org-{rank:04d}", status, tier, created, created, None)
            )
        copy_rows(
            Organization,
            [
                "id",
                "name",
                "slug",
                "status",
                "plan_tier",
                "created_at",
                "updated_at",
                "deleted_at",
            ],
            rows,
        )
        self.org_tier = {row[0]: row[4] for row in rows}
        self.org_created = {row[0]: row[5] for row in rows}

    def users(self):
        from tenants.models import User

        rng = self.rng
        first = next_id(User)
        self.user_ids = list(range(first, first + USERS))
        rows = []
        for n, user_id in enumerate(self.user_ids):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            joined = self.now - dt.timedelta(days=rng.randint(0, 1800))
            rows.append(
                (
                    user_id,
                    PASSWORD,
                    f"user{n:06d}@bench.test",
                    name,
                    False,
                    rng.random() > 0.03,
                    False,
                    joined,
                    joined,
                )
            )
        copy_rows(
            User,
            [
                "id",
                "password",
                "email",
                "full_name",
                "is_staff",
                "is_active",
                "is_superuser",
                "date_joined",
                "updated_at",
            ],
            rows,
        )

    def memberships(self):
        from tenants.models import Membership

        rng = self.rng
        members: dict[int, list[int]] = {}
        users = iter(self.user_ids)
        for org_id, count in zip(self.org_ids, self.member_counts, strict=True):
            members[org_id] = list(itertools.islice(users, count))
        # One user in ten is also a member of a second organization.
        seconds = rng.sample(self.user_ids, len(self.user_ids) // 10)
        targets = rng.choices(self.org_ids, weights=self.member_counts, k=len(seconds))
        taken = {org_id: set(people) for org_id, people in members.items()}
        for user_id, org_id in zip(seconds, targets, strict=True):
            if user_id not in taken[org_id]:
                taken[org_id].add(user_id)
                members[org_id].append(user_id)
        self.members = members
        next_membership = next_id(Membership)
        rows = []
        for org_id, people in members.items():
            created = self.org_created[org_id]
            for n, user_id in enumerate(people):
                role = "owner" if n == 0 else "admin" if n < 3 else "member"
                if role == "member" and rng.random() < 0.05:
                    role = "guest"
                joined = created + dt.timedelta(days=rng.randint(0, 800))
                rows.append((next_membership, org_id, user_id, role, joined))
                next_membership += 1
        self._copy_memberships(rows)

    def _copy_memberships(self, rows):
        from tenants.models import Membership

        given = ["id", "organization_id", "user_id", "role", "created_at"]
        if "updated_at" in {f.column for f in Membership._meta.concrete_fields}:
            given.append("updated_at")
            rows = [(*row, row[4]) for row in rows]
        copy_rows(Membership, given, rows)

    def projects_and_tags(self):
        from work.models import Project, Tag

        rng = self.rng
        self.projects: dict[int, tuple[int, int]] = {}  # org -> (first id, count)
        next_project = next_id(Project)
        rows = []
        for org_id, tasks in zip(self.org_ids, self.task_counts, strict=True):
            count = max(1, round(tasks / TASKS_PER_PROJECT))
            self.projects[org_id] = (next_project, count)
            people = self.members[org_id]
            for n in range(count):
                prefix, name = PROJECT_NAMES[n % len(PROJECT_NAMES)]
                serial = n // len(PROJECT_NAMES) + 1
                created = self.org_created[org_id] + dt.timedelta(
                    days=rng.randint(0, 1000)
                )
                status = "archived" if rng.random() < 0.15 else "active"
                rows.append(
                    (
                        next_project,
                        org_id,
                        f"{name} {serial}",
                        f"{prefix}{serial}",
                        "",
                        status,
                        rng.choice(people) if rng.random() < 0.8 else None,
                        created,
                        created,
                        None,
                    )
                )
                next_project += 1
        copy_rows(
            Project,
            [
                "id",
                "organization_id",
                "name",
                "key",
                "description",
                "status",
                "owner_id",
                "created_at",
                "updated_at",
                "deleted_at",
            ],
            rows,
        )
        self.tag_first = next_id(Tag)
        tags = []
        tag_id = self.tag_first
        for org_id in self.org_ids:
            for name, color in (
                ("bug", "danger"),
                ("feature", "success"),
                ("chore", "info"),
                ("urgent", "warning"),
            ):
                created = self.org_created[org_id]
                tags.append((tag_id, org_id, name, color, created, created))
                tag_id += 1
        copy_rows(
            Tag,
            ["id", "organization_id", "name", "color", "created_at", "updated_at"],
            tags,
        )

    def tasks_(self):
        from django.db import connection

        from work.models import Task

        table = Task._meta.db_table
        history_table = Task.history.model._meta.db_table
        self.dropped = []
        for name in (table, history_table, "work_task_tags"):
            for index, definition in secondary_indexes(name):
                self.dropped.append(definition)
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP INDEX "{index}"')
        first = next_id(Task)
        given = [
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
        copy_text_lines(Task, given, self._task_lines(first))
        with connection.cursor() as cursor:
            # A tag on one task in five, from the task's own organization.
            cursor.execute(
                "INSERT INTO work_task_tags (task_id, tag_id) "
                "SELECT id, %s + (organization_id - %s) * 4 + (id %% 4) "
                "FROM work_task WHERE id %% 5 = 0",
                [self.tag_first, self.org_ids[0]],
            )

    def _task_lines(self, first_id: int):
        rng = self.rng
        random_ = rng.random
        org_cumulative = list(itertools.accumulate(self.task_counts))
        span_days = 3 * 365
        titles = [
            f"{v} {t} {q}".strip() for v in VERBS for t in THINGS for q in QUALIFIERS
        ]
        members = self.members
        projects = self.projects
        now = self.now
        start = now - dt.timedelta(days=span_days)
        total = self.tasks
        for batch_start in range(0, total, BATCH):
            size = min(BATCH, total - batch_start)
            orgs = rng.choices(self.org_ids, cum_weights=org_cumulative, k=size)
            lines = []
            for k in range(size):
                n = batch_start + k
                task_id = first_id + n
                org_id = orgs[k]
                # Creation times grow denser towards today (ids in creation order).
                fraction = 1 - (n + random_()) / total
                created = now - dt.timedelta(
                    days=span_days * fraction**1.6, seconds=random_() * 600
                )
                if created < start:
                    created = start
                age = (now - created).days
                r = random_()
                if age > 90:
                    status = (
                        "DONE"
                        if r < 0.86
                        else "CANCELLED"
                        if r < 0.93
                        else "TODO"
                        if r < 0.97
                        else "IN_PROGRESS"
                    )
                else:
                    status = (
                        "DONE"
                        if r < 0.40
                        else "CANCELLED"
                        if r < 0.43
                        else "TODO"
                        if r < 0.80
                        else "IN_PROGRESS"
                    )
                due = (
                    (created + dt.timedelta(days=3 + int(random_() * 90))).date()
                    if random_() < 0.65
                    else None
                )
                completed = (
                    min(now, created + dt.timedelta(days=random_() * 45))
                    if status == "DONE"
                    else None
                )
                first_project, project_count = projects[org_id]
                people = members[org_id]
                assignee = (
                    people[int(len(people) * random_() ** 2)]
                    if random_() < 0.8
                    else None
                )
                reporter = people[int(len(people) * random_())]
                priority = (10, 20, 20, 20, 30, 30, 40)[int(random_() * 7)]
                deleted = created + dt.timedelta(days=1) if random_() < 0.01 else None
                custom = (
                    f'{{"story_points": {(1, 2, 3, 5, 8)[int(random_() * 5)]}}}'
                    if random_() < 0.3
                    else "{}"
                )
                updated = completed or created
                lines.append(
                    f"{task_id}\t{org_id}"
                    f"\t{first_project + int(random_() * project_count)}"
                    f"\t{titles[int(random_() * len(titles))]}\t\t{status}\t{priority}"
                    f"\t{_text(assignee)}\t{reporter}\t{_text(due)}\t{_text(completed)}"
                    f"\t{custom}\t{created}\t{updated}\t{_text(deleted)}"
                    f"\t{2 if completed else 1}"
                )
            yield lines
            log(f"  {batch_start + size:,} / {total:,} tasks")

    def billing(self):
        from tenants.models import Invoice, Subscription

        rng = self.rng
        subscriptions, invoices = [], []
        next_subscription = next_id(Subscription)
        next_invoice = next_id(Invoice)
        for rank, org_id in enumerate(self.org_ids, start=1):
            plan = self.plans_by_tier[self.org_tier[org_id]]
            if rank % 2 == 0:  # an older, expired subscription
                start = self.now - dt.timedelta(days=400 + rng.randint(0, 300))
                subscriptions.append(
                    (
                        next_subscription,
                        org_id,
                        plan.pk,
                        "expired",
                        start,
                        start + dt.timedelta(days=365),
                        None,
                        start,
                        start,
                        1,
                    )
                )
                next_subscription += 1
            start = self.now - dt.timedelta(days=rng.randint(0, 29))
            r = rng.random()
            status = (
                "active"
                if r < 0.8
                else "past_due"
                if r < 0.87
                else "trialing"
                if r < 0.95
                else "cancelled"
            )
            subscriptions.append(
                (
                    next_subscription,
                    org_id,
                    plan.pk,
                    status,
                    start,
                    start + dt.timedelta(days=30),
                    start + dt.timedelta(days=3) if status == "cancelled" else None,
                    start,
                    start,
                    1,
                )
            )
            current = next_subscription
            next_subscription += 1
            if plan.monthly_price == 0:
                continue
            for month in range(rng.randint(3, 12)):
                issued = (start - dt.timedelta(days=30 * month)).date()
                due_on = issued + dt.timedelta(days=14)
                if month == 0 or (month == 1 and status == "past_due"):
                    state = "open"
                else:
                    state = "paid" if rng.random() < 0.97 else "void"
                paid_at = (
                    dt.datetime.combine(issued, dt.time(12), dt.UTC)
                    + dt.timedelta(days=rng.randint(0, 13))
                    if state == "paid"
                    else None
                )
                created = dt.datetime.combine(issued, dt.time(9), dt.UTC)
                invoices.append(
                    (
                        next_invoice,
                        org_id,
                        current,
                        f"INV-{org_id:05d}-{month + 1:03d}",
                        plan.monthly_price,
                        plan.currency,
                        state,
                        issued,
                        due_on,
                        paid_at,
                        created,
                        created,
                        1,
                    )
                )
                next_invoice += 1
        copy_rows(
            Subscription,
            [
                "id",
                "organization_id",
                "plan_id",
                "status",
                "current_period_start",
                "current_period_end",
                "cancelled_at",
                "created_at",
                "updated_at",
                "version",
            ],
            subscriptions,
        )
        copy_rows(
            Invoice,
            [
                "id",
                "organization_id",
                "subscription_id",
                "number",
                "amount",
                "currency",
                "status",
                "issued_on",
                "due_on",
                "paid_at",
                "created_at",
                "updated_at",
                "version",
            ],
            invoices,
        )

    def history(self):
        from django.db import connection

        from tenants.models import Invoice, Membership, Organization, Subscription, User
        from work.models import Project, Tag, Task

        actor = self.actor.pk
        for model in (
            Organization,
            User,
            Membership,
            Project,
            Tag,
            Subscription,
            Invoice,
        ):
            where = f"id >= {self.user_ids[0]}" if model is User else ""
            rows = history_insert(model, actor, where=where)
            log(f"  history of {model.__name__}: {rows:,} rows")
        # Tasks: created as they were, except still to do; DONE ones then changed.
        created = history_insert(
            Task,
            actor,
            overrides={
                "status": "CASE WHEN status = 'DONE' THEN 'TODO' ELSE status END",
                "completed_at": "NULL",
                "updated_at": "created_at",
                "version": "1",
                "deleted_at": "NULL",
            },
        )
        done = history_insert(
            Task, actor, where="status = 'DONE'", date="completed_at", kind="~"
        )
        log(f"  history of Task: {created:,} creations, {done:,} changes to DONE")
        reset_sequences(
            [Organization, User, Membership, Project, Tag, Task, Subscription, Invoice]
        )
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for definition in self.dropped:
                cursor.execute(definition)
        seconds = time.monotonic() - started
        log(f"  {len(self.dropped)} indexes rebuilt in {seconds:.1f}s")

    def staff(self):
        from django.contrib.auth.models import Group

        from tenants import roles
        from tenants.models import Organization, User
        from tenants.services import support_grant

        admin = User.objects.create_superuser(
            ADMIN_EMAIL, None, full_name="Bench Admin"
        )
        admin.groups.add(Group.objects.get(name=roles.PLATFORM_ADMIN))
        for label, ranks in AGENTS.items():
            agent = User.objects.create_user(
                f"support-{label}@bench.test",
                None,
                full_name=f"Support {label.title()}",
                is_staff=True,
            )
            agent.groups.add(Group.objects.get(name=roles.SUPPORT_AGENT))
            for rank in ranks:
                organization = Organization.all_objects.get(slug=f"org-{rank:04d}")
                support_grant(actor=admin, organization=organization, agent=agent)


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def database_size() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return cursor.fetchone()[0]


def write_marker(tasks: int, seconds: float) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_marker (tasks bigint, world_version int, "
            "built_at timestamptz, build_seconds double precision)"
        )
        cursor.execute(
            "INSERT INTO bench_marker VALUES (%s, %s, now(), %s)",
            [tasks, WORLD_VERSION, seconds],
        )
        cursor.execute(
            f"COMMENT ON TABLE bench_marker IS 'backoffice benchmark: {tasks} tasks'"
        )


def precompute() -> None:
    from django.utils.module_loading import import_string

    for path in PRECOMPUTE:
        try:
            job = import_string(path)
        except ImportError:
            continue
        started = time.monotonic()
        job()
        log(f"{path}: {time.monotonic() - started:.1f}s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild even if reusable"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.bench")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    name = connection.settings_dict["NAME"]
    marker = read_marker()
    if (
        not args.rebuild
        and marker
        and marker["tasks"] == args.tasks
        and marker["world_version"] == WORLD_VERSION
    ):
        built = f"{marker['built_at']:%Y-%m-%d}"
        try:
            call_command("migrate", verbosity=0, interactive=False)
        except Exception as error:  # a migration was renamed or rewritten since
            log(f"migrations no longer apply to {name} ({error}); rebuilding")
        else:
            log(f"reusing {name} ({args.tasks:,} tasks, built {built})")
            precompute()
            log(f"{name}: {database_size()}")
            return
    log(
        f"building {name} with {args.tasks:,} tasks"
        + (f" (it held {marker['tasks']:,})" if marker else "")
    )
    started = time.monotonic()
    recreate_database(name)
    call_command("migrate", verbosity=0, interactive=False)
    log(f"migrated in {time.monotonic() - started:.1f}s")
    World(args.tasks, args.seed).build()
    step = time.monotonic()
    vacuum_analyze()
    log(f"vacuum analyze: {time.monotonic() - step:.1f}s")
    precompute()
    seconds = time.monotonic() - started
    write_marker(args.tasks, seconds)
    log(f"built {name} in {seconds:.0f}s: {database_size()}")


if __name__ == "__main__":
    sys.exit(main())
