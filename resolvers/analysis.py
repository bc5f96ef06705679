"""Resolvers for judging, analyses, their live updates and semantic search."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from analysis import submissions
from analysis.events import Event
from analysis.models import ModelUnavailable
from app.context import Context
from app.errors import BadUserInput, NotFound, ServiceUnavailable
from db import analyses
from db import patterns as pattern_queries

from .analysis_types import (
    Analysis,
    AnalysisEvent,
    Attempt,
    RequestAnalysisInput,
    SubmitAttemptInput,
    SubmitAttemptPayload,
)
from .types import AnalysisKind, AnalysisStatus, Language, Pattern, PatternMatch, Progress, parse_pattern_id
from .validation import check_time_spent

MAX_SEARCH_TEXT = 500
MAX_SEARCH_RESULTS = 50
# A subscriber re-reads the row this often in case an event was published elsewhere.
RECHECK_SECONDS = 5.0


def check_code(context: Context, code: str) -> str:
    limit = context.services.settings.max_code_chars
    if len(code) > limit:
        raise BadUserInput(f"code is limited to {limit} characters.", argument="code")
    if "\x00" in code:
        raise BadUserInput("code must not contain NUL characters.", argument="code")
    return code


async def pattern_row_or_404(info: Info, raw_id: strawberry.ID):
    pattern_id = parse_pattern_id(raw_id)
    row = await info.context.loaders.pattern_by_id.load(pattern_id)
    if row is None:
        raise NotFound(f"No pattern with id '{pattern_id}'.")
    return row


async def submit_attempt(info: Info, input: SubmitAttemptInput) -> SubmitAttemptPayload:
    context = info.context
    user_id = context.user_id()
    row = await pattern_row_or_404(info, input.pattern_id)
    code = check_code(context, input.code)
    time_spent = check_time_spent(input.time_spent_seconds)
    services = context.services
    submission = await submissions.submit_attempt(
        services.db,
        services.judge,
        services.pipeline,
        learner_id=user_id,
        display_name=context.caller.display_name,
        pattern_row=row,
        code=code,
        language=(input.language or Language.PYTHON).value,
        time_spent_seconds=time_spent,
    )
    services.worker.wake()
    return SubmitAttemptPayload(
        attempt=Attempt.from_row(submission.attempt),
        progress=Progress.from_row(submission.progress),
        analysis=Analysis.from_row(submission.analysis),
    )


async def request_analysis(info: Info, input: RequestAnalysisInput) -> Analysis:
    context = info.context
    user_id = context.user_id()
    row = await pattern_row_or_404(info, input.pattern_id)
    services = context.services
    record = await submissions.request_analysis(
        services.db,
        services.pipeline,
        learner_id=user_id,
        display_name=context.caller.display_name,
        pattern_id=row["id"],
        code=check_code(context, input.code),
        kind=(input.kind or AnalysisKind.FULL).value,
    )
    services.worker.wake()
    return Analysis.from_row(record)


async def own_analysis(info: Info, raw_id: strawberry.ID):
    """The caller's analysis row, or None: someone else's looks exactly like a missing one."""
    user_id = info.context.user_id()
    analysis_id = analyses.parse_id(raw_id)
    if analysis_id is None:
        return None
    row = await analyses.by_id(info.context.db, analysis_id)
    return row if row is not None and row["learner_id"] == user_id else None


async def analysis(info: Info, id: strawberry.ID) -> Analysis | None:
    row = await own_analysis(info, id)
    return Analysis.from_row(row) if row else None


def event_of(row) -> AnalysisEvent:
    final = row["status"] in ("DONE", "FAILED")
    return AnalysisEvent(
        analysis_id=strawberry.ID(str(row["id"])),
        status=AnalysisStatus(row["status"]),
        stage=row["status"].lower() if final else ("queued" if row["status"] == "QUEUED" else "running"),
        analysis=Analysis.from_row(row),
    )


async def analysis_updates(info: Info, analysis_id: strawberry.ID) -> AsyncGenerator[AnalysisEvent, None]:
    row = await own_analysis(info, analysis_id)
    if row is None:
        raise NotFound("No analysis with that id.")
    services = info.context.services
    # Subscribe before reading the state, so nothing published in between is missed.
    async with services.bus.subscribe(row["id"]) as subscription:
        queue = subscription.queue
        row = await analyses.by_id(services.db, row["id"])
        if row["status"] in ("DONE", "FAILED"):
            yield event_of(row)
            return
        snapshot = event_of(row)
        snapshot.text_delta = subscription.text_so_far or None  # what was streamed before we joined
        yield snapshot
        while True:
            try:
                event: Event = await asyncio.wait_for(queue.get(), RECHECK_SECONDS)
            except TimeoutError:
                row = await analyses.by_id(services.db, row["id"])
                if row["status"] in ("DONE", "FAILED"):
                    yield event_of(row)
                    return
                continue
            if event.is_final:
                yield event_of(await analyses.by_id(services.db, row["id"]))
                return
            yield AnalysisEvent(
                analysis_id=strawberry.ID(str(event.analysis_id)),
                status=AnalysisStatus(event.status),
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
        matches = await info.context.services.search.search(text, first)
    except ModelUnavailable as exc:
        raise ServiceUnavailable("Semantic search is unavailable: the embedding model is not loaded.") from exc
    rows = await pattern_queries.by_ids(info.context.db, [m.pattern_id for m in matches])
    return [
        PatternMatch(pattern=Pattern.from_row(row), score=round(m.score, 4))
        for m, row in zip(matches, rows, strict=True)
        if row is not None
    ]
