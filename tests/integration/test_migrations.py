"""Migrations: applied once, in order, idempotently, and safely when servers start together."""

from __future__ import annotations

import asyncio

import asyncpg

from db.migrate import load_migrations, migrate, pending_migrations
from tests.helpers import admin_execute, with_database


async def fresh_database(pg_server_url: str, name: str) -> str:
    await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    return with_database(pg_server_url, name)


async def drop_database(pg_server_url: str, name: str) -> None:
    await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_concurrent_migrators_apply_each_migration_once(pg_server_url: str) -> None:
    url = await fresh_database(pg_server_url, "cpm_migrate_race")
    try:
        conns = [await asyncpg.connect(url) for _ in range(4)]
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [m.version for r in results for m in r]
        expected = [m.version for m in load_migrations()]
        assert sorted(applied) == expected  # every migration applied exactly once, by someone
        rows = await conns[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == expected
        assert await pending_migrations(conns[0]) == []
        assert await migrate(conns[0]) == []  # idempotent
        for c in conns:
            await c.close()
    finally:
        await drop_database(pg_server_url, "cpm_migrate_race")


async def test_migration_files_are_numbered_in_order() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(versions) and len(versions) == len(set(versions)) and versions[0] == 1


async def test_constraints_reject_bad_rows(services) -> None:
    db = services.db
    bad_statements = [
        "INSERT INTO learners (id) VALUES ('')",
        "INSERT INTO learners (id, points) VALUES ('x', -1)",
        "INSERT INTO progress (learner_id, pattern_id) VALUES ('nobody', 1)",
        "UPDATE patterns SET difficulty = 'IMPOSSIBLE' WHERE id = (SELECT min(id) FROM patterns)",
        "UPDATE patterns SET slug = 'Not A Slug' WHERE id = (SELECT min(id) FROM patterns)",
    ]
    for statement in bad_statements:
        try:
            await db.execute(statement)
        except asyncpg.IntegrityConstraintViolationError:
            continue
        raise AssertionError(f"accepted: {statement}")
