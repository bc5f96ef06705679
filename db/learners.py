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
    # The last 7 UTC days from the daily activity rows, which are each learner's own: a
    # SECURITY DEFINER function (sql/010_activity.sql) sums them and returns only the ranking.
    return await db.fetch(
        "SELECT rank, learner_id, display_name, points, completed_patterns, attempts FROM leaderboard_week($1)",
        first,
    )
