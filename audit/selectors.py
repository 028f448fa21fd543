"""Reads of audit events and history."""

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_permission_codename
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections, models, router
from django.db.models import F, Func, QuerySet, Window
from django.db.models.functions import Lag

from audit.diffs import HistoryEntry, Renderer, history_entries, predecessors
from audit.history import (
    NOT_RESTORED,
    history_model_of,
    m2m_snapshots,
    retention_days,
    tracked_models,
)
from audit.models import AuditEvent
from tenants import selectors as tenant_selectors
from tenants.selectors import scope_rule


def job_runs_about(*, target: models.Model, job: str) -> QuerySet[AuditEvent]:
    """The `job_run` events of `job` that name `target` (served by the target index)."""
    return AuditEvent.objects.filter(
        target_content_type=ContentType.objects.get_for_model(target),
        target_object_id=str(target.pk),
        action=AuditEvent.Action.JOB_RUN,
        changed_fields__job=job,
    )


def job_email_sent(*, target: models.Model, job: str, key: str) -> bool:
    """Whether `job` already sent the email `key` about `target`."""
    return (
        job_runs_about(target=target, job=job)
        .filter(changed_fields__key=key, changed_fields__status="sent")
        .exists()
    )


# --- History: timelines, past versions, revert and undo plans, table sizes -----------


def history_of(*, user, model: type[models.Model], object_id) -> QuerySet:
    """The history rows of one object, none unless the object is in `user`'s view
    (its rows are scoped like the object: by organization)."""
    history_model = history_model_of(model)
    records = history_model.objects.filter(**{model._meta.pk.attname: object_id})
    # Through the module: the access matrix's mutation test swaps the helper.
    return tenant_selectors.scope_to_user(records, user)


