"""EXPLAIN (ANALYZE, BUFFERS) of the app's statistics, catalog, leaderboard, progress, history and
activity queries at 1M attempts, with the naive aggregate-from-attempts alternatives for comparison.

    .venv/bin/python bench/explain_at_scale.py [--database-url postgresql://user@host/postgres]
        [--learners 20000] [--attempts 1000000] [--runs 5] [--out bench/results/explain_1m.txt]

Without --database-url an embedded PostgreSQL runs in a temporary folder; with one (a server URL
whose user may create databases) a fresh database is created there. Either is deleted at the end
(--keep leaves it). The data comes from bench/load_attempts.py (set-based SQL, a few minutes).

The statements explained are the app's own: db/patterns.py, db/learners.py, db/progress.py,
db/attempts.py and db/activity.py are called with a Database stand-in that records each statement
and its arguments (and runs it, so the functions finish normally); each recorded statement is then
run under EXPLAIN (ANALYZE, BUFFERS) --runs times on a warm cache. A statement that only calls a
SQL function (the WEEK leaderboard's SECURITY DEFINER function) is explained as the function's
body, with the same arguments: EXPLAIN would show a function scan and nothing inside it.
Reported: the access path parsed from the plan, the median server-side execution time, and the
median client round trip of the plain statement (prepared, as the app sends it).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load_attempts import check_consistency, load
from bench.scratch_db import bench_database, default_name, scratch_database
from db import activity, attempts, learners, patterns, progress
from db.database import Database
from db.paging import Keyset
from db.patterns import PatternFilter

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "explain_1m.txt"

# What the app would do without the counter tables: aggregate attempts on every read.
NAIVE_STATS_SQL = """
SELECT pattern_id, count(*) AS attempts, count(DISTINCT learner_id) AS learners,
       count(DISTINCT learner_id) FILTER (WHERE verdict = 'PASSED') AS completions,
       sum(time_spent_seconds) AS total_time_seconds
FROM attempts
WHERE pattern_id = ANY($1::bigint[])
GROUP BY pattern_id
"""

# Same rules as record_progress: points for a pattern's first PASSED attempt, on the UTC day it
# happened; attempts counted on their own UTC day; the last 7 UTC days, today included.
NAIVE_WEEK_SQL = """
WITH since AS (SELECT ((now() AT TIME ZONE 'UTC')::date - 6)::timestamp AT TIME ZONE 'UTC' AS t),
first_pass AS (
    SELECT learner_id, pattern_id, min(created_at) AS passed_at
    FROM attempts WHERE verdict = 'PASSED'
    GROUP BY learner_id, pattern_id
),
week_points AS (
    SELECT f.learner_id, sum(CASE p.difficulty WHEN 'EASY' THEN 10 WHEN 'MEDIUM' THEN 20 ELSE 30 END)::int AS points,
           count(*)::int AS completed_patterns
    FROM first_pass f JOIN patterns p ON p.id = f.pattern_id, since
    WHERE f.passed_at >= since.t
    GROUP BY f.learner_id
),
week_attempts AS (
    SELECT learner_id, count(*)::int AS attempts FROM attempts, since WHERE created_at >= since.t GROUP BY learner_id
)
SELECT rank() OVER (ORDER BY w.points DESC) AS rank,
       w.learner_id, l.display_name, w.points, w.completed_patterns, coalesce(a.attempts, 0) AS attempts
FROM week_points w JOIN learners l ON l.id = w.learner_id LEFT JOIN week_attempts a USING (learner_id)
ORDER BY w.points DESC, w.completed_patterns DESC, w.learner_id
LIMIT $1
"""

# The naive activity chart: the learner's attempts of the last 30 UTC days, grouped by day.
NAIVE_ACTIVITY_SQL = """
SELECT span.day, count(a.id) AS attempts, coalesce(sum(a.time_spent_seconds), 0) AS time_spent_seconds
FROM (SELECT (now() AT TIME ZONE 'UTC')::date - back AS day FROM generate_series(29, 0, -1) back) span
LEFT JOIN attempts a ON a.learner_id = $1 AND (a.created_at AT TIME ZONE 'UTC')::date = span.day
GROUP BY span.day ORDER BY span.day
"""

# The naive streak: gaps and islands over all of the learner's attempts.
NAIVE_STREAK_SQL = """
SELECT max(days) AS longest FROM (
    SELECT count(*) AS days FROM (
        SELECT day, day - row_number() OVER (ORDER BY day)::int AS run
        FROM (SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date AS day FROM attempts WHERE learner_id = $1) d
    ) numbered GROUP BY run
) runs
"""

ONLY_A_FUNCTION = re.compile(r"^\s*SELECT [^;]*? FROM (\w+)\(\$1(?:, \$\d+)*\)\s*$", re.S)

ACCESS_PATH = re.compile(
    r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan|Bitmap Heap Scan)( Backward)?"
    r"(?: using (\S+))?(?: on (\S+))?"
)


@dataclass
class Statement:
    """One statement an app function sent, with its arguments."""

    name: str
    query: str
    args: tuple[Any, ...]


@dataclass
class Measured:
    name: str
    access: str
    execution_ms: float
    planning_ms: float
    round_trip_ms: float
    rows: int
    plan: str
    runs: list[float] = field(default_factory=list)


class RecordingDatabase:
    """Stands in for db.database.Database: records every statement, then runs it for real."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.statements: list[Statement] = []
        self.label = ""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        self.statements.append(Statement(self.label, query, args))
        return await self.db.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        self.statements.append(Statement(self.label, query, args))
        return await self.db.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.statements.append(Statement(self.label, query, args))
        return await self.db.fetchval(query, *args)


