"""The history machinery every write path shares.

Every tracked model declares `history = AuditedHistoricalRecords(...)`: simple-history's
historical model plus an `operation_id` column. An operation (a bulk action, an
import, a revert, an undo) runs inside `history_operation(...)`, and every history
row written in it carries its id and, unless the row gives its own, its reason,
whichever path writes the row: `save()` (simple-history's post_save), the bulk
statements below, or a writer that builds historical rows itself (the field's
default reads the current operation). The id is how an operation is shown and
undone as a whole.

The bulk statements change rows and write their history rows in one SQL statement
(`UPDATE ... RETURNING` feeding `INSERT ... SELECT`), so a bulk path costs a
small factor of the write itself, not a `save()` per row.
"""

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.db import connections, models, router, transaction
from django.utils import timezone
from simple_history.models import HistoricalRecords

# Columns a historical model adds; every other concrete column copies the row.
BOOKKEEPING = frozenset(
    {
        "history_id",
        "history_date",
        "history_type",
        "history_user_id",
        "history_change_reason",
        "operation_id",
    }
)
# Columns a revert or an undo never writes back: identity, timestamps, the version
# (bumped instead) and the tenant (a row never changes organization).
NOT_RESTORED = frozenset(
    {"id", "created_at", "updated_at", "version", "organization_id"}
)


# --- Operations -----------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryOperation:
    id: uuid.UUID
    reason: str | None = None


_current_operation: ContextVar[HistoryOperation | None] = ContextVar(
    "history_operation", default=None
)


def current_operation() -> HistoryOperation | None:
    """The enclosing `history_operation` block, if any."""
    return _current_operation.get()


def current_operation_id() -> uuid.UUID | None:
    """The operation id of the enclosing block (the default of `operation_id`)."""
    operation = _current_operation.get()
    return operation.id if operation else None


@contextmanager
def history_operation(
    operation_id: uuid.UUID | str | None = None, *, reason: str | None = None
) -> Iterator[HistoryOperation]:
    """Stamp every history row written in the block with one operation id (a new
    one unless given) and, where the row has none, the change `reason`.

    An enclosing block wins, so an operation made of smaller ones stays one.
    """
    outer = _current_operation.get()
    if outer is not None:
        yield outer
        return
    operation = HistoryOperation(
        id=uuid.UUID(str(operation_id)) if operation_id else uuid.uuid4(),
        reason=(reason or "").strip()[:500] or None,
    )
    token = _current_operation.set(operation)
    try:
        yield operation
    finally:
        _current_operation.reset(token)


class HistoricalRecordBase(models.Model):
    """The abstract base of every historical model."""

    operation_id = models.UUIDField(
        null=True,
        blank=True,
        db_index=True,
        editable=False,
        default=current_operation_id,
    )

    class Meta:
        abstract = True


class AuditedHistoricalRecords(HistoricalRecords):
    """simple-history's HistoricalRecords whose rows carry an operation id.

    The history user is a plain column (no foreign key constraint, still indexed):
    a constraint would check the user of every history row a bulk path writes,
    and history must outlive who made it anyway.
    """

    def __init__(self, **kwargs):
        super().__init__(
            bases=[HistoricalRecordBase], user_db_constraint=False, **kwargs
        )

    def copy_fields(self, model):
        """The copied columns, indexed only where history is read: by object (the
        primary key's copy). Dates, operations and organizations have indexes of
        their own (`history_date`, `operation_id`, the migrations' (organization,
        history_date)); an index on every copied key and unique column would cost
        each history write and serve no query."""
        fields = super().copy_fields(model)
        kept = set() if model._meta.auto_created else {model._meta.pk.name}
        for name, field in fields.items():
            field.db_index = name in kept
        return fields

    def get_change_reason_for_object(self, instance, history_type, using):
        """The instance's own change reason, else the enclosing operation's."""
        reason = super().get_change_reason_for_object(instance, history_type, using)
        operation = current_operation()
        return reason or (operation.reason if operation else None)


# --- What is tracked ------------------------------------------------------------------


def history_model_of(model: type[models.Model]) -> type[models.Model]:
    """The historical model of a tracked model."""
    return getattr(model, model._meta.simple_history_manager_attribute).model


def tracked_models() -> list[type[models.Model]]:
    """Every model with history, in a stable order."""
    return sorted(
        (
            model
            for model in global_apps.get_models()
            if hasattr(model._meta, "simple_history_manager_attribute")
        ),
        key=lambda model: model._meta.label,
    )


