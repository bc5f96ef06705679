"""Learners and the leaderboard."""

from __future__ import annotations

import asyncpg

from .database import Connection
from .scoped import Queryable

LEARNER_COLUMNS = "id, display_name, points, completed_patterns, attempts"


async def ensure(conn: Connection, learner_id: str, display_name: str | None) -> None:
    """The learner row that the caller's first write needs."""
    await conn.execute(
        "INSERT INTO learners (id, display_name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        learner_id, display_name,
    )


async def by_id(db: Queryable, learner_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {LEARNER_COLUMNS} FROM learners WHERE id = $1", learner_id)


async def leaderboard_all_time(db: Queryable, first: int) -> list[asyncpg.Record]:
    # rank() over points only: equal points share a rank (1, 1, 3). The order within a tie is
    # completions, then id, so pages are stable. The index on learners matches this order, so
    # the window streams and stops at the limit.
    return await db.fetch(
        """
        SELECT rank() OVER (ORDER BY points DESC) AS rank,
               id AS learner_id, display_name, points, completed_patterns, attempts
        FROM learners
        WHERE points > 0
        ORDER BY points DESC, completed_patterns DESC, id
        LIMIT $1
        """,
        first,
    )


async def leaderboard_week(db: Queryable, first: int) -> list[asyncpg.Record]:
    # The last 7 UTC days, today included, from the daily activity rows.
    return await db.fetch(
        """
        WITH week AS (
            SELECT learner_id, sum(points)::int AS points, sum(completions)::int AS completed_patterns,
                   sum(attempts)::int AS attempts
            FROM learner_activity_daily
            WHERE day > (now() AT TIME ZONE 'UTC')::date - 7
            GROUP BY learner_id
            HAVING sum(points) > 0
        )
        , ranked AS (
            SELECT rank() OVER (ORDER BY points DESC) AS rank, *
            FROM week
            ORDER BY points DESC, completed_patterns DESC, learner_id
            LIMIT $1
        )
        -- Names joined after the limit: 10 lookups, not one per weekly-active learner.
        SELECT r.rank, r.learner_id, l.display_name, r.points, r.completed_patterns, r.attempts
        FROM ranked r JOIN learners l ON l.id = r.learner_id
        ORDER BY r.points DESC, r.completed_patterns DESC, r.learner_id
        """,
        first,
    )
