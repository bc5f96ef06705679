"""Row level security: with Supabase's roles and claims, a learner sees only their own rows."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from db import progress
from db.progress import ProgressWrite


async def as_user(conn: asyncpg.Connection, role: str, sub: str | None) -> None:
    await conn.execute(f"SET LOCAL ROLE {role}")
    claims = json.dumps({"sub": sub, "role": role}) if sub else ""
    await conn.execute("SELECT set_config('request.jwt.claims', $1, true)", claims)


async def test_learners_see_and_write_only_their_own_progress(services) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    pid = await services.db.fetchval("SELECT min(id) FROM patterns")
    for learner in (alice, bob):
        await progress.record(services.db, ProgressWrite(learner, None, pid, 10, 1, False))

    async with services.db.pool.acquire() as conn:
        async with conn.transaction():
            await as_user(conn, "authenticated", alice)
            assert await conn.fetchval("SELECT auth.uid()::text") == alice
            rows = await conn.fetch("SELECT learner_id FROM progress")
            assert [r["learner_id"] for r in rows] == [alice]
            updated = await conn.execute("UPDATE progress SET progress_percentage = 99 WHERE learner_id = $1", bob)
            assert updated == "UPDATE 0"
            # Public data stays readable.
            assert await conn.fetchval("SELECT count(*) FROM patterns") > 0
            assert await conn.fetchval("SELECT count(*) FROM learners") == 2
        async with conn.transaction():
            await as_user(conn, "authenticated", alice)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "INSERT INTO progress (learner_id, pattern_id) VALUES ($1, $2)", bob, pid)
        async with conn.transaction():
            await as_user(conn, "anon", None)
            assert await conn.fetchval("SELECT count(*) FROM patterns") > 0
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch("SELECT * FROM progress")
