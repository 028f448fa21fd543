"""Benchmark of bulk import and export, against a benchmark database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_io \\
        python bench/import_export.py [--rows 100000] [--default-rows 5000] \\
        [--export-rows 1000000]

Run `manage.py ensure_database` and `migrate` against that database first. The
benchmark creates its own scratch organization, project, users and rows, and
deletes them at the end (the append-only audit events it wrote stay).

Each measurement runs in a fresh process, so its peak memory (maxrss) is its own,
on tables vacuumed after the previous phase deleted its rows:

- ours: N new tasks through the admin's import path (ImportJob with the file in
  the database, every row resolved, `full_clean`ed and checked, COPY of the rows
  and their history rows, one audit event), in the job worker's function;
- default: django-import-export's own `resource.import_data` on a few thousand of
  the same rows (same resource, validation and history), extrapolated to N;
- copy: a raw PostgreSQL COPY of the same N rows (no validation, no history);
- export: M tasks to CSV through the admin's export (changelist queryset,
  server-side cursor, streamed chunks), with the memory sampled while it runs.
"""

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on the path, where
# bench/import_export.py would hide the django-import-export package: the
# project's root takes its place.
sys.path[:] = [str(ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"
]
from bench.standalone import setup_django  # noqa: E402

SCRATCH = "bench-import-export"
PAYLOAD = Path(tempfile.gettempdir()) / f"{SCRATCH}.csv"
HEADER = ["organization", "project", "id", "title", "description", "status"]
HEADER += ["priority", "assignee", "due_date", "custom_fields"]


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# --- scratch data --------------------------------------------------------------------


def scratch():
    from tenants.models import Organization, User
    from work.models import Project

    organization = Organization.objects.get(slug=SCRATCH)
    return (
        organization,
        Project.objects.get(organization=organization, key="BENCH"),
        User.objects.get(email=f"admin@{SCRATCH}.test"),
        list(
            User.objects.filter(memberships__organization=organization).values_list(
                "email", flat=True
            )
        ),
    )


def create_scratch() -> None:
    from tenants.models import Membership, Organization, User
    from work.models import Project

    organization = Organization.objects.create(name="Benchmark", slug=SCRATCH)
    Project.objects.create(organization=organization, key="BENCH", name="Benchmark")
    User.objects.create_superuser(email=f"admin@{SCRATCH}.test", password=None)
    for n in range(20):
        person = User.objects.create_user(email=f"person{n}@{SCRATCH}.test")
        Membership.objects.create(organization=organization, user=person)


def delete_tasks() -> None:
    """Delete the scratch tasks and their history, then VACUUM both tables: each
    run deletes over a million rows, and where autovacuum is off (it is on this
    machine's system PostgreSQL) or behind, the next phase would insert into
    tables and indexes bloated by every earlier run."""
    from django.db import connection

    from tenants.models import Organization

    organization = Organization.all_objects.filter(slug=SCRATCH).first()
    if organization is None:
        return
    tables = ("work_task", "work_historicaltask")
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"DELETE FROM {table} WHERE organization_id = %s", [organization.pk]
            )
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")


def delete_scratch() -> None:
    from audit.models import ImportJob
    from tenants.models import Organization, User

    delete_tasks()
    ImportJob.objects.filter(file_name__startswith=SCRATCH).delete()
    Organization.all_objects.filter(slug=SCRATCH).delete()
    User.objects.filter(email__endswith=f"@{SCRATCH}.test").delete()


def rows(count: int) -> list[list]:
    *_, people = scratch()
    return [
        [
            SCRATCH,
            "BENCH",
            "",
            f"Benchmark task number {n}",
            "Imported by the benchmark." if n % 3 else "",
            ("TODO", "IN_PROGRESS", "DONE")[n % 3],
            (10, 20, 30, 40)[n % 4],
            people[n % len(people)] if n % 5 else "",
            f"2027-{n % 12 + 1:02d}-{n % 28 + 1:02d}" if n % 2 else "",
            f'{{"points": {n % 8}}}' if n % 4 == 0 else "",
        ]
        for n in range(count)
    ]


def csv_payload(count: int) -> bytes:
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows(count))
    return buffer.getvalue().encode()


# --- phases (each in its own process) -------------------------------------------------


