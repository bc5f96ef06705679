"""Newest-first keyset pages, shared by the history lists (attempts, analyses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Keyset(Generic[K]):
    """Where a newest-first page ends: the last row's (created_at, id). The next page starts
    strictly after it, so rows inserted meanwhile never shift or repeat what was shown."""

    created_at: datetime
    id: K


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    total_count: int
    has_next_page: bool


def newest_first_sql(*, source: str, columns: str, where: str, next_param: int, after: bool) -> str:
    """One statement: the total of `source` rows matching `where`, and a page of them newest
    first, with one row more than asked to tell whether another page follows. Parameters from
    `next_param` on: the page size, then (when `after`) the keyset's created_at and id. The
    keyset is compared as a row, which the (..., created_at DESC, id DESC) indexes serve as one
    range scan. Two texts (first page, later pages) rather than an `IS NULL OR` test, so a
    generic plan of the prepared statement still uses the index."""
    limit, t, i = next_param, next_param + 1, next_param + 2
    keyset = f" AND (created_at, id) < (${t}::timestamptz, ${i})" if after else ""
    return f"""
        SELECT t.total_count, page.*
        FROM (SELECT count(*) AS total_count FROM {source} WHERE {where}) t
        LEFT JOIN LATERAL (
            SELECT {columns} FROM {source}
            WHERE {where}{keyset}
            ORDER BY created_at DESC, id DESC
            LIMIT ${limit}
        ) page ON true
    """


def page_of(rows: list, first: int) -> Page:
    """The rows of a `newest_first_sql` result as a page (a LEFT JOIN row of NULLs when empty)."""
    total = rows[0]["total_count"] if rows else 0
    found = [r for r in rows if r["id"] is not None]
    return Page(rows=found[:first], total_count=total, has_next_page=len(found) > first)
