"""Time admin pages on one benchmark database, ours and the stock admin side by side.

    DJANGO_SETTINGS_MODULE=backoffice.settings.bench BENCH_DB_SUFFIX=_bench \\
        python -m bench.pages --json out.json [--no-stock] [--reps 60] [--warmup 3]

In-process Django test client (server-side time: middleware, view, queries,
template rendering), logged in with `force_login`. Each page is requested
`--warmup` times, then `--reps` times in rounds: a round requests the page once,
the support agents' same page once each and the stock pages once (a stock page
slower than a second gets fewer repetitions: it says how many; one over 10 s is
timed once). Queries are counted on every request; one more request of our page
runs under CaptureQueriesContext for its slowest queries (not timed). Run by
bench/run.py (`make bench`); with `--turns`, the warm-ups, each round and the
closing queries take turns with another run (bench/run.py's 10k run): each waits
for a line on stdin and ends with TURN_DONE on stdout.
"""

import argparse
import contextlib
import itertools
import json
import math
import os
import statistics
import sys
import time

MEDIAN_TARGET_MS = 150
P95_TARGET_MS = 300
TASKS = "/admin/work/task/"
TURN_DONE = "[bench pages] turn done"
STOCK_TASKS = "/stock-admin/work/task/"


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def sort_index(site, model, request, field: str) -> int:
    """The `o` value that sorts a changelist by `field`: its position in the
    changelist's columns, the action checkbox being column 0 when there are
    actions (so the 1-based position in list_display)."""
    model_admin = site._registry[model]
    columns = list(model_admin.get_list_display(request))
    if model_admin.get_actions(request):
        columns = ["action_checkbox", *columns]
    return columns.index(field)


class Bench:
    def __init__(self, *, reps: int, warmup: int, stock: bool):
        from django.core.cache import cache
        from django.test import Client

        self.cache = cache
        self.client_class = Client
        self.reps = reps
        self.warmup = warmup
        self.stock = stock
        self.clients = {}

    def client(self, user):
        if user.pk not in self.clients:
            client = self.client_class()
            client.force_login(user)
            self.clients[user.pk] = client
        return self.clients[user.pk]

    def request(self, client, url: str, cold: bool) -> dict:
        """Wall ms, this process's CPU ms, query count and status of one request."""
        from django.db import connection

        queries = 0

        def count(execute, sql, params, many, context):
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        if cold:
            self.cache.clear()
        cpu = time.process_time()
        started = time.perf_counter()
        with connection.execute_wrapper(count):
            response = client.get(url)
        wall = (time.perf_counter() - started) * 1000
        cpu = (time.process_time() - cpu) * 1000
        # The admin answers an out-of-range page with a redirect to ?e=1.
        refused = response.status_code == 302 and "e=1" in response.get("Location", "")
        if response.status_code != 200 and not refused:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        return {
            "wall": wall,
            "cpu": cpu,
            "queries": queries,
            "refused": refused,
            # A list's rows (their checkboxes): a page showing 3 rows at 10k
            # and 50 at full size renders 47 more.
            "rows": response.content.count(b'name="_selected_action"'),
        }

    def slowest_queries(self, client, url: str, cold: bool) -> tuple[float, list]:
        """One more request (not timed): its SQL time, its three slowest queries."""
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        if cold:
            self.cache.clear()
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        captured = queries.captured_queries
        total = sum(float(q["time"]) for q in captured) * 1000
        slow = sorted(captured, key=lambda q: -float(q["time"]))[:3]
        return total, [{"ms": float(q["time"]) * 1000, "sql": q["sql"]} for q in slow]

    def stock_plan(self, client, url: str, cold: bool, side: dict) -> int:
        """Repetitions for a stock page, from its first request (a warm-up, kept as
        the only sample when it takes over 10 s: some take minutes)."""
        first = self.request(client, url, cold)
        if first["wall"] > 10_000:
            self.record(side, first)
            return 0
        if first["wall"] > 3000:
            return 3
        extra, reps = (1, 10) if first["wall"] > 1000 else (self.warmup - 1, self.reps)
        for _ in range(extra):
            self.request(client, url, cold)
        return reps

    @staticmethod
    def record(side: dict, sample: dict) -> None:
        side["samples"].append(sample["wall"])
        side["cpu"].append(sample["cpu"])
        side["queries"] = sample["queries"]
        side["refused"] = sample["refused"]
        side["rows"] = sample["rows"]

    def measure_group(self, pages: list[dict], turn, report) -> list[dict]:
        """Time a page and its support agents' counterparts in rounds of one
        sample of each (and of each stock page while it has repetitions left), so
        a drift in the machine's speed skews them alike. Warm-ups, each round and
        the closing queries (`report(page, result)`) each run in `turn()`: with
        --turns, bench.run's other run (the 10k database) takes its own between
        two of ours."""
        sides = []
        with turn():
            for page in pages:
                client = self.client(page["user"])
                cold = page.get("cold", False)
                ours = {"url": page["ours"], "samples": [], "cpu": []}
                stock = None
                if self.stock and page.get("stock"):
                    stock = {"url": page["stock"], "samples": [], "cpu": []}
                for _ in range(self.warmup):
                    self.request(client, ours["url"], cold)
                stock_reps = (
                    self.stock_plan(client, stock["url"], cold, stock) if stock else 0
                )
                sides.append((page, client, cold, ours, stock, stock_reps))
        for i in range(self.reps):  # stock_plan never plans more repetitions
            with turn():
                for _, client, cold, ours, stock, stock_reps in sides:
                    self.record(ours, self.request(client, ours["url"], cold))
                    if stock and i < stock_reps:
                        self.record(stock, self.request(client, stock["url"], cold))
        results = []
        with turn():
            for page, client, cold, ours, stock, _ in sides:
                result = {
                    "label": page["label"],
                    "user": page["user"].email,
                    "cold": cold,
                }
                for name, side in (("ours", ours), ("stock", stock)):
                    if side is None:
                        continue
                    samples = side["samples"]
                    side.update(
                        n=len(samples),
                        median=statistics.median(samples),
                        p95=percentile(samples, 0.95),
                        cpu_median=statistics.median(side["cpu"]),
                    )
                    result[name] = side
                ours["sql_ms"], ours["slow"] = self.slowest_queries(
                    client, ours["url"], cold
                )
                report(page, result)
                results.append(result)
        return results


