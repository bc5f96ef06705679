"""Queries as the caller, the way PostgREST runs them: row level security in depth.

Every statement a request runs for a caller goes in a transaction that first sets the caller's
JWT claims (`request.jwt.claims`, read by `auth.jwt()` / `auth.uid()`) and switches to the
caller's database role (`anon` or `authenticated`), both transaction-local so nothing leaks to
the next user of the pooled connection, transaction poolers (Supavisor, PgBouncer) included.
The policies in `sql/` then decide which rows the statement sees, even where application code
forgets to filter. The server's own role (the pool's login) is used only where it must be:
migrations, the analysis workers, rate limits, and the `SECURITY DEFINER` functions that keep
shared counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any, Protocol

import asyncpg
from asyncpg.pool import PoolAcquireContext

from .database import Connection, Database


class DbRole(StrEnum):
    """The database roles a request runs as (Supabase's names; `sql/003` creates them elsewhere)."""

    ANON = "anon"
    AUTHENTICATED = "authenticated"


class Executor(Protocol):
    """What query modules need: `Database`, `ScopedDatabase` and a connection all have it."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...
    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None: ...
    async def fetchval(self, query: str, *args: Any) -> Any: ...
    async def execute(self, query: str, *args: Any) -> str: ...


# Anything a query function can run on: a pool, a caller's scope, or a connection in a transaction
# (asyncpg's pool proxy forwards its methods dynamically, so it is named here).
Queryable = Executor | Connection


def dollar_quoted(text: str) -> str:
    """`text` as a dollar-quoted literal (independent of standard_conforming_strings, unlike
    '...'): the first of the tags `$c$`, `$c1$`, `$c2$`... that the literal's text cannot end
    early, i.e. whose first occurrence in text + tag is the closing one. Safe for any text: no
    secret tag is needed (nor a random one per request)."""
    for n in itertools.count():
        tag = f"$c{n or ''}$"
        if (text + tag).find(tag) == len(text):
            return f"{tag}{text}{tag}"
    raise AssertionError("unreachable")  # itertools.count() does not end


def begin_as(role: DbRole, claims: Mapping[str, Any] | None, *, read_only: bool = False) -> str:
    """One round trip: open the transaction and become the caller. Claims are data from a
    verified token, still quoted as data; the role is one of two constants."""
    payload = json.dumps(dict(claims) if claims else {}, separators=(",", ":"), default=str)
    if "\x00" in payload:  # json.dumps escapes control characters; this cannot happen
        raise ValueError("claims must not contain NUL")
    return (
        f"BEGIN{' READ ONLY' if read_only else ''}; SELECT set_config('request.jwt.claims', "
        f"{dollar_quoted(payload)}, true), set_config('role', '{DbRole(role).value}', true)"
    )


class ReadSession:
    """One read-only transaction as the caller for all the statements of one GraphQL query, as
    PostgREST runs a request: the first statement takes a pooled connection and opens it, the
    others follow on that connection (one at a time: sibling fields resolve concurrently), and
    `close` ends it and gives the connection back. A query of three statements costs five round
    trips instead of nine, and every statement of it sees the caller's view, read-only.

    A statement that fails aborts the transaction: it is rolled back at once, and the next
    statement opens a new one, so each field still fails or succeeds on its own.
    """

    def __init__(self, db: Database, begin: str) -> None:
        self.db = db
        self._begin = begin
        self._lock = asyncio.Lock()
        self._acquired: PoolAcquireContext | None = None
        self._conn: Connection | None = None
        self._in_transaction = False
        self._closed = False

    async def run(self, method: str, query: str, args: tuple[Any, ...]) -> Any:
        async with self._lock:
            if self._closed:
                raise RuntimeError("the read session has ended")  # a resolver outlived its operation
            if self._conn is None:
                acquired = self.db.pool.acquire()
                self._conn = await acquired.__aenter__()
                self._acquired = acquired
            conn = self._conn
            if not self._in_transaction:
                await conn.execute(self._begin)
                self._in_transaction = True
            try:
                return await getattr(conn, method)(query, *args)
            except BaseException:
                self._in_transaction = False
                # A broken connection cannot roll back; the pool discards it on release.
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    await conn.execute("ROLLBACK")
                raise

    async def close(self, exc: BaseException | None = None) -> None:
        """End the transaction (read-only: a rollback keeps nothing) and release the connection;
        idempotent."""
        async with self._lock:
            self._closed = True
            acquired, self._acquired, self._conn = self._acquired, None, None
            if acquired is None:
                return
            try:
                if self._in_transaction and acquired.connection is not None:
                    self._in_transaction = False
                    await acquired.connection.execute("ROLLBACK")
            except BaseException as error:
                await acquired.__aexit__(type(error), error, error.__traceback__)
                raise
            await acquired.__aexit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)


class ScopedDatabase:
    """`Database`'s query methods, each run as one caller (see the module docstring): each
    statement in its own transaction, or all in the read session while one is open."""

    def __init__(self, db: Database, role: DbRole, claims: Mapping[str, Any] | None) -> None:
        self.db = db
        self.role = role
        self._claims = claims
        self._session: ReadSession | None = None

    @functools.cached_property
    def _begin(self) -> str:
        # Only writes need it: most requests only read, in a read session (`read_session`).
        return begin_as(self.role, self._claims)

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[ReadSession]:
        """Until the block ends, the query methods share one read-only transaction."""
        session = self._session = ReadSession(self.db, begin_as(self.role, self._claims, read_only=True))
        try:
            yield session
        except BaseException as exc:
            self._session = None
            await session.close(exc)
            raise
        self._session = None
        await session.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A connection inside one transaction as the caller; commits when the block ends."""
        async with self.db.pool.acquire() as conn:
            await conn.execute(self._begin)
            try:
                yield conn
            except BaseException:
                # A broken connection cannot roll back; the pool discards it on release.
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        if self._session is not None:
            return await self._session.run("fetch", query, args)
        async with self.transaction() as conn:
            return await conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        if self._session is not None:
            return await self._session.run("fetchrow", query, args)
        async with self.transaction() as conn:
            return await conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        if self._session is not None:
            return await self._session.run("fetchval", query, args)
        async with self.transaction() as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        if self._session is not None:
            return await self._session.run("execute", query, args)
        async with self.transaction() as conn:
            return await conn.execute(query, *args)


class RequestRolesUnavailable(RuntimeError):
    """The login role cannot become `anon` / `authenticated`: requests could not run as callers."""


async def require_request_roles(db: Queryable) -> None:
    """Refuse to serve unless the server's login role can switch to both request roles
    (sql/008 grants them where it may; on Supabase `postgres` has them)."""
    missing = [role.value for role in DbRole
               if not await db.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", role.value)]
    if missing:
        user = await db.fetchval("SELECT current_user")
        raise RequestRolesUnavailable(
            f"the database role {user!r} cannot SET ROLE to {', '.join(missing)}; run "
            f"GRANT {', '.join(missing)} TO {user} as an administrator (docs/DEPLOYMENT.md)"
        )
