"""The `analyses` table, all of its SQL: the rows the API shows and the job queue the workers
drain (create, claim, extend, finish, release, listen). Rows leave this module as `Analysis`
objects with typed states."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.domain import AnalysisKind, AnalysisStatus

from .database import Connection, Database

ANALYSIS_COLUMNS = """
    id, learner_id, pattern_id, attempt_id, kind, status, code, code_sha256, result, model_used,
    ai_confidence, error, created_at, started_at, completed_at, model_key, job_attempts, timings
"""
NEW_JOB_CHANNEL = "analysis_jobs"


@dataclass(frozen=True, slots=True)
class Analysis:
    """One row of `analyses`: the analysis a learner sees and, while unfinished, a job."""

    id: uuid.UUID
    learner_id: str
    pattern_id: int
    attempt_id: int | None
    kind: AnalysisKind
    status: AnalysisStatus
    code: str
    code_sha256: str
    result: dict[str, Any] | None
    model_used: str | None
    ai_confidence: float
    error: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    model_key: str
    job_attempts: int
    timings: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Analysis:
        values = dict(row)
        values["kind"] = AnalysisKind(values["kind"])
        values["status"] = AnalysisStatus(values["status"])
        values["ai_confidence"] = float(values["ai_confidence"])
        return cls(**values)


def _analysis_or_none(row: asyncpg.Record | None) -> Analysis | None:
    return Analysis.from_row(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    learner_id: str
    pattern_id: int
    kind: AnalysisKind
    code: str
    code_sha256: str
    model_key: str
    attempt_id: int | None = None


async def create(conn: Connection, req: AnalysisRequest) -> Analysis:
    """A new analysis: a copy of an identical finished one when there is one, else a queued job."""
    reusable = await conn.fetchrow(
        """
        SELECT result, model_used, ai_confidence FROM analyses
        WHERE status = 'DONE' AND pattern_id = $1 AND kind = $2 AND model_key = $3 AND code_sha256 = $4
          AND model_used = model_key
        ORDER BY completed_at DESC LIMIT 1
        """,
        req.pattern_id, req.kind, req.model_key, req.code_sha256,
    )
    if reusable is not None:
        row = await conn.fetchrow(
            f"""
            INSERT INTO analyses (learner_id, pattern_id, attempt_id, kind, status, code, code_sha256, model_key,
                                  result, model_used, ai_confidence, started_at, completed_at, timings)
            VALUES ($1, $2, $3, $4, 'DONE', $5, $6, $7, $8, $9, $10, now(), now(), '{{"reused": true}}')
            RETURNING {ANALYSIS_COLUMNS}
            """,
            req.learner_id, req.pattern_id, req.attempt_id, req.kind, req.code, req.code_sha256, req.model_key,
            reusable["result"], reusable["model_used"], reusable["ai_confidence"],
        )
    else:
        row = await conn.fetchrow(
            f"""
            INSERT INTO analyses (learner_id, pattern_id, attempt_id, kind, code, code_sha256, model_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            RETURNING {ANALYSIS_COLUMNS}
            """,
            req.learner_id, req.pattern_id, req.attempt_id, req.kind, req.code, req.code_sha256, req.model_key,
        )
        # Delivered at commit: workers in other processes wake up at once.
        await conn.execute(f"NOTIFY {NEW_JOB_CHANNEL}")
    assert row is not None  # INSERT ... RETURNING always returns the row
    return Analysis.from_row(row)


def parse_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def by_id(db: Database | Connection, analysis_id: uuid.UUID) -> Analysis | None:
    return _analysis_or_none(await db.fetchrow(f"SELECT {ANALYSIS_COLUMNS} FROM analyses WHERE id = $1", analysis_id))


async def claim(db: Database, worker_id: str, lease_seconds: float, max_attempts: int) -> Analysis | None:
    """Take the oldest runnable job: queued, or running under a lease that ran out (its worker
    died). Jobs that have used up their attempts are failed instead of retried forever."""
    async with db.transaction() as conn:
        await conn.execute(
            """
            UPDATE analyses SET status = 'FAILED', completed_at = now(), lease_until = NULL,
                   error = 'analysis was interrupted too many times'
            WHERE status = 'RUNNING' AND lease_until < now() AND job_attempts >= $1
            """,
            max_attempts,
        )
        row = await conn.fetchrow(
            f"""
            UPDATE analyses SET status = 'RUNNING', started_at = now(), job_attempts = job_attempts + 1,
                   worker_id = $1, lease_until = now() + make_interval(secs => $2)
            WHERE id = (
                SELECT id FROM analyses
                WHERE status = 'QUEUED' OR (status = 'RUNNING' AND lease_until < now())
                ORDER BY created_at
                FOR UPDATE SKIP LOCKED
                LIMIT 1
            )
            RETURNING {ANALYSIS_COLUMNS}
            """,
            worker_id, lease_seconds,
        )
    return _analysis_or_none(row)


async def extend_lease(db: Database, analysis_id: uuid.UUID, worker_id: str, lease_seconds: float) -> bool:
    status = await db.execute(
        """
        UPDATE analyses SET lease_until = now() + make_interval(secs => $3)
        WHERE id = $1 AND worker_id = $2 AND status = 'RUNNING'
        """,
        analysis_id, worker_id, lease_seconds,
    )
    return status == "UPDATE 1"


async def finish(
    db: Database,
    analysis_id: uuid.UUID,
    worker_id: str,
    *,
    status: AnalysisStatus,
    result: dict[str, Any] | None,
    model_used: str,
    ai_confidence: float,
    error: str | None,
    timings: dict[str, float],
) -> Analysis | None:
    """Store the outcome, unless the lease was lost to another worker meanwhile."""
    if not status.is_final:
        raise ValueError(f"a job finishes as DONE or FAILED, not {status}")
    row = await db.fetchrow(
        f"""
        UPDATE analyses SET status = $3, result = $4, model_used = $5, ai_confidence = $6, error = $7,
               timings = $8, completed_at = now(), lease_until = NULL
        WHERE id = $1 AND worker_id = $2 AND status = 'RUNNING'
        RETURNING {ANALYSIS_COLUMNS}
        """,
        analysis_id, worker_id, status, result, model_used, ai_confidence, error, timings,
    )
    return _analysis_or_none(row)


async def release(db: Database, analysis_id: uuid.UUID, worker_id: str) -> None:
    """Hand an unfinished job back to the queue at once (shutdown) instead of waiting out its lease."""
    await db.execute(
        """
        UPDATE analyses SET status = 'QUEUED', worker_id = NULL, lease_until = NULL
        WHERE id = $1 AND worker_id = $2 AND status = 'RUNNING'
        """,
        analysis_id, worker_id,
    )


async def listen_for_new_jobs(db: Database, on_new_job: Callable[[], None]) -> asyncpg.Connection:
    """A dedicated connection that calls `on_new_job` whenever a job is queued (any process).
    The caller closes it. Fails where LISTEN is unavailable (transaction poolers)."""
    conn = await db.dedicated_connection()
    try:
        await conn.add_listener(NEW_JOB_CHANNEL, lambda *_: on_new_job())
    except BaseException:
        await conn.close()
        raise
    return conn
