"""Resolvers for judging, analyses, their live updates and semantic search."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import asyncpg
import strawberry

from analysis.events import Event
from core.domain import AnalysisKind as DomainAnalysisKind
from core.domain import Language as DomainLanguage
from core.errors import BadUserInput, NotFound, ServiceUnavailable
from db import analyses
from db import patterns as pattern_queries
from inference import ModelUnavailable

from .analysis_types import (
    Analysis,
    AnalysisEvent,
    Attempt,
    RequestAnalysisInput,
    SubmitAttemptInput,
    SubmitAttemptPayload,
)
from .context import Info
from .types import Pattern, PatternMatch, Progress, parse_pattern_id
from .validation import MAX_SEARCH_TEXT, check_time_spent

MAX_SEARCH_RESULTS = 50
# A subscriber re-reads the row this often in case an event was missed, and renews its claim to
# go first (analyses.WATCHED_SECONDS).
RECHECK_SECONDS = 5.0


async def pattern_row_or_404(info: Info, raw_id: strawberry.ID) -> asyncpg.Record:
    pattern_id = parse_pattern_id(raw_id)
    row = await info.context.loaders.pattern_by_id.load(pattern_id)
    if row is None:
        raise NotFound(f"No pattern with id '{pattern_id}'.")
    return row


async def submit_attempt(info: Info, input: SubmitAttemptInput) -> SubmitAttemptPayload:
    context = info.context
    caller = context.caller
    caller.require_user()
    row = await pattern_row_or_404(info, input.pattern_id)
    submission = await context.components.submissions.submit_attempt(
        caller,
        context.db,
        pattern_row=row,
        code=input.code,
        language=input.language or DomainLanguage.PYTHON,
        time_spent_seconds=check_time_spent(input.time_spent_seconds),
    )
    return SubmitAttemptPayload(
        attempt=Attempt.from_row(submission.attempt),
        progress=Progress.from_row(submission.progress),
        analysis=Analysis.of(submission.analysis),
    )


async def request_analysis(info: Info, input: RequestAnalysisInput) -> Analysis:
    context = info.context
    caller = context.caller
    caller.require_user()
    row = await pattern_row_or_404(info, input.pattern_id)
    analysis = await context.components.submissions.request_analysis(
        caller, context.db, pattern_row=row, code=input.code, kind=input.kind or DomainAnalysisKind.FULL,
        language=input.language or DomainLanguage.PYTHON,
    )
    return Analysis.of(analysis)


async def own_analysis(info: Info, raw_id: strawberry.ID) -> analyses.Analysis | None:
    """The caller's analysis, or None: someone else's looks exactly like a missing one."""
    user_id = info.context.user_id()
    analysis_id = analyses.parse_id(raw_id)
    if analysis_id is None:
        return None
    row = await analyses.by_id(info.context.db, analysis_id)
    return row if row is not None and row.learner_id == user_id else None


async def analysis(info: Info, id: strawberry.ID) -> Analysis | None:
    row = await own_analysis(info, id)
    return Analysis.of(row) if row else None


def event_of(row: analyses.Analysis) -> AnalysisEvent:
    return AnalysisEvent(
        analysis_id=strawberry.ID(str(row.id)),
        status=row.status,
        stage=row.status.lower(),
        analysis=Analysis.of(row),
    )


async def _reread(info: Info, row: analyses.Analysis) -> analyses.Analysis:
    await analyses.mark_watched(info.context.db, row.id)  # someone is waiting: it goes first
    fresh = await analyses.by_id(info.context.db, row.id)
    if fresh is None:  # analyses are never deleted while the API runs
        raise NotFound("No analysis with that id.")
    return fresh


async def analysis_updates(info: Info, analysis_id: strawberry.ID) -> AsyncGenerator[AnalysisEvent, None]:
    row = await own_analysis(info, analysis_id)
    if row is None:
        raise NotFound("No analysis with that id.")
    # Subscribe before reading the state, so nothing published in between is missed.
    async with info.context.components.bus.subscribe(row.id) as subscription:
        queue = subscription.queue
        row = await _reread(info, row)
        if row.status.is_final:
            yield event_of(row)
            return
        snapshot = event_of(row)
        snapshot.text_delta = subscription.text_so_far or None  # what was streamed before we joined
        yield snapshot
        while True:
            try:
                event: Event = await asyncio.wait_for(queue.get(), RECHECK_SECONDS)
            except TimeoutError:
                row = await _reread(info, row)
                if row.status.is_final:
                    yield event_of(row)
                    return
                continue
            if event.is_final:
                yield event_of(await _reread(info, row))
                return
            yield AnalysisEvent(
                analysis_id=strawberry.ID(str(event.analysis_id)),
                status=event.status,
                stage=event.stage,
                text_delta=event.text_delta,
            )


async def search_patterns(info: Info, text: str, first: int | None = 5) -> list[PatternMatch]:
    first = 5 if first is None else first
    if not 1 <= first <= MAX_SEARCH_RESULTS:
        raise BadUserInput(f"first must be between 1 and {MAX_SEARCH_RESULTS}.", argument="first")
    text = text.strip()
    if not text or len(text) > MAX_SEARCH_TEXT:
        raise BadUserInput(f"text must be 1 to {MAX_SEARCH_TEXT} characters.", argument="text")
    try:
        matches = await info.context.components.search.search(text, first)
    except ModelUnavailable as exc:
        raise ServiceUnavailable("Semantic search is unavailable: the embedding model is not loaded.") from exc
    rows = await pattern_queries.by_ids(info.context.db, [m.pattern_id for m in matches])
    return [
        PatternMatch(pattern=Pattern.from_row(row), score=round(m.score, 4))
        for m, row in zip(matches, rows, strict=True)
        if row is not None
    ]
