"""History rows as people read them: field-level changes and past versions.

Values are shown as the admin shows them: choices by label, foreign keys and
many-to-many links by name (one query per related model for a whole page of rows,
never one per row), JSON objects key by key.
"""

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.text import Truncator
from simple_history.models import HistoricalRecords

from audit.history import history_model_of

EMPTY = "—"
# Bookkeeping every save moves: noise in a list of changes.
QUIET_FIELDS = frozenset({"updated_at", "version"})
MAX_TEXT = 300
_ABSENT = object()


@dataclass(frozen=True)
class KeyChange:
    key: str
    old: str
    new: str


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    old: str
    new: str
    keys: tuple[KeyChange, ...] = ()  # JSON objects: the keys that changed


@dataclass
class HistoryEntry:
    """One history row, the row before it (same object) and what changed."""

    record: Any
    previous: Any | None
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return {"+": "created", "-": "deleted"}.get(self.record.history_type, "changed")


def shown_fields(model: type[models.Model]) -> list[models.Field]:
    """The fields of `model` whose changes history shows, in declaration order."""
    history_model = history_model_of(model)
    fields = [
        f
        for f in history_model.tracked_fields
        if not f.primary_key and f.name not in QUIET_FIELDS
    ]
    return fields + list(history_model._history_m2m_fields)


class Renderer:
    """Display values of a set of history rows of one model."""

    def __init__(self, model: type[models.Model], records: list):
        self.model = model
        self.fields = shown_fields(model)
        self.links: dict[str, dict[int, set]] = {}
        self.names: dict[str, dict[Any, str]] = {}
        history_ids = [r.history_id for r in records]
        for f in self.fields:
            if f.many_to_many:
                self._load_links(f, history_ids)
            elif f.is_relation:
                ids = {getattr(r, f.attname) for r in records} - {None}
                self.names[f.name] = _names(f.related_model, ids)

    def _load_links(self, f: models.ManyToManyField, history_ids: list[int]) -> None:
        link_model = HistoricalRecords.m2m_models[f]
        target = f.m2m_reverse_field_name()
        links: dict[int, set] = {}
        for history_id, related in link_model.objects.filter(
            history_id__in=history_ids
        ).values_list("history_id", f"{target}_id"):
            links.setdefault(history_id, set()).add(related)
        self.links[f.name] = links
        related_ids = set().union(*links.values()) if links else set()
        self.names[f.name] = _names(f.related_model, related_ids)

    def raw(self, record, f: models.Field) -> Any:
        if f.many_to_many:
            return frozenset(self.links[f.name].get(record.history_id, ()))
        return getattr(record, f.attname)

    def _named(self, f: models.Field, ids) -> list[str]:
        names = self.names[f.name]
        missing = set(ids) - set(names)
        if missing:  # values from outside the rows read (the live row's)
            found = _names(f.related_model, missing)
            names.update({pk: found.get(pk, f"#{pk} (deleted)") for pk in missing})
        return [names[pk] for pk in ids]

    def display(self, f: models.Field, value: Any) -> str:
        if f.many_to_many:
            return ", ".join(sorted(self._named(f, value))) or EMPTY
        if value is None or value == "":
            return EMPTY
        if f.is_relation:
            return self._named(f, [value])[0]
        return display_value(f, value)

    def changes(self, previous, record) -> list[FieldChange]:
        """What `record` changed since `previous` (everything set, on creation)."""
        result = []
        for f in self.fields:
            new = self.raw(record, f)
            old = self.raw(previous, f) if previous is not None else None
            if previous is None and new in (None, "", {}, [], frozenset()):
                continue
            if old == new or (previous is not None and _both_empty(old, new)):
                continue
            keys = ()
            if isinstance(f, models.JSONField):
                keys = json_key_changes(old, new)
            result.append(
                FieldChange(
                    name=f.name,
                    label=str(f.verbose_name).capitalize(),
                    old=self.display(f, old) if previous is not None else EMPTY,
                    new=self.display(f, new),
                    keys=keys,
                )
            )
        return result

    def snapshot(self, record) -> list[tuple[str, str, str]]:
        """(name, label, value) of every field of one version."""
        return [
            (
                f.name,
                str(f.verbose_name).capitalize(),
                self.display(f, self.raw(record, f)),
            )
            for f in self.fields
        ]


def _both_empty(old, new) -> bool:
    return old in (None, "") and new in (None, "")


def _names(model: type[models.Model], ids: set) -> dict[Any, str]:
    if not ids:
        return {}
    return {obj.pk: str(obj) for obj in model._base_manager.filter(pk__in=ids)}


def display_value(f: models.Field, value: Any) -> str:
    """A plain (not relation) value as the admin would show it."""
    choices = dict(f.flatchoices) if f.choices else None
    if choices is not None and value in choices:
        return str(choices[value])
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return Truncator(str(value)).chars(MAX_TEXT)


def _json_display(value: Any) -> str:
    if value is _ABSENT:
        return EMPTY
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return Truncator(text).chars(MAX_TEXT)


def json_key_changes(old: Any, new: Any) -> tuple[KeyChange, ...]:
    """The keys of two JSON objects whose values differ (added, removed, changed)."""
    if not isinstance(old or {}, dict) or not isinstance(new or {}, dict):
        return ()
    old, new = old or {}, new or {}
    return tuple(
        KeyChange(
            key=str(key),
            old=_json_display(old.get(key, _ABSENT)),
            new=_json_display(new.get(key, _ABSENT)),
        )
        for key in sorted(set(old) | set(new), key=str)
        if old.get(key, _ABSENT) != new.get(key, _ABSENT)
    )


def predecessors(model: type[models.Model], records: list) -> dict[int, Any]:
    """{history_id: the row before it of the same object} for `records`: two
    queries whatever their number."""
    if not records:
        return {}
    history_model = history_model_of(model)
    pk = model._meta.pk.attname
    earlier = (
        history_model.objects.filter(
            **{pk: OuterRef(pk)}, history_id__lt=OuterRef("history_id")
        )
        .order_by("-history_id")
        .values("history_id")[:1]
    )
    previous_ids = dict(
        history_model.objects.filter(history_id__in=[r.history_id for r in records])
        .annotate(previous_id=Subquery(earlier))
        .values_list("history_id", "previous_id")
    )
    rows = history_model.objects.in_bulk(
        [i for i in previous_ids.values() if i is not None]
    )
    return {
        history_id: rows[previous_id]
        for history_id, previous_id in previous_ids.items()
        if previous_id is not None
    }


def history_entries(model: type[models.Model], records: list) -> list[HistoryEntry]:
    """Each of `records` with the row before it and its field-level changes."""
    before = predecessors(model, records)
    renderer = Renderer(model, [*records, *before.values()])
    return [
        HistoryEntry(
            record=record,
            previous=before.get(record.history_id),
            changes=[]
            if record.history_type == "-"
            else renderer.changes(before.get(record.history_id), record),
        )
        for record in records
    ]