def phase_ours(count: int) -> dict:
    from audit.imports import import_job_create, import_job_execute
    from audit.models import ImportJob
    from work.models import Task
    from work.resources import TaskResource

    _, _, admin, _ = scratch()
    payload = PAYLOAD.read_bytes()  # written by the parent: not in this maxrss
    rss_before = rss_mb()
    cpu = time.process_time()
    started = time.perf_counter()
    job = import_job_create(
        actor=admin,
        resource_class=TaskResource,
        file_name=f"{SCRATCH}.csv",
        payload=payload,
        file_format="csv",
    )
    uploaded = time.perf_counter()
    import_job_execute(job.pk, in_background=True)  # the preview (dry run)
    previewed = time.perf_counter()
    ImportJob.objects.filter(pk=job.pk).update(
        stage=ImportJob.Stage.IMPORT, status=ImportJob.Status.QUEUED
    )
    import_job_execute(job.pk, in_background=True)  # the import
    imported = time.perf_counter()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.SUCCEEDED, (job.message, job.errors[:3])
    assert Task.history.filter(operation_id=job.operation_id).count() == count
    return {
        "rows": count,
        "cpu_s": time.process_time() - cpu,
        "upload_s": uploaded - started,
        "preview_s": previewed - uploaded,
        "import_s": imported - previewed,
        "rss_before_mb": rss_before,
        "maxrss_mb": maxrss_mb(),
    }


def phase_default(count: int) -> dict:
    import tablib

    from audit.history import history_operation
    from work.resources import TaskResource

    _, _, admin, _ = scratch()
    dataset = tablib.Dataset(*rows(count), headers=HEADER)
    resource_ = TaskResource(user=admin, change_reason="Benchmark, default path")
    started = time.perf_counter()
    with history_operation():
        result = resource_.import_data(dataset, dry_run=False, use_transactions=True)
    elapsed = time.perf_counter() - started
    assert not result.has_errors() and not result.has_validation_errors()
    return {"rows": count, "import_s": elapsed, "maxrss_mb": maxrss_mb()}


def phase_copy(count: int) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from work.models import Task

    organization, project, _, people = scratch()
    from tenants.models import User

    ids_by_email = dict(
        User.objects.filter(email__in=people).values_list("email", "id")
    )
    now = timezone.now()
    data = [
        (
            organization.pk,
            project.pk,
            title,
            description,
            status,
            priority,
            ids_by_email.get(assignee),
            due or None,
            custom or "{}",
            now,
            now,
            1,
        )
        for _, _, _, title, description, status, priority, assignee, due, custom in (
            rows(count)
        )
    ]
    columns = "organization_id, project_id, title, description, status, priority, "
    columns += "assignee_id, due_date, custom_fields, created_at, updated_at, version"
    started = time.perf_counter()
    statement = f"COPY work_task ({columns}) FROM STDIN"
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        for row in data:
            copy.write_row(row)
    elapsed = time.perf_counter() - started
    assert Task.objects.filter(organization=organization).count() == count
    return {"rows": count, "import_s": elapsed, "maxrss_mb": maxrss_mb()}


