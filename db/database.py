"""The connection pool and the one place every SQL statement goes through."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

from core.errors import DependencyUnavailable

from .embedded import EmbeddedPostgres

log = logging.getLogger(__name__)

QueryObserver = Callable[[str], None]
# A connection as query modules see it: a plain one, or one borrowed from the pool.
Connection = asyncpg.Connection | PoolConnectionProxy


def describe_url(url: str) -> str:
    """Where the database is, without credentials, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or "unix-socket"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """Where the database is and how to pool connections to it; built from the settings by
    `app.services` (defaults and meaning: the README's table)."""

    url: str | None  # None: run the embedded PostgreSQL in `pgdata_dir`
    pgdata_dir: Path
    pooler_mode: Literal["session", "transaction"]
    pool_min: int
    pool_max: int
    command_timeout: float
    # Opening a connection (the pool's and the dedicated LISTEN ones): asyncpg's default is 60 s.
    connect_timeout: float = 5.0
    # Waiting for a pooled connection, a fresh connection's opening included: a request fails with
    # SERVICE_UNAVAILABLE after this rather than queueing without end on an exhausted pool.
    acquire_timeout: float = 10.0


# What a dependency that is down raises, as opposed to a bug in our code: ours (a
# DependencyUnavailable: the database not connected, the sandbox, a model) and the driver's and
# the network's. The GraphQL layer answers SERVICE_UNAVAILABLE; the analysis worker retries later.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    DependencyUnavailable,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    # The server ended the session: a shutdown or restart, or a crashed backend.
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    # The driver's protocol state is off: a pooled connection that got the server's goodbye while
    # idle and is used before its socket's end is seen ("cannot switch to state ...").
    asyncpg.InternalClientError,
    OSError,  # ConnectionError and TimeoutError included
)


class NotConnected(DependencyUnavailable):
    """A query was sent before `Database.connect()` or after `close()`."""


class Database:
    """Owns the asyncpg pool (and the embedded server when there is no DATABASE_URL)."""

    def __init__(self, config: DatabaseConfig) -> None:
        self.config = config
        self._pool: asyncpg.Pool | None = None
        self.url: str | None = None
        self.embedded: EmbeddedPostgres | None = None
        # Callbacks told of every statement sent; tests count round trips with them.
        self.query_observers: list[QueryObserver] = []

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool; `NotConnected` before `connect()` and after `close()`."""
        if self._pool is None:
            raise NotConnected("the database is not connected")
        return self._pool

    @property
    def connected(self) -> bool:
        return self._pool is not None

    def pool_usage(self) -> tuple[int, int, int] | None:
        """(connections open, of them idle, most allowed); None while not connected."""
        pool = self._pool
        if pool is None:
            return None
        return pool.get_size(), pool.get_idle_size(), pool.get_max_size()

    async def connect(self) -> None:
        """Start the embedded server when configured, then open the pool. A failure half way
        closes what was opened, so the caller has nothing to clean up."""
        if self._pool is not None:
            return
        config = self.config
        try:
            if config.url:
                self.url = config.url
            else:
                self.embedded = EmbeddedPostgres(config.pgdata_dir)
                self.url = self.embedded.start()
            transaction_pooler = config.pooler_mode == "transaction"
            pool = _Pool(
                self.url,
                acquire_timeout=config.acquire_timeout,
                min_size=config.pool_min,
                max_size=config.pool_max,
                max_queries=50_000,  # asyncpg.create_pool's defaults, from here on
                max_inactive_connection_lifetime=300.0,
                loop=None,
                connection_class=asyncpg.Connection,
                record_class=asyncpg.Record,
                timeout=config.connect_timeout,
                command_timeout=config.command_timeout,
                # Transaction poolers hand each transaction to any backend: no prepared statements.
                statement_cache_size=0 if transaction_pooler else 100,
                init=self._init_connection,
                reset=_keep_session,
            )
            self._pool = await pool
        except BaseException:
            await self.close()
            raise
        log.info(
            "database: %s (%s, pooler mode %s)",
            describe_url(self.url),
            "embedded" if self.embedded else "DATABASE_URL",
            config.pooler_mode,
        )

    async def _init_connection(self, conn: asyncpg.Connection) -> None:
        await conn.set_type_codec("jsonb", encoder=_json_dumps, decoder=_json_loads, schema="pg_catalog")
        conn.add_query_logger(self._notify_observers)

    def _notify_observers(self, record: Any) -> None:
        for observer in self.query_observers:
            observer(record.query)

    async def close(self) -> None:
        """Close the pool and stop the embedded server; safe to call any number of times."""
        pool, self._pool = self._pool, None
        embedded, self.embedded = self.embedded, None
        try:
            if pool is not None:
                await pool.close()
        finally:
            if embedded is not None:
                embedded.stop()

    async def dedicated_connection(self) -> asyncpg.Connection:
        """A connection outside the pool, for a session that outlives requests (LISTEN)."""
        if self.url is None:
            raise NotConnected("the database is not connected")
        return await asyncpg.connect(self.url, timeout=self.config.connect_timeout)  # pyright: ignore[reportArgumentType]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    # Thin pass-throughs so query modules read as plain SQL.
    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self.pool.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self.pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self.pool.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        return await self.pool.execute(query, *args)

    async def executemany(self, query: str, args: list[tuple[Any, ...]]) -> None:
        await self.pool.executemany(query, args)


def _connection_lost(exc: BaseException | None) -> bool:
    """Whether `exc` leaves its connection unusable: the server ended the session (a FATAL error:
    shutdown, restart, a terminated backend), the socket broke or a statement outlived the command
    timeout (OSError, TimeoutError included: the connection may be half-open), or the driver lost
    track of the protocol (InternalClientError)."""
    if isinstance(exc, asyncpg.PostgresError):
        severity = getattr(exc, "severity_en", None) or getattr(exc, "severity", None)
        return isinstance(exc, asyncpg.PostgresConnectionError) or severity in ("FATAL", "PANIC")
    return isinstance(exc, (asyncpg.InternalClientError, OSError))


class _AcquireContext(PoolAcquireContext):
    __slots__ = ()

    async def __aexit__(self, exc_type: Any = None, exc_val: BaseException | None = None, exc_tb: Any = None) -> None:
        connection = self.connection
        if connection is not None and _connection_lost(exc_val):
            # Released as it is, a connection whose session the server just ended could be handed
            # out again before its socket's end is noticed (no reset round trip: `_keep_session`),
            # and fail the next request too. Closed, the pool opens a fresh one on demand.
            with contextlib.suppress(asyncpg.InterfaceError):  # its end was seen already: released
                connection.terminate()
        await super().__aexit__(exc_type, exc_val, exc_tb)


class _Pool(asyncpg.Pool):
    """asyncpg's pool with a default bound on `acquire` (which `fetch` & co. use too), so every
    caller, `pool.acquire()` included, waits at most `acquire_timeout` for a connection; and
    whose connections are dropped when a statement on them fails because the session is gone.
    Connections that died while idle (a database restart) are replaced lazily by asyncpg."""

    __slots__ = ("_acquire_timeout",)

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return _AcquireContext(self, self._acquire_timeout if timeout is None else timeout)


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
