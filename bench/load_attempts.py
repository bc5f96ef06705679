"""Generate a large, realistic data set with set-based SQL: learners, attempts and every row the
app derives from attempts (progress, pattern_stats, learner totals, learner_activity_daily).

    .venv/bin/python bench/load_attempts.py --database-url postgresql://.../cpm_big [--attempts 1000000]

The target database must be migrated and seeded (patterns present) and hold no learners yet.
Used by bench/explain_at_scale.py and bench/bench_http.py; also runnable on its own.

Shape of the data (the same for a given --seed, except that timestamps are relative to now()):
- learners: md5-derived UUID ids; activity is skewed (a few heavy users, a long tail);
- attempts: early catalog patterns are tried more often; each learner works in a few sessions
  (a few hours on a few days within the last --days days), so daily activity rows stay realistic;
  PASSED probability falls with difficulty (EASY .50, MEDIUM .35, HARD .20); rows are inserted in
  created_at order, as a production table fills;
- derived rows follow record_progress (sql/002, sql/005, sql/010): progress per (learner,
  pattern), points for the first PASSED attempt (EASY 10 / MEDIUM 20 / HARD 30), pattern_stats
  and learners summed from progress, learner_activity_daily per UTC day (attempts and their time
  that day, first completions and their points that day), learner_streaks from the daily rows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Log = Callable[[str], None]

# Sessions a learner works in; each one lands on one day of the window.
SESSIONS_PER_LEARNER = 10

# One narrow row per attempt with every random draw taken once (a volatile subquery is never
# flattened, so each random() below is drawn once per row), numbered in created_at order.
STAGE_SQL = """
CREATE TEMP TABLE bench_gen AS
WITH pat AS (SELECT count(*)::int AS n FROM patterns),
draw AS (
    SELECT g,
           1 + floor($2::int * power(random(), 1.5))::int        AS learner_no,
           1 + floor(pat.n * power(random(), 1.6))::int          AS position_no,
           floor(random() * {sessions})::int                     AS session_no,
           random() AS r_verdict, random() AS r_kind, random() AS r_time, random() AS r_hour
    FROM generate_series(1, $1::int) g, pat
    OFFSET 0
),
timed AS (
    SELECT d.*,
           -- The session's day and hour come from a hash of (learner, session): stable per session.
           now() - make_interval(days => (hashint4(d.learner_no * 64 + d.session_no) & 2147483647) % ($3::int - 1))
                 - make_interval(hours => (hashint4(d.learner_no * 64 + d.session_no + 7) & 2147483647) % 22)
                 - d.r_hour * interval '2 hours' AS created_at
    FROM draw d
)
SELECT row_number() OVER (ORDER BY created_at) AS rn, * FROM timed
"""

ATTEMPTS_SQL = """
WITH pat AS (
    SELECT array_agg(id ORDER BY position) AS ids, array_agg(difficulty ORDER BY position) AS diffs FROM patterns
),
src AS (
    SELECT s.*,
           md5('bench-learner-' || s.learner_no)::uuid::text AS learner_id,
           pat.ids[s.position_no] AS pattern_id,
           CASE
               WHEN s.r_verdict < CASE pat.diffs[s.position_no] WHEN 'EASY' THEN 0.50 WHEN 'MEDIUM' THEN 0.35
                                                                ELSE 0.20 END THEN 'PASSED'
               WHEN s.r_kind < 0.60 THEN 'WRONG_OUTPUT'
               WHEN s.r_kind < 0.75 THEN 'RUNTIME_ERROR'
               WHEN s.r_kind < 0.90 THEN 'SYNTAX_ERROR'
               WHEN s.r_kind < 0.95 THEN 'TIMEOUT'
               ELSE 'REJECTED'
           END AS verdict,
           format(E'# pattern %s, attempt %s\\nn = int(input())\\nfor i in range(1, n + 1):\\n'
                  '    spaces = " " * (n - i)\\n    stars = "*" * (2 * i - 1)\\n'
                  '    print(spaces + stars)  # learner %s, try %s\\n',
                  s.position_no, s.g, s.learner_no, s.session_no) AS code
    FROM bench_gen s, pat
    WHERE s.rn BETWEEN $1 AND $2
)
INSERT INTO attempts (learner_id, pattern_id, code, code_sha256, verdict, score, sizes_tested, output, expected,
                      mismatches, error, duration_ms, time_spent_seconds, created_at)
