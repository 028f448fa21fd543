"""Benchmark: the history retention deleting a million old rows, in short batches.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_audit \\
        python bench/history_retention.py [--rows 1000000] [--batch-size 5000]

Run `manage.py ensure_database` and `migrate` against that database first. The
benchmark writes N task history rows older than the tasks' retention (a tenth of
them with a tag link, as Task.tags history keeps them) and 10% as many recent
ones, then runs `audit.history.history_prune` as the retention job does, while
another connection keeps writing history rows through the task service, as
people would. Prints every batch's duration (its transaction, from the first
statement to the commit: how long it holds its row locks), the longest, the
throughput, and the concurrent writer's slowest write. Deletes its scratch rows.
"""

import argparse
import statistics
import sys
import threading
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

SCRATCH = "bench-history-retention"


def create_scratch(rows: int):
    """Old and recent history rows of fake tasks of a scratch organization."""
    from django.db import connection

    from tenants.models import Organization, User
    from work.models import Project, Tag, Task

    organization = Organization.objects.create(name="Retention bench", slug=SCRATCH)
    project = Project.objects.create(
        organization=organization, key="RET", name="Retention bench"
    )
    tag = Tag.objects.create(organization=organization, name="bench")
    actor = User.objects.create(email=f"actor@{SCRATCH}.test", is_staff=True)
    task = Task.objects.create(
        organization=organization, project=project, title="Edited during the run"
    )
    insert = """
        INSERT INTO work_historicaltask (
            id, created_at, updated_at, version, title, description, status,
            priority, custom_fields, organization_id, project_id, history_date,
            history_type, history_user_id, history_change_reason)
        SELECT 2000000000 + g, %(start)s, %(start)s, 1, 'Old task ' || g, '',
            'TODO', 20, '{}', %(org)s, %(project)s,
            %(start)s + g * interval '1 second', '~', %(user)s, 'bench'
        FROM generate_series(1, %(rows)s) g
    """
    values = {"org": organization.pk, "project": project.pk, "user": actor.pk}
    with connection.cursor() as cursor:
        for start, count in (("900 days", rows), ("30 days", rows // 10)):
            cursor.execute(
                insert.replace("%(start)s", f"now() - interval '{start}'"),
                {**values, "rows": count},
            )
        cursor.execute(
            "INSERT INTO work_historicaltask_tags (id, task_id, tag_id, history_id) "
            "SELECT history_id, id, %s, history_id FROM work_historicaltask "
            "WHERE organization_id = %s AND history_id %% 10 = 0",
            [tag.pk, organization.pk],
        )
        cursor.execute("VACUUM ANALYZE work_historicaltask, work_historicaltask_tags")
    return organization, actor, task


def delete_scratch() -> None:
    from django.db import connection

    from tenants.models import Organization, User

    organization = Organization.all_objects.filter(slug=SCRATCH).first()
    if organization is not None:
        history = (
            "SELECT history_id FROM work_historicaltask WHERE organization_id = %s"
        )
        with connection.cursor() as cursor:
            for statement in (
                f"DELETE FROM work_historicaltask_tags WHERE history_id IN ({history})",
                "DELETE FROM work_historicaltask WHERE organization_id = %s",
                "DELETE FROM work_task WHERE organization_id = %s",
            ):
                cursor.execute(statement, [organization.pk])
        organization.delete()
    User.objects.filter(email__endswith=f"@{SCRATCH}.test").delete()


class Writer(threading.Thread):
    """People editing a task meanwhile: one service write at a time, timed."""

    def __init__(self, actor, task):
        super().__init__(daemon=True)
        self.actor, self.task = actor, task
        self.latencies: list[float] = []
        self.done = threading.Event()

    def run(self):
        from django.db import connection

        from work.services import task_update

        number = 0
        try:
            while not self.done.is_set():
                number += 1
                started = time.perf_counter()
                task_update(actor=self.actor, task=self.task, title=f"Edit {number}")
                self.latencies.append(time.perf_counter() - started)
        finally:
            connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args()
    setup_django()
    import datetime as dt

    from django.utils import timezone

    from audit.history import history_prune, retention_days
    from work.models import Task

    delete_scratch()
    started = time.perf_counter()
    organization, actor, task = create_scratch(args.rows)
    print(
        f"{args.rows:,} old and {args.rows // 10:,} recent history rows written in "
        f"{time.perf_counter() - started:.1f} s"
    )
    days = retention_days(Task)
    before = timezone.now() - dt.timedelta(days=days)
    writer = Writer(actor, task)
    writer.start()
    batches = []
    try:
        started = time.perf_counter()
        for batch in history_prune(Task, before=before, batch_size=args.batch_size):
            batches.append(batch)
        total = time.perf_counter() - started
        writer.done.set()
        writer.join()
        deleted = sum(b.rows for b in batches)
        kept = Task.history.filter(organization_id=organization.pk).count()
        seconds = sorted(b.seconds for b in batches)
        print(f"retention of work.Task: {days} days, batches of {args.batch_size:,}")
        print(
            f"deleted {deleted:,} rows in {len(batches)} batches, {total:.1f} s: "
            f"{deleted / total:,.0f} rows/s; {kept:,} recent rows kept"
        )
        print(
            f"batch (lock) time: median {statistics.median(seconds) * 1000:.0f} ms, "
            f"p99 {seconds[int(len(seconds) * 0.99)] * 1000:.0f} ms, "
            f"max {seconds[-1] * 1000:.0f} ms (target < 1000 ms)"
        )
        latencies = sorted(writer.latencies)
        print(
            f"concurrent task edits: {len(latencies)}, median "
            f"{statistics.median(latencies) * 1000:.0f} ms, slowest "
            f"{latencies[-1] * 1000:.0f} ms"
        )
        assert deleted >= args.rows, deleted
    finally:
        writer.done.set()
        delete_scratch()


if __name__ == "__main__":
    main()