def phase_seed_export(count: int) -> dict:
    """M tasks by COPY with generated values (the export's input)."""
    from django.db import connection, transaction

    organization, project, _, _ = scratch()
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO work_task (organization_id, project_id, title, description,
                status, priority, assignee_id, due_date, custom_fields, created_at,
                updated_at, version)
            SELECT %s, %s, 'Exported task ' || n,
                CASE WHEN n %% 10 = 0 THEN '=cmd|calc' ELSE '' END,
                (ARRAY['TODO','IN_PROGRESS','DONE','CANCELLED'])[n %% 4 + 1],
                (ARRAY[10,20,30,40])[n %% 4 + 1],
                (SELECT user_id FROM tenants_membership
                  WHERE organization_id = %s ORDER BY user_id LIMIT 1),
                DATE '2027-01-01' + (n %% 365),
                CASE WHEN n %% 4 = 0 THEN '{"points": 3}'::jsonb ELSE '{}' END,
                now() - (n || ' seconds')::interval, now(), 1
            FROM generate_series(1, %s) AS n
            """,
            [organization.pk, project.pk, organization.pk, count],
        )
    return {"rows": count, "seed_s": time.perf_counter() - started}


def phase_export(count: int) -> dict:
    from django.contrib import admin
    from django.test import RequestFactory

    from audit import exports
    from work.models import Task
    from work.resources import TaskResource

    organization, _, superuser, _ = scratch()
    request = RequestFactory().get("/", {"organization__id__exact": organization.pk})
    request.user = superuser
    model_admin = admin.site._registry[Task]
    resource_ = TaskResource(user=superuser)
    columns = exports.export_columns(resource_)
    queryset = model_admin.get_export_queryset(request)
    rss_before = rss_mb()
    samples = [rss_before]
    written = sent = 0
    started = time.perf_counter()

    def record(rows_sent: int, complete: bool) -> None:
        nonlocal sent
        sent = rows_sent

    with open(os.devnull, "wb") as sink:
        for n, chunk in enumerate(
            exports.streamed(
                exports.csv_chunks,
                exports.export_rows(queryset, columns, json_as_text=True),
                columns,
                on_end=record,
            )
        ):
            sink.write(chunk)
            written += len(chunk)
            if n % 20 == 0:
                samples.append(rss_mb())
    elapsed = time.perf_counter() - started
    assert sent == count, (sent, count)
    return {
        "rows": sent,
        "export_s": elapsed,
        "bytes": written,
        "rss_before_mb": rss_before,
        "rss_peak_mb": max(samples),
        "rss_after_mb": rss_mb(),
        "maxrss_mb": maxrss_mb(),
    }


PHASES = {
    "ours": phase_ours,
    "default": phase_default,
    "copy": phase_copy,
    "seed_export": phase_seed_export,
    "export": phase_export,
}


def run_phase(name: str, count: int) -> dict:
    """One phase in a fresh interpreter; its result is the last line it prints."""
    output = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--count", str(count)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if output.returncode:
        sys.exit(f"The {name} phase failed:\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--default-rows", type=int, default=5_000)
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django()
    if args.phase:
        print(json.dumps(PHASES[args.phase](args.count)))
        return

    from django.db import connection

    from bench.pages import reference_loop_ms

    print(
        f"Database: {connection.settings_dict['NAME']}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
        f"Python reference loop {reference_loop_ms():.0f} ms (compare runs by it)"
    )
    delete_scratch()
    create_scratch()
    PAYLOAD.write_bytes(csv_payload(args.rows))
    try:
        ours = run_phase("ours", args.rows)
        delete_tasks()
        default = run_phase("default", args.default_rows)
        delete_tasks()
        copy = run_phase("copy", args.rows)
        delete_tasks()
        run_phase("seed_export", args.export_rows)
        export = run_phase("export", args.export_rows)
    finally:
        PAYLOAD.unlink(missing_ok=True)
        delete_scratch()
    report(args, ours, default, copy, export)


def report(args, ours: dict, default: dict, copy: dict, export: dict) -> None:
    n = args.rows
    ours_rate = n / ours["import_s"]
    default_rate = default["rows"] / default["import_s"]
    copy_rate = n / copy["import_s"]
    line = "{:<44} {:>10} {:>12} {:>12} {:>12}"
    print()
    print(f"Import of {n:,} new tasks (validation and history included)")
    print(line.format("path", "rows", "seconds", "rows/s", "maxrss MB"))
    print(
        line.format(
            "ours: import stage (after the preview)",
            f"{n:,}",
            f"{ours['import_s']:.2f}",
            f"{ours_rate:,.0f}",
            f"{ours['maxrss_mb']:.0f}",
        )
    )
    whole = ours["upload_s"] + ours["preview_s"] + ours["import_s"]
    print(
        line.format(
            "ours: upload + preview + import",
            f"{n:,}",
            f"{whole:.2f}",
            f"{n / whole:,.0f}",
            "",
        )
    )
    print(
        line.format(
            f"default import_data, {default['rows']:,} rows measured",
            f"{default['rows']:,}",
            f"{default['import_s']:.2f}",
            f"{default_rate:,.0f}",
            f"{default['maxrss_mb']:.0f}",
        )
    )
    print(
        line.format(
            f"default import_data, extrapolated to {n:,}",
            f"{n:,}",
            f"~{n / default_rate:.0f}",
            f"~{default_rate:,.0f}",
            "",
        )
    )
    print(
        line.format(
            "raw COPY (no validation, no history)",
            f"{n:,}",
            f"{copy['import_s']:.2f}",
            f"{copy_rate:,.0f}",
            f"{copy['maxrss_mb']:.0f}",
        )
    )
    print()
    print(f"ours / default: {ours_rate / default_rate:.1f}x faster (target 20x)")
    print(f"ours / raw COPY: {ours_rate / copy_rate:.2f} of COPY's rate")
    print(
        f"ours peak memory: {ours['maxrss_mb']:.0f} MB maxrss "
        f"({ours['rss_before_mb']:.0f} MB before the import, target < 300 MB); "
        f"{ours['cpu_s']:.1f} s of Python CPU for upload, preview and import"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    rate = export["rows"] / export["export_s"]
    print()
    print(f"Export of {export['rows']:,} tasks to CSV (admin export path, streamed)")
    print(
        f"  {export['export_s']:.2f} s, {rate:,.0f} rows/s (target 50,000), "
        f"{export['bytes'] / 2**20:.0f} MB written"
    )
    print(
        f"  RSS {export['rss_before_mb']:.0f} MB before, "
        f"{export['rss_peak_mb']:.0f} MB peak while streaming, "
        f"{export['rss_after_mb']:.0f} MB after (maxrss {export['maxrss_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
