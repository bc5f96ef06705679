"""Learner progress: the atomic write path and the reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from .patterns import PATTERN_COLUMNS, PATTERN_SUMMARY_COLUMNS
from .scoped import Queryable

PROGRESS_COLUMNS = """
    learner_id, pattern_id, progress_percentage, time_spent_seconds, attempts, completed,
    completed_at, passed_at, best_score, points_awarded, last_attempt_at
"""
# What the API shows of a row (resolvers/types.py Progress.from_row): a learner's list reads no
# more, 43 rows a page (three timestamps fewer to decode per row).
SHOWN_PROGRESS_COLUMNS_OF_G = (
    "g.pattern_id, g.progress_percentage, g.time_spent_seconds, g.attempts, g.completed, g.best_score, "
    "g.last_attempt_at"
)


@dataclass(frozen=True, slots=True)
class ProgressWrite:
    learner_id: str
    display_name: str | None
    pattern_id: int
    percentage: float
    time_spent_seconds: int
    completed: bool
    score: float | None = None
    passed: bool = False


class PatternNotFound(LookupError):
    pass


async def record(conn: Queryable, write: ProgressWrite) -> asyncpg.Record:
    """Upsert progress and every counter that depends on it in one statement (see
    sql/002_record_progress.sql). Pass a connection to make it part of a larger transaction."""
    try:
        row = await conn.fetchrow(
            f"SELECT {PROGRESS_COLUMNS} FROM record_progress($1, $2, $3, $4, $5, $6, $7, $8)",
            write.learner_id,
            write.display_name,
            write.pattern_id,
            write.percentage,
            write.time_spent_seconds,
            write.completed,
            write.score,
            write.passed,
        )
    except asyncpg.ForeignKeyViolationError as exc:
        raise PatternNotFound(write.pattern_id) from exc
    assert row is not None
    return row


async def for_learner_with_patterns(db: Queryable, learner_id: str, *, summary: bool = False) -> list[asyncpg.Record]:
    """The learner's progress as the API shows it, most recent first, each row also carrying its
    pattern's columns (db/patterns.py PATTERN_COLUMNS, or with `summary` PATTERN_SUMMARY_COLUMNS
    only): one statement for a page that shows the patterns' names."""
    return await db.fetch(
        f"""
        SELECT {SHOWN_PROGRESS_COLUMNS_OF_G}, {PATTERN_SUMMARY_COLUMNS if summary else PATTERN_COLUMNS} FROM progress g
        JOIN patterns p ON p.id = g.pattern_id
        WHERE g.learner_id = $1
        ORDER BY g.last_attempt_at DESC NULLS LAST, g.pattern_id
        """,
        learner_id,
    )


async def by_learner_and_patterns(
    db: Queryable, keys: Sequence[tuple[str, int]]
) -> list[asyncpg.Record | None]:
    rows = await db.fetch(
        f"""
        SELECT {PROGRESS_COLUMNS} FROM progress
        WHERE (learner_id, pattern_id) IN (
            SELECT * FROM unnest($1::text[], $2::bigint[])
        )
        """,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    found = {(r["learner_id"], r["pattern_id"]): r for r in rows}
    return [found.get(k) for k in keys]
