"""Submitting work: judge a program and record it atomically with its analysis, or analyse a
program on request.

Either way the analysis is stored with its grounded part (verdict, mismatches, complexity,
rule-based explanation, hints, suggestions), computed here in milliseconds, so the response
already carries it; only the model's prose is queued. A learner's newer analysis of a pattern
supersedes their unfinished older ones (db/analyses.py `supersede`)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

import asyncpg

from analysis.events import Event, EventBus
from analysis.pipeline import AnalysisPipeline, judgment_summary
from core.domain import AnalysisKind, AnalysisStatus, Caller, Language, Verdict
from core.errors import BadUserInput, NotFound, ServiceUnavailable
from core.request_id import current_request_id
from db import analyses, attempts, learners, patterns, progress
from db.analyses import Analysis, AnalysisRequest
from db.attempts import AttemptWrite
from db.database import Connection, Database
from db.patterns import to_pattern_def
from db.progress import ProgressWrite
from db.scoped import ScopedDatabase
from judge.judge import Judgment
from judge.languages import support
from sandbox import LanguageUnavailable

# The caller's view of the database (row level security), or the server's own in tools and tests.
CallerDatabase = ScopedDatabase | Database
log = logging.getLogger(__name__)
QUEUE_FULL_RETRY_SECONDS = 30


def code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Submission:
    attempt: asyncpg.Record
    progress: asyncpg.Record
    analysis: Analysis


class Submissions:
    """`submitAttempt` and `requestAnalysis`, written through the caller's database (`db`
    argument: row level security applies). `server_db`, the server's own role, only measures the
    queue, which spans every learner. `on_queued` is called after a job is committed (it wakes
    this process's analysis workers; other processes hear the NOTIFY); superseded analyses'
    subscribers hear their end through `bus`.

    The queue is bounded by `max_queued` jobs waiting for a worker: beyond it a submission still
    records its attempt and grounded feedback (the analysis ends there, rule-based), and an
    explicit `requestAnalysis` that needs the model is refused with SERVICE_UNAVAILABLE."""

    def __init__(
        self,
        server_db: Database,
        pipeline: AnalysisPipeline,
        bus: EventBus,
        *,
        max_code_chars: int,
        max_queued: int = 2000,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.server_db = server_db
        self.max_queued = max_queued
        self.judge = pipeline.judge
        self.pipeline = pipeline
        self.bus = bus
        self.max_code_chars = max_code_chars
        self.on_queued = on_queued

    def check_code(self, code: str) -> str:
        if len(code) > self.max_code_chars:
            raise BadUserInput(f"code is limited to {self.max_code_chars} characters.", argument="code")
        if "\x00" in code:
            raise BadUserInput("code must not contain NUL characters.", argument="code")
        return code

    async def submit_attempt(
        self,
        caller: Caller,
        db: CallerDatabase,
        *,
        pattern_row: asyncpg.Record,
        code: str,
        language: Language,
        time_spent_seconds: int,
    ) -> Submission:
        """Judge first (outside any transaction: it takes a while), then record the attempt, the
        progress and its counters, and queue the analysis in one transaction."""
        learner_id = caller.require_user()
        code = self.check_code(code)
        pattern_row = await self._with_reference(pattern_row)
        judgment = await self._judge(pattern_row, code, language)
        digest = code_digest(code)
        passed = judgment.verdict is Verdict.PASSED
        grounded = await self.pipeline.ground(pattern_row, code, AnalysisKind.FULL, judgment_summary(judgment),
                                              language)
        queue_full = await self.queue_is_full()
        async with db.transaction() as conn:
            await learners.ensure(conn, learner_id, caller.display_name)
            attempt = await attempts.insert(
                conn,
                AttemptWrite(
                    learner_id=learner_id,
                    pattern_id=pattern_row["id"],
                    language=language.value,
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
                    display_name=caller.display_name,
                    pattern_id=pattern_row["id"],
                    percentage=round(judgment.score * 100, 2),
                    time_spent_seconds=time_spent_seconds,
                    completed=passed,
                    score=judgment.score,
                    passed=passed,
                ),
            )
            analysis, superseded = await self._queue(conn, learner_id, pattern_row["id"], AnalysisKind.FULL, code,
                                                     digest, grounded.result, attempt_id=attempt["id"],
                                                     grounded_only=queue_full, language=language)
        await self._after_commit(analysis, superseded)
        return Submission(attempt=attempt, progress=progress_row, analysis=analysis)

    async def request_analysis(
        self, caller: Caller, db: CallerDatabase, *, pattern_row: asyncpg.Record, code: str, kind: AnalysisKind,
        language: Language = Language.PYTHON,
    ) -> Analysis:
        """Judged here (milliseconds, in the sandbox) unless only the complexity is asked for."""
        learner_id = caller.require_user()
        code = self.check_code(code)
        if self.pipeline.needs_model(kind, language) and await self.queue_is_full():
            raise ServiceUnavailable("Too many analyses are waiting; try again in a minute.",
                                     retryAfter=QUEUE_FULL_RETRY_SECONDS)
        pattern_row = await self._with_reference(pattern_row)
        judgment = None
        if kind is not AnalysisKind.COMPLEXITY:
            judgment = judgment_summary(await self._judge(pattern_row, code, language))
        grounded = await self.pipeline.ground(pattern_row, code, kind, judgment, language)
        async with db.transaction() as conn:
            await learners.ensure(conn, learner_id, caller.display_name)
            analysis, superseded = await self._queue(conn, learner_id, pattern_row["id"], kind, code,
                                                     code_digest(code), grounded.result, language=language)
        await self._after_commit(analysis, superseded)
        return analysis

    async def _with_reference(self, pattern_row: asyncpg.Record) -> asyncpg.Record:
        """The pattern the caller named (read as the caller, so it exists for them) with its
        reference program, which only the server's role reads (sql/015)."""
        [row] = await patterns.with_references(self.server_db, [pattern_row["id"]])
        if row is None:  # patterns are never deleted while the API runs
            raise NotFound(f"No pattern with id '{pattern_row['id']}'.")
        return row

    async def _judge(self, pattern_row: asyncpg.Record, code: str, language: Language) -> Judgment:
        try:
            return await self.judge.judge(to_pattern_def(pattern_row), code, language)
        except LanguageUnavailable as exc:
            raise ServiceUnavailable(f"{support(language).idioms.name} programs cannot be judged on this server now.",
                                     language=language.value) from exc

    async def queue_is_full(self) -> bool:
        return await analyses.queued_count(self.server_db, limit=self.max_queued) >= self.max_queued

    async def _after_commit(self, analysis: Analysis, superseded: analyses.Superseded) -> None:
        if not analysis.status.is_final:
            log.info("analysis %s: queued (%s)", analysis.id, analysis.kind.value)
            self.on_queued()
        for analysis_id in superseded.finished:  # their subscribers are waiting for an end
            await self.bus.publish(Event(analysis_id, AnalysisStatus.DONE, "superseded"))

    async def _queue(
        self,
        conn: Connection,
        learner_id: str,
        pattern_id: int,
        kind: AnalysisKind,
        code: str,
        digest: str,
        grounded: dict[str, object],
        *,
        attempt_id: int | None = None,
        grounded_only: bool = False,
        language: Language = Language.PYTHON,
    ) -> tuple[Analysis, analyses.Superseded]:
        """An analysis in the caller's transaction: reused when identical; else stored with its
        grounded part, DONE at once when no model adds to it (or `grounded_only`), queued otherwise."""
        request = AnalysisRequest(
            learner_id=learner_id,
            pattern_id=pattern_id,
            kind=kind,
            code=code,
            code_sha256=digest,
            model_key=self.pipeline.model_key(kind, language),
            attempt_id=attempt_id,
            grounded=grounded,
            final=grounded_only or not self.pipeline.needs_model(kind, language),
            language=language,
            request_id=current_request_id(),
        )
        analysis = await analyses.create(conn, request)
        return analysis, await analyses.supersede(conn, analysis)
