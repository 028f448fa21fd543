"""The row engine of bulk imports: read, resolve, validate, classify, write.

Built for tens of thousands of rows a second with validation and history:

- related keys (organizations, projects, people...) and the existing rows named by
  the file are looked up once per chunk of rows, inside the user's scope;
- every row is `full_clean`ed in Python. What would cost a query per row is done
  per chunk instead: foreign keys come from the lookups, uniqueness is checked
  with one query per unique field set, and check constraints are evaluated in
  Python (a constraint the evaluator cannot read is validated by the database);
- new rows and their history rows are written with PostgreSQL COPY, updated rows
  with one bulk UPDATE per chunk and COPYed history rows. Every history row
  carries the importing user, the change reason and (inside the caller's
  `history_operation` block) the import's operation id.

Writing stops at the first bad row; the caller runs the engine inside one
transaction and rolls it back when any row failed, so an import is all or nothing.
"""

import contextlib
import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import batched

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models.expressions import DatabaseDefault
from django.utils import timezone

from audit.imports.cells import (
    CellError,
    converter,
    display,
    instance_factory,
    relate,
)
from audit.imports.checks import compile_checks, unique_sets
from audit.imports.files import ImportFileError, Table
from audit.imports.writer import BackgroundWrites, HistoryWriter, NewRows
from audit.resources import NaturalKeyWidget, ScopedModelResource, normalize_key
from tenants.selectors import scope_rule

CHUNK_SIZE = 2000
PREVIEW_ROWS = 100  # rows of any kind shown in the preview
PREVIEW_ERROR_ROWS = 100  # bad rows shown in the preview on top of those
MAX_ERRORS = 10_000  # errors kept for the report; the count goes on


@dataclass
class ImportResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    error_rows: int = 0
    processed: int = 0
    errors: list[dict] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    organization_ids: set[int] = field(default_factory=set)
    headers: list[str] = field(default_factory=list)


@dataclass
class _Column:
    name: str
    position: int
    attribute: str
    model_field: models.Field
    widget: NaturalKeyWidget | None
    convert: Callable | None

    @property
    def attname(self) -> str:
        return self.model_field.attname


@dataclass
class _Row:
    number: int
    values: list
    errors: list[tuple[str, str]] = field(default_factory=list)
    related: dict = field(default_factory=dict)  # column name -> object or None
    key: tuple | None = None
    instance: models.Model | None = None
    old: dict | None = None  # attname -> value before the import (updates)
    changed: list[str] = field(default_factory=list)

    def fail(self, column: str, message: str) -> None:
        self.errors.append((column, message))