def snapshot_columns(history_model: type[models.Model]) -> list[str]:
    """The columns of a historical model that copy the tracked row."""
    return [
        f.column
        for f in history_model._meta.concrete_fields
        if f.attname not in BOOKKEEPING
    ]


@dataclass(frozen=True)
class M2MSnapshot:
    """A many-to-many field whose links each history row keeps (Task.tags)."""

    field: models.ManyToManyField
    history_table: str
    through_table: str
    source: str  # the through table's column naming the tracked row
    target: str  # the through table's column naming the related row


def m2m_snapshots(model: type[models.Model]) -> list[M2MSnapshot]:
    history_model = history_model_of(model)
    result = []
    for field in getattr(history_model, "_history_m2m_fields", ()):
        result.append(
            M2MSnapshot(
                field=field,
                history_table=HistoricalRecords.m2m_models[field]._meta.db_table,
                through_table=field.remote_field.through._meta.db_table,
                source=field.m2m_column_name(),
                target=field.m2m_reverse_name(),
            )
        )
    return result


# --- Bulk statements ------------------------------------------------------------------


def _connection(model):
    return connections[router.db_for_write(model)]


def _pk_condition(model, pks, qn) -> tuple[str, list]:
    """`pk = ANY(list)`, or `pk IN (subquery)` for a queryset (nothing loaded)."""
    pk = qn(model._meta.pk.column)
    if isinstance(pks, models.QuerySet):
        subquery, params = pks.order_by().values("pk").query.sql_with_params()
        return f"{pk} IN ({subquery})", list(params)
    return f"{pk} = ANY(%s)", [list(pks)]


def _snapshot_ctes(model, *, source: str, history_type: str, user_id, reason) -> tuple:
    """CTEs that copy the rows of CTE `source` into the history table (and their
    many-to-many links), and the statement's tail returning the written pks."""
    connection = _connection(model)
    qn = connection.ops.quote_name
    history_model = history_model_of(model)
    columns = snapshot_columns(history_model)
    column_list = ", ".join(map(qn, columns))
    pk = qn(model._meta.pk.column)
    ctes = [
        f"snapshots AS (INSERT INTO {qn(history_model._meta.db_table)} "
        f"({column_list}, history_date, history_type, history_user_id, "
        f"history_change_reason, operation_id) "
        f"SELECT {column_list}, %s, %s, %s, %s, %s FROM {source} "
        f"RETURNING history_id, {pk})"
    ]
    params = [timezone.now(), history_type, user_id, reason, current_operation_id()]
    for number, m2m in enumerate(m2m_snapshots(model)):
        ctes.append(
            f"links_{number} AS (INSERT INTO {qn(m2m.history_table)} "
            f"(id, {qn(m2m.source)}, {qn(m2m.target)}, history_id) "
            f"SELECT t.id, t.{qn(m2m.source)}, t.{qn(m2m.target)}, s.history_id "
            f"FROM snapshots s JOIN {qn(m2m.through_table)} t "
            f"ON t.{qn(m2m.source)} = s.{pk})"
        )
    return ctes, params, f"SELECT {pk} FROM snapshots"


@contextmanager
def _bulk_settings(cursor) -> Iterator[None]:
    """Settings for one bulk statement, in the caller's transaction only. It is
    planned as costly, so PostgreSQL would JIT-compile it, which takes longer
    (about half a second) than it saves; and its sorts and hashes (the rows it
    changed, their tag links) fit in memory instead of temporary files."""
    cursor.execute(
        "SELECT current_setting('jit'), current_setting('work_mem'), "
        "set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
    )
    jit, work_mem, *_ = cursor.fetchone()
    try:
        yield
    finally:
        cursor.execute(
            "SELECT set_config('jit', %s, true), set_config('work_mem', %s, true)",
            [jit, work_mem],
        )


def _bookkeeping_assignments(model, qn, table_alias: str = "") -> tuple[list, list]:
    names = {f.name: f for f in model._meta.concrete_fields}
    assignments, params = [], []
    if getattr(names.get("updated_at"), "auto_now", False):
        assignments.append(f"{qn('updated_at')} = %s")
        params.append(timezone.now())
    if "version" in names:
        assignments.append(f"{qn('version')} = {table_alias}{qn('version')} + 1")
    return assignments, params


