"""`make bench`: build (or reuse) the benchmark databases, time the admin pages.

    python -m bench.run [--tasks 1000000] [--reps 60] [--warmup 3] [--only KEYS]

1. `bench.build` for `--tasks` tasks (database `<name>_bench`) and for 10,000
   (`<name>_bench_10k`); each is reused when it already holds that size;
2. `bench.pages` on the 10k database (ours only) and on the big one (ours and
   the stock Django admin side by side), each in its own process, taking turns
   round by round: each round of a page's samples at 10k is followed by one at
   full size, so a machine whose speed drifts over minutes skews both alike;
3. the table and the acceptance lines, printed and saved to bench/results/
   (Markdown, plus the raw JSON with every sample, query and EXPLAIN).

`<name>` is the project database's name (DATABASE_URL's, else the embedded
`backoffice`), on the same server.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.pages import TURN_DONE

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SMALL = 10_000
MEDIAN_TARGET_MS = 150
P95_TARGET_MS = 300
VS_SMALL = 1.5
VS_STOCK = 5.0
STOCK_SLOW_MS = 200
SCOPED = 1.2


def _env(suffix: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backoffice.settings.bench",
        "BENCH_DB_SUFFIX": suffix,
    }


def _run(module: str, *args: str, suffix: str) -> None:
    subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=_env(suffix), check=True
    )


def _pages_in_turns(runs: list[tuple[list[str], str]]) -> None:
    """`bench.pages` once per (arguments, database suffix), all started at once,
    then timing one page at a time, in turn (bench.pages --turns)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.pages", *args, "--turns"],
            cwd=ROOT,
            env=_env(suffix),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for args, suffix in runs
    ]
    try:
        while True:
            timed = [_take_turn(process) for process in processes]
            if not any(timed):
                break
            if not all(timed):
                raise RuntimeError("the bench.pages runs have different pages")
        for process in processes:
            if process.wait():
                raise subprocess.CalledProcessError(process.returncode, process.args)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


def _take_turn(process) -> bool:
    """Let `process` time its next page; False when it had none left (and ended)."""
    try:
        process.stdin.write("\n")
        process.stdin.flush()
    except BrokenPipeError:
        pass  # it has ended: its output says how
    for line in process.stdout:
        if line.rstrip("\n") == TURN_DONE:
            return True
        print(line, end="", flush=True)
    return False