def reference_loop_ms() -> float:
    """A fixed pure-Python workload (best of 5): how fast this machine runs Python
    right now, so runs on different days (or VMs) can be compared."""
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        sum(range(10_000_000))
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings)


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def build_pages(*, tasks: int) -> list[dict]:
    from django.contrib import admin
    from django.test import RequestFactory

    from bench.build import ADMIN_EMAIL, SEARCH_WORD
    from bench.stock import site as stock_site
    from tenants.models import Organization, User
    from tenants.selectors import scope_to_user
    from work.models import Task

    admin_user = User.objects.get(email=ADMIN_EMAIL)
    mixed = User.objects.get(email="support-mixed@bench.test")
    small = User.objects.get(email="support-small@bench.test")
    org = {
        rank: Organization.all_objects.get(slug=f"org-{rank:04d}").pk
        for rank in (1, 400)
    }
    request = RequestFactory().get(TASKS)
    request.user = admin_user
    ours_o = sort_index(admin.site, Task, request, "due_date")
    stock_o = sort_index(stock_site, Task, request, "due_date")
    lists = lambda deep: [  # noqa: E731
        ("all", "Tasks: unfiltered", "", ""),
        (
            "org",
            "Tasks: largest org + TODO",
            f"?organization__id__exact={org[1]}&status__exact=TODO",
            None,
        ),
        (
            "org400",
            "Tasks: org #400 + TODO",
            f"?organization__id__exact={org[400]}&status__exact=TODO",
            None,
        ),
        ("search", f"Tasks: search '{SEARCH_WORD}'", f"?q={SEARCH_WORD}", None),
        ("sort", "Tasks: sorted by due date", f"?o={ours_o}", f"?o={stock_o}"),
        ("deep", f"Tasks: page {deep:,}", f"?p={deep}", None),
    ]
    pages = []
    for user, prefix, title, keys in (
        (admin_user, "", "", ("all", "org", "org400", "search", "sort", "deep")),
        (
            mixed,
            "mixed:",
            " [support, 3 orgs incl. largest]",
            ("all", "org", "search", "sort", "deep"),
        ),
        (
            small,
            "small:",
            " [support, 3 small orgs]",
            ("all", "org400", "search", "sort"),
        ),
    ):
        # Page 1,000 where the user's list has that many pages, else its last page.
        deep = min(1000, scope_to_user(Task.objects.all(), user).count() // 50)
        for key, label, query, stock_query in lists(deep):
            if key not in keys:
                continue
            pages.append(
                {
                    "key": prefix + key,
                    "label": label + title,
                    "user": user,
                    "ours": TASKS + query,
                    "stock": STOCK_TASKS
                    + (query if stock_query is None else stock_query),
                    "unscoped": key if prefix else None,
                }
            )
    autocomplete = (
        "autocomplete/?app_label=work&model_name=task&field_name=project&term=web"
    )
    pages += [
        {
            "key": "org-change",
            "label": "Organization change (largest, inlines)",
            "user": admin_user,
            "ours": f"/admin/tenants/organization/{org[1]}/change/",
            "stock": f"/stock-admin/tenants/organization/{org[1]}/change/",
        },
        {
            "key": "dashboard-cold",
            "label": "Dashboard, cold (cache cleared)",
            "user": admin_user,
            "ours": "/admin/",
            "stock": "/stock-admin/",
            "cold": True,
        },
        {
            "key": "dashboard-warm",
            "label": "Dashboard, warm (cached figures)",
            "user": admin_user,
            "ours": "/admin/",
            "stock": "/stock-admin/",
        },
        {
            "key": "mixed:dashboard-cold",
            "label": "Dashboard, cold [support, 3 orgs]",
            "user": mixed,
            "ours": "/admin/",
            "stock": "/stock-admin/",
            "cold": True,
            "unscoped": "dashboard-cold",
        },
        {
            "key": "autocomplete",
            "label": "Autocomplete task.project 'web'",
            "user": admin_user,
            "ours": "/admin/" + autocomplete,
            "stock": "/stock-admin/" + autocomplete,
        },
        {
            "key": "mixed:autocomplete",
            "label": "Autocomplete task.project 'web' [support]",
            "user": mixed,
            "ours": "/admin/" + autocomplete,
            "stock": "/stock-admin/" + autocomplete,
            "unscoped": "autocomplete",
        },
    ]
    # Each support agent's page beside the admin's same page: they are timed in
    # the same rounds (Bench.measure_group); minutes apart, a drift in the
    # machine's speed would skew the scoped ratio.
    group = {}
    for page in pages:
        group.setdefault(page.get("unscoped") or page["key"], len(group))
    return sorted(pages, key=lambda page: group[page.get("unscoped") or page["key"]])


@contextlib.contextmanager
def turn(taking_turns: bool):
    """With --turns: wait for a line on stdin, then say TURN_DONE (bench.run)."""
    if taking_turns:
        sys.stdin.readline()
    yield
    if taking_turns:
        print(TURN_DONE, flush=True)


def report(page: dict, result: dict, seconds: float) -> None:
    """Print the page's line; keep the EXPLAIN of its slow queries when it
    misses a target."""
    ours = result["ours"]
    stock = result.get("stock")
    print(
        f"[bench pages] {page['label']:<52} ours {ours['median']:7.1f} ms "
        f"(p95 {ours['p95']:7.1f}, {ours['queries']} q)"
        + (
            f"  stock {stock['median']:8.1f} ms (n={stock['n']}, {stock['queries']} q)"
            if stock
            else ""
        )
        + f"  [{seconds:.0f}s]",
        flush=True,
    )
    if ours["median"] > MEDIAN_TARGET_MS or ours["p95"] > P95_TARGET_MS:
        ours["explain"] = [
            {**q, "plan": explain(q["sql"])}
            for q in ours["slow"]
            if q["ms"] > 10 and q["sql"].lstrip().upper().startswith("SELECT")
        ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="write the results here")
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-stock", dest="stock", action="store_false")
    parser.add_argument("--only", default="", help="comma-separated page keys")
    parser.add_argument("--turns", action="store_true", help="see the docstring")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.bench")
    import django

    django.setup()
    from django.db import connection

    from bench.build import read_marker
    from work.models import Task

    marker = read_marker()
    if marker is None:
        sys.exit("No benchmark database: run `python -m bench.build` first.")
    bench = Bench(reps=args.reps, warmup=args.warmup, stock=args.stock)
    pages = build_pages(tasks=marker["tasks"])
    if args.only:
        wanted = set(args.only.split(","))
        pages = [p for p in pages if p["key"] in wanted]
    results = {}
    loadavg_start = os.getloadavg()
    reference_ms = reference_loop_ms()
    groups = itertools.groupby(pages, key=lambda p: p.get("unscoped") or p["key"])
    for _, group in groups:
        started = time.monotonic()
        group = list(group)
        measured = bench.measure_group(
            group,
            lambda: turn(args.turns),
            lambda page, result, since=started: report(
                page, result, time.monotonic() - since
            ),
        )
        for page, result in zip(group, measured, strict=True):
            result["unscoped"] = page.get("unscoped")
            results[page["key"]] = result
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), pg_database_size(current_database())")
        version, size = cursor.fetchone()
    output = {
        "loadavg_start": loadavg_start,
        "reference_ms": reference_ms,
        "database": connection.settings_dict["NAME"],
        "tasks": marker["tasks"],
        "alive_tasks": Task.objects.count(),
        "build_seconds": marker["build_seconds"],
        "database_bytes": size,
        "postgres": version,
        "loadavg": os.getloadavg(),
        "pages": results,
    }
    with open(args.json, "w") as handle:
        json.dump(output, handle, indent=1, default=str)


if __name__ == "__main__":
    main()
