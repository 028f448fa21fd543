"""Benchmark: what history costs a bulk status change, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_audit \\
        python bench/history_bulk.py [--rows 100000] [--rounds 3]

Run `manage.py ensure_database` and `migrate` against that database first. The
benchmark creates a scratch organization with N tasks (half of them tagged), then
moves all N between two statuses, alternating:

- without history: one `UPDATE` of the same rows and columns (status, updated_at,
  version), what the change costs with no history at all;
- with history: `audit.services.record_bulk_update`, the path of every bulk
  action: the same UPDATE feeding an INSERT of one history row per task (actor,
  reason, operation id) and of its tag links, in one statement, and the
  `bulk_action` audit event.

Each round runs in its own transaction, after a VACUUM ANALYZE of both tables
(not timed). Prints every round and the ratio of the medians (target: 1.5 at
most). Deletes its scratch rows at the end.
"""

import argparse
import statistics
import sys
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

SCRATCH = "bench-history-bulk"


def create_scratch(rows: int):
    from tenants.models import Organization, User
    from work.models import Project, Tag, Task

    organization = Organization.objects.create(name="History bench", slug=SCRATCH)
    project = Project.objects.create(
        organization=organization, key="HIST", name="History bench"
    )
    tag = Tag.objects.create(organization=organization, name="bench")
    actor = User.objects.create(email=f"actor@{SCRATCH}.test", is_staff=True)
    for start in range(0, rows, 10_000):
        tasks = Task.objects.bulk_create(
            Task(
                organization=organization,
                project=project,
                title=f"History bench task {n}",
                custom_fields={"points": n % 8} if n % 4 == 0 else {},
            )
            for n in range(start, min(start + 10_000, rows))
        )
        Task.tags.through.objects.bulk_create(
            Task.tags.through(task_id=task.pk, tag_id=tag.pk) for task in tasks[::2]
        )
    return organization, actor


def delete_scratch() -> None:
    from django.db import connection

    from tenants.models import Organization, User

    organization = Organization.all_objects.filter(slug=SCRATCH).first()
    if organization is not None:
        tasks = "SELECT id FROM work_task WHERE organization_id = %s"
        history = (
            "SELECT history_id FROM work_historicaltask WHERE organization_id = %s"
        )
        with connection.cursor() as cursor:
            for statement in (
                f"DELETE FROM work_historicaltask_tags WHERE history_id IN ({history})",
                "DELETE FROM work_historicaltask WHERE organization_id = %s",
                f"DELETE FROM work_task_tags WHERE task_id IN ({tasks})",
                "DELETE FROM work_task WHERE organization_id = %s",
            ):
                cursor.execute(statement, [organization.pk])
        organization.delete()
    User.objects.filter(email__endswith=f"@{SCRATCH}.test").delete()


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE work_task, work_historicaltask")


def without_history(organization, status: str) -> int:
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from work.models import Task

    with transaction.atomic():
        return Task.objects.filter(organization=organization).update(
            status=status, updated_at=timezone.now(), version=F("version") + 1
        )


def with_history(organization, actor, status: str) -> int:
    from django.db import transaction

    from audit.services import record_bulk_update
    from work.models import Task

    with transaction.atomic():
        return record_bulk_update(
            actor=actor,
            instances=Task.objects.filter(organization=organization),
            data={"status": status},
            action="change_status",
            reason="benchmark",
            organization=organization,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    setup_django()
    from work.models import Task

    delete_scratch()
    started = time.perf_counter()
    organization, actor = create_scratch(args.rows)
    print(f"{args.rows:,} tasks created in {time.perf_counter() - started:.1f} s")
    timings = {"without history": [], "with history": []}
    statuses = ["IN_PROGRESS", "TODO"]
    try:
        for round_ in range(args.rounds):
            for name in timings:
                vacuum()
                status = statuses[(round_ * 2 + (name == "with history")) % 2]
                started = time.perf_counter()
                if name == "with history":
                    changed = with_history(organization, actor, status)
                else:
                    changed = without_history(organization, status)
                seconds = time.perf_counter() - started
                assert changed == args.rows, (name, changed)
                timings[name].append(seconds)
                print(
                    f"round {round_ + 1} {name:>15}: {seconds:6.2f} s "
                    f"({changed / seconds:,.0f} rows/s)"
                )
        written = Task.history.filter(organization_id=organization.pk).count()
        assert written == args.rows * args.rounds, written
        plain = statistics.median(timings["without history"])
        tracked = statistics.median(timings["with history"])
        per_round = statistics.median(
            t / p
            for t, p in zip(
                timings["with history"], timings["without history"], strict=True
            )
        )
        print(f"history rows written: {written:,} (one per task and round)")
        print(
            f"median: {plain:.2f} s without history, {tracked:.2f} s with history; "
            f"ratio {tracked / plain:.2f} (median of the rounds' ratios "
            f"{per_round:.2f}; target <= 1.5)"
        )
    finally:
        delete_scratch()


if __name__ == "__main__":
    main()
