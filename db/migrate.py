"""Numbered SQL migrations from the `sql` package, each applied once, in order, in its own
transaction.

The migrations are package data (`sql/*.sql`), so an installed wheel carries them; finding none
is an error, never "nothing to do". A session advisory lock makes concurrent starters (several
API processes, a worker) wait for each other instead of applying a migration twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from .database import Connection

log = logging.getLogger(__name__)

SQL_PACKAGE = "sql"
MIGRATION_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
# Any constant unique to this application; pg_advisory_lock takes a bigint.
MIGRATION_LOCK_KEY = 7_284_551_020_113


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationsMissing(RuntimeError):
    """The installed package has no migrations: a broken install, never an empty schema."""


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    folder = directory if directory is not None else files(SQL_PACKAGE)
    migrations = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        match = MIGRATION_NAME.match(entry.name)
        if not match:
            raise ValueError(f"migration file name must look like 001_name.sql: {entry.name}")
        migrations.append(Migration(int(match.group(1)), entry.name.removesuffix(".sql"), entry.read_text()))
    if not migrations:
        raise MigrationsMissing(f"no migrations found in {folder}: the package is installed without its SQL")
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise ValueError("two migrations share a version number")
    return migrations


async def applied_versions(conn: Connection) -> dict[int, str]:
    exists = await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


async def pending_migrations(conn: Connection) -> list[Migration]:
    done = await applied_versions(conn)
    return [m for m in load_migrations() if m.version not in done]


async def migrate(conn: Connection) -> list[Migration]:
    """Apply what is pending; returns the migrations applied by this call."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = await applied_versions(conn)
        applied: list[Migration] = []
        for migration in load_migrations():
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    log.warning("migration %s changed after it was applied", migration.name)
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %s", migration.name)
            applied.append(migration)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