SELECT learner_id, pattern_id, code, encode(sha256(convert_to(code, 'UTF8')), 'hex'), verdict,
       CASE verdict WHEN 'PASSED' THEN 1 WHEN 'WRONG_OUTPUT' THEN round((r_time * 0.9)::numeric, 2) ELSE 0 END,
       '{3,5,8}',
       CASE verdict
           WHEN 'PASSED' THEN '{"  *"," ***","*****","    *","   ***","  *****"," *******","*********"}'::text[]
           WHEN 'WRONG_OUTPUT' THEN '{"*","**","***","*","**","***","****","*****"}'::text[]
           ELSE '{}'::text[]
       END,
       '{"  *"," ***","*****","    *","   ***","  *****"," *******","*********"}',
       CASE verdict WHEN 'WRONG_OUTPUT'
           THEN '[{"size":3,"line":1,"expected":"  *","got":"*"}]'::jsonb ELSE '[]'::jsonb END,
       CASE verdict
           WHEN 'RUNTIME_ERROR' THEN 'NameError: name ''m'' is not defined'
           WHEN 'SYNTAX_ERROR' THEN 'SyntaxError: invalid syntax (line 3)'
           WHEN 'TIMEOUT' THEN 'Time limit exceeded (2.0 s)'
           WHEN 'REJECTED' THEN 'import of os is not allowed'
       END,
       CASE verdict WHEN 'TIMEOUT' THEN 5000 ELSE 20 + floor(r_kind * 180)::int END,
       30 + floor(r_time * 570)::int,
       created_at
FROM src
ORDER BY rn
"""

PROGRESS_SQL = """
INSERT INTO progress (learner_id, pattern_id, progress_percentage, time_spent_seconds, attempts, completed,
                      completed_at, passed_at, best_score, points_awarded, last_attempt_at, created_at, updated_at)
SELECT a.learner_id, a.pattern_id,
       CASE WHEN a.passed_at IS NOT NULL THEN 100 ELSE round((a.best_score * 100)::numeric, 2) END,
       a.time_spent, a.attempts, a.passed_at IS NOT NULL, a.passed_at, a.passed_at, a.best_score,
       CASE WHEN a.passed_at IS NULL THEN 0
            ELSE CASE p.difficulty WHEN 'EASY' THEN 10 WHEN 'MEDIUM' THEN 20 ELSE 30 END END,
       a.last_at, a.first_at, a.last_at
FROM (
    SELECT learner_id, pattern_id, count(*)::int AS attempts, sum(time_spent_seconds) AS time_spent,
           max(score) AS best_score, min(created_at) FILTER (WHERE verdict = 'PASSED') AS passed_at,
           min(created_at) AS first_at, max(created_at) AS last_at
    FROM attempts GROUP BY learner_id, pattern_id
) a JOIN patterns p ON p.id = a.pattern_id
"""

PATTERN_STATS_SQL = """
UPDATE pattern_stats s SET attempts = x.attempts, learners = x.learners, completions = x.completions,
                           total_time_seconds = x.total_time
FROM (
    SELECT pattern_id, sum(attempts) AS attempts, count(*) AS learners,
           count(*) FILTER (WHERE completed) AS completions, sum(time_spent_seconds) AS total_time
    FROM progress GROUP BY pattern_id
) x
WHERE s.pattern_id = x.pattern_id
"""

LEARNERS_SQL = """
UPDATE learners l SET points = x.points, completed_patterns = x.completed, attempts = x.attempts,
                      updated_at = x.last_at
