"""The `analyses` table, all of its SQL: the rows the API shows and the job queue the workers
drain (create, claim, extend, finish, release, listen). Rows leave this module as `Analysis`
objects with typed states."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.domain import RULE_BASED, AnalysisKind, AnalysisStatus, Language

from .database import Connection, Database
from .paging import Keyset, Page, newest_first_sql, page_of
from .scoped import Queryable

ANALYSIS_COLUMNS = """
    id, learner_id, pattern_id, attempt_id, kind, status, code, code_sha256, result, model_used,
    ai_confidence, error, created_at, started_at, completed_at, model_key, job_attempts, timings, language,
    request_id
"""
NEW_JOB_CHANNEL = "analysis_jobs"
# Payload: the id of a running analysis whose model prose is no longer wanted (superseded).
CANCEL_CHANNEL = "analysis_cancel"
# Claims take this transaction-level advisory lock, so the per-learner running count they check
# cannot be raced by another worker's claim (claims are rare and take milliseconds).
_CLAIM_LOCK = 0x616E616C  # "anal"
# A claimer that stalls inside its transaction (a paused process, a partitioned host) would hold
# the claim lock and so stop every other worker; Postgres ends such a session after this long.
CLAIM_STALL_SECONDS = 5.0
# A subscriber refreshes `watched_at` every few seconds; older than this, nobody is watching.
WATCHED_SECONDS = 15.0


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
    language: Language = Language.PYTHON
    request_id: str | None = None  # of the request that queued it, for the logs

    @classmethod
    def from_row(cls, row: asyncpg.Record | Mapping[str, Any]) -> Analysis:
        values = dict(row)
        values["kind"] = AnalysisKind(values["kind"])
        values["status"] = AnalysisStatus(values["status"])
        values["ai_confidence"] = float(values["ai_confidence"])
        values["language"] = Language(values.get("language") or Language.PYTHON)
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
    # The grounded part (judgment, complexity, rule-based explanation, hints), known at once.
    grounded: dict[str, Any] | None = None
    # True when nothing is left for a model to add: the analysis is DONE as it is stored.
    final: bool = False
    language: Language = Language.PYTHON
    request_id: str | None = None  # the API request's, so the worker logs under it too


async def create(conn: Connection, req: AnalysisRequest) -> Analysis:
    """A new analysis: a copy of an identical finished one when there is one; else, stored with
    its grounded part, DONE when that is all there is to it, or queued for the model's prose."""
    # Across learners (a SECURITY DEFINER function in sql/008: the caller sees only the result).
    reusable = await conn.fetchrow(
        "SELECT result, model_used, ai_confidence FROM reusable_analysis($1, $2, $3, $4, $5)",
        req.pattern_id, req.kind, req.model_key, req.code_sha256, req.language,
    )
    if reusable is not None:
        row = await conn.fetchrow(
            f"""
            INSERT INTO analyses (learner_id, pattern_id, attempt_id, kind, status, code, code_sha256, model_key,
                                  result, model_used, ai_confidence, started_at, completed_at, timings, language)
            VALUES ($1, $2, $3, $4, 'DONE', $5, $6, $7, $8, $9, $10, now(), now(), '{{"reused": true}}', $11)
            RETURNING {ANALYSIS_COLUMNS}
            """,
            req.learner_id, req.pattern_id, req.attempt_id, req.kind, req.code, req.code_sha256, req.model_key,
            reusable["result"], reusable["model_used"], reusable["ai_confidence"], req.language,
        )
    elif req.final:
        row = await conn.fetchrow(
            f"""
            INSERT INTO analyses (learner_id, pattern_id, attempt_id, kind, status, code, code_sha256, model_key,
                                  result, model_used, started_at, completed_at, language)
            VALUES ($1, $2, $3, $4, 'DONE', $5, $6, $7, $8, $9, now(), now(), $10)
            RETURNING {ANALYSIS_COLUMNS}
            """,
            req.learner_id, req.pattern_id, req.attempt_id, req.kind, req.code, req.code_sha256, req.model_key,
            req.grounded, RULE_BASED, req.language,  # the grounded part is all there is (or all there is room for)
        )
    else:
        row = await conn.fetchrow(
            f"""
            INSERT INTO analyses (learner_id, pattern_id, attempt_id, kind, code, code_sha256, model_key, result,
                                  language, request_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            RETURNING {ANALYSIS_COLUMNS}
            """,
            req.learner_id, req.pattern_id, req.attempt_id, req.kind, req.code, req.code_sha256, req.model_key,
            req.grounded, req.language, req.request_id,
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


async def by_id(db: Queryable, analysis_id: uuid.UUID) -> Analysis | None:
    return _analysis_or_none(await db.fetchrow(f"SELECT {ANALYSIS_COLUMNS} FROM analyses WHERE id = $1", analysis_id))


async def page_for_learner(
    db: Queryable, learner_id: str, first: int, after: Keyset[uuid.UUID] | None
) -> Page[Analysis]:
    """The learner's analyses, newest first, and how many there are: one round trip, one range
    scan of analyses_learner_history_idx."""
    sql = newest_first_sql(source="analyses", columns=ANALYSIS_COLUMNS, where="learner_id = $1", next_param=2,
                           after=after is not None)
    args: list[Any] = [learner_id, first + 1]
    if after is not None:
        args += [after.created_at, after.id]
    page = page_of(await db.fetch(sql, *args), first)
    return Page([Analysis.from_row(_without_total(r)) for r in page.rows], page.total_count, page.has_next_page)


def _without_total(row: asyncpg.Record) -> dict[str, Any]:
    values = dict(row)
    del values["total_count"]
    return values


async def by_attempt_ids(db: Queryable, attempt_ids: Sequence[int]) -> list[Analysis | None]:
    """Each attempt's analysis (the newest, should there be several)."""
    rows = await db.fetch(
        f"""
        SELECT DISTINCT ON (attempt_id) {ANALYSIS_COLUMNS} FROM analyses
        WHERE attempt_id = ANY($1::bigint[])
        ORDER BY attempt_id, created_at DESC
        """,
        list(attempt_ids),
    )
    found = {r["attempt_id"]: Analysis.from_row(r) for r in rows}
    return [found.get(i) for i in attempt_ids]


@dataclass(frozen=True, slots=True)
class Superseded:
    finished: list[uuid.UUID]  # were queued: now DONE with their grounded part only
    running: list[uuid.UUID]  # a worker is told to stop their model prose (CANCEL_CHANNEL)


async def supersede(conn: Connection, newer: Analysis) -> Superseded:
    """The learner's unfinished analyses of the same pattern and kind give way to `newer`: their model
    prose would explain code the learner has already changed. Queued ones finish at once with
    their grounded part; running ones are cancelled through their worker. In the caller's
    transaction (notifications go out at commit)."""
    rows = await conn.fetch(
        """
        UPDATE analyses SET superseded_by = $1,
               status = CASE WHEN status = 'QUEUED' THEN 'DONE' ELSE status END,
               completed_at = CASE WHEN status = 'QUEUED' THEN now() ELSE completed_at END,
               model_used = CASE WHEN status = 'QUEUED' THEN 'rule-based' ELSE model_used END,
               timings = timings || jsonb_build_object('superseded_by', $1::text)
        WHERE learner_id = $2 AND pattern_id = $3 AND kind = $4 AND id <> $1 AND superseded_by IS NULL
          AND status IN ('QUEUED', 'RUNNING') AND result IS NOT NULL
        RETURNING id, status
        """,
        newer.id, newer.learner_id, newer.pattern_id, newer.kind,
    )
    running = [row["id"] for row in rows if row["status"] == "RUNNING"]
    for analysis_id in running:
        await conn.execute("SELECT pg_notify($1, $2)", CANCEL_CHANNEL, str(analysis_id))
    return Superseded([row["id"] for row in rows if row["status"] == "DONE"], running)


async def queued_count(db: Queryable, *, limit: int) -> int:
    """Jobs waiting for a worker, counted up to `limit` (the partial index keeps it cheap)."""
    count = await db.fetchval(
        "SELECT count(*) FROM (SELECT 1 FROM analyses WHERE status = 'QUEUED' LIMIT $1) q", limit
    )
    return int(count or 0)


async def queue_stats(db: Queryable) -> tuple[int, float]:
    """Jobs waiting for a worker, and how long the oldest has waited (seconds; 0 when none)."""
    row = await db.fetchrow(
        "SELECT count(*) AS queued, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS oldest "
        "FROM analyses WHERE status = 'QUEUED'"
    )
    assert row is not None  # an aggregate always returns its row
    return int(row["queued"]), float(row["oldest"])


async def mark_watched(db: Queryable, analysis_id: uuid.UUID) -> None:
    """A live subscriber is waiting for this analysis: claims take it before unwatched ones.

    The update holds the row's lock until it commits, and a claim meanwhile skips the row (SKIP
    LOCKED) and may find nothing; the worker whose wake-up that was goes back to sleep, and the job
    would wait for the next one (seen: 7 s, until another analysis ended). So a queued job wakes
    the workers again, at commit."""
    await db.execute(
        f"""
        WITH watched AS (
            UPDATE analyses SET watched_at = now() WHERE id = $1 AND status IN ('QUEUED', 'RUNNING')
            RETURNING status
        )
        SELECT pg_notify('{NEW_JOB_CHANNEL}', '') FROM watched WHERE status = 'QUEUED'
        """,
        analysis_id,
    )


async def claim(
    db: Database, worker_id: str, lease_seconds: float, max_attempts: int, per_learner: int,
    *, stall_seconds: float = CLAIM_STALL_SECONDS,
) -> Analysis | None:
    """Take the next runnable job: queued, or running under a lease that ran out (its worker
    died). Watched jobs go first, then the oldest; a learner with `per_learner` jobs running
    waits. Jobs that have used up their attempts are failed instead of retried forever.

    Claims take one lock in turn, so the per-learner count cannot race; a claimer that stalls
    while holding it is cut off by the server after `stall_seconds` idle in the transaction."""
    async with db.transaction() as conn:
        await conn.execute(
            "SELECT set_config('idle_in_transaction_session_timeout', $1, true)", f"{int(stall_seconds * 1000)}ms"
        )
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _CLAIM_LOCK)
        # statement_timestamp(), not now(): the transaction may have waited for the lock above.
        await conn.execute(
            """
            UPDATE analyses SET status = 'FAILED', completed_at = now(), lease_until = NULL,
                   error = 'analysis was interrupted too many times'
            WHERE status = 'RUNNING' AND lease_until < statement_timestamp() AND job_attempts >= $1
            """,
            max_attempts,
        )
        row = await conn.fetchrow(
            f"""
            UPDATE analyses SET status = 'RUNNING', started_at = now(), job_attempts = job_attempts + 1,
                   worker_id = $1, lease_until = statement_timestamp() + make_interval(secs => $2)
            WHERE id = (
                SELECT a.id FROM analyses a
                WHERE (a.status = 'QUEUED'
                       OR (a.status = 'RUNNING' AND a.lease_until < statement_timestamp() AND a.job_attempts < $5))
                  AND (SELECT count(*) FROM analyses r
                       WHERE r.learner_id = a.learner_id AND r.status = 'RUNNING'
                         AND r.lease_until >= statement_timestamp()) < $3
                ORDER BY (a.watched_at > statement_timestamp() - make_interval(secs => $4)) IS TRUE DESC,
                         a.created_at
                FOR UPDATE SKIP LOCKED
                LIMIT 1
            )
            RETURNING {ANALYSIS_COLUMNS}
            """,
            worker_id, lease_seconds, max(1, per_learner), WATCHED_SECONDS, max_attempts,
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
               timings = timings || $8, completed_at = now(), lease_until = NULL
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


def job_channels(
    on_new_job: Callable[[], None], on_cancel: Callable[[uuid.UUID], None]
) -> dict[str, Callable[[str], None]]:
    """What a db.listen.Listener hears for the workers: `on_new_job` whenever a job is queued and
    `on_cancel` when a running one is superseded, from any process."""

    def cancelled(payload: str) -> None:
        if (analysis_id := parse_id(payload)) is not None:
            on_cancel(analysis_id)

    return {NEW_JOB_CHANNEL: lambda _payload: on_new_job(), CANCEL_CHANNEL: cancelled}
