"""File cells as model field values, and the new instances they fill.

Each column gets one converter, chosen once from its model field; `full_clean`
then converts the rest and validates."""

import datetime as dt
import json
from collections.abc import Callable

from django.db import models
from django.db.models import signals
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.formulas import unescape_formula


class CellError(Exception):
    """A cell that cannot become a value of its field."""


def as_text(value) -> str:
    """A cell as text: spreadsheets store `12` as the number 12.0."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _aware(value: dt.datetime) -> dt.datetime:
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _line(raw) -> str:
    # Single-line text is stripped, as Django's form fields do.
    return unescape_formula(as_text(raw).strip())


def _text(raw) -> str:
    return unescape_formula(as_text(raw))


def _json(raw):
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError as error:
        raise CellError("Enter valid JSON.") from error


def _datetime(raw) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        return _aware(raw)
    text = as_text(raw).strip()
    try:
        parsed = parse_datetime(text)
        if parsed is None and (day := parse_date(text)) is not None:
            parsed = dt.datetime.combine(day, dt.time())
    except ValueError:
        parsed = None
    if parsed is None:
        raise CellError(
            f"“{text}” is not a date and time (YYYY-MM-DD HH:MM:SS, optionally "
            "with a UTC offset)."
        )
    return _aware(parsed)


def _date(raw):
    if isinstance(raw, dt.datetime):
        return raw.date()
    return raw.strip() if isinstance(raw, str) else raw


def _other(raw):
    return raw.strip() if isinstance(raw, str) else raw


def converter(model_field: models.Field) -> Callable:
    """How a cell of `model_field`'s column becomes the field's raw value."""
    if isinstance(model_field, models.JSONField):
        convert = _json
    elif isinstance(model_field, models.CharField):
        convert = _line
    elif isinstance(model_field, models.TextField):
        convert = _text
    elif isinstance(model_field, models.DateTimeField):
        convert = _datetime
    elif isinstance(model_field, models.DateField):
        convert = _date
    else:
        convert = _other
    if model_field.null:
        empty = None
    elif isinstance(model_field, models.JSONField):
        empty = model_field.get_default  # a fresh object per row
    elif isinstance(model_field, (models.CharField, models.TextField)):
        empty = ""
    else:
        empty = None  # full_clean: "This field cannot be null."

    def convert_cell(raw):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return empty() if callable(empty) else empty
        return convert(raw)

    return convert_cell


def display(value) -> str:
    """A value as the preview and the error report show it."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def instance_factory(model) -> Callable[[dt.datetime], models.Model]:
    """New instances holding their fields' defaults, as `model()` gives them, without
    `Model.__init__`'s per-field work; `new(now)`: a `timezone.now` default takes
    `now` (one clock read per chunk of rows). `model()` when init signals listen."""
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return lambda now: model()
    fixed, clocked, computed = {}, [], []
    for model_field in model._meta.concrete_fields:
        if model_field.has_default() and model_field.default is timezone.now:
            clocked.append(model_field.attname)
        elif model_field.has_default() and callable(model_field.default):
            # dict, uuid4...: one value per row
            computed.append((model_field.attname, model_field.get_default))
        else:
            fixed[model_field.attname] = model_field.get_default()

    def new(now: dt.datetime) -> models.Model:
        instance = model.__new__(model)
        instance._state = ModelState()
        values = instance.__dict__
        values.update(fixed)
        for attname in clocked:
            values[attname] = now
        for attname, default in computed:
            values[attname] = default()
        return instance

    return new


def relate(instance, model_field, related) -> None:
    """`instance.<field> = related` without the descriptor's per-call checks: the
    related row comes from the scoped lookup, of the right model."""
    instance.__dict__[model_field.attname] = None if related is None else related.pk
    model_field.set_cached_value(instance, related)