def _hold_database() -> None:
    """Load the bench settings here too: with the embedded PostgreSQL this process
    holds the server, so it is not stopped and restarted between the steps."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.bench")
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    settings.DATABASES  # noqa: B018  (evaluating the settings starts the server)


def _ms(value) -> str:
    return "–" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(value) -> str:
    return "–" if value is None else f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def table(big: dict, small: dict | None) -> tuple[list[str], list[str], list[dict]]:
    """The Markdown table, the acceptance lines, and the rows behind them."""
    tasks = big["tasks"]
    size = f"{tasks / 1e6:g}M" if tasks >= 1e6 else f"{tasks / 1e3:g}k"
    lines = [
        f"| page | ours ms median / p95 | ours CPU / SQL ms | stock ms median (n) "
        f"| stock/ours | ours @10k ms | {size}/10k | list rows {size} (10k) "
        "| queries ours (stock) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    pages = big["pages"]
    for key, page in pages.items():
        ours = page["ours"]
        stock = page.get("stock")
        at_small = (small or {}).get("pages", {}).get(key, {}).get("ours")
        row = {
            "key": key,
            "label": page["label"],
            "median": ours["median"],
            "p95": ours["p95"],
            "stock": stock["median"] if stock else None,
            "vs_stock": stock["median"] / ours["median"] if stock else None,
            "small": at_small["median"] if at_small else None,
            "vs_small": ours["median"] / at_small["median"] if at_small else None,
            "unscoped": page.get("unscoped"),
            "rows": ours.get("rows"),
            "small_rows": at_small.get("rows") if at_small else None,
        }
        row["refused"] = bool(ours.get("refused"))
        rows.append(row)
        label = page["label"]
        if row["refused"]:
            label += " — REFUSED (redirect to ?e=1)"
        stock_cell = f"{_ms(stock['median'])} ({stock['n']})" if stock else "–"
        queries = f"{ours['queries']}" + (f" ({stock['queries']})" if stock else "")
        shown = "–" if not row["rows"] else f"{row['rows']} ({row['small_rows']})"
        lines.append(
            f"| {label} | {_ms(ours['median'])} / {_ms(ours['p95'])} "
            f"| {_ms(ours['cpu_median'])} / {_ms(ours.get('sql_ms'))} "
            f"| {stock_cell} | {_ratio(row['vs_stock'])} "
            f"| {_ms(row['small'])} | {_ratio(row['vs_small'])} | {shown} "
            f"| {queries} |"
        )
    by_key = {row["key"]: row for row in rows}

    def verdict(title: str, failures: list[str]) -> str:
        state = "HOLDS" if not failures else "FAILS"
        detail = "" if not failures else ": " + "; ".join(failures)
        return f"- {state}: {title}{detail}"

    refused = [r["label"] for r in rows if r["refused"]]
    rows = [r for r in rows if not r["refused"]]
    over = [
        f"{r['label']} ({_ms(r['median'])}/{_ms(r['p95'])} ms)"
        for r in rows
        if r["median"] > MEDIAN_TARGET_MS or r["p95"] > P95_TARGET_MS
    ]
    growth = [
        f"{r['label']} ({_ratio(r['vs_small'])}"
        + (
            f", showing {r['rows']} rows against {r['small_rows']} at 10k)"
            if r["rows"] != r["small_rows"]
            else ")"
        )
        for r in rows
        if r["vs_small"] is not None and r["vs_small"] > VS_SMALL
    ]
    stock_slow = [
        f"{r['label']} ({_ratio(r['vs_stock'])})"
        for r in rows
        if r["stock"] is not None
        and r["stock"] > STOCK_SLOW_MS
        and r["vs_stock"] < VS_STOCK
    ]
    scoped = []
    for r in rows:
        base = by_key.get(r["unscoped"] or "")
        if base and r["median"] > SCOPED * base["median"]:
            scoped.append(f"{r['label']} ({r['median'] / base['median']:.2f}x)")
    verdicts = [
        verdict(
            f"every page median <= {MEDIAN_TARGET_MS} ms and p95 <= {P95_TARGET_MS} ms",
            over,
        ),
        verdict(f"every page <= {VS_SMALL}x the same page at 10k tasks", growth),
        verdict(
            f">= {VS_STOCK:g}x faster than stock where stock takes > "
            f"{STOCK_SLOW_MS} ms",
            stock_slow,
        ),
        verdict(f"scoped (support agent) pages <= {SCOPED}x the unscoped ones", scoped),
        verdict("every page served (none refused by the paginator)", refused),
    ]
    for key, page in pages.items():
        other = (small or {}).get("pages", {}).get(key)
        if other and other["label"] != page["label"]:
            verdicts.append(
                f'- Note: at 10k tasks "{page["label"]}" is "{other["label"]}".'
            )
    return lines, verdicts, rows


def abbreviate(sql: str, limit: int = 700) -> str:
    """The SQL without its long column list (SELECT … FROM), cut at `limit`."""
    head, sep, tail = sql.partition(' FROM "')
    if sep and head.startswith("SELECT ") and len(head) > 120:
        sql = f'SELECT … FROM "{tail}'
    return sql if len(sql) <= limit else sql[:limit] + " …"


def slow_queries(big: dict, limit: int = 12) -> list[str]:
    found = []
    for page in big["pages"].values():
        for query in page["ours"]["slow"]:
            found.append((query["ms"], page["label"], query["sql"]))
    found.sort(reverse=True)
    return [
        f"- {ms:.0f} ms, {label}: `{abbreviate(sql)}`"
        for ms, label, sql in found[:limit]
    ]


def explains(big: dict) -> list[str]:
    out = []
    for page in big["pages"].values():
        for query in page["ours"].get("explain", []):
            out += [
                f"### {page['label']}: {query['ms']:.1f} ms",
                "",
                "```sql",
                query["sql"],
                "```",
                "",
                "```",
                query["plan"],
                "```",
                "",
            ]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", type=int, default=int(os.environ.get("BENCH_TASKS", 1_000_000))
    )
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated page keys")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    _hold_database()
    started = time.monotonic()
    rebuild = ["--rebuild"] if args.rebuild else []
    _run("bench.build", "--tasks", str(args.tasks), *rebuild, suffix="_bench")
    if args.tasks != SMALL:
        _run("bench.build", "--tasks", str(SMALL), *rebuild, suffix="_bench_10k")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    common = ["--reps", str(args.reps), "--warmup", str(args.warmup)]
    if args.only:
        common += ["--only", args.only]
    small = None
    big_json = RESULTS / f"{stamp}-{args.tasks}.json"
    if args.tasks != SMALL:
        small_json = RESULTS / f"{stamp}-10k.json"
        print(
            f"[bench] pages at 10,000 tasks (ours only) and at {args.tasks:,} (ours "
            "and stock), in turns",
            flush=True,
        )
        _pages_in_turns(
            [
                (["--json", str(small_json), "--no-stock", *common], "_bench_10k"),
                (["--json", str(big_json), *common], "_bench"),
            ]
        )
        small = json.loads(small_json.read_text())
    else:
        print(f"[bench] pages at {args.tasks:,} tasks (ours and stock)", flush=True)
        _run("bench.pages", "--json", str(big_json), *common, suffix="_bench")
    big = json.loads(big_json.read_text())

    lines, verdicts, _ = table(big, small)
    header = [
        f"# Admin page benchmark, {big['tasks']:,} tasks ({stamp})",
        "",
        f"Database `{big['database']}`: {big['database_bytes'] / 2**30:.2f} GiB, "
        f"built in {big['build_seconds']:.0f}s; {big['postgres'].split(' on ')[0]}; "
        f"{os.cpu_count()} CPUs, Python reference loop "
        f"{big['reference_ms']:.0f} ms (sum(range(10**7)), best of 5; compare runs by "
        f"it), load average {big['loadavg_start'][0]:.1f} at "
        f"start, {big['loadavg'][0]:.1f} at end. Server-side time through the "
        f"in-process test client, {args.warmup} warm-ups then {args.reps} "
        "repetitions (stock: fewer when a request takes over a second, n shown); "
        "CPU = this Python process's CPU time (median); SQL = the summed query time "
        "of one more request (ms granularity per query); the rest of the wall time "
        "is waiting for a CPU (the load average above).",
        "",
    ]
    body = [
        *lines,
        "",
        "Acceptance:",
        "",
        *verdicts,
        "",
        "Slowest queries (ours):",
        "",
        *slow_queries(big),
        "",
    ]
    plans = explains(big)
    if plans:
        body += ["## EXPLAIN ANALYZE of the slowest queries of pages over target", ""]
        body += plans
    report = "\n".join(header + body)
    path = RESULTS / f"{stamp}-{args.tasks}.md"
    path.write_text(report + "\n")
    print()
    print("\n".join(header + body[: len(lines) + len(verdicts) + 4 + 14]))
    print(f"\n[bench] done in {time.monotonic() - started:.0f}s; saved {path}")


if __name__ == "__main__":
    main()
