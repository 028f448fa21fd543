"""Rows and their simple-history rows written in bulk: COPY for new rows, one bulk
UPDATE for changed ones; each history row names the user and the change reason."""

import contextvars
import io
import json
import operator
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import cached_property

from django.db import connections, models, router
from django.utils import timezone
from psycopg import sql
from psycopg.copy import Copy, FileWriter


class _Ids:
    """Ids for new rows from the table's own sequence. Its name is looked up once:
    `nextval(pg_get_serial_sequence(...))` looks it up again for every id (3x the
    time of `nextval` on the name)."""

    def __init__(self, connection, model):
        self.connection = connection
        self.table = model._meta.db_table
        self.column = model._meta.pk.column
        self.sequence: str | None = None

    def allocate(self, count: int) -> list[int]:
        if not count:
            return []
        with self.connection.cursor() as cursor:
            if self.sequence is None:
                cursor.execute(
                    "SELECT pg_get_serial_sequence(%s, %s)", [self.table, self.column]
                )
                self.sequence = cursor.fetchone()[0]
            cursor.execute(
                "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
                [self.sequence, count],
            )
            return [row[0] for row in cursor.fetchall()]


# Fields whose validated Python values psycopg adapts as they are.
_AS_IS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.DateField,  # and DateTimeField: aware after full_clean
    models.DecimalField,
    models.UUIDField,
    models.ForeignKey,
)


class _NewRow:
    """The COPY row of a new instance: for each field what
    `field.get_db_prep_save(field.pre_save(instance, add=True))` gives, without
    that cost per cell: plain values are read in one go, the others converted."""

    def __init__(self, fields, connection):
        self.read = operator.attrgetter(*(f.attname for f in fields))
        self.conversions = []
        self.stamps = []  # auto_now(_add) fields: set by `stamp`, then read as is
        for index, field in enumerate(fields):
            if getattr(field, "auto_now", False) or getattr(
                field, "auto_now_add", False
            ):
                self.stamps.append(
                    (field.attname, isinstance(field, models.DateTimeField))
                )
                continue
            plain_pre_save = isinstance(field, models.DateField) or (
                type(field).pre_save is models.Field.pre_save
            )
            if not plain_pre_save:
                convert = self._saved(field, connection)
            elif isinstance(field, models.JSONField):
                convert = self._json(field)
            elif isinstance(field, _AS_IS):
                continue
            else:
                convert = self._prepared(field, connection)
            self.conversions.append((index, convert))

    def stamps_at(self, now) -> list[tuple[str, object]]:
        """The creation and update times of a batch's rows: one clock read for all
        of them, where `pre_save` reads it twice per row."""
        return [
            (attname, now if with_time else now.date())
            for attname, with_time in self.stamps
        ]

    @staticmethod
    def _saved(field, connection):
        return lambda instance, value: field.get_db_prep_save(
            field.pre_save(instance, True), connection
        )

    @staticmethod
    def _json(field):
        encoder = field.encoder

        def dump(instance, value):
            if value is None:
                return None
            if value == {}:  # the usual default, whatever the encoder
                return "{}"
            return json.dumps(value, cls=encoder)

        return dump

    @staticmethod
    def _prepared(field, connection):
        return lambda instance, value: field.get_db_prep_save(value, connection)

    def __call__(self, instance) -> list:
        values = list(self.read(instance))
        for index, convert in self.conversions:
            values[index] = convert(instance, values[index])
        return values


