"""Class groups: `groups`, `group_members` and `group_join_codes` (sql/011_groups.sql), all of
their SQL. Every function runs as the caller: the policies decide what each statement sees, and
create/join go through SECURITY DEFINER functions that check the limits under a lock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .database import Connection
from .scoped import Queryable

# A group as the caller sees it: `join_code` is null unless they own it (its policy), and
# `is_member` says whether they joined it.
GROUP_SELECT = """
    SELECT g.id, g.name, g.owner_id, o.display_name AS owner_name, g.created_at, c.code AS join_code,
           (SELECT count(*) FROM group_members x WHERE x.group_id = g.id)::int AS member_count,
           (g.owner_id = (SELECT auth.jwt() ->> 'sub')) AS is_owner,
           EXISTS (SELECT 1 FROM group_members x
                   WHERE x.group_id = g.id AND x.learner_id = (SELECT auth.jwt() ->> 'sub')) AS is_member
    FROM groups g
    JOIN learners o ON o.id = g.owner_id
    LEFT JOIN group_join_codes c ON c.group_id = g.id
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    group_id: uuid.UUID | None
    outcome: str


async def create(conn: Connection, name: str) -> Outcome:
    """A group owned by the caller, with a join code drawn in SQL (nobody chooses one)."""
    row = await conn.fetchrow("SELECT group_id, outcome FROM create_group($1)", name)
    assert row is not None
    return Outcome(row["group_id"], row["outcome"])


async def join(conn: Connection, code: str) -> Outcome:
    row = await conn.fetchrow("SELECT group_id, outcome FROM join_group($1)", code)
    assert row is not None
    return Outcome(row["group_id"], row["outcome"])


async def by_id(db: Queryable, group_id: uuid.UUID) -> asyncpg.Record | None:
    """The group, when the caller owns it or belongs to it."""
    return await db.fetchrow(GROUP_SELECT + " WHERE g.id = $1", group_id)


async def mine(db: Queryable, learner_id: str) -> list[asyncpg.Record]:
    """The groups the learner owns or belongs to, oldest first."""
    return await db.fetch(
        GROUP_SELECT + """
        WHERE g.owner_id = $1 OR g.id IN (SELECT group_id FROM group_members WHERE learner_id = $1)
        ORDER BY g.created_at, g.id
        """,
        learner_id,
    )


async def members_of(db: Queryable, group_ids: Sequence[uuid.UUID]) -> list[list[asyncpg.Record]]:
    """Each group's roster (names only), in joining order."""
    rows = await db.fetch(
        """
        SELECT m.group_id, m.learner_id, l.display_name, m.joined_at
        FROM group_members m JOIN learners l ON l.id = m.learner_id
        WHERE m.group_id = ANY($1::uuid[])
        ORDER BY m.joined_at, m.learner_id
        """,
        list(group_ids),
    )
    found: dict[uuid.UUID, list[asyncpg.Record]] = {g: [] for g in group_ids}
    for row in rows:
        found[row["group_id"]].append(row)
    return [found[g] for g in group_ids]


@dataclass(frozen=True, slots=True)
class BoardKey:
    group_id: uuid.UUID
    week: bool
    first: int


async def leaderboards(db: Queryable, keys: Sequence[BoardKey]) -> list[list[asyncpg.Record]]:
    """Each group's board: every member ranked by points (equal points share a rank; then
    completions, then id), members with no points included. One statement per (period, size)
    asked for, however many groups."""
    boards: dict[BoardKey, list[asyncpg.Record]] = {k: [] for k in keys}
    for week, first in {(k.week, k.first) for k in keys}:
        ids = list({k.group_id for k in keys if (k.week, k.first) == (week, first)})
        if week:
            rows = await db.fetch(
                "SELECT group_id, rank, learner_id, display_name, points, completed_patterns, attempts "
                "FROM group_leaderboard_week($1, $2)", ids, first)
        else:
            rows = await db.fetch(
                """
                SELECT group_id, rank, learner_id, display_name, points, completed_patterns, attempts FROM (
                    SELECT m.group_id, l.id AS learner_id, l.display_name, l.points, l.completed_patterns,
                           l.attempts,
                           rank() OVER (PARTITION BY m.group_id ORDER BY l.points DESC) AS rank,
                           row_number() OVER (PARTITION BY m.group_id
                                              ORDER BY l.points DESC, l.completed_patterns DESC, l.id) AS place
                    FROM group_members m JOIN learners l ON l.id = m.learner_id
                    WHERE m.group_id = ANY($1::uuid[])
                ) ranked
                WHERE place <= $2
                ORDER BY group_id, place
                """,
                ids, first,
            )
        for row in rows:
            boards[BoardKey(row["group_id"], week, first)].append(row)
    return [boards[k] for k in keys]


@dataclass(frozen=True, slots=True)
class DashboardPage:
    members: list[tuple[asyncpg.Record, list[asyncpg.Record]]]  # (member, their progress rows)
    total_count: int
    has_next_page: bool


async def dashboard(
    db: Queryable, group_id: uuid.UUID, first: int, after: tuple[datetime, str] | None
) -> DashboardPage:
    """A page of the group's members in joining order, each with their totals and their progress
    on every pattern they tried. As the owner the progress policy lets these rows through; as
    anyone else it shows at most their own (the resolver refuses them before asking)."""
    rows = await db.fetch(
        """
        WITH page AS (
            SELECT m.learner_id, m.joined_at FROM group_members m
            WHERE m.group_id = $1 AND ($2::timestamptz IS NULL OR (m.joined_at, m.learner_id) > ($2, $3::text))
            ORDER BY m.joined_at, m.learner_id
            LIMIT $4
        )
        SELECT (SELECT count(*) FROM group_members WHERE group_id = $1)::int AS total_count,
               page.learner_id, page.joined_at, l.display_name, l.points, l.completed_patterns, l.attempts,
               p.pattern_id, p.progress_percentage, p.time_spent_seconds, p.attempts AS pattern_attempts,
               p.completed, p.best_score, p.last_attempt_at
        FROM page
        JOIN learners l ON l.id = page.learner_id
        LEFT JOIN progress p ON p.learner_id = page.learner_id
        ORDER BY page.joined_at, page.learner_id, p.pattern_id
        """,
        group_id, after[0] if after else None, after[1] if after else None, first + 1,
    )
    members: dict[str, tuple[asyncpg.Record, list[asyncpg.Record]]] = {}
    for row in rows:
        member = members.setdefault(row["learner_id"], (row, []))
        if row["pattern_id"] is not None:
            member[1].append(row)
    listed = list(members.values())
    total = rows[0]["total_count"] if rows else 0
    return DashboardPage(listed[:first], total, len(listed) > first)


async def leave(db: Queryable, group_id: uuid.UUID, learner_id: str) -> bool:
    """Remove one membership: the caller's own, or any in a group the caller owns (the policy)."""
    status = await db.execute("DELETE FROM group_members WHERE group_id = $1 AND learner_id = $2",
                              group_id, learner_id)
    return status == "DELETE 1"


async def renew_code(db: Queryable, group_id: uuid.UUID) -> bool:
    """A fresh random code, if the caller owns the group."""
    return bool(await db.fetchval("SELECT renew_join_code($1)", group_id))


async def delete(db: Queryable, group_id: uuid.UUID) -> bool:
    return await db.execute("DELETE FROM groups WHERE id = $1", group_id) == "DELETE 1"

