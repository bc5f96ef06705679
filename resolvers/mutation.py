"""Mutation root."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.errors import BadUserInput, NotFound
from db import progress
from db.progress import PatternNotFound, ProgressWrite

from . import analysis as analysis_resolvers
from .analysis_types import (
    Analysis,
    RequestAnalysisInput,
    SaveProgressInput,
    SubmitAttemptInput,
    SubmitAttemptPayload,
)
from .types import Progress, finite, parse_pattern_id
from .validation import check_time_spent


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Judge code against a pattern, record the attempt, queue an analysis.")
    async def submit_attempt(self, info: Info, input: SubmitAttemptInput) -> SubmitAttemptPayload:
        return await analysis_resolvers.submit_attempt(info, input)

    @strawberry.mutation(description="Queue an analysis of code; follow it with analysisUpdates.")
    async def request_analysis(self, info: Info, input: RequestAnalysisInput) -> Analysis:
        return await analysis_resolvers.request_analysis(info, input)

    @strawberry.mutation(
        description="Record progress on a pattern: adds one attempt and the time spent; "
        "percentage and completion never go backwards."
    )
    async def save_progress(self, info: Info, input: SaveProgressInput) -> Progress:
        context = info.context
        user_id = context.user_id()
        pattern_id = parse_pattern_id(input.pattern_id)
        percentage = finite(input.progress_percentage, "progressPercentage")
        if not 0 <= percentage <= 100:
            raise BadUserInput("progressPercentage must be between 0 and 100.", argument="progressPercentage")
        write = ProgressWrite(
            learner_id=user_id,
            display_name=context.caller.display_name,
            pattern_id=pattern_id,
            percentage=percentage,
            time_spent_seconds=check_time_spent(input.time_spent_seconds),
            completed=bool(input.completed),
        )
        try:
            row = await progress.record(context.db, write)
        except PatternNotFound as exc:
            raise NotFound(f"No pattern with id '{pattern_id}'.") from exc
        return Progress.from_row(row)