def update_with_history(
    *,
    model: type[models.Model],
    pks: Sequence | models.QuerySet,
    values: dict[str, Any],
    user_id: int | None,
    reason: str | None,
) -> list:
    """Set `values` on the rows of `pks` that do not have them yet, bump their
    `updated_at` and `version`, and write one history row each (with the user, the
    reason and the current operation): one statement. Returns the changed pks."""
    connection = _connection(model)
    qn = connection.ops.quote_name
    opts = model._meta
    fields = [(opts.get_field(name), value) for name, value in values.items()]
    prepared = [f.get_db_prep_save(value, connection) for f, value in fields]
    assignments = [f"{qn(f.column)} = %s" for f, _ in fields]
    extra, extra_params = _bookkeeping_assignments(model, qn)
    where, where_params = _pk_condition(model, pks, qn)
    differs = " OR ".join(f"{qn(f.column)} IS DISTINCT FROM %s" for f, _ in fields)
    columns = ", ".join(map(qn, snapshot_columns(history_model_of(model))))
    ctes, snapshot_params, tail = _snapshot_ctes(
        model, source="changed", history_type="~", user_id=user_id, reason=reason
    )
    statement = (
        f"WITH changed AS (UPDATE {qn(opts.db_table)} "
        f"SET {', '.join(assignments + extra)} "
        f"WHERE {where} AND ({differs}) RETURNING {columns}), "
        + ", ".join(ctes)
        + f" {tail}"
    )
    params = [*prepared, *extra_params, *where_params, *prepared, *snapshot_params]
    with (
        transaction.atomic(using=connection.alias),
        connection.cursor() as cursor,
        _bulk_settings(cursor),
    ):
        cursor.execute(statement, params)
        return [row[0] for row in cursor.fetchall()]


def restore_with_history(
    *,
    model: type[models.Model],
    history_ids: Sequence[int],
    user_id: int | None,
    reason: str | None,
) -> list:
    """Bring rows back to the versions `history_ids` (one per row): their columns
    but identity, timestamps, version and tenant, their many-to-many links where
    these differ; one history row each. Returns the restored pks."""
    connection = _connection(model)
    qn = connection.ops.quote_name
    history_model = history_model_of(model)
    history_table = qn(history_model._meta.db_table)
    pk = qn(model._meta.pk.column)
    columns = snapshot_columns(history_model)
    restored = [c for c in columns if c not in NOT_RESTORED]
    extra, extra_params = _bookkeeping_assignments(model, qn, table_alias="t.")
    with (
        transaction.atomic(using=connection.alias),
        connection.cursor() as cursor,
        _bulk_settings(cursor),
    ):
        for m2m in m2m_snapshots(model):
            _restore_links(cursor, qn, m2m, history_table, pk, history_ids)
        ctes, snapshot_params, tail = _snapshot_ctes(
            model, source="restored", history_type="~", user_id=user_id, reason=reason
        )
        assignments = [f"{qn(c)} = h.{qn(c)}" for c in restored] + extra
        statement = (
            f"WITH restored AS (UPDATE {qn(model._meta.db_table)} t "
            f"SET {', '.join(assignments)} FROM {history_table} h "
            f"WHERE h.history_id = ANY(%s) AND t.{pk} = h.{pk} "
            f"RETURNING {', '.join(f't.{qn(c)}' for c in columns)}), "
            + ", ".join(ctes)
            + f" {tail}"
        )
        cursor.execute(statement, [*extra_params, list(history_ids), *snapshot_params])
        return [row[0] for row in cursor.fetchall()]


def _restore_links(cursor, qn, m2m: M2MSnapshot, history_table, pk, history_ids):
    """Links of each row as the target version kept them, where they differ now."""
    through, source, target = qn(m2m.through_table), qn(m2m.source), qn(m2m.target)
    links = qn(m2m.history_table)
    cursor.execute(
        f"""
        SELECT h.{pk} FROM {history_table} h
        WHERE h.history_id = ANY(%s) AND EXISTS (
            (SELECT l.{target} FROM {links} l WHERE l.history_id = h.history_id
             EXCEPT SELECT t.{target} FROM {through} t WHERE t.{source} = h.{pk})
            UNION ALL
            (SELECT t.{target} FROM {through} t WHERE t.{source} = h.{pk}
             EXCEPT SELECT l.{target} FROM {links} l WHERE l.history_id = h.history_id)
        )
        """,
        [list(history_ids)],
    )
    differing = [row[0] for row in cursor.fetchall()]
    if not differing:
        return
    cursor.execute(f"DELETE FROM {through} WHERE {source} = ANY(%s)", [differing])
    cursor.execute(
        f"INSERT INTO {through} ({source}, {target}) "
        f"SELECT h.{pk}, l.{target} FROM {history_table} h "
        f"JOIN {links} l ON l.history_id = h.history_id "
        f"WHERE h.history_id = ANY(%s) AND h.{pk} = ANY(%s)",
        [list(history_ids), differing],
    )