FROM (
    SELECT learner_id, sum(points_awarded)::int AS points, count(*) FILTER (WHERE completed)::int AS completed,
           sum(attempts)::int AS attempts, max(last_attempt_at) AS last_at
    FROM progress GROUP BY learner_id
) x
WHERE l.id = x.learner_id
"""

# record_progress counts every call (and its time) on the UTC day it runs, and a first completion
# (with its points) on the day it happens.
ACTIVITY_SQL = """
INSERT INTO learner_activity_daily (learner_id, day, points, attempts, completions, time_spent_seconds)
SELECT learner_id, day, sum(points)::int, sum(attempts)::int, sum(completions)::int, sum(seconds)
FROM (
    SELECT learner_id, (created_at AT TIME ZONE 'UTC')::date AS day, 0 AS points, count(*) AS attempts,
           0 AS completions, sum(time_spent_seconds) AS seconds
    FROM attempts GROUP BY 1, 2
    UNION ALL
    SELECT learner_id, (completed_at AT TIME ZONE 'UTC')::date, points_awarded, 0, 1, 0
    FROM progress WHERE completed
) t
GROUP BY learner_id, day
"""

# The streak counters record_progress keeps, recounted from the daily rows (sql/010's view).
STREAKS_SQL = "INSERT INTO learner_streaks SELECT * FROM learner_streaks_recount"


@dataclass(frozen=True)
class LoadReport:
    learners: int
    attempts: int
    progress: int
    activity_days: int
    seconds: dict[str, float]


async def load(
    conn: asyncpg.Connection,
    *,
    learners: int = 20_000,
    attempts: int = 1_000_000,
    days: int = 60,
    chunk: int = 100_000,
    seed: float = 0.42,
    log: Log = print,
) -> LoadReport:
    """Fill an empty (migrated, seeded) database; returns row counts and per-step seconds."""
    if await conn.fetchval("SELECT count(*) FROM patterns") == 0:
        raise SystemExit("no patterns: migrate and seed the database first")
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM learners)"):
        raise SystemExit("the database already has learners: load into a fresh database")
    timings: dict[str, float] = {}

    async def step(name: str, sql: str, *args: object) -> str:
        started = time.perf_counter()
        status = await conn.execute(sql, *args)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - started
        return status

    # Big sorts and hash aggregates stay in memory; the data is rebuilt from scratch on failure.
    await conn.execute("SET work_mem = '256MB'; SET maintenance_work_mem = '512MB'; SET synchronous_commit = off")
    await conn.execute("SELECT setseed($1)", seed)
    await step("learners", """
        INSERT INTO learners (id, display_name, created_at, updated_at)
        SELECT md5('bench-learner-' || g)::uuid::text, 'Learner ' || g, now() - interval '120 days', now()
        FROM generate_series(1, $1::int) g
        """, learners)
    log(f"  learners: {learners:,} ({timings['learners']:.1f} s)")
    await step("stage", STAGE_SQL.format(sessions=SESSIONS_PER_LEARNER), attempts, learners, days)
    await step("stage", "CREATE INDEX ON bench_gen (rn)")
    log(f"  staged {attempts:,} attempt draws ({timings['stage']:.1f} s)")
    for start in range(1, attempts + 1, chunk):
        end = min(start + chunk - 1, attempts)
        async with conn.transaction():
            await step("attempts", ATTEMPTS_SQL, start, end)
        log(f"  attempts: {end:,} / {attempts:,} ({timings['attempts']:.1f} s)")
    await conn.execute("DROP TABLE bench_gen")
    for name, sql in (("progress", PROGRESS_SQL), ("pattern_stats", PATTERN_STATS_SQL),
                      ("learners totals", LEARNERS_SQL), ("learner_activity_daily", ACTIVITY_SQL),
                      ("learner_streaks", STREAKS_SQL)):
        async with conn.transaction():
            status = await step(name, sql)
        log(f"  {name}: {status} ({timings[name]:.1f} s)")
    # Vacuum too: a table autovacuum has seen has its visibility map set (index-only scans rely on it).
    for table in ("attempts", "progress", "pattern_stats", "learners", "learner_activity_daily", "learner_streaks"):
        await step("vacuum analyze", f"VACUUM (ANALYZE) {table}")
    log(f"  vacuum analyze ({timings['vacuum analyze']:.1f} s)")
    counts = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM learners) AS learners, (SELECT count(*) FROM attempts) AS attempts,
               (SELECT count(*) FROM progress) AS progress,
               (SELECT count(*) FROM learner_activity_daily) AS activity_days
        """
    )
    await conn.execute("RESET ALL")
    return LoadReport(counts["learners"], counts["attempts"], counts["progress"], counts["activity_days"], timings)


async def check_consistency(conn: asyncpg.Connection) -> list[str]:
    """The derived rows agree with a recount from attempts (the invariants record_progress keeps)."""
    problems: list[str] = []
    mismatched = await conn.fetchval(
        """
        SELECT count(*) FROM pattern_stats s
        JOIN (SELECT pattern_id, count(*) AS attempts, count(DISTINCT learner_id) AS learners,
                     sum(time_spent_seconds) AS total_time
              FROM attempts GROUP BY pattern_id) a USING (pattern_id)
        WHERE (s.attempts, s.learners, s.total_time_seconds) IS DISTINCT FROM (a.attempts, a.learners, a.total_time)
        """
    )
    if mismatched:
        problems.append(f"{mismatched} pattern_stats rows differ from a recount of attempts")
    mismatched = await conn.fetchval(
        """
        SELECT count(*) FROM learners l
        JOIN (SELECT learner_id, sum(attempts) AS attempts FROM learner_activity_daily GROUP BY 1) d
          ON d.learner_id = l.id
        WHERE l.attempts <> d.attempts
        """
    )
    if mismatched:
        problems.append(f"{mismatched} learners' attempts differ from their daily activity")
    return problems


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True,
                        help="a migrated and seeded database with no learners yet")
    parser.add_argument("--learners", type=int, default=20_000, help="learners (default: 20000)")
    parser.add_argument("--attempts", type=int, default=1_000_000, help="attempts (default: 1000000)")
    parser.add_argument("--days", type=int, default=60, help="attempts spread over the last N days (default: 60)")
    parser.add_argument("--chunk", type=int, default=100_000, help="attempts inserted per transaction")
    parser.add_argument("--seed", type=float, default=0.42, help="setseed() value in [-1, 1] (default: 0.42)")
    args = parser.parse_args(argv)
    if args.days < 2 or args.learners < 1 or args.attempts < 1:
        parser.error("--days must be >= 2, --learners and --attempts >= 1")
    return args


async def main_async(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(args.database_url)
    try:
        started = time.perf_counter()
        report = await load(conn, learners=args.learners, attempts=args.attempts, days=args.days,
                            chunk=args.chunk, seed=args.seed)
        print(f"loaded in {time.perf_counter() - started:.1f} s: {report}")
        problems = await check_consistency(conn)
        print("consistency: " + ("ok" if not problems else "; ".join(problems)))
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main_async(parse_args()))
