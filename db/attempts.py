"""Judged attempts: the write, and the learner's history of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from .database import Connection
from .paging import Keyset, Page, newest_first_sql, page_of
from .scoped import Queryable

ATTEMPT_COLUMNS = """
    id, learner_id, pattern_id, language, code, verdict, score, sizes_tested, output, expected,
    mismatches, error, duration_ms, time_spent_seconds, created_at
"""


@dataclass(frozen=True, slots=True)
class AttemptWrite:
    learner_id: str
    pattern_id: int
    language: str
    code: str
    code_sha256: str
    verdict: str
    score: float
    sizes_tested: list[int]
    output: list[str]
    expected: list[str]
    mismatches: list[dict[str, Any]]
    error: str | None
    duration_ms: int
    time_spent_seconds: int


async def insert(conn: Connection, a: AttemptWrite) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""
        INSERT INTO attempts (learner_id, pattern_id, language, code, code_sha256, verdict, score, sizes_tested,
                              output, expected, mismatches, error, duration_ms, time_spent_seconds)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        RETURNING {ATTEMPT_COLUMNS}
        """,
        a.learner_id, a.pattern_id, a.language, a.code, a.code_sha256, a.verdict, a.score, a.sizes_tested,
        a.output, a.expected, a.mismatches, a.error, a.duration_ms, a.time_spent_seconds,
    )
    assert row is not None
    return row


async def by_id(db: Queryable, attempt_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE id = $1", attempt_id)


async def page_for_learner(
    db: Queryable, learner_id: str, pattern_id: int | None, first: int, after: Keyset[int] | None
) -> Page[asyncpg.Record]:
    """The learner's attempts (of one pattern, or all), newest first, and how many there are: one
    round trip, one range scan of attempts_learner_(pattern_)history_idx."""
    args: list[Any] = [learner_id]
    where = "learner_id = $1"
    if pattern_id is not None:
        where += " AND pattern_id = $2"
        args.append(pattern_id)
    sql = newest_first_sql(source="attempts", columns=ATTEMPT_COLUMNS, where=where, next_param=len(args) + 1,
                           after=after is not None)
    args.append(first + 1)
    if after is not None:
        args += [after.created_at, after.id]
    return page_of(await db.fetch(sql, *args), first)

