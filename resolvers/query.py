"""Query root: thin resolvers that validate arguments and call db/ through loaders."""

from __future__ import annotations

import strawberry

from core.errors import BadUserInput, NotFound
from db import attempts, learners, patterns, progress
from db.patterns import PatternFilter
from db.rate_limits import Bucket

from . import analysis as analysis_resolvers
from . import groups as group_resolvers
from .analysis_types import Analysis, Attempt
from .context import Info
from .groups import Group
from .learner import Learner
from .lookahead import child_reads_only
from .rate_limit import RateLimit
from .types import (
    Difficulty,
    LeaderboardEntry,
    LeaderboardPeriod,
    PageInfo,
    Pattern,
    PatternConnection,
    PatternEdge,
    PatternMatch,
    Progress,
    decode_cursor,
    encode_cursor,
    parse_pattern_id,
)
from .validation import MAX_SEARCH_TEXT, check_first

MAX_PAGE_SIZE = 100
MAX_LEADERBOARD = 100
# The Pattern fields that db/patterns.py PATTERN_SUMMARY_COLUMNS answer.
PATTERN_SUMMARY_FIELDS = frozenset({"__typename", "id", "slug", "name", "category", "difficulty"})


@strawberry.type
class Query:
    @strawberry.field(description="The catalog, filtered, in catalog order, with Relay cursor paging.")
    async def patterns(
        self,
        info: Info,
        category: str | None = strawberry.UNSET,
        difficulty: Difficulty | None = strawberry.UNSET,
        search: str | None = strawberry.UNSET,
        first: int | None = 20,
        after: str | None = strawberry.UNSET,
    ) -> PatternConnection:
        first = check_first(first, 20, MAX_PAGE_SIZE)
        if search and len(search) > MAX_SEARCH_TEXT:
            raise BadUserInput(f"search is limited to {MAX_SEARCH_TEXT} characters.", argument="search")
        filters = PatternFilter(
            category=category or None,
            difficulty=difficulty.value if difficulty else None,
            search=search or None,
        )
        after_position = decode_cursor(after) if after else None
        page = await patterns.page(info.context.db, filters, first, after_position)
        info.context.loaders.prime_patterns(page.rows)
        nodes = [Pattern.from_row(r) for r in page.rows]
        edges = [PatternEdge(cursor=encode_cursor(n.position), node=n) for n in nodes]
        return PatternConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=edges[-1].cursor if edges else None),
            total_count=page.total_count,
        )

    @strawberry.field(description="One pattern by id or slug (give exactly one); null when none matches.")
    async def pattern(
        self, info: Info, id: strawberry.ID | None = strawberry.UNSET, slug: str | None = strawberry.UNSET
    ) -> Pattern | None:
        if (id in (None, strawberry.UNSET)) == (slug in (None, strawberry.UNSET)):
            raise BadUserInput("Give exactly one of id or slug.")
        if slug not in (None, strawberry.UNSET):
            row = await patterns.by_slug(info.context.db, slug)
        else:
            try:
                pattern_id = parse_pattern_id(id)
            except NotFound:
                return None  # an id that names no pattern: null, as for an unknown number
            row = await info.context.loaders.pattern_by_id.load(pattern_id)
        return Pattern.from_row(row) if row else None

    @strawberry.field(description="Semantic search over the catalog with the embedding model.",
                      extensions=[RateLimit(Bucket.SEARCH)])
    async def search_patterns(self, info: Info, text: str, first: int | None = 5) -> list[PatternMatch]:
        return await analysis_resolvers.search_patterns(info, text, first)

    @strawberry.field(description="The signed-in learner; null when anonymous.")
    async def me(self, info: Info) -> Learner | None:
        caller = info.context.caller
        if caller.user_id is None:
            return None
        row = await learners.by_id(info.context.db, caller.user_id)
        if row is None:
            # Signed in but nothing recorded yet.
            return Learner(id=strawberry.ID(caller.user_id), display_name=caller.display_name, points=0,
                           completed_patterns=0)
        return Learner(
            id=strawberry.ID(row["id"]),
            display_name=row["display_name"],
            points=row["points"],
            completed_patterns=row["completed_patterns"],
        )

    @strawberry.field(description="The signed-in learner's progress, most recent first.")
    async def progress(self, info: Info) -> list[Progress]:
        # Each row comes with its pattern's columns (one statement), so `pattern` needs no loader;
        # only the few a page of names reads when that is all it asks for.
        summary = child_reads_only(info, "pattern", PATTERN_SUMMARY_FIELDS)
        rows = await progress.for_learner_with_patterns(info.context.db, info.context.user_id(), summary=summary)
        return [Progress.from_row(r, r) for r in rows]

    @strawberry.field(description="Ranked by points; equal points share a rank. WEEK: the last 7 UTC days. "
                      "With groupId: that group's board (its owner's and members' only).")
    async def leaderboard(
        self, info: Info, first: int | None = 10, period: LeaderboardPeriod | None = LeaderboardPeriod.ALL_TIME,
        group_id: strawberry.ID | None = strawberry.UNSET,
    ) -> list[LeaderboardEntry]:
        if group_id not in (None, strawberry.UNSET):
            info.context.user_id()
            group = await group_resolvers.load_group(info, group_resolvers.group_id_or_404(group_id))
            return await group_resolvers.group_leaderboard(info, group.db_id, first, period)
        first = check_first(first, 10, MAX_LEADERBOARD)
        if period is LeaderboardPeriod.WEEK:
            rows = await learners.leaderboard_week(info.context.db, first)
        else:
            rows = await learners.leaderboard_all_time(info.context.db, first)
        return [LeaderboardEntry.from_row(r) for r in rows]

    @strawberry.field(description="One of the signed-in learner's submissions; null for anyone else's.")
    async def attempt(self, info: Info, id: strawberry.ID) -> Attempt | None:
        user_id = info.context.user_id()
        text = str(id).strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            return None  # names no attempt
        row = await attempts.by_id(info.context.db, int(text))
        # Row level security hides others' attempts; the id check says the same in code.
        return Attempt.from_row(row) if row is not None and row["learner_id"] == user_id else None

    @strawberry.field(description="A group the signed-in learner owns or belongs to; null otherwise.")
    async def group(self, info: Info, id: strawberry.ID) -> Group | None:
        return await group_resolvers.group(info, id)

    @strawberry.field(description="One of the signed-in learner's analyses.")
    async def analysis(self, info: Info, id: strawberry.ID) -> Analysis | None:
        return await analysis_resolvers.analysis(info, id)
