"""Reading an uploaded import file as a header and a stream of rows.

CSV (UTF-8 with or without a byte-order mark, comma or semicolon: the header line
decides), XLSX (the first worksheet) and JSON (a list of objects). Whatever is
wrong with the file itself is an `ImportFileError` whose message tells the person
who uploaded it what to do; rows are read lazily, so a large file is never held
twice in memory.
"""

import codecs
import csv
import io
import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

CSV_FIELD_LIMIT = 131_072  # characters in one cell, csv's default
_VISIBLE = re.compile(rb"\S")


class ImportFileError(Exception):
    """The file cannot be read as the format it claims to be."""


@dataclass
class Table:
    headers: list[str]
    rows: Iterator[tuple[int, list]]  # (row number as the user sees it, values)


def open_table(payload: bytes, file_format: str) -> Table:
    """The header and rows of `payload`; raises ImportFileError."""
    start = len(codecs.BOM_UTF8) if payload.startswith(codecs.BOM_UTF8) else 0
    if not _VISIBLE.search(payload, start):  # (no copy of a large payload)
        raise ImportFileError("The file is empty.")
    reader = {"csv": _csv_table, "xlsx": _xlsx_table, "json": _json_table}
    return reader[file_format](payload)


def _headers(cells: list) -> list[str]:
    headers = [
        "" if cell is None else str(cell).strip().removeprefix("\ufeff")
        for cell in cells
    ]
    while headers and not headers[-1]:
        headers.pop()
    if not headers:
        raise ImportFileError("The first row must name the columns; it is empty.")
    if "" in headers:
        position = headers.index("") + 1
        raise ImportFileError(f"Column {position} of the header has no name.")
    duplicates = sorted({h for h in headers if headers.count(h) > 1})
    if duplicates:
        raise ImportFileError(f"Duplicate column(s): {', '.join(duplicates)}.")
    return headers


def _is_blank(values) -> bool:
    return all(value is None or str(value).strip() == "" for value in values)


# --- CSV ---------------------------------------------------------------------------


def _csv_table(payload: bytes) -> Table:
    if payload.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            "The file is UTF-16 text; save it as “CSV UTF-8” and upload it again."
        )
    if b"\x00" in payload[:65536]:
        raise ImportFileError(
            "This is not a CSV file (it contains binary data). Choose the format the "
            "file really has, or save it as “CSV UTF-8”."
        )
    stream = io.TextIOWrapper(io.BytesIO(payload), encoding="utf-8-sig", newline="")
    try:
        first_line = stream.readline(CSV_FIELD_LIMIT)
    except UnicodeDecodeError as error:
        raise _not_utf8(error, row=1) from error
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    stream.seek(0)
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    header = _csv_next(reader, 1)
    if header is None:
        raise ImportFileError("The file is empty.")
    return Table(headers=_headers(header), rows=_csv_rows(reader))


def _csv_next(reader, number: int) -> list | None:
    try:
        return next(reader, None)
    except UnicodeDecodeError as error:
        raise _not_utf8(error, row=number) from error
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise ImportFileError(
                f"Row {number}: a value is longer than {CSV_FIELD_LIMIT:,} characters."
            ) from error
        raise ImportFileError(f"Row {number} is not valid CSV: {error}.") from error


def _csv_rows(reader) -> Iterator[tuple[int, list]]:
    number = 1
    while True:
        number += 1
        values = _csv_next(reader, number)
        if values is None:
            return
        if not _is_blank(values):
            yield number, values


def _not_utf8(error: UnicodeDecodeError, *, row: int) -> ImportFileError:
    byte = error.object[error.start : error.start + 1].hex()
    return ImportFileError(
        f"The file is not UTF-8 text (byte 0x{byte} near row {row}); it may be "
        "Latin-1 or another encoding. Save it as “CSV UTF-8” and upload it again."
    )


# --- XLSX --------------------------------------------------------------------------


def _xlsx_table(payload: bytes) -> Table:
    import openpyxl

    not_a_workbook = ImportFileError(
        "This is not a valid XLSX workbook (it may be truncated, or in another "
        "format such as XLS or CSV)."
    )
    if not zipfile.is_zipfile(io.BytesIO(payload)):
        raise not_a_workbook
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(
                io.BytesIO(payload), read_only=True, data_only=True
            )
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
    except Exception as error:  # openpyxl raises anything a broken zip/XML causes
        raise not_a_workbook from error
    if header is None:
        raise ImportFileError("The first worksheet is empty.")
    headers = _headers(list(header))
    return Table(headers=headers, rows=_xlsx_rows(rows, len(headers)))


def _xlsx_rows(rows, width: int) -> Iterator[tuple[int, list]]:
    number = 1
    while True:
        number += 1
        try:
            values = next(rows, None)
        except Exception as error:
            raise ImportFileError(
                f"The workbook is damaged near row {number}; save it again and "
                "upload it."
            ) from error
        if values is None:
            return
        values = list(values)
        # Spreadsheets pad rows with empty cells up to the widest row.
        while len(values) > width and values[-1] is None:
            values.pop()
        if not _is_blank(values):
            yield number, values


# --- JSON --------------------------------------------------------------------------


def _json_table(payload: bytes) -> Table:
    try:
        data = json.loads(payload.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise ImportFileError(
            "The file is not UTF-8 text; save the JSON as UTF-8 and upload it again."
        ) from error
    except json.JSONDecodeError as error:
        raise ImportFileError(
            f"This is not valid JSON: {error.msg} (line {error.lineno}, column "
            f"{error.colno})."
        ) from error
    if not isinstance(data, list):
        raise ImportFileError("A JSON import must be a list of objects, one per row.")
    headers: dict[str, None] = {}
    for position, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise ImportFileError(f"Item {position} of the list is not an object.")
        headers.update(dict.fromkeys(item))
    if not data:
        raise ImportFileError("The file has no rows.")
    names = _headers(list(headers))
    rows = (
        (position, [item.get(name) for name in names])
        for position, item in enumerate(data, 1)
    )
    return Table(headers=names, rows=rows)
