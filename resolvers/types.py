"""GraphQL object types: plain classes built from database rows. Fields that need more data
resolve it through the request's DataLoaders."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import strawberry

from catalog import reference_output
from core.domain import AnalysisKind, AnalysisStatus, Difficulty, Language, LeaderboardPeriod, Verdict
from core.errors import BadUserInput, NotFound
from db.paging import Keyset

from .context import Info
from .execution import direct

# The domain's own enums, exposed as they are: one list of values for the judge, the database
# and the API (strawberry.enum registers the class in place and returns it).
for _enum in (Difficulty, Language, Verdict, AnalysisStatus, AnalysisKind, LeaderboardPeriod):
    strawberry.enum(_enum)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def parse_pattern_id(value: Any) -> int:
    """Pattern ids are decimal database ids; anything else names no pattern."""
    text = str(value).strip()
    # ASCII digits only: str.isdigit() also accepts superscripts and other scripts' digits.
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise NotFound(f"No pattern with id {text[:40]!r}.")
    return int(text)


# Perceived difficulty from the share of learners who completed a pattern; documented in
# docs/STATISTICS.md. Below MIN_LEARNERS_FOR_RATING there is too little data to say.
MIN_LEARNERS_FOR_RATING = 5
EASY_SUCCESS_RATE = 0.7
MEDIUM_SUCCESS_RATE = 0.4


def perceived_difficulty(learners: int, success_rate: float) -> str:
    if learners < MIN_LEARNERS_FOR_RATING:
        return "UNRATED"
    if success_rate >= EASY_SUCCESS_RATE:
        return "EASY"
    if success_rate >= MEDIUM_SUCCESS_RATE:
        return "MEDIUM"
    return "HARD"


@strawberry.type
class PatternStats:
    attempts: int
    learners: int
    completions: int
    success_rate: float = strawberry.field(description="Completions / learners, 0..1.")
    average_time_spent_seconds: float = strawberry.field(description="Total time spent / learners.")
    perceived_difficulty: str = strawberry.field(
        description="EASY (success rate >= 0.7), MEDIUM (>= 0.4), HARD, or UNRATED below 5 learners."
    )

    @classmethod
    def from_row(cls, row: Any | None) -> PatternStats:
        # No row, or a joined row of NULLs: a pattern nobody has tried yet.
        def count(name: str) -> int:
            return (row[name] or 0) if row is not None else 0

        attempts, learners = count("attempts"), count("learners")
        completions, total_time = count("completions"), count("total_time_seconds")
        rate = completions / learners if learners else 0.0
        return cls(
            attempts=min(attempts, 2**31 - 1),
            learners=learners,
            completions=completions,
            success_rate=round(rate, 4),
            average_time_spent_seconds=round(total_time / learners, 2) if learners else 0.0,
            perceived_difficulty=perceived_difficulty(learners, rate),
        )


@strawberry.type(description="A pattern's reference solution, explained: grounded facts first, then the "
                 "model's sentences that the verifier kept.")
class Solution:
    language: Language
    code: str
    explanation: str
    model_used: str = strawberry.field(description='The model that wrote part of the explanation, or "rule-based".')


# Lists build a Pattern per row: a dict lookup, not an enum call (Difficulty(...) for others).
_DIFFICULTIES = {difficulty.value: difficulty for difficulty in Difficulty}
_ABSENT = object()


@strawberry.type
class Pattern:
    id: strawberry.ID
    slug: str
    name: str
    category: str
    difficulty: Difficulty
    description: str
    preview: list[str] = strawberry.field(description="The pattern printed at its default size.")
    rows: int = strawberry.field(description="The default size.")
    formula: str
    loops: int
    conditions: int
    db_id: strawberry.Private[int]
    min_size: strawberry.Private[int]
    max_size: strawberry.Private[int]
    position: strawberry.Private[int]
    stats_row: strawberry.Private[Any] = None

    @classmethod
    def from_row(cls, row: Any) -> Pattern:
        """A pattern (with its statistics' columns when a page joined them) from its row."""
        return PatternOfRow(row)

    @strawberry.field(description="The expected output at `size` (default: the pattern's default size).")
    async def expected_output(self, info: Info, size: int | None = strawberry.UNSET) -> list[str]:
        n = self.rows if size in (None, strawberry.UNSET) else size
        if not self.min_size <= n <= self.max_size:
            raise BadUserInput(
                f"size must be between {self.min_size} and {self.max_size} for {self.slug}.",
                argument="size",
            )
        # What the reference prints, from its cached runs; the reference itself stays private.
        reference = await info.context.loaders.reference_by_pattern_id.load(self.db_id)
        if reference is None:  # patterns are never deleted while the API runs
            raise NotFound(f"No pattern with id '{self.db_id}'.")
        return list(reference_output(reference, n))

    @strawberry.field(description="The reference solution and its explanation; null until the caller has a "
                      "PASSED submission of this pattern (and for anonymous callers).")
    async def solution(self, info: Info) -> Solution | None:
        learner_id = info.context.caller.user_id  # a bad token raises here: UNAUTHENTICATED
        if learner_id is None:
            return None
        found = await info.context.solution_loader(learner_id).load(self.db_id)
        if found is None:
            return None
        return Solution(language=found.language, code=found.code, explanation=found.explanation,
                        model_used=found.model_used)

    def stats_at_hand(self) -> PatternStats | None:
        """The counters that came with the row (list pages join them), else None."""
        return PatternStats.from_row(self.stats_row) if self.stats_row is not None else None

    @strawberry.field(metadata=direct(stats_at_hand))
    def stats(self, info: Info) -> PatternStats:
        # Direct (resolvers/execution.py) when the counters came with the row; otherwise an
        # awaitable from the batching loader, which graphql-core awaits.
        return self.stats_at_hand() or _load_stats(info, self.db_id)  # type: ignore[return-value]


def _column(name: str) -> Any:
    """A property reading one column of the object's row (Any: it stands in for a field)."""
    return property(lambda self: self._row[name])


def _derived(read: Callable[[Any], Any]) -> Any:
    """A property computed from the object's row (one call: pages read these per item)."""
    return property(read)


class PatternOfRow(Pattern):
    """A `Pattern` that reads each field off its row when it is asked for. Lists build one per row
    and a page reads few of the sixteen fields (a learner's progress: the name and the slug), so
    nothing is copied that no one reads. The row may hold only the columns that the request
    asks for (db/patterns.py PATTERN_SUMMARY_COLUMNS)."""

    def __init__(self, row: Any) -> None:  # not the dataclass's: nothing is copied
        self._row = row

    # The dataclass's repr and equality read every field, which a summary row lacks: these read the row.
    def __repr__(self) -> str:
        return f"PatternOfRow({dict(self._row)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PatternOfRow) and dict(self._row) == dict(other._row)

    id = _derived(lambda self: strawberry.ID(str(self._row["id"])))
    slug = _column("slug")
    name = _column("name")
    category = _column("category")
    difficulty = _derived(lambda self: _DIFFICULTIES.get(self._row["difficulty"])
                          or Difficulty(self._row["difficulty"]))
    description = _column("description")
    preview = _derived(lambda self: list(self._row["preview"]))
    rows = _column("default_size")
    formula = _column("formula")
    loops = _column("loops")
    conditions = _column("conditions")
    db_id = _column("id")
    min_size = _column("min_size")
    max_size = _column("max_size")
    position = _column("position")
    # Rows of a page carry their statistics' columns (NULL without attempts yet).
    stats_row = _derived(lambda self: self._row if self._row.get("learners", _ABSENT) is not _ABSENT else None)


async def _load_stats(info: Info, pattern_id: int) -> PatternStats:
    return PatternStats.from_row(await info.context.loaders.stats_by_pattern_id.load(pattern_id))


async def load_pattern(info: Info, pattern_id: int) -> Pattern:
    row = await info.context.loaders.pattern_by_id.load(pattern_id)
    if row is None:
        raise NotFound(f"No pattern with id '{pattern_id}'.")
    return Pattern.from_row(row)


@strawberry.type
class PatternEdge:
    cursor: str
    node: Pattern


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class PatternConnection:
    edges: list[PatternEdge]
    page_info: PageInfo
    total_count: int


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"pattern:{position}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind != "pattern":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeError) as exc:
        raise BadUserInput("`after` is not a cursor this API issued.", argument="after") from exc


def encode_keyset_cursor(kind: str, created_at: datetime, row_id: int | uuid.UUID) -> str:
    """A newest-first list's cursor: the row's (created_at, id), tagged with what it lists."""
    return base64.urlsafe_b64encode(f"{kind}:{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_keyset_cursor(cursor: str, kind: str, parse_id: Callable[[str], Any]) -> Keyset[Any]:
    """The keyset in a cursor this API issued for `kind`; BAD_USER_INPUT (argument `after`) else."""
    try:
        tag, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        created, _, row_id = value.rpartition("|")
        when = datetime.fromisoformat(created)
        if tag != kind or when.tzinfo is None:
            raise ValueError(tag)
        return Keyset(when, parse_id(row_id))
    except (ValueError, UnicodeError) as exc:
        raise BadUserInput("`after` is not a cursor this API issued for this list.", argument="after") from exc


@strawberry.type
class PatternMatch:
    pattern: Pattern
    score: float


@strawberry.type
class Progress:
    progress_percentage: float
    time_spent_seconds: int
    attempts: int
    completed: bool
    best_score: float
    last_attempt_at: str | None
    pattern_id: strawberry.Private[int]
    # The pattern's row when the list that made this fetched it (Query.progress does).
    pattern_row: strawberry.Private[Any] = None

    @classmethod
    def from_row(cls, row: Any, pattern_row: Any = None) -> Progress:
        return cls(
            progress_percentage=round(float(row["progress_percentage"]), 4),
            time_spent_seconds=min(row["time_spent_seconds"], 2**31 - 1),
            attempts=row["attempts"],
            completed=row["completed"],
            best_score=round(float(row["best_score"]), 4),
            last_attempt_at=iso(row["last_attempt_at"]),
            pattern_id=row["pattern_id"],
            pattern_row=pattern_row,
        )

    def pattern_at_hand(self) -> Pattern | None:
        """The pattern when the list that made this row fetched it (Query.progress does), else None."""
        return Pattern.from_row(self.pattern_row) if self.pattern_row is not None else None

    @strawberry.field(metadata=direct(pattern_at_hand))
    def pattern(self, info: Info) -> Pattern:
        # Like Pattern.stats: direct when the list fetched the patterns, else through the loader.
        return self.pattern_at_hand() or load_pattern(info, self.pattern_id)  # type: ignore[return-value]


@strawberry.type
class LeaderboardEntry:
    rank: int
    learner_id: strawberry.ID
    display_name: str | None
    points: int
    completed_patterns: int
    attempts: int

    @classmethod
    def from_row(cls, row: Any) -> LeaderboardEntry:
        return cls(rank=row["rank"], learner_id=strawberry.ID(row["learner_id"]), display_name=row["display_name"],
                   points=row["points"], completed_patterns=row["completed_patterns"], attempts=row["attempts"])
