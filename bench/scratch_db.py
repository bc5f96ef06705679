"""A throw-away, migrated and seeded database for benchmarks.

Without a server URL an embedded PostgreSQL runs in a temporary folder, deleted afterwards;
with one (a user that may create databases), a fresh database is created there and dropped
afterwards. Either way nothing is left behind unless ``keep`` is set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from app.services import database_config
from core.settings import Settings
from db.database import Database
from db.embedded import EmbeddedPostgres
from db.seed import migrate_and_seed


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def bench_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Settings for talking to the bench database from this process (no .env, no models)."""
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "supabase_jwt_secret": "bench-secret-not-used-for-anything-0123456789",
        "seed_on_start": False,
        "database_pool_min": 1,
        "database_pool_max": 4,
        "models_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def bench_database(database_url: str, data_dir: Path) -> Database:
    """A (not yet connected) Database for the bench database, as the server would build it."""
    return Database(database_config(bench_settings(database_url, data_dir)))


@asynccontextmanager
async def scratch_database(server_url: str | None, name: str, *, keep: bool = False) -> AsyncIterator[str]:
    """Yields the URL of a new database ``name``, migrated and seeded with the catalog."""
    folder = Path(tempfile.mkdtemp(prefix="cpm-bench-"))
    embedded: EmbeddedPostgres | None = None
    created = False
    try:
        if server_url is None:
            embedded = EmbeddedPostgres(folder / "pgdata")
            server_url = embedded.start()
        admin = await asyncpg.connect(server_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
            created = True
        finally:
            await admin.close()
        url = with_database(server_url, name)
        db = bench_database(url, folder)
        await db.connect()
        try:
            await migrate_and_seed(db, "always")
        finally:
            await db.close()
        yield url
    finally:
        if created and not keep and embedded is None and server_url is not None:
            admin = await asyncpg.connect(server_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
        if embedded is not None:
            embedded.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        elif embedded is not None:
            print(f"kept the embedded data folder {folder} (server stopped)")


def default_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}"
