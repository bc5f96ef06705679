"""The learner and what is theirs alone: submission history, analyses, progress over time, groups.

A `Learner` is reached through `me`, so it is the caller; every field here still checks that it
is (`own`), and row level security hides other learners' rows from the queries as well
(`tests/integration/test_rls.py`). Another learner's lists are empty, never an error, so a
shared fragment works on any Learner.
"""

from __future__ import annotations

import uuid

import strawberry

from core.errors import BadUserInput
from db import activity, analyses, attempts
from db.paging import Keyset

from .analysis_types import Analysis, Attempt
from .context import Info
from .groups import Group, my_groups
from .types import PageInfo, decode_keyset_cursor, encode_keyset_cursor
from .validation import check_first

HISTORY_PAGE_DEFAULT = 20
HISTORY_PAGE_MAX = 100
ACTIVITY_DAYS_DEFAULT = 30
ACTIVITY_DAYS_MAX = 366  # a year, leap day included
ATTEMPT_CURSOR = "attempt"
ANALYSIS_CURSOR = "analysis"


@strawberry.type
class AttemptEdge:
    cursor: str
    node: Attempt


@strawberry.type
class AttemptConnection:
    edges: list[AttemptEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class AnalysisEdge:
    cursor: str
    node: Analysis


@strawberry.type
class AnalysisConnection:
    edges: list[AnalysisEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type(description="One UTC day of a learner's work; days without any are zeros.")
class DailyActivity:
    day: str = strawberry.field(description="The UTC date, YYYY-MM-DD.")
    attempts: int = strawberry.field(description="Submissions and progress saves recorded that day.")
    completions: int = strawberry.field(description="Patterns completed for the first time that day.")
    time_spent_seconds: int


@strawberry.type(description="Consecutive UTC days with at least one attempt.")
class Streak:
    current: int = strawberry.field(description="The run ending today, or yesterday (today can still extend "
                                    "it); 0 once a day has passed without work.")
    longest: int


def _page_info(edges: list[AttemptEdge] | list[AnalysisEdge], has_next_page: bool) -> PageInfo:
    return PageInfo(has_next_page=has_next_page, end_cursor=edges[-1].cursor if edges else None)


def _history_pattern_id(value: strawberry.ID | None) -> int | None:
    """The pattern filter: None for all patterns. An unknown pattern simply has no attempts; a
    value that cannot be a pattern id is a mistake worth saying (a slug, say)."""
    if value is None or value is strawberry.UNSET:
        return None
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise BadUserInput(f"patternId {text[:40]!r} is not a pattern id.", argument="patternId")
    return int(text)


@strawberry.type
class Learner:
    id: strawberry.ID
    display_name: str | None
    points: int
    completed_patterns: int

    def own(self, info: Info) -> str | None:
        """The learner's id when the caller is this learner; None for anyone else."""
        caller = info.context.caller
        return caller.user_id if caller.user_id is not None and caller.user_id == str(self.id) else None

    @strawberry.field(description="The learner's submissions, newest first (of one pattern when patternId is "
                      "given). Empty for anyone but the caller.")
    async def attempts(
        self,
        info: Info,
        pattern_id: strawberry.ID | None = strawberry.UNSET,
        first: int | None = HISTORY_PAGE_DEFAULT,
        after: str | None = strawberry.UNSET,
    ) -> AttemptConnection:
        first = check_first(first, HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX)
        pattern = _history_pattern_id(pattern_id)
        keyset: Keyset[int] | None = decode_keyset_cursor(after, ATTEMPT_CURSOR, int) if after else None
        learner_id = self.own(info)
        if learner_id is None:
            return AttemptConnection(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None),
                                     total_count=0)
        page = await attempts.page_for_learner(info.context.db, learner_id, pattern, first, keyset)
        nodes = [Attempt.from_row(r) for r in page.rows]
        edges = [AttemptEdge(cursor=encode_keyset_cursor(ATTEMPT_CURSOR, n.created, n.db_id), node=n) for n in nodes]
        return AttemptConnection(edges=edges, page_info=_page_info(edges, page.has_next_page),
                                 total_count=page.total_count)

    @strawberry.field(description="The learner's analyses (of submissions and requested), newest first. Empty "
                      "for anyone but the caller.")
    async def analyses(
        self, info: Info, first: int | None = HISTORY_PAGE_DEFAULT, after: str | None = strawberry.UNSET
    ) -> AnalysisConnection:
        first = check_first(first, HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX)
        keyset: Keyset[uuid.UUID] | None = (
            decode_keyset_cursor(after, ANALYSIS_CURSOR, uuid.UUID) if after else None)
        learner_id = self.own(info)
        if learner_id is None:
            return AnalysisConnection(edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None),
                                      total_count=0)
        page = await analyses.page_for_learner(info.context.db, learner_id, first, keyset)
        nodes = [Analysis.of(r) for r in page.rows]
        edges = [AnalysisEdge(cursor=encode_keyset_cursor(ANALYSIS_CURSOR, n.created, n.db_id), node=n)
                 for n in nodes]
        return AnalysisConnection(edges=edges, page_info=_page_info(edges, page.has_next_page),
                                  total_count=page.total_count)

    @strawberry.field(description="The last `days` UTC days (1..366, today included), oldest first, one row per "
                      "day. Empty for anyone but the caller.")
    async def activity(self, info: Info, days: int | None = ACTIVITY_DAYS_DEFAULT) -> list[DailyActivity]:
        days = ACTIVITY_DAYS_DEFAULT if days is None else days
        if not 1 <= days <= ACTIVITY_DAYS_MAX:
            raise BadUserInput(f"days must be between 1 and {ACTIVITY_DAYS_MAX}.", argument="days")
        learner_id = self.own(info)
        if learner_id is None:
            return []
        rows = await activity.daily(info.context.db, learner_id, days)
        return [DailyActivity(day=r["day"].isoformat(), attempts=r["attempts"], completions=r["completions"],
                              time_spent_seconds=min(r["time_spent_seconds"], 2**31 - 1)) for r in rows]

    @strawberry.field(description="Consecutive UTC days with an attempt. Zeros for anyone but the caller.")
    async def streak(self, info: Info) -> Streak:
        learner_id = self.own(info)
        row = await activity.streak(info.context.db, learner_id) if learner_id is not None else None
        return Streak(current=row["current"], longest=row["longest"]) if row is not None else Streak(current=0,
                                                                                                       longest=0)

    @strawberry.field(description="The groups the learner owns or belongs to, oldest first. Empty for anyone but "
                      "the caller.")
    async def groups(self, info: Info) -> list[Group]:
        learner_id = self.own(info)
        return await my_groups(info, learner_id) if learner_id is not None else []
