"""Judged attempts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from .database import Connection
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