class HistoryWriter:
    """Rows of a model and their simple-history rows, written in bulk.

    The history rows are copied from the rows just written by the database itself
    (`INSERT ... SELECT`), so each value crosses the wire once.
    """

    def __init__(self, model, *, user_id: int | None, reason: str):
        self.model = model
        # `model.history` builds a manager class on every read: read it once.
        self.history_model = model.history.model
        self.connection = connections[router.db_for_write(model)]
        self.fields = model._meta.concrete_fields
        self._new_row = _NewRow(self.fields, self.connection)
        self._ids = _Ids(self.connection, model)
        self._copy_statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(self.model._meta.db_table),
            sql.SQL(", ").join(sql.Identifier(f.column) for f in self.fields),
        )
        self.user_id = user_id
        self.reason = reason
        columns = {f.attname: f.column for f in self.fields}
        self._copied, self._extra = [], []
        for history_field in self.history_model._meta.concrete_fields:
            if history_field.primary_key:
                continue
            if history_field.attname in columns:
                self._copied.append(history_field.column)
            else:  # history_date, history_type, the user, reason, operation id...
                self._extra.append(history_field)

    @contextmanager
    def checked_per_statement(self):
        """Foreign keys of the written tables checked as each statement ends rather
        than all at commit: the checks then run with the background writes, while
        the next rows are validated, instead of after the last one."""
        tables = [self.model._meta.db_table, self.history_model._meta.db_table]
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname FROM pg_constraint "
                "WHERE conrelid = ANY(%s::regclass[]) AND contype = 'f' "
                "AND condeferrable AND condeferred",
                [tables],
            )
            names = [row[0] for row in cursor.fetchall()]
        if not names:
            yield
            return
        listed = sql.SQL(", ").join(map(sql.Identifier, names))
        with self.connection.cursor() as cursor:
            cursor.execute(sql.SQL("SET CONSTRAINTS {} IMMEDIATE").format(listed))
        yield
        # Back to their declared mode (an error rolls the setting back with it).
        with self.connection.cursor() as cursor:
            cursor.execute(sql.SQL("SET CONSTRAINTS {} DEFERRED").format(listed))

    @cached_property
    def format_cursor(self):
        """A cursor for its adapters only (COPY data formatted in Python): it runs
        no query, so it can be used while another thread uses the connection."""
        return self.connection.connection.cursor()

    def batch(self, size: int) -> "NewRows":
        """A batch of at most `size` new rows, formatted as they are added (by the
        caller's thread) and written by `create` (in the background)."""
        return NewRows(self, self._ids.allocate(size))

    def create(self, batch: "NewRows") -> None:
        """Insert the batch's rows (one COPY) and their "+" history."""
        with (
            self.connection.cursor() as cursor,
            cursor.cursor.copy(self._copy_statement) as copy,
        ):
            copy.write(batch.data())
        self._write_history(batch.pks, "+")

    def update(self, instances: list[models.Model], names: set[str]) -> None:
        """Update the changed fields of existing rows and write their "~" history."""
        opts = self.model._meta
        auto = [f.name for f in self.fields if getattr(f, "auto_now", False)]
        for instance in instances:
            for name in auto:
                opts.get_field(name).pre_save(instance, False)
        if any(f.name == "version" for f in self.fields):
            for instance in instances:
                instance.version += 1
            auto.append("version")
        self.model._base_manager.using(self.connection.alias).bulk_update(
            instances, [opts.get_field(n).name for n in {*names, *auto}]
        )
        self._write_history([instance.pk for instance in instances], "~")

    def _write_history(self, pks: list, history_type: str) -> None:
        """One history row per row of `pks`, as the row now is."""
        fixed = {
            "history_date": timezone.now(),
            "history_type": history_type,
            "history_user_id": self.user_id,
            "history_change_reason": self.reason,
        }
        values = [
            fixed[f.attname]
            if f.attname in fixed
            else f.get_db_prep_save(f.get_default(), self.connection)
            for f in self._extra
        ]
        statement = sql.SQL(
            "INSERT INTO {history} ({columns}) SELECT {copied}, {values} "
            "FROM {table} WHERE {pk} = ANY(%s)"
        ).format(
            history=sql.Identifier(self.history_model._meta.db_table),
            columns=sql.SQL(", ").join(
                sql.Identifier(c)
                for c in [*self._copied, *(f.column for f in self._extra)]
            ),
            copied=sql.SQL(", ").join(map(sql.Identifier, self._copied)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(values)),
            table=sql.Identifier(self.model._meta.db_table),
            pk=sql.Identifier(self.model._meta.pk.column),
        )
        with self.connection.cursor() as cursor:
            cursor.execute(statement, [*values, pks])


class NewRows:
    """New rows formatted as COPY data as they are added, each given an id from the
    ones allocated. The thread that validates the rows formats them, while the
    background thread writes the previous batch: the write then only sends bytes
    and waits for PostgreSQL, without taking Python's lock from the validation."""

    def __init__(self, writer: HistoryWriter, ids: list[int]):
        self._new_row = writer._new_row
        self._stamps = writer._new_row.stamps_at(timezone.now())
        self._ids = iter(ids)
        self.pks: list[int] = []
        self._buffer = io.BytesIO()
        self._copy = Copy(writer.format_cursor, writer=FileWriter(self._buffer))

    def __len__(self) -> int:
        return len(self.pks)

    def add(self, instance: models.Model) -> None:
        instance.pk = next(self._ids)
        instance._state.adding = False
        for attname, value in self._stamps:
            setattr(instance, attname, value)
        self._copy.write_row(self._new_row(instance))
        self.pks.append(instance.pk)

    def data(self) -> bytes:
        self._copy.finish(None)
        return self._buffer.getvalue()


class BackgroundWrites:
    """One write at a time on `connection`, run by a thread while the caller goes
    on with Python work (validating the next rows): PostgreSQL inserts while Python
    validates. It is the caller's own connection, lent to the thread, so the writes
    stay in the caller's transaction; `wait()` before using the connection again.
    """

    def __init__(self, connection):
        self.connection = connection
        self.executor: ThreadPoolExecutor | None = None
        self.pending: Future | None = None

    def __enter__(self):
        self.connection.inc_thread_sharing()
        self.executor = ThreadPoolExecutor(max_workers=1)
        return self

    def submit(self, write: Callable, *args) -> None:
        """Start `write(*args)` in the thread, in the caller's context (so the
        history rows it writes carry the caller's operation)."""
        self.wait()
        context = contextvars.copy_context()
        self.pending = self.executor.submit(context.run, write, *args)

    def wait(self) -> None:
        """Until the write in flight is done; its error is raised here."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def __exit__(self, *exc_info):
        try:
            self.wait()
        finally:
            self.executor.shutdown()
            self.connection.dec_thread_sharing()
