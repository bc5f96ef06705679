"""Catalog queries: pages of patterns, patterns by id or slug, statistics by pattern."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from catalog import PatternDef

from .database import Database
from .scoped import Queryable

# What anyone may read of a pattern. Its reference program is its solution: only the server's
# own role reads it (sql/015), so these never name it.
PATTERN_COLUMNS = """
    p.id, p.slug, p.name, p.category, p.difficulty, p.description, p.default_size, p.min_size,
    p.max_size, p.formula, p.loops, p.conditions, p.preview, p.position
"""
# What a list that names its patterns needs of them (a learner's progress page): a Pattern built
# from these answers the fields in resolvers/query.py PATTERN_SUMMARY_FIELDS.
PATTERN_SUMMARY_COLUMNS = "p.id, p.slug, p.name, p.category, p.difficulty"
# The same with the reference: for the judge, the analysis pipeline, solutions, as the server.
PATTERN_COLUMNS_WITH_REFERENCE = PATTERN_COLUMNS + ", p.reference_solution"


# A page carries its patterns' counters: they are one small row each, and lists nearly always
# show them, so joining them saves a round trip and a loader batch per page.
STATS_COLUMNS = "s.attempts, s.learners, s.completions, s.total_time_seconds"


@dataclass(frozen=True, slots=True)
class PatternFilter:
    category: str | None = None
    difficulty: str | None = None
    search: str | None = None


@dataclass(frozen=True, slots=True)
class PatternPage:
    rows: list[asyncpg.Record]
    total_count: int
    has_next_page: bool


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def page(db: Queryable, filters: PatternFilter, first: int, after_position: int | None) -> PatternPage:
    """One round trip: the filtered total and the page after the cursor with each pattern's
    counters (one row extra tells whether another page follows)."""
    search = filters.search.strip() if filters.search else None
    rows = await db.fetch(
        f"""
        WITH filtered AS (
            SELECT p.id FROM patterns p
            WHERE ($1::text IS NULL OR p.category = $1)
              AND ($2::text IS NULL OR p.difficulty = $2)
              AND ($3::text IS NULL
                   OR p.search_vector @@ websearch_to_tsquery('english', $3)
                   OR p.name ILIKE $4 OR p.description ILIKE $4)
        )
        SELECT t.total_count, {PATTERN_COLUMNS}, {STATS_COLUMNS}
        FROM (SELECT count(*) AS total_count FROM filtered) t
        LEFT JOIN LATERAL (
            SELECT {PATTERN_COLUMNS} FROM patterns p JOIN filtered f ON f.id = p.id
            WHERE $5::integer IS NULL OR p.position > $5
            ORDER BY p.position
            LIMIT $6
        ) p ON true
        LEFT JOIN pattern_stats s ON s.pattern_id = p.id
        -- The joins may reorder the rows; the extra one that says another page follows is the last.
        ORDER BY p.position
        """,
        filters.category,
        filters.difficulty,
        search,
        _like_pattern(search) if search else None,
        after_position,
        first + 1,
    )
    total = rows[0]["total_count"] if rows else 0
    found = [r for r in rows if r["id"] is not None]
    return PatternPage(rows=found[:first], total_count=total, has_next_page=len(found) > first)


async def by_ids(db: Queryable, ids: Sequence[int]) -> list[asyncpg.Record | None]:
    rows = await db.fetch(f"SELECT {PATTERN_COLUMNS} FROM patterns p WHERE p.id = ANY($1::bigint[])", list(ids))
    found = {r["id"]: r for r in rows}
    return [found.get(i) for i in ids]


async def by_slug(db: Queryable, slug: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {PATTERN_COLUMNS} FROM patterns p WHERE p.slug = $1", slug)


async def stats_by_pattern_ids(db: Queryable, ids: Sequence[int]) -> list[asyncpg.Record | None]:
    rows = await db.fetch(
        """
        SELECT pattern_id, attempts, learners, completions, total_time_seconds
        FROM pattern_stats WHERE pattern_id = ANY($1::bigint[])
        """,
        list(ids),
    )
    found = {r["pattern_id"]: r for r in rows}
    return [found.get(i) for i in ids]


async def with_references(db: Database, ids: Sequence[int]) -> list[asyncpg.Record | None]:
    """Patterns by id with their reference programs, read with the server's own role (a caller's
    role may not read them: sql/015), in the order asked."""
    rows = await db.fetch(f"SELECT {PATTERN_COLUMNS_WITH_REFERENCE} FROM patterns p WHERE p.id = ANY($1::bigint[])",
                          list(ids))
    found = {r["id"]: r for r in rows}
    return [found.get(i) for i in ids]


async def references(db: Database, ids: Sequence[int]) -> list[str | None]:
    """Reference programs by pattern id (what expected outputs are computed from), as the server."""
    rows = await db.fetch("SELECT id, reference_solution FROM patterns WHERE id = ANY($1::bigint[])", list(ids))
    found = {r["id"]: r["reference_solution"] for r in rows}
    return [found.get(i) for i in ids]


def to_pattern_def(row: asyncpg.Record) -> PatternDef:
    """A database pattern read with its reference (`with_references`) in the shape the judge and
    the catalog use."""
    return PatternDef(
        slug=row["slug"],
        name=row["name"],
        category=row["category"],
        difficulty=row["difficulty"],
        description=row["description"],
        rows=row["default_size"],
        formula=row["formula"],
        loops=row["loops"],
        conditions=row["conditions"],
        reference=row["reference_solution"],
        min_size=row["min_size"],
        max_size=row["max_size"],
    )
