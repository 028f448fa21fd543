"""Shared helpers of the import/export tests: files in every format, imports run
through the services the admin uses, and before/after snapshots of the database."""

import csv
import io
import json

import openpyxl
from django.contrib.auth.models import Group

from audit.imports import import_job_confirm, import_job_create, import_job_start
from audit.models import AuditEvent, ImportJob
from audit.resources import resource_for
from tests.factories import StaffFactory


def csv_bytes(rows: list[list], *, delimiter: str = ",", bom: bool = False) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode()


def xlsx_bytes(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()


def json_bytes(rows: list[list]) -> bytes:
    headers, *data = rows
    return json.dumps([dict(zip(headers, row, strict=True)) for row in data]).encode()


def preview(user, model, payload: bytes, file_format: str = "csv") -> ImportJob:
    """Upload and preview, as the admin's upload step does."""
    job = import_job_create(
        actor=user,
        resource_class=resource_for(model),
        file_name=f"upload.{file_format}",
        payload=payload,
        file_format=file_format,
    )
    if job.status != ImportJob.Status.FAILED:
        import_job_start(job=job)
    job.refresh_from_db()
    return job


def run_import(user, model, payload: bytes, file_format: str = "csv") -> ImportJob:
    """Upload, preview and confirm, as a user clicking through the admin."""
    job = preview(user, model, payload, file_format)
    if job.status == ImportJob.Status.PREVIEWED:
        import_job_confirm(actor=user, job=job)
        job.refresh_from_db()
    return job


def snapshot(*models) -> dict:
    """Row and history counts of `models` and the audit event count."""
    counts = {"audit": AuditEvent.objects.count()}
    for model in models:
        counts[model._meta.label] = model._base_manager.count()
        counts[f"{model._meta.label} history"] = model.history.count()
    return counts


def staff_in(role: str, **kwargs):
    user = StaffFactory(**kwargs)
    user.groups.add(Group.objects.get(name=role))
    return user