def history_filtered(
    records: QuerySet,
    *,
    actor_id: int | None = None,
    field: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet:
    """History rows, newest first, of those made by one user, changing one field
    (compared with the row before, whatever the other filters), in a date range."""
    if field:
        records = records.filter(history_id__in=_rows_changing(records, field))
    if actor_id:
        records = records.filter(history_user_id=actor_id)
    if since:
        records = records.filter(history_date__gte=since)
    if until:
        records = records.filter(history_date__lt=until)
    return records.order_by("-history_date", "-history_id")


def _rows_changing(records: QuerySet, field: str) -> QuerySet:
    """The ids of the rows where `field` differs from the row before (a window
    over the object's whole history, so other filters cannot hide the row before)."""
    previous = Window(
        Lag(field), partition_by=[F("id")], order_by=F("history_id").asc()
    )
    differs = Func(
        F(field),
        F("previous_value"),
        template="(%(expressions)s)",
        arg_joiner=" IS DISTINCT FROM ",
        output_field=models.BooleanField(),
    )
    return (
        records.annotate(previous_value=previous)
        .annotate(differs=differs)
        .filter(differs=True)
        .values("history_id")
    )


def version_as_of(*, user, model: type[models.Model], object_id, at: dt.datetime):
    """The history row that was current at `at` (None: the object did not exist yet)."""
    return (
        history_of(user=user, model=model, object_id=object_id)
        .filter(history_date__lte=at)
        .select_related("history_user")
        .order_by("-history_date", "-history_id")
        .first()
    )


@dataclass
class RevertPlan:
    """What reverting a history row would write, or why it cannot."""

    record: Any
    whole: bool
    values: dict[str, Any] = field(default_factory=dict)  # attname -> value
    links: dict[str, frozenset] = field(default_factory=dict)  # m2m name -> ids
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # label, now, then
    problems: list[str] = field(default_factory=list)


def _live_value(instance, f: models.Field):
    if f.many_to_many:
        return frozenset(getattr(instance, f.name).values_list("pk", flat=True))
    return getattr(instance, f.attname)


def revert_plan(*, record, whole: bool) -> RevertPlan:
    """Undo the change `record` made (its fields back to the row before), or with
    `whole` bring the object back to `record`'s version. A field changed again
    since `record` is not overwritten: the plan names it as a problem."""
    model = record.instance_type
    label = model._meta.verbose_name
    plan = RevertPlan(record=record, whole=whole)
    instance = model._base_manager.filter(
        pk=getattr(record, model._meta.pk.attname)
    ).first()
    previous = predecessors(model, [record]).get(record.history_id)
    if instance is None:
        plan.problems.append(f"This {label} no longer exists.")
    elif whole and record.history_type == "-":
        plan.problems.append(f"This version is the {label}'s deletion.")
    elif not whole and previous is None:
        plan.problems.append(
            f"This is the {label}'s creation: there is no earlier value to go back "
            "to. Restore a later version instead."
        )
    if plan.problems:
        return plan
    renderer = Renderer(model, [record, previous] if previous else [record])
    for f in renderer.fields:
        if f.attname in NOT_RESTORED:
            continue
        now = _live_value(instance, f)
        target = renderer.raw(record, f)
        if not whole:
            before = renderer.raw(previous, f)
            if before == target:
                continue
            if now != target:
                plan.problems.append(
                    f"{str(f.verbose_name).capitalize()} was changed again after "
                    f"this change (it is now {renderer.display(f, now)}): revert "
                    "the later change first, or restore a whole version."
                )
                continue
            target = before
        if now == target:
            continue
        if f.many_to_many:
            plan.links[f.name] = target
        else:
            plan.values[f.attname] = target
        plan.rows.append(
            (
                str(f.verbose_name).capitalize(),
                renderer.display(f, now),
                renderer.display(f, target),
            )
        )
    if not plan.rows and not plan.problems:
        plan.problems.append(
            f"Nothing to revert: the {label} already has these values."
        )
    return plan


# --- Operations: the rows one bulk action, import or revert wrote ------------------


@dataclass(frozen=True)
class OperationItem:
    """One object an operation wrote: its first and last rows in the operation,
    the row before (None: the operation created it) and the first row after that
    is not the operation's (None: nobody changed it since)."""

    model: type[models.Model]
    pk: Any
    first_id: int
    last_id: int
    first_type: str
    last_type: str
    previous_id: int | None
    later_id: int | None

    @property
    def kind(self) -> str:
        if self.last_type == "-":
            return "deleted"
        return "created" if self.first_type == "+" else "changed"


@dataclass
class OperationPlan:
    operation_id: uuid.UUID
    items: list[OperationItem]

    @property
    def blocked(self) -> list[OperationItem]:
        return [item for item in self.items if item.later_id is not None]

    @property
    def deleted(self) -> list[OperationItem]:
        return [item for item in self.items if item.kind == "deleted"]

    def by_model(self) -> dict[type[models.Model], list[OperationItem]]:
        grouped: dict[type[models.Model], list[OperationItem]] = {}
        for item in self.items:
            grouped.setdefault(item.model, []).append(item)
        return grouped


def operation_plan(*, operation_id: uuid.UUID) -> OperationPlan:
    """Every object the operation wrote, per tracked model: one query each."""
    items = []
    for model in tracked_models():
        history_model = history_model_of(model)
        connection = connections[router.db_for_read(history_model)]
        qn = connection.ops.quote_name
        table, pk = qn(history_model._meta.db_table), qn(model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT o.pk, o.first_id, o.last_id, f.history_type, l.history_type,
                    (SELECT max(h.history_id) FROM {table} h
                     WHERE h.{pk} = o.pk AND h.history_id < o.first_id),
                    (SELECT min(h.history_id) FROM {table} h
                     WHERE h.{pk} = o.pk AND h.history_id > o.last_id
                       AND h.operation_id IS DISTINCT FROM %s)
                FROM (SELECT {pk} AS pk, min(history_id) AS first_id,
                             max(history_id) AS last_id
                      FROM {table} WHERE operation_id = %s GROUP BY {pk}) o
                JOIN {table} f ON f.history_id = o.first_id
                JOIN {table} l ON l.history_id = o.last_id
                ORDER BY o.pk
                """,
                [operation_id, operation_id],
            )
            items.extend(OperationItem(model, *row) for row in cursor.fetchall())
    return OperationPlan(operation_id=operation_id, items=items)


def operation_problems(plan: OperationPlan, *, limit: int = 10) -> list[str]:
    """Why the operation cannot be undone (empty: it can), naming the rows."""
    problems = []
    blocked = plan.blocked
    if blocked:
        problems.append(
            f"{len(blocked)} row(s) were changed after the operation; undoing it "
            "would overwrite those changes, so it cannot be undone:"
        )
        for item in blocked[:limit]:
            later = (
                history_model_of(item.model)
                .objects.select_related("history_user")
                .get(history_id=item.later_id)
            )
            who = getattr(later.history_user, "email", None) or "someone"
            problems.append(
                f"{item.model._meta.verbose_name.capitalize()} #{item.pk} "
                f"“{later.history_object}”: changed by {who} at "
                f"{later.history_date:%Y-%m-%d %H:%M} UTC."
            )
        if len(blocked) > limit:
            problems.append(f"… and {len(blocked) - limit} more.")
    if plan.deleted:
        problems.append(
            f"The operation deleted {len(plan.deleted)} row(s); an undo cannot bring "
            "deleted rows back."
        )
    lost = [i for i in plan.items if i.kind == "changed" and i.previous_id is None]
    if lost:
        problems.append(
            f"The history before the operation of {len(lost)} row(s) was removed "
            "by the retention policy."
        )
    return problems


def operation_visible_to(*, user, operation_id: uuid.UUID) -> bool:
    """Whether `user` may see every row the operation wrote (else it is foreign)."""
    for model in tracked_models():
        records = history_model_of(model).objects.filter(operation_id=operation_id)
        if records.exclude(
            pk__in=tenant_selectors.scope_to_user(records, user).values("pk")
        ).exists():
            return False
    return True


def operation_entries(plan: OperationPlan, *, limit: int) -> list[tuple]:
    """(model, item, [(label, now, after undo)]) for the first `limit` objects."""
    shown = []
    for model, items in plan.by_model().items():
        items = items[: limit - len(shown)]
        if not items:
            break
        history_model = history_model_of(model)
        wanted = {i.last_id for i in items} | {
            i.previous_id for i in items if i.previous_id
        }
        rows = history_model.objects.in_bulk(wanted)
        renderer = Renderer(model, list(rows.values()))
        for item in items:
            last, previous = rows[item.last_id], rows.get(item.previous_id)
            changes = renderer.changes(last, previous) if previous else []
            shown.append((model, item, last, changes))
    return shown


# --- An organization's recent changes ---------------------------------------------


def organization_change_models(*, user) -> list[type[models.Model]]:
    """The tracked models of an organization that `user` may read the history of."""
    return [
        model
        for model in tracked_models()
        if scope_rule(model) in ("organization", "tenant")
        and user.has_perm(
            f"{model._meta.app_label}.{get_permission_codename('view', model._meta)}"
        )
    ]


def organization_changes(
    *,
    user,
    organization,
    model: type[models.Model] | None = None,
    actor_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[tuple[type[models.Model], HistoryEntry]]:
    """The newest history rows of every model of one organization (those `user`
    may read), merged newest first: per model, one query served by the
    (organization, history_date) index, then the diffs of the page."""
    records = []
    for tracked in organization_change_models(user=user):
        if model is not None and tracked is not model:
            continue
        history_model = history_model_of(tracked)
        rows = history_model.objects.filter(
            **(
                {"organization_id": organization.pk}
                if scope_rule(tracked) == "tenant"
                else {"id": organization.pk}
            )
        )
        if actor_id:
            rows = rows.filter(history_user_id=actor_id)
        if since:
            rows = rows.filter(history_date__gte=since)
        if until:
            rows = rows.filter(history_date__lt=until)
        rows = tenant_selectors.scope_to_user(rows, user).select_related("history_user")
        newest = rows.order_by("-history_date", "-history_id")[: offset + limit]
        records.extend((tracked, record) for record in newest)
    records.sort(key=lambda pair: pair[1].history_date, reverse=True)
    page = records[offset : offset + limit]
    entries: dict[int, HistoryEntry] = {}
    for tracked in {m for m, _ in page}:
        of_model = [r for m, r in page if m is tracked]
        for entry in history_entries(tracked, of_model):
            entries[id(entry.record)] = entry
    return [(m, entries[id(r)]) for m, r in page]


# --- Sizes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryTableSize:
    model: type[models.Model]
    table: str
    bytes: int
    rows_estimate: int | None
    retention_days: int | None


def history_table_sizes() -> list[HistoryTableSize]:
    """Size on disk (table, indexes, TOAST) and estimated rows of every history
    table, biggest first: one query on the catalog."""
    tables = {}
    for model in tracked_models():
        history_model = history_model_of(model)
        tables[history_model._meta.db_table] = model
        for snapshot in m2m_snapshots(model):
            tables[snapshot.history_table] = model
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_total_relation_size(oid), reltuples::bigint "
            "FROM pg_class WHERE relkind = 'r' AND relname = ANY(%s) "
            "AND relnamespace = 'public'::regnamespace",
            [list(tables)],
        )
        rows = cursor.fetchall()
    return sorted(
        (
            HistoryTableSize(
                model=tables[name],
                table=name,
                bytes=size,
                rows_estimate=estimate if estimate >= 0 else None,
                retention_days=retention_days(tables[name]),
            )
            for name, size, estimate in rows
        ),
        key=lambda size: size.bytes,
        reverse=True,
    )
