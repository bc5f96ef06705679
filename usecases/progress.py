"""`saveProgress`: a learner reports work on a pattern outside the judge."""

from __future__ import annotations

import math

import asyncpg

from core.domain import Caller
from core.errors import BadUserInput, NotFound
from db import progress
from db.progress import PatternNotFound, ProgressWrite
from db.scoped import Queryable


async def save_progress(
    db: Queryable,
    caller: Caller,
    *,
    pattern_id: int,
    percentage: float,
    time_spent_seconds: int,
    completed: bool,
) -> asyncpg.Record:
    """Adds one attempt and the time spent; percentage and completion never go backwards (the
    rules are in `sql/002_record_progress.sql`, applied in one statement)."""
    learner_id = caller.require_user()
    if not math.isfinite(percentage) or not 0 <= percentage <= 100:
        raise BadUserInput("progressPercentage must be between 0 and 100.", argument="progressPercentage")
    write = ProgressWrite(
        learner_id=learner_id,
        display_name=caller.display_name,
        pattern_id=pattern_id,
        percentage=percentage,
        time_spent_seconds=time_spent_seconds,
        completed=completed,
    )
    try:
        return await progress.record(db, write)
    except PatternNotFound as exc:
        raise NotFound(f"No pattern with id '{pattern_id}'.") from exc
