"""The connection pool and the one place every SQL statement goes through."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from app.settings import Settings

from .embedded import EmbeddedPostgres

log = logging.getLogger(__name__)

QueryObserver = Callable[[str], None]


def describe_url(url: str) -> str:
    """Where the database is, without credentials, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or "unix-socket"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class Database:
    """Owns the asyncpg pool (and the embedded server when there is no DATABASE_URL)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: asyncpg.Pool | None = None
        self.url: str | None = None
        self.embedded: EmbeddedPostgres | None = None
        # Callbacks told of every statement sent; tests count round trips with them.
        self.query_observers: list[QueryObserver] = []

    async def connect(self) -> None:
        if self.settings.database_url:
            self.url = self.settings.database_url
        else:
            self.embedded = EmbeddedPostgres(self.settings.pgdata_dir)
            self.url = self.embedded.start()
        transaction_pooler = self.settings.database_pooler_mode == "transaction"
        self.pool = await asyncpg.create_pool(
            self.url,
            min_size=self.settings.database_pool_min,
            max_size=self.settings.database_pool_max,
            command_timeout=self.settings.database_command_timeout,
            # Transaction poolers hand each transaction to any backend: no prepared statements.
            statement_cache_size=0 if transaction_pooler else 100,
            init=self._init_connection,
            reset=_keep_session,
        )
        log.info(
            "database: %s (%s, pooler mode %s)",
            describe_url(self.url),
            "embedded" if self.embedded else "DATABASE_URL",
            self.settings.database_pooler_mode,
        )

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        await conn.set_type_codec("jsonb", encoder=_json_dumps, decoder=_json_loads, schema="pg_catalog")
        conn.add_query_logger(self._notify_observers)

    def _notify_observers(self, record: Any) -> None:
        for observer in self.query_observers:
            observer(record.query)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    @asynccontextmanager
    async def transaction(self):
        assert self.pool is not None, "Database.connect() first"
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    # Thin pass-throughs so query modules read as plain SQL.
    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        assert self.pool is not None
        return await self.pool.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        assert self.pool is not None
        return await self.pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        assert self.pool is not None
        return await self.pool.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        assert self.pool is not None
        return await self.pool.execute(query, *args)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release RESET ALL / UNLISTEN round trip: pooled connections carry no
    session state here (settings are SET LOCAL inside transactions, LISTEN uses its own
    connection), so the reset would only double every query's round trips."""


def _json_dumps(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _json_loads(value: str) -> Any:
    import json

    return json.loads(value)