def snapshot_links(model: type[models.Model], *, operation_id: uuid.UUID) -> None:
    """Give the history rows an operation wrote without their many-to-many links
    (a writer that COPYs history rows) the links of their rows, as simple-history
    keeps them: one statement per many-to-many field."""
    connection = _connection(model)
    qn = connection.ops.quote_name
    history_table = qn(history_model_of(model)._meta.db_table)
    pk = qn(model._meta.pk.column)
    with connection.cursor() as cursor:
        for m2m in m2m_snapshots(model):
            links, source = qn(m2m.history_table), qn(m2m.source)
            cursor.execute(
                f"INSERT INTO {links} (id, {source}, {qn(m2m.target)}, history_id) "
                f"SELECT t.id, t.{source}, t.{qn(m2m.target)}, h.history_id "
                f"FROM {history_table} h "
                f"JOIN {qn(m2m.through_table)} t ON t.{source} = h.{pk} "
                "WHERE h.operation_id = %s AND h.history_type <> '-' AND NOT EXISTS "
                f"(SELECT 1 FROM {links} l WHERE l.history_id = h.history_id)",
                [operation_id],
            )


# --- Data migrations --------------------------------------------------------------


def record_history_in_migration(
    apps, *, label: str, pks: Sequence, reason: str, history_type: str = "~"
) -> int:
    """The history rows of a data migration of business data: one per row of
    `pks` as it is now, by the system actor, under one operation id. Call it right
    after the migration's own UPDATE (or INSERT, with history_type="+").

    Migration models have no simple-history signals, so without this a data
    migration would change rows without a trace.
    """
    from tenants.services import SYSTEM_ACTOR_EMAIL

    app_label, model_name = label.split(".")
    model = apps.get_model(app_label, model_name)
    history_model = apps.get_model(app_label, f"Historical{model_name}")
    actor, _ = apps.get_model("tenants", "User").objects.get_or_create(
        email=SYSTEM_ACTOR_EMAIL,
        defaults={"full_name": "System", "is_active": False, "password": "!"},
    )
    connection = _connection(model)
    qn = connection.ops.quote_name
    columns = ", ".join(map(qn, snapshot_columns(history_model)))
    with history_operation(reason=reason), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(history_model._meta.db_table)} ({columns}, "
            "history_date, history_type, history_user_id, history_change_reason, "
            f"operation_id) SELECT {columns}, %s, %s, %s, %s, %s "
            f"FROM {qn(model._meta.db_table)} "
            f"WHERE {qn(model._meta.pk.column)} = ANY(%s)",
            [
                timezone.now(),
                history_type,
                actor.pk,
                reason,
                current_operation_id(),
                list(pks),
            ],
        )
        return cursor.rowcount


# --- Retention ------------------------------------------------------------------------


def retention_days(model: type[models.Model]) -> int | None:
    """How many days the history of `model` is kept: `HISTORY_RETENTION_DAYS`
    by "app_label.Model", else its "default"; None keeps it forever."""
    policy = getattr(settings, "HISTORY_RETENTION_DAYS", {})
    return policy.get(model._meta.label, policy.get("default"))


@dataclass(frozen=True)
class PruneBatch:
    rows: int
    seconds: float  # the batch's transaction, from its first statement to commit


def history_prune(
    model: type[models.Model], *, before, batch_size: int = 5000
) -> Iterator[PruneBatch]:
    """Delete the history rows of `model` older than `before`, oldest first,
    `batch_size` rows per transaction (served by the history_date index), so no
    statement holds its row locks for long. Yields each batch as it commits."""
    connection = _connection(model)
    qn = connection.ops.quote_name
    history_table = qn(history_model_of(model)._meta.db_table)
    links = [
        f"links_{number} AS (DELETE FROM {qn(m2m.history_table)} "
        "WHERE history_id IN (SELECT history_id FROM batch))"
        for number, m2m in enumerate(m2m_snapshots(model))
    ]
    statement = (
        f"WITH batch AS (SELECT history_id FROM {history_table} "
        "WHERE history_date < %s ORDER BY history_date LIMIT %s FOR UPDATE SKIP LOCKED)"
        + "".join(f", {cte}" for cte in links)
        + f" DELETE FROM {history_table} "
        "WHERE history_id IN (SELECT history_id FROM batch)"
    )
    while True:
        started = time.perf_counter()
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(statement, [before, batch_size])
            deleted = cursor.rowcount
        yield PruneBatch(rows=deleted, seconds=time.perf_counter() - started)
        if deleted < batch_size:
            return
