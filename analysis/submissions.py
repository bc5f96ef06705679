"""What the mutations do: judge a submission and record it atomically, or queue an analysis."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import asyncpg

from db import analyses, attempts, learners, progress
from db.analyses import AnalysisRequest
from db.attempts import AttemptWrite
from db.database import Database
from db.patterns import to_pattern_def
from db.progress import ProgressWrite

from .judge import Judge
from .pipeline import AnalysisPipeline


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Submission:
    attempt: asyncpg.Record
    progress: asyncpg.Record
    analysis: asyncpg.Record


async def submit_attempt(
    db: Database,
    judge: Judge,
    pipeline: AnalysisPipeline,
    *,
    learner_id: str,
    display_name: str | None,
    pattern_row: asyncpg.Record,
    code: str,
    language: str,
    time_spent_seconds: int,
) -> Submission:
    """Judge first (outside any transaction: it takes a while), then record the attempt, the
    progress and its counters, and queue the analysis in one transaction."""
    judgment = await judge.judge(to_pattern_def(pattern_row), code)
    digest = code_digest(code)
    passed = judgment.verdict.value == "PASSED"
    async with db.transaction() as conn:
        await learners.ensure(conn, learner_id, display_name)
        attempt = await attempts.insert(
            conn,
            AttemptWrite(
                learner_id=learner_id,
                pattern_id=pattern_row["id"],
                language=language,
                code=code,
                code_sha256=digest,
                verdict=judgment.verdict.value,
                score=judgment.score,
                sizes_tested=list(judgment.sizes_tested),
                output=list(judgment.output),
                expected=list(judgment.expected),
                mismatches=[asdict(m) for m in judgment.mismatches],
                error=judgment.error,
                duration_ms=judgment.duration_ms,
                time_spent_seconds=time_spent_seconds,
            ),
        )
        progress_row = await progress.record(
            conn,
            ProgressWrite(
                learner_id=learner_id,
                display_name=display_name,
                pattern_id=pattern_row["id"],
                percentage=round(judgment.score * 100, 2),
                time_spent_seconds=time_spent_seconds,
                completed=passed,
                score=judgment.score,
                passed=passed,
            ),
        )
        analysis = await analyses.create(
            conn,
            AnalysisRequest(
                learner_id=learner_id,
                pattern_id=pattern_row["id"],
                kind="FULL",
                code=code,
                code_sha256=digest,
                model_key=pipeline.model_key("FULL"),
                attempt_id=attempt["id"],
            ),
        )
    return Submission(attempt=attempt, progress=progress_row, analysis=analysis)


async def request_analysis(
    db: Database,
    pipeline: AnalysisPipeline,
    *,
    learner_id: str,
    display_name: str | None,
    pattern_id: int,
    code: str,
    kind: str,
) -> asyncpg.Record:
    async with db.transaction() as conn:
        await learners.ensure(conn, learner_id, display_name)
        return await analyses.create(
            conn,
            AnalysisRequest(
                learner_id=learner_id,
                pattern_id=pattern_id,
                kind=kind,
                code=code,
                code_sha256=code_digest(code),
                model_key=pipeline.model_key(kind),
            ),
        )