@contextlib.contextmanager
def _collector_paused():
    """The cyclic garbage collector off while the rows are read and written: every
    chunk allocates hundreds of thousands of objects, and the collections they
    trigger walk every live object (Django's included), a fifth of an import's CPU.
    The rows and instances hold no reference cycles; what else is cyclic is
    collected once the collector runs again."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- The engine --------------------------------------------------------------------


class Importer:
    """Imports one table of rows for `resource_class` on behalf of `user`."""

    def __init__(
        self,
        resource_class: type[ScopedModelResource],
        *,
        user,
        reason: str,
        write: bool,
        progress: Callable[[int], None] | None = None,
        chunk_size: int = CHUNK_SIZE,
    ):
        self.resource = resource_class(user=user, change_reason=reason)
        self.model = resource_class._meta.model
        self.opts = self.model._meta
        self.user = user
        self.write = write
        self.progress = progress
        self.chunk_size = chunk_size
        self.result = ImportResult()
        self.writer = HistoryWriter(
            self.model, user_id=getattr(user, "pk", None), reason=reason
        )
        self.key_fields = resource_class.key_fields()
        self.new_instance = instance_factory(self.model)
        self.checks = compile_checks(self.model)
        self.unique_sets = unique_sets(self.model)
        self._now = timezone.now()
        self._related_cache: dict[str, dict] = {}
        self._seen_keys: dict[tuple, int] = {}
        self._seen_unique: dict[tuple[str, ...], dict[tuple, int]] = {}
        self._scope_rule = scope_rule(self.model)

    # --- columns -------------------------------------------------------------------
    def bind(self, headers: list[str]) -> None:
        """Match the header to the resource's columns; raises ImportFileError."""
        fields_by_column = {f.column_name: f for f in self.resource.fields.values()}
        expected = [
            self.resource.fields[name].column_name
            for name in self.resource.get_export_order()
        ]
        unknown = [h for h in headers if h not in fields_by_column]
        if unknown:
            raise ImportFileError(
                f"Unknown column(s): {', '.join(unknown)}. The columns of "
                f"{self.opts.verbose_name_plural} are: {', '.join(expected)}."
            )
        naming = [
            self.resource.fields[name].column_name
            for name in self.key_fields
            if name != "id"
        ]
        missing = [column for column in naming if column not in headers]
        if missing:
            raise ImportFileError(
                f"Missing column(s): {', '.join(missing)}; they say which "
                f"{self.opts.verbose_name} each row is."
            )
        self.width = len(headers)
        self.headers = self.result.headers = headers
        self.columns = []
        for position, name in enumerate(headers):
            resource_field = fields_by_column[name]
            if resource_field.readonly:
                continue
            widget = resource_field.widget
            model_field = self.opts.get_field(resource_field.attribute)
            related = isinstance(widget, NaturalKeyWidget)
            self.columns.append(
                _Column(
                    name=name,
                    position=position,
                    attribute=resource_field.attribute,
                    model_field=model_field,
                    widget=widget if related else None,
                    convert=None if related else converter(model_field),
                )
            )
        # Organizations first: keys unique per organization need the row's one.
        self.related_columns = sorted(
            (c for c in self.columns if c.widget),
            key=lambda c: c.widget.per_organization,
        )
        self.value_columns = [
            c for c in self.columns if not c.widget and c.attribute != "id"
        ]
        self.identity = next((c for c in self.columns if c.attribute == "id"), None)
        self.columns_by_attribute = {c.attribute: c for c in self.columns}
        self.columns_by_position = {c.position: c for c in self.columns}
        self.key_attnames = [self.opts.get_field(k).attname for k in self.key_fields]
        self.key_label = ", ".join(
            self._column_of(name) for name in self.key_fields if name != "id"
        )
        imported = {c.model_field.name for c in self.columns}
        relations = [f for f in self.opts.concrete_fields if f.is_relation]
        # Relations are resolved above (a query per row otherwise), the id is ours.
        self.exclude_on_create = [f.name for f in relations] + [self.opts.pk.name]
        # Updates validate what the file sets: the rest of the row is as it was.
        self.exclude_on_update = [
            f.name for f in self.opts.concrete_fields if f.name not in imported
        ] + self.exclude_on_create
        # What `full_clean(exclude=...)` walks, listed once (it tests every field
        # of the model against the exclusions, row after row).
        self.cleaned_on_create = self._cleaned(self.exclude_on_create)
        self.cleaned_on_update = self._cleaned(self.exclude_on_update)
        self.required_missing = [
            f.name for f in relations if not f.null and f.name not in imported
        ]
        self.compared = [c.attname for c in self.columns if c.attribute != "id"]

    # --- the run -------------------------------------------------------------------
    def run(self, table: Table) -> ImportResult:
        """Import every row; with `write`, the new rows of one chunk are written in
        the background while the next chunk is read and validated."""
        self.bind(table.headers)
        pending = None  # the previous chunk's new rows, not written yet
        with (
            _collector_paused(),
            self.writer.checked_per_statement()
            if self.write
            else contextlib.nullcontext(),
            BackgroundWrites(self.writer.connection) as background,
        ):
            for chunk in batched(table.rows, self.chunk_size):
                rows = [_Row(number, list(values)) for number, values in chunk]
                self._now = timezone.now()  # new rows' `timezone.now` defaults
                background.wait()  # the lookups below need the connection
                existing = self._look_up(rows)
                # Ids for the rows no existing one matches (those failing leave
                # gaps, as a rolled-back insert does).
                batch = (
                    self.writer.batch(sum(r.key not in existing for r in rows))
                    if self.write
                    else None
                )
                if pending:
                    background.submit(self.writer.create, pending)
                for row in rows:
                    self._build(row, existing, batch)
                background.wait()
                for names in self.unique_sets:
                    self._check_unique(names, rows)
                pending = batch if self._classify(rows) else None
                if self.progress:
                    self.progress(self.result.processed)
            if pending:
                self.writer.create(pending)
        return self.result

    def _look_up(self, rows: list[_Row]) -> dict:
        """Shape the rows, resolve their related keys, and find the rows they name."""
        for row in rows:
            if len(row.values) > self.width:
                row.fail(
                    "",
                    f"The row has {len(row.values)} values; the header has "
                    f"{self.width} columns.",
                )
            row.values.extend([None] * (self.width - len(row.values)))
        for column in self.related_columns:
            self._resolve(column, rows)
        return self._existing(rows)

    # --- related rows --------------------------------------------------------------
    def _scope_key(self, column: _Column, row: _Row, text: str):
        if not column.widget.per_organization:
            return text
        organization = row.related.get(self.columns_by_attribute["organization"].name)
        return None if organization is None else (organization.pk, text)

    def _resolve(self, column: _Column, rows: list[_Row]) -> None:
        widget = column.widget
        cache = self._related_cache.setdefault(column.name, {})
        wanted, named = {}, []
        for row in rows:
            text = widget.normalize(row.values[column.position])
            row.related[column.name] = None
            if not text:
                continue
            key = self._scope_key(column, row, text)
            if key is None:
                continue  # its organization is unknown: reported there
            named.append((row, key, text))
            if key not in cache:
                wanted[key] = text
        if wanted:
            self._fetch_related(column, cache, wanted)
        for row, key, text in named:
            related = cache[key]
            if related is None:
                row.fail(column.name, widget.unknown(text))
            row.related[column.name] = related

    def _fetch_related(self, column: _Column, cache: dict, wanted: dict) -> None:
        widget = column.widget
        lookup_field = widget.model._meta.get_field(widget.field)
        values = set()
        for text in wanted.values():
            try:
                values.add(lookup_field.to_python(text))
            except ValidationError:
                continue
        for key in wanted:
            cache[key] = None
        if not values:
            return
        queryset = widget.get_queryset(None, None).filter(
            **{f"{widget.field}__in": values}
        )
        if widget.per_organization:
            queryset = queryset.filter(organization_id__in={key[0] for key in wanted})
        for related in queryset:
            text = widget.normalize(getattr(related, widget.field))
            key = (related.organization_id, text) if widget.per_organization else text
            if key in cache:
                cache[key] = related

    # --- the rows named by the file ------------------------------------------------
    def _row_key(self, row: _Row) -> tuple | None:
        """The natural key of the row as stored values, or None (new or unknown)."""
        key = []
        for name in self.key_fields:
            column = self.columns_by_attribute.get(name)
            if column is None:  # no id column: every row is new
                return None
            if column.widget:
                related = row.related.get(column.name)
                if related is None:
                    return None
                key.append(related.pk)
                continue
            text = normalize_key(row.values[column.position])
            if not text:
                return None
            try:
                key.append(column.model_field.to_python(text))
            except ValidationError:
                row.fail(column.name, f"Unknown {self.opts.verbose_name} “{text}”.")
                return None
        return tuple(key)

    def _existing(self, rows: list[_Row]) -> dict[tuple, models.Model]:
        for row in rows:
            row.key = self._row_key(row)
        keys = [row.key for row in rows if row.key is not None]
        if not keys:
            return {}
        queryset = self.resource.get_queryset()
        for position, attname in enumerate(self.key_attnames):
            queryset = queryset.filter(
                **{f"{attname}__in": {k[position] for k in keys}}
            )
        if self.write:
            queryset = queryset.select_for_update()
        found = {}
        for instance in queryset:
            found[tuple(getattr(instance, a) for a in self.key_attnames)] = instance
        return found

    # --- one row -------------------------------------------------------------------
    def _build(self, row: _Row, existing: dict, batch: NewRows | None) -> None:
        instance = existing.get(row.key) if row.key is not None else None
        label = self.opts.verbose_name
        if row.key is not None:
            first = self._seen_keys.setdefault(row.key, row.number)
            if first != row.number:
                row.fail(self.key_label, f"Row {first} already names this {label}.")
        if instance is None and self.identity is not None:
            text = normalize_key(row.values[self.identity.position])
            if text and row.key is not None:
                row.fail(self.identity.name, f"Unknown {label} “{text}”.")
        if instance is not None and getattr(instance, "deleted_at", None):
            row.fail(self.key_label, f"This {label} is in the trash; restore it first.")
        if instance is None:
            instance = self.new_instance(self._now)
        else:
            row.old = {attname: getattr(instance, attname) for attname in self.compared}
        row.instance = instance
        for column in self.related_columns:
            related = row.related.get(column.name)
            if related is None and not column.model_field.null:
                if normalize_key(row.values[column.position]) == "":
                    row.fail(column.name, "This field is required.")
                continue
            relate(instance, column.model_field, related)
        for column in self.value_columns:
            try:
                value = column.convert(row.values[column.position])
            except CellError as error:
                row.fail(column.name, str(error))
                continue
            setattr(instance, column.attname, value)
        if row.old is None:
            for name in self.required_missing:
                row.fail(name, "This field is required (add the column).")
        self._validate(row)
        if row.errors:
            return
        if row.old is not None:
            row.changed = [
                a for a in self.compared if row.old[a] != getattr(instance, a)
            ]
        elif batch is not None:
            batch.add(instance)

    def _cleaned(self, exclude: list[str]) -> list[models.Field] | None:
        """The fields `full_clean` would clean; None when the model cleans its
        fields its own way (then `full_clean` itself runs)."""
        if (
            self.model.full_clean is not models.Model.full_clean
            or self.model.clean_fields is not models.Model.clean_fields
        ):
            return None
        return [
            f for f in self.opts.fields if f.name not in exclude and not f.generated
        ]

    def _validate(self, row: _Row) -> None:
        instance = row.instance
        update = row.old is not None
        exclude = self.exclude_on_update if update else self.exclude_on_create
        fields = self.cleaned_on_update if update else self.cleaned_on_create
        if row.errors:  # a cell that could not be read is not validated again
            exclude = [*exclude, *(self._attribute_of(c) for c, _ in row.errors)]
            fields = None
        try:
            if fields is None:
                instance.full_clean(
                    exclude=exclude, validate_unique=False, validate_constraints=False
                )
            else:
                self._full_clean(instance, fields)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                column = "" if name == NON_FIELD_ERRORS else self._column_of(name)
                for message in messages:
                    row.fail(column, message)
            return
        for check in self.checks:
            if check.predicate is not None:
                passed = check.predicate(instance) is not False
            else:
                try:
                    check.constraint.validate(self.model, instance)
                    passed = True
                except ValidationError:
                    passed = False
            if not passed:
                row.fail(
                    self._column_of(check.fields[0]) if check.fields else "",
                    str(check.constraint.get_violation_error_message()),
                )

    @staticmethod
    def _full_clean(instance: models.Model, fields: list[models.Field]) -> None:
        """`Model.full_clean` without unique and constraint checks, over the fields
        listed: `clean_fields` then `clean`, errors of both raised together."""
        errors = {}
        for f in fields:
            raw_value = getattr(instance, f.attname)
            if f.blank and raw_value in f.empty_values:
                continue
            if isinstance(raw_value, DatabaseDefault):
                continue
            try:
                setattr(instance, f.attname, f.clean(raw_value, instance))
            except ValidationError as error:
                errors[f.name] = error.error_list
        try:
            instance.clean()
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def _column_of(self, name: str) -> str:
        column = self.columns_by_attribute.get(name)
        return column.name if column else name

    def _attribute_of(self, column_name: str) -> str:
        for column in self.columns:
            if column.name == column_name:
                return column.model_field.name
        return column_name

    # --- uniqueness ----------------------------------------------------------------
    def _check_unique(self, names: tuple[str, ...], rows: list[_Row]) -> None:
        attnames = [self.opts.get_field(n).attname for n in names]
        candidates = []
        for row in rows:
            if row.errors:
                continue
            if row.old is not None and not set(attnames) & set(row.changed):
                continue
            values = tuple(getattr(row.instance, a) for a in attnames)
            if None in values:
                continue  # NULLs never clash
            candidates.append((row, values))
        if not candidates:
            return
        label = ", ".join(self._column_of(n) for n in names)
        if set(names) != set(self.key_fields):  # the natural key: checked in _build
            seen = self._seen_unique.setdefault(names, {})
            for row, values in candidates:
                first = seen.setdefault(values, row.number)
                if first != row.number:
                    row.fail(label, f"Same {label} as row {first}.")
        queryset = self.model._base_manager.all()
        for position, attname in enumerate(attnames):
            queryset = queryset.filter(
                **{f"{attname}__in": {values[position] for _, values in candidates}}
            )
        taken = (
            dict(queryset.values_list(*attnames, "pk").iterator())
            if len(attnames) == 1
            else {
                tuple(found[:-1]): found[-1]
                for found in queryset.values_list(*attnames, "pk").iterator()
            }
        )
        for row, values in candidates:
            key = values[0] if len(attnames) == 1 else values
            pk = taken.get(key)
            if pk is not None and pk != row.instance.pk:
                row.fail(
                    label,
                    f"{self.opts.verbose_name.capitalize()} with this {label} "
                    "already exists.",
                )

    # --- counting, preview and writing ---------------------------------------------
    def _classify(self, rows: list[_Row]) -> bool:
        """Count and preview the rows, write the updates; whether the new rows (in
        the chunk's batch) are to be written."""
        result = self.result
        updates, changed_names = [], set()
        for row in rows:
            result.processed += 1
            if row.errors:
                result.error_rows += 1
                kind = "error"
                for column, message in row.errors:
                    if len(result.errors) < MAX_ERRORS:
                        result.errors.append(self._error(row, column, message))
            elif row.old is None:
                result.new += 1
                kind = "new"
            elif row.changed:
                result.updated += 1
                kind = "update"
                updates.append(row.instance)
                changed_names.update(row.changed)
            else:
                result.unchanged += 1
                kind = "unchanged"
            if kind != "error" and self._scope_rule == "tenant":
                result.organization_ids.add(row.instance.organization_id)
            elif kind in ("update", "unchanged") and self._scope_rule == "organization":
                result.organization_ids.add(row.instance.pk)
            self._preview(row, kind)
        if not self.write or result.error_rows:
            return False  # nothing is written once a row failed: it all rolls back
        if updates:
            self.writer.update(updates, changed_names)
        return True

    def _error(self, row: _Row, column: str, message: str) -> dict:
        value = ""
        if column in self.headers:
            value = display(row.values[self.headers.index(column)])[:200]
        return {"row": row.number, "column": column, "message": message, "value": value}

    def _preview(self, row: _Row, kind: str) -> None:
        shown = len(self.result.preview)
        if shown >= PREVIEW_ROWS and (
            kind != "error" or shown >= PREVIEW_ROWS + PREVIEW_ERROR_ROWS
        ):
            return
        cells = []
        for position, value in enumerate(row.values):
            old = None
            column = self.columns_by_position.get(position)
            if kind == "update" and column and column.attname in row.changed:
                old = self._old_display(column, row.old[column.attname])
            cells.append({"value": display(value), "old": old})
        self.result.preview.append(
            {
                "row": row.number,
                "kind": kind,
                "cells": cells,
                "errors": [f"{c}: {m}" if c else m for c, m in row.errors],
            }
        )

    def _old_display(self, column: _Column, value) -> str:
        """The value a changed cell had; a related row by its key when known."""
        if column.widget is None or value is None:
            return display(value)
        for related in self._related_cache.get(column.name, {}).values():
            if related is not None and related.pk == value:
                return column.widget.normalize(getattr(related, column.widget.field))
        return f"#{value}"
