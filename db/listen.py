"""LISTEN, kept up: one dedicated connection per listener that hears some channels, reopened with
backoff when it drops (a database restart, a network cut) and checked while quiet (a half-open
TCP connection says nothing). Its owners (the analysis workers, the event bus, the response
cache) learn whether notifications arrive now through `listening` and `on_up` / `on_down`, and
cover the gaps their own way: polling, re-reading, serving nothing stale.

Transaction poolers cannot LISTEN at all: the first try fails, is logged once, and is retried in
the background like any other outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import asyncpg

from .database import Database

log = logging.getLogger(__name__)

Handler = Callable[[str], None]  # called with each notification's payload, on the event loop


class Listener:
    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Handler],
        *,
        name: str,
        on_up: Callable[[], None] = lambda: None,
        on_down: Callable[[], None] = lambda: None,
        health_check_seconds: float = 30.0,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.db = db
        self.channels = dict(channels)
        self.name = name
        self.on_up = on_up  # connected, or connected again: what was missed meanwhile is unknown
        self.on_down = on_down
        self.health_check_seconds = health_check_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._first_try = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Start listening; returns once the first try is over, whatever its outcome (a failure
        is logged and retried in the background). Idempotent."""
        if self._task is not None:
            return
        self._first_try = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"listen-{self.name}")
        await self._first_try.wait()

    async def aclose(self) -> None:
        """Stop listening and close the connection; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        backoff, failures = 0.5, 0
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self.db.dedicated_connection()
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _conn, closed=closed: closed.set())
                for channel, handler in self.channels.items():
                    await conn.add_listener(channel, _callback(handler))
                self._conn = conn
                self._first_try.set()
                if failures:
                    log.info("%s: listening again", self.name)
                backoff, failures = 0.5, 0
                self.on_up()
                while not closed.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(closed.wait(), self.health_check_seconds)
                    if not closed.is_set():
                        await conn.execute("SELECT 1", timeout=10)
                raise ConnectionError("listener connection closed")
            except Exception as exc:  # whatever it is, the owner copes meanwhile and we try again
                was_up = self._conn is not None
                self._conn = None
                self._first_try.set()
                if was_up:
                    self.on_down()
                failures += 1
                if failures == 1:
                    log.warning("%s: LISTEN unavailable (%s: %s); retrying with backoff", self.name,
                                type(exc).__name__, exc)
                await discard(conn)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
            finally:
                if self._conn is conn:
                    self._conn = None
                await discard(conn)


def _callback(handler: Handler) -> Callable[[object, int, str, str], None]:
    def deliver(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        handler(payload)

    return deliver


async def discard(conn: asyncpg.Connection | None) -> None:
    """Close a connection that may already be broken; never raises. Returns None for assignment."""
    if conn is not None and not conn.is_closed():
        try:
            await asyncio.wait_for(conn.close(), 2)
        except (Exception, asyncio.CancelledError):
            conn.terminate()
    return None
