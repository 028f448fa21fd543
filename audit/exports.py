"""Exports: rows of a queryset (a changelist's, so its filters, search and the
user's scope) as CSV, XLSX or JSON, with one audit event per export.

Rows come from a server-side cursor (`values_list` + `iterator(chunk_size=...)`)
and leave as they are read: CSV and JSON are streamed to the client, XLSX is
written by openpyxl's write-only mode to a temporary file that is then streamed.
A million rows never sit in memory. Text a spreadsheet would run as a formula
(starting with = + - @, a tab or a carriage return) gets a leading single quote
in CSV and XLSX.
"""

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import batched

from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Cast

from audit.formulas import FORMULA_TRIGGERS, escape_formula
from audit.models import AuditEvent
from audit.resources import NaturalKeyWidget, ScopedModelResource
from audit.services import audit_event_record

CHUNK_SIZE = 5000
FORMULA_STARTS = "".join(FORMULA_TRIGGERS)
TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class ExportColumn:
    name: str  # the header, as imports expect it
    path: str  # the `values_list` lookup
    model_field: models.Field


def export_columns(
    resource: ScopedModelResource, selected: list[str] | None = None
) -> list[ExportColumn]:
    """The resource's columns (or the `selected` ones), in its export order."""
    model = resource._meta.model
    columns = []
    for export_field in resource.get_export_fields(selected):
        path = export_field.attribute
        target = model._meta.get_field(path)
        if isinstance(export_field.widget, NaturalKeyWidget):
            path = f"{path}{LOOKUP_SEP}{export_field.widget.field}"
            target = export_field.widget.model._meta.get_field(
                export_field.widget.field
            )
        columns.append(ExportColumn(export_field.column_name, path, target))
    return columns


def export_rows(
    queryset, columns: list[ExportColumn], *, json_as_text: bool = False
) -> Iterator[tuple]:
    """Rows as tuples in column order, read from a server-side cursor.

    `json_as_text`: JSON columns as the database's text, for files that hold text
    anyway (no decoding and encoding again of every cell)."""
    paths = []
    annotations = {}
    for number, column in enumerate(columns):
        if json_as_text and isinstance(column.model_field, models.JSONField):
            alias = f"_export_{number}"
            annotations[alias] = Cast(column.path, output_field=models.TextField())
            paths.append(alias)
        else:
            paths.append(column.path)
    return (
        queryset.annotate(**annotations)
        .values_list(*paths)
        .iterator(chunk_size=CHUNK_SIZE)
    )


# --- Cell formatting ---------------------------------------------------------------


def _text_columns(columns: list[ExportColumn]) -> list[int]:
    return [n for n, c in enumerate(columns) if isinstance(c.model_field, TEXT_FIELDS)]


def _neutralised(row: tuple, text_columns: list[int]):
    """The row with its formula-like text cells quoted; most rows have none."""
    for number in text_columns:
        value = row[number]
        if value and value[0] in FORMULA_STARTS:
            row = list(row)
            for other in text_columns:
                if row[other]:
                    row[other] = escape_formula(row[other])
            return row
    return row


def _xlsx_formatter(model_field: models.Field) -> Callable:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def text(value):
        if value is None:
            return None
        return ILLEGAL_CHARACTERS_RE.sub("", escape_formula(value))

    def moment(value):
        # Excel has no time zones: the UTC wall time, as the admin stores it.
        if value is None:
            return None
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    if isinstance(model_field, TEXT_FIELDS):  # JSON comes as text
        return text
    if isinstance(model_field, models.DateTimeField):
        return moment
    return lambda value: value


def _json_value(value):
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- Writers -----------------------------------------------------------------------


def csv_chunks(rows: Iterator[tuple], columns: list[ExportColumn]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte-order mark (so Excel reads the accents), by chunks.

    Rows come from `export_rows(..., json_as_text=True)`. Only text can be a
    formula; the csv module writes the other values as `str()` does (None as an
    empty cell), which is what imports read back.
    """
    text_columns = _text_columns(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.name for c in columns])
    yield ("\ufeff" + buffer.getvalue()).encode()
    for chunk in batched(rows, CHUNK_SIZE):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([_neutralised(row, text_columns) for row in chunk])
        yield buffer.getvalue().encode()


def json_chunks(rows: Iterator[tuple], columns: list[ExportColumn]) -> Iterator[bytes]:
    """A JSON list of objects, one per row, by chunks."""
    names = [c.name for c in columns]
    yield b"["
    separator = "\n"
    for chunk in batched(rows, CHUNK_SIZE):
        parts = []
        for row in chunk:
            item = {
                name: _json_value(value) for name, value in zip(names, row, strict=True)
            }
            parts.append(separator + json.dumps(item, ensure_ascii=False))
            separator = ",\n"
        yield "".join(parts).encode()
    yield b"\n]\n"


def xlsx_file(rows: Iterator[tuple], columns: list[ExportColumn]):
    """An XLSX workbook in a temporary file (rewound), and its number of rows."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Export")
    sheet.append([c.name for c in columns])
    formatters = [_xlsx_formatter(c.model_field) for c in columns]
    count = 0
    for row in rows:
        sheet.append(
            [format_(value) for format_, value in zip(formatters, row, strict=True)]
        )
        count += 1
    output = tempfile.TemporaryFile()  # noqa: SIM115  (closed by the response)
    book.save(output)
    output.seek(0)
    return output, count


# --- The audit record --------------------------------------------------------------


def export_record(
    *,
    actor,
    model_label: str,
    file_format: str,
    columns: list[ExportColumn],
    filters: dict,
    rows: int,
    complete: bool = True,
) -> AuditEvent:
    """The `export` audit event: what was exported, how many rows, which filters."""
    return audit_event_record(
        actor=actor,
        action=AuditEvent.Action.EXPORT,
        changes={
            "model": model_label,
            "format": file_format,
            "rows": rows,
            "columns": [c.name for c in columns],
            "filters": filters,
            "complete": complete,
        },
    )


def streamed(
    writer: Callable,
    rows: Iterator[tuple],
    columns: list[ExportColumn],
    *,
    on_end: Callable[[int, bool], None],
) -> Iterator[bytes]:
    """`writer`'s chunks as they come; at the end, or when the client goes away,
    `on_end` gets the number of rows sent and whether the export was complete."""
    counter = _Counter(rows)
    complete = False
    try:
        yield from writer(counter, columns)
        complete = True
    finally:
        on_end(counter.count, complete)


class _Counter:
    def __init__(self, rows: Iterator[tuple]):
        self.rows = rows
        self.count = 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row
