"""A learner's progress over time: `learner_activity_daily` (one row per learner per UTC day with
work) and `learner_streaks` (the run of consecutive active days). Both are written only by
record_progress (sql/010_activity.sql); reading them never touches attempts."""

from __future__ import annotations

import asyncpg

from .scoped import Queryable


async def daily(db: Queryable, learner_id: str, days: int) -> list[asyncpg.Record]:
    """The last `days` UTC days, today included, oldest first: one row per day, zeros on days
    without work. "Today" is the database's clock, as record_progress's is."""
    return await db.fetch(
        """
        SELECT span.day, coalesce(d.attempts, 0) AS attempts, coalesce(d.completions, 0) AS completions,
               coalesce(d.time_spent_seconds, 0) AS time_spent_seconds
        FROM (SELECT (now() AT TIME ZONE 'UTC')::date - back AS day FROM generate_series($2::int - 1, 0, -1) back) span
        LEFT JOIN learner_activity_daily d ON d.learner_id = $1 AND d.day = span.day
              -- The range again, on the table's side: a scan of these days only, not all of the learner's.
              AND d.day > (now() AT TIME ZONE 'UTC')::date - $2::int
        ORDER BY span.day
        """,
        learner_id, days,
    )


async def streak(db: Queryable, learner_id: str) -> asyncpg.Record | None:
    """(current, longest) in days; the current run counts while its last day is today or
    yesterday (a learner still has today to keep it going), else it is 0. None: no activity."""
    return await db.fetchrow(
        """
        SELECT CASE WHEN last_day >= (now() AT TIME ZONE 'UTC')::date - 1 THEN current_days ELSE 0 END AS current,
               longest_days AS longest
        FROM learner_streaks WHERE learner_id = $1
        """,
        learner_id,
    )
