"""The `pattern_solutions` table (sql/012_solutions.sql), all of its SQL: what a learner who
passed may read, the grounded rows the API writes on first demand, and the job queue of the
model's part (claim, extend, finish, release), as `analyses` has for learners' analyses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from core.domain import AnalysisStatus

from .analyses import NEW_JOB_CHANNEL
from .database import Database
from .patterns import PATTERN_COLUMNS
from .scoped import Queryable


@dataclass(frozen=True, slots=True)
class SolutionKey:
    pattern_id: int
    language: str
    model_key: str


@dataclass(frozen=True, slots=True)
class SolutionWrite:
    key: SolutionKey
    reference_sha256: str
    status: AnalysisStatus
    explanation: str
    model_used: str
    ai_confidence: float = 0.0
    result: dict[str, Any] | None = None


async def passed_with_solutions(
    db: Queryable, learner_id: str, pattern_ids: Sequence[int], language: str, model_key: str
) -> list[asyncpg.Record]:
    """For each of these patterns the learner has a judged PASS of: the pattern, its reference
    program (through `passed_references`, sql/015: callers may not read references from the
    table) and its stored solution, when there is one (columns stored_sha256, status,
    explanation, model_used; null otherwise). As the caller, the policy shows no solution of a
    pattern they have not passed."""
    return await db.fetch(
        f"""
        SELECT {PATTERN_COLUMNS}, r.reference_solution,
               s.reference_sha256 AS stored_sha256, s.status, s.explanation, s.model_used
        FROM passed_references($1, $2::bigint[]) r
        JOIN patterns p ON p.id = r.pattern_id
        LEFT JOIN pattern_solutions s ON s.pattern_id = p.id AND s.language = $3 AND s.model_key = $4
        """,
        learner_id, list(pattern_ids), language, model_key,
    )


async def store(db: Database, writes: Sequence[SolutionWrite], *, replace_done: bool = False) -> None:
    """Upsert solutions. A row for the same reference is kept as it is (someone computed it
    meanwhile) unless `replace_done` (seeding with a model replaces grounded-only rows); a row of
    an older reference is replaced. Workers hear of queued ones at commit."""
    async with db.transaction() as conn:
        await conn.executemany(
            """
            INSERT INTO pattern_solutions AS s (pattern_id, language, model_key, reference_sha256, status, explanation,
                                                model_used, ai_confidence, result, completed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, '{}'::jsonb),
                    CASE WHEN $5 IN ('DONE', 'FAILED') THEN now() END)
            ON CONFLICT (pattern_id, language, model_key) DO UPDATE SET
                reference_sha256 = excluded.reference_sha256, status = excluded.status,
                explanation = excluded.explanation, model_used = excluded.model_used,
                ai_confidence = excluded.ai_confidence, result = excluded.result, job_attempts = 0,
                lease_until = NULL, worker_id = NULL, created_at = now(), completed_at = excluded.completed_at
            WHERE s.reference_sha256 IS DISTINCT FROM excluded.reference_sha256
               OR ($10 AND s.status IS DISTINCT FROM excluded.status)
            """,
            [(w.key.pattern_id, w.key.language, w.key.model_key, w.reference_sha256, w.status.value, w.explanation,
              w.model_used, w.ai_confidence, w.result, replace_done) for w in writes],
        )
        if any(w.status is AnalysisStatus.QUEUED for w in writes):
            await conn.execute(f"NOTIFY {NEW_JOB_CHANNEL}")


async def by_key(db: Queryable, key: SolutionKey) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT pattern_id, language, model_key, reference_sha256, status, explanation, model_used, ai_confidence,
                  result, job_attempts, completed_at
           FROM pattern_solutions WHERE pattern_id = $1 AND language = $2 AND model_key = $3""",
        key.pattern_id, key.language, key.model_key,
    )


@dataclass(frozen=True, slots=True)
class SolutionJob:
    key: SolutionKey
    reference_sha256: str
    explanation: str  # the grounded part
    job_attempts: int


async def claim(db: Database, worker_id: str, model_key: str, lease_seconds: float,
                max_attempts: int) -> SolutionJob | None:
    """The oldest queued solution for this worker's model (or one whose worker died); jobs that
    used up their attempts fail, keeping their grounded explanation."""
    async with db.transaction() as conn:
        await conn.execute(
            """
            UPDATE pattern_solutions SET status = 'FAILED', completed_at = now(), lease_until = NULL
            WHERE status = 'RUNNING' AND lease_until < statement_timestamp() AND job_attempts >= $1
            """,
            max_attempts,
        )
        row = await conn.fetchrow(
            """
            UPDATE pattern_solutions s SET status = 'RUNNING', job_attempts = job_attempts + 1, worker_id = $1,
                   lease_until = statement_timestamp() + make_interval(secs => $2)
            FROM (
                SELECT pattern_id, language, model_key FROM pattern_solutions
                WHERE model_key = $3
                  AND (status = 'QUEUED'
                       OR (status = 'RUNNING' AND lease_until < statement_timestamp() AND job_attempts < $4))
                ORDER BY created_at
                FOR UPDATE SKIP LOCKED
                LIMIT 1
            ) next
            WHERE (s.pattern_id, s.language, s.model_key) = (next.pattern_id, next.language, next.model_key)
            RETURNING s.pattern_id, s.language, s.model_key, s.reference_sha256, s.explanation, s.job_attempts
            """,
            worker_id, lease_seconds, model_key, max_attempts,
        )
    if row is None:
        return None
    return SolutionJob(SolutionKey(row["pattern_id"], row["language"], row["model_key"]), row["reference_sha256"],
                       row["explanation"], row["job_attempts"])


async def extend_lease(db: Database, job: SolutionJob, worker_id: str, lease_seconds: float) -> None:
    await db.execute(
        """UPDATE pattern_solutions SET lease_until = now() + make_interval(secs => $5)
           WHERE pattern_id = $1 AND language = $2 AND model_key = $3 AND worker_id = $4 AND status = 'RUNNING'""",
        job.key.pattern_id, job.key.language, job.key.model_key, worker_id, lease_seconds,
    )


async def finish(db: Database, job: SolutionJob, worker_id: str, *, status: AnalysisStatus, explanation: str,
                 model_used: str, ai_confidence: float, result: dict[str, Any]) -> bool:
    """Store the outcome, unless the lease was lost or the reference changed meanwhile."""
    done = await db.execute(
        """
        UPDATE pattern_solutions SET status = $6, explanation = $7, model_used = $8, ai_confidence = $9, result = $10,
               completed_at = now(), lease_until = NULL
        WHERE pattern_id = $1 AND language = $2 AND model_key = $3 AND worker_id = $4 AND status = 'RUNNING'
          AND reference_sha256 = $5
        """,
        job.key.pattern_id, job.key.language, job.key.model_key, worker_id, job.reference_sha256, status.value,
        explanation, model_used, ai_confidence, result,
    )
    return done == "UPDATE 1"


async def release(db: Database, job: SolutionJob, worker_id: str) -> None:
    await db.execute(
        """UPDATE pattern_solutions SET status = 'QUEUED', worker_id = NULL, lease_until = NULL
           WHERE pattern_id = $1 AND language = $2 AND model_key = $3 AND worker_id = $4 AND status = 'RUNNING'""",
        job.key.pattern_id, job.key.language, job.key.model_key, worker_id,
    )