def access_paths(plan: str) -> str:
    """Each scan node of the plan, e.g. 'Index Scan using pattern_stats_pkey', once, in plan order."""
    found: list[str] = []
    for line in plan.splitlines():
        match = ACCESS_PATH.search(line)
        if not match or ("->" not in line and not line.lstrip().startswith(match.group(1))):
            continue
        kind, backward, index, table = match.groups()
        if kind == "Bitmap Heap Scan":
            continue  # its Bitmap Index Scan child names the index
        text = f"{kind}{backward or ''} " + (f"using {index}" if index else f"on {table}")
        if kind == "Seq Scan" and table:
            text = f"Seq Scan on {table}"
        if text not in found:
            found.append(text)
    return ", ".join(found) or "(no table scan)"


def plan_ms(plan: str, label: str) -> float:
    match = re.search(rf"{label}: ([0-9.]+) ms", plan)
    return float(match.group(1)) if match else float("nan")


async def function_body(db: Database, query: str) -> str | None:
    """The body of the SQL-language function that `query` only calls, else None."""
    match = ONLY_A_FUNCTION.match(query)
    if match is None:
        return None
    return await db.fetchval("SELECT prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                             "WHERE p.proname = $1 AND l.lanname = 'sql'", match.group(1))


async def measure(db: Database, name: str, query: str, args: Sequence[Any], runs: int) -> Measured:
    """EXPLAIN ANALYZE ``runs`` times after one warm-up, then time the plain statement as often."""
    body = await function_body(db, query)
    explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + (body or query)
    plans: list[str] = []
    async with db.pool.acquire() as conn:
        for _ in range(runs + 1):
            rows = await conn.fetch(explain, *args)
            plans.append("\n".join(r[0] for r in rows))
        plans = plans[1:]
        await conn.fetch(query, *args)
        round_trips: list[float] = []
        result: list[asyncpg.Record] = []
        for _ in range(runs):
            started = time.perf_counter()
            result = await conn.fetch(query, *args)
            round_trips.append((time.perf_counter() - started) * 1000)
    executions = [plan_ms(p, "Execution Time") for p in plans]
    median_plan = plans[executions.index(sorted(executions)[len(executions) // 2])]
    return Measured(
        name=name,
        access=access_paths(median_plan),
        execution_ms=statistics.median(executions),
        planning_ms=statistics.median(plan_ms(p, "Planning Time") for p in plans),
        round_trip_ms=statistics.median(round_trips),
        rows=len(result),
        plan=median_plan,
        runs=executions,
    )


async def app_statements(db: Database) -> list[Statement]:
    """Call the app's query functions the way the resolvers do and record what they send."""
    recorder = RecordingDatabase(db)
    ids = [r["id"] for r in await db.fetch("SELECT id FROM patterns ORDER BY position LIMIT 20")]
    busiest = await db.fetchval("SELECT id FROM learners ORDER BY attempts DESC, id LIMIT 1")
    favourite = await db.fetchval("SELECT pattern_id FROM progress WHERE learner_id = $1 ORDER BY attempts DESC "
                                  "LIMIT 1", busiest)
    deep = await db.fetchrow("SELECT created_at, id FROM attempts WHERE learner_id = $1 "
                             "ORDER BY created_at DESC, id DESC OFFSET 199 LIMIT 1", busiest)
    after = Keyset(deep["created_at"], deep["id"])
    calls: list[tuple[str, Any]] = [
        ("patterns.stats_by_pattern_ids (20 ids)", lambda: patterns.stats_by_pattern_ids(recorder, ids)),
        ("patterns.page (first=20)", lambda: patterns.page(recorder, PatternFilter(), 20, None)),
        ("learners.leaderboard_all_time (first=10)", lambda: learners.leaderboard_all_time(recorder, 10)),
        ("learners.leaderboard_week (first=10)", lambda: learners.leaderboard_week(recorder, 10)),
        ("progress.for_learner (busiest learner)", lambda: progress.for_learner(recorder, busiest)),
        ("attempts.page_for_learner (busiest learner, first=20)",
         lambda: attempts.page_for_learner(recorder, busiest, None, 20, None)),
        ("attempts.page_for_learner (busiest learner, first=20 after 200)",
         lambda: attempts.page_for_learner(recorder, busiest, None, 20, after)),
        ("attempts.page_for_learner (busiest learner, one pattern, first=20)",
         lambda: attempts.page_for_learner(recorder, busiest, favourite, 20, None)),
        ("activity.daily (busiest learner, days=30)", lambda: activity.daily(recorder, busiest, 30)),
        ("activity.daily (busiest learner, days=366)", lambda: activity.daily(recorder, busiest, 366)),
        ("activity.streak (busiest learner)", lambda: activity.streak(recorder, busiest)),
    ]
    for label, call in calls:
        recorder.label = label
        await call()
    return recorder.statements


def fmt_ms(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def summary_table(rows: list[Measured], runs: int) -> list[str]:
    lines = [
        f"| query | access path (from the plan) | execution ms (EXPLAIN ANALYZE, median of {runs}) "
        f"| round trip ms (median of {runs}) | rows |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {m.name} | {m.access} | {fmt_ms(m.execution_ms)} | {fmt_ms(m.round_trip_ms)} | {m.rows} |" for m in rows
    ]
    return lines


def comparison_table(pairs: list[tuple[str, Measured, Measured, bool]]) -> list[str]:
    lines = [
        "| read | app: execution ms | naive: execution ms | naive / app | app: round trip ms "
        "| naive: round trip ms | naive / app | naive access path | same answer |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, app, naive, same in pairs:
        lines.append(
            f"| {name} | {fmt_ms(app.execution_ms)} | {fmt_ms(naive.execution_ms)} "
            f"| {naive.execution_ms / app.execution_ms:,.0f}x | {fmt_ms(app.round_trip_ms)} "
            f"| {fmt_ms(naive.round_trip_ms)} | {naive.round_trip_ms / app.round_trip_ms:,.0f}x "
            f"| {naive.access} | {'yes' if same else 'NO'} |"
        )
    return lines


async def run(args: argparse.Namespace, out: list[str]) -> None:
    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    name = default_name("cpm_bench_explain")
    async with scratch_database(args.database_url, name, keep=args.keep) as url:
        conn = await asyncpg.connect(url)
        try:
            version = await conn.fetchval("SHOW server_version")
            say(f"# EXPLAIN at scale: {args.attempts:,} attempts, {args.learners:,} learners, last {args.days} days")
            say(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; PostgreSQL {version}; "
                f"{platform.node()} ({platform.machine()}, {_cpus()} CPUs)")
            settings = await conn.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name IN "
                "('shared_buffers', 'work_mem', 'jit', 'max_parallel_workers_per_gather', 'random_page_cost')"
            )
            say(f"command: `{' '.join(['.venv/bin/python', 'bench/explain_at_scale.py', *sys.argv[1:]])}`")
            say("server settings: " + ", ".join(f"{r['name']}={r['setting']}{r['unit'] or ''}" for r in settings))
            say("generating data (set-based SQL):")
            started = time.perf_counter()
            report = await load(conn, learners=args.learners, attempts=args.attempts, days=args.days,
                                log=say)
            say(f"generated in {time.perf_counter() - started:.1f} s: {report.learners:,} learners, "
                f"{report.attempts:,} attempts, {report.progress:,} progress rows, "
                f"{report.activity_days:,} learner_activity_daily rows")
            problems = await check_consistency(conn)
            say("consistency of the derived rows: " + ("ok" if not problems else "; ".join(problems)))
            sizes = await conn.fetch(
                """
                SELECT c.relname, pg_size_pretty(pg_total_relation_size(c.oid)) AS total,
                       pg_size_pretty(pg_relation_size(c.oid)) AS heap
                FROM pg_class c WHERE c.relname IN
                    ('attempts', 'progress', 'pattern_stats', 'learners', 'learner_activity_daily', 'patterns')
                ORDER BY pg_total_relation_size(c.oid) DESC
                """
            )
            say("table sizes (total incl. indexes / heap): "
                + ", ".join(f"{r['relname']} {r['total']} / {r['heap']}" for r in sizes))
        finally:
            await conn.close()

        with tempfile.TemporaryDirectory(prefix="cpm-bench-") as tmp:
            db = bench_database(url, Path(tmp))
            await db.connect()
            try:
                statements = await app_statements(db)
                measured = [await measure(db, s.name, s.query, s.args, args.runs) for s in statements]
                stats_args = next(s.args for s in statements if s.name.startswith("patterns.stats"))
                naive_stats = await measure(db, "naive stats from attempts (same 20 ids)", NAIVE_STATS_SQL,
                                            stats_args, args.runs)
                naive_week = await measure(db, "naive week leaderboard from attempts", NAIVE_WEEK_SQL, (10,),
                                           args.runs)
                busiest = next(s.args[0] for s in statements if s.name.startswith("activity.streak"))
                naive_activity = await measure(db, "naive activity from attempts (busiest learner, 30 days)",
                                               NAIVE_ACTIVITY_SQL, (busiest,), args.runs)
                naive_streak = await measure(db, "naive longest streak from attempts (busiest learner)",
                                             NAIVE_STREAK_SQL, (busiest,), args.runs)
                same_stats, same_week = await same_answers(db, stats_args[0])
                same_activity, same_streak = await same_activity_answers(db, busiest)
            finally:
                await db.close()

    for m in [*measured, naive_stats, naive_week, naive_activity, naive_streak]:
        say()
        say(f"## {m.name}: execution {fmt_ms(m.execution_ms)} ms (runs: "
            + ", ".join(fmt_ms(r) for r in m.runs) + f"), planning {fmt_ms(m.planning_ms)} ms")
        say(m.plan)
    say()
    say("## Summary (warm cache)")
    for line in summary_table(measured, args.runs):
        say(line)
    say()
    say("## Counters vs aggregating attempts on every read (execution: EXPLAIN ANALYZE; round trip: client)")
    by_name: dict[str, Measured] = {}
    for m in measured:
        by_name.setdefault(m.name.split(" (")[0], m)  # the first of each function: activity over 30 days
    for line in comparison_table([
        ("pattern stats, 20 patterns", by_name["patterns.stats_by_pattern_ids"], naive_stats, same_stats),
        ("WEEK leaderboard, first 10", by_name["learners.leaderboard_week"], naive_week, same_week),
        ("activity, 30 days, busiest learner", by_name["activity.daily"], naive_activity, same_activity),
        ("longest streak, busiest learner", by_name["activity.streak"], naive_streak, same_streak),
    ]):
        say(line)


async def same_answers(db: Database, ids: list[int]) -> tuple[bool, bool]:
    """The counters and the naive queries agree on the data (a check on the generated rows too)."""
    app_stats = await patterns.stats_by_pattern_ids(db, ids)
    naive = {r["pattern_id"]: r for r in await db.fetch(NAIVE_STATS_SQL, ids)}
    keys = ("attempts", "learners", "completions", "total_time_seconds")
    same_stats = all(
        row is not None and tuple(row[k] for k in keys) == tuple(naive[row["pattern_id"]][k] for k in keys)
        for row in app_stats
    )
    week = [tuple(r) for r in await learners.leaderboard_week(db, 10)]
    naive_week = [tuple(r) for r in await db.fetch(NAIVE_WEEK_SQL, 10)]
    return same_stats, week == naive_week


async def same_activity_answers(db: Database, learner: str) -> tuple[bool, bool]:
    """The daily counters and the streak agree with recounts from attempts (the generated data
    has no progress saves, so every recorded attempt is a row of attempts)."""
    days = [(r["day"], r["attempts"], r["time_spent_seconds"]) for r in await activity.daily(db, learner, 30)]
    naive = [(r["day"], r["attempts"], r["time_spent_seconds"]) for r in await db.fetch(NAIVE_ACTIVITY_SQL, learner)]
    streak = await activity.streak(db, learner)
    longest = await db.fetchval(NAIVE_STREAK_SQL, learner)
    return days == naive, streak is not None and streak["longest"] == longest


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--database-url", help="server URL whose user may create databases "
                                               "(default: an embedded PostgreSQL in a temporary folder)")
    parser.add_argument("--learners", type=int, default=20_000, help="learners (default: 20000)")
    parser.add_argument("--attempts", type=int, default=1_000_000, help="attempts (default: 1000000)")
    parser.add_argument("--days", type=int, default=60, help="attempts spread over the last N days (default: 60)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per statement (default: 5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"report file (default: {DEFAULT_OUT})")
    parser.add_argument("--keep", action="store_true", help="keep the generated database")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    return args


def main() -> None:
    args = parse_args()
    out: list[str] = []
    try:
        asyncio.run(run(args, out))
    finally:
        if out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text("\n".join(out) + "\n")
            print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
