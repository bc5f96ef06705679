"""The event bus between analysis workers and subscribers.

One small interface, two implementations: `InProcessEventBus` serves a single process that runs
its own workers; `PostgresEventBus` adds LISTEN/NOTIFY so that any API process streams what any
worker process runs (docs/DEPLOYMENT.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from uuid import UUID, uuid4

import asyncpg

from core.domain import AnalysisStatus
from db.database import Database
from db.listen import Listener, discard

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    analysis_id: UUID
    status: AnalysisStatus
    stage: str
    text_delta: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status.is_final


@dataclass(slots=True)
class Subscription:
    """Events from now on, and the text streamed before the subscription began, so that
    `text_so_far` + later deltas is the whole text, each piece exactly once."""

    queue: asyncio.Queue[Event]
    text_so_far: str


class EventBus(Protocol):
    async def publish(self, event: Event) -> None: ...

    def subscribe(self, analysis_id: UUID) -> AbstractAsyncContextManager[Subscription]: ...


class InProcessEventBus:
    """Fan-out to every subscriber of an analysis. Queues are bounded: a subscriber that stops
    reading loses text deltas, never the final event (see `publish`)."""

    def __init__(self, max_queued: int = 1024) -> None:
        self._subscribers: dict[UUID, set[asyncio.Queue[Event]]] = defaultdict(set)
        self._text: dict[UUID, list[str]] = {}
        self._max_queued = max_queued

    async def start(self) -> None:
        """Nothing to open; here so both buses start and close the same way."""

    async def aclose(self) -> None:
        """Nothing to close."""

    def readiness(self) -> dict[str, object]:
        return {"bus": "memory"}

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        """`publish` without the await, for callers that must not yield (notification callbacks)."""
        if event.is_final:
            self._text.pop(event.analysis_id, None)
        elif event.text_delta:
            self._text.setdefault(event.analysis_id, []).append(event.text_delta)
        for queue in list(self._subscribers.get(event.analysis_id, ())):
            if queue.full():
                if not event.is_final:
                    continue
                queue.get_nowait()  # make room: the final event must arrive
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, analysis_id: UUID) -> AsyncIterator[Subscription]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._max_queued)
        # Registering and copying the backlog with no await between them: no delta is lost
        # or delivered twice.
        self._subscribers[analysis_id].add(queue)
        backlog = "".join(self._text.get(analysis_id, ()))
        try:
            yield Subscription(queue, backlog)
        finally:
            subscribers = self._subscribers.get(analysis_id)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[analysis_id]

    def subscriber_count(self, analysis_id: UUID) -> int:
        return len(self._subscribers.get(analysis_id, ()))

    def forget(self, analysis_id: UUID) -> None:
        """Drop an analysis's text backlog (it restarted elsewhere, or its final event was lost)."""
        self._text.pop(analysis_id, None)


CHANNEL = "analysis_events"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; keep a margin below it.
MAX_PAYLOAD_BYTES = 7900
_SEND_BATCH = 100  # notifications sent in one round trip (one transaction: delivered in order)
_JSON_ESCAPES = {'"': 2, "\\": 2, "\n": 2, "\r": 2, "\t": 2, "\b": 2, "\f": 2}


def _escaped_size(char: str) -> int:
    """Bytes `char` takes inside a JSON string written with ensure_ascii=False, UTF-8 encoded."""
    if char in _JSON_ESCAPES:
        return _JSON_ESCAPES[char]
    if char < " ":
        return 6  # \u00XX
    return len(char.encode("utf-8", "surrogatepass"))


def split_text(text: str, max_bytes: int) -> list[str]:
    """`text` in order-preserving pieces, each at most `max_bytes` once JSON-escaped and UTF-8
    encoded; a piece never ends inside a character."""
    if max_bytes < 6:
        raise ValueError("max_bytes must leave room for one escaped character")
    pieces: list[str] = []
    start, size = 0, 0
    for i, char in enumerate(text):
        cost = _escaped_size(char)
        if size + cost > max_bytes:
            pieces.append(text[start:i])
            start, size = i, 0
        size += cost
    if start < len(text) or not pieces:
        pieces.append(text[start:])
    return pieces


def _dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class PostgresEventBus:
    """Events for every process on one database: local subscribers get an event at once (the
    in-process bus inside), other processes through `NOTIFY analysis_events`.

    - Sending: `publish` only queues the notification; one task sends the queue in order on one
      connection, so a final event never overtakes the deltas before it and a worker never waits
      on a round trip per token. If sending fails the sender logs, reconnects with backoff and
      local delivery goes on (the worker must never break because of its subscribers).
    - Receiving: one LISTEN connection per process, reconnected with backoff when it drops. Its
      own notifications (same origin id) are skipped: they were delivered locally already.
      Notifications from others go through the same in-process fan-out, so late subscribers get
      `text_so_far` for analyses that run in another process too.
    - Each notification carries a per-analysis sequence number; a receiver logs the gaps (events
      lost while its listener was down, or dropped by a full queue). Subscribers re-read the row
      every few seconds anyway, so a lost event delays the final one but never loses it.
    """

    def __init__(
        self,
        db: Database,
        *,
        max_queued: int = 1024,
        max_pending: int = 10_000,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        health_check_seconds: float = 30.0,
        stale_seconds: float = 900.0,
    ) -> None:
        self.db = db
        self.local = InProcessEventBus(max_queued)
        self.origin = uuid4().hex[:16]
        self.max_pending = max_pending  # notifications waiting to be sent; deltas beyond are dropped
        self.max_payload_bytes = max_payload_bytes
        self.health_check_seconds = health_check_seconds  # a silent listener is checked this often
        self.stale_seconds = stale_seconds  # remote analyses silent this long are forgotten
        self.sent = 0
        self.dropped = 0
        self.gaps = 0
        self._next_seq: dict[UUID, int] = {}
        self._received: dict[UUID, tuple[str, int, float]] = {}  # origin, last seq, when
        self._last_prune = time.monotonic()
        self._outbox: asyncio.Queue[str] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._listener = Listener(db, {CHANNEL: self._on_notification}, name="analysis events",
                                  health_check_seconds=health_check_seconds)
        self._started = False

    # --- lifecycle ---

    async def start(self) -> None:
        """Start sending and listening (the database must be connected); idempotent. Returns once
        the first LISTEN was tried: a failure is logged and retried in the background."""
        if self._started:
            return
        self._started = True
        self._outbox = asyncio.Queue()
        self._sender = asyncio.create_task(self._send_loop(), name="analysis-events-sender")
        await self._listener.start()
        log.info("analysis events: NOTIFY/LISTEN on %r (origin %s, %s)", CHANNEL, self.origin,
                 "listening" if self.listening else "not listening yet, retrying")

    async def aclose(self, flush_seconds: float = 5.0) -> None:
        """Send what is queued (for at most `flush_seconds`), then stop; idempotent."""
        outbox, sender = self._outbox, self._sender
        self._outbox = self._sender = None
        self._started = False
        if outbox is not None and sender is not None and not sender.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.join(), flush_seconds)
        if sender is not None:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
        await self._listener.aclose()

    @property
    def listening(self) -> bool:
        return self._listener.listening

    def readiness(self) -> dict[str, object]:
        outbox = self._outbox
        return {"bus": "postgres", "listening": self.listening, "pending": outbox.qsize() if outbox else 0,
                "sent": self.sent, "dropped": self.dropped, "gaps": self.gaps}

    # --- the EventBus protocol ---

    async def publish(self, event: Event) -> None:
        self.local.deliver(event)  # this process's subscribers: at once, whatever the network does
        outbox = self._outbox
        if outbox is None:
            return  # not started (or closed): local delivery only
        for payload in self.payloads(event):
            if not event.is_final and outbox.qsize() >= self.max_pending:
                # A stuck sender must not grow memory without bound; receivers log the gap.
                self.dropped += 1
                if self.dropped % 1000 == 1:
                    log.warning("analysis events: send queue full, %d event(s) dropped", self.dropped)
                continue
            outbox.put_nowait(payload)

    def subscribe(self, analysis_id: UUID) -> AbstractAsyncContextManager[Subscription]:
        return self.local.subscribe(analysis_id)

    # --- encoding ---

    def payloads(self, event: Event) -> list[str]:
        """The notifications for `event`, in order, each under the payload limit: a long text
        delta is split into several, each with its own sequence number."""
        aid = event.analysis_id
        base = {"o": self.origin, "a": str(aid), "n": 0, "s": event.status.value, "g": event.stage, "t": None}
        texts: list[str | None] = [None]
        if event.text_delta is not None:
            # The envelope with a sequence number longer than any real one: an upper bound.
            envelope = len(_dumps({**base, "n": 10**15, "t": ""}).encode())
            texts = list(split_text(event.text_delta, self.max_payload_bytes - envelope))
        seq = self._next_seq.get(aid, 0)
        payloads = []
        for text in texts:
            seq += 1
            payloads.append(_dumps({**base, "n": seq, "t": text}))
        if event.is_final:
            self._next_seq.pop(aid, None)
        else:
            self._next_seq[aid] = seq
        return payloads

    # --- sending ---

    async def _send_loop(self) -> None:
        assert self._outbox is not None
        outbox = self._outbox
        conn: asyncpg.Connection | None = None
        backoff = 0.5
        try:
            while True:
                batch = [await outbox.get()]
                while len(batch) < _SEND_BATCH and not outbox.empty():
                    batch.append(outbox.get_nowait())
                for attempt in (1, 2):  # one retry on a fresh connection, then the batch is dropped
                    try:
                        if conn is None or conn.is_closed():
                            conn = await self.db.dedicated_connection()
                        # A timeout: a half-open connection must not hold every later event back.
                        if len(batch) == 1:
                            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, batch[0], timeout=10)
                        else:  # one implicit transaction: delivered together, in this order
                            await conn.executemany("SELECT pg_notify($1, $2)", [(CHANNEL, p) for p in batch],
                                                   timeout=10)
                        self.sent += len(batch)
                        backoff = 0.5
                        break
                    except Exception as exc:  # whatever it is, the sender must live on
                        conn = await discard(conn)
                        if attempt == 2:
                            self.dropped += len(batch)
                            log.warning("analysis events: %d notification(s) not sent (%s)", len(batch), exc)
                        else:
                            log.warning("analysis events: sending failed (%s); retrying in %.1fs", exc, backoff)
                            await asyncio.sleep(backoff)
                            backoff = min(backoff * 2, 30.0)
                for _ in batch:
                    outbox.task_done()
        finally:
            await discard(conn)

    # --- receiving ---

    def _on_notification(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            origin = message["o"]
            if origin == self.origin:
                return  # our own: local subscribers had it at publish time
            aid, seq = UUID(message["a"]), int(message["n"])
            event = Event(aid, AnalysisStatus(message["s"]), message["g"], message["t"])
        except (ValueError, KeyError, TypeError):
            log.warning("analysis events: malformed notification ignored: %.200s", payload)
            return
        now = time.monotonic()
        previous = self._received.get(aid)
        if previous is not None and previous[0] != origin:
            # Another worker took the job over (the first one died): its text starts afresh.
            self.local.forget(aid)
        elif previous is not None and seq != previous[1] + 1:
            self.gaps += 1
            log.warning("analysis events: analysis %s: expected event %d from %s, got %d (%d missed)",
                        aid, previous[1] + 1, origin, seq, seq - previous[1] - 1)
        if event.is_final:
            self._received.pop(aid, None)
        else:
            self._received[aid] = (origin, seq, now)
        self.local.deliver(event)
        if now - self._last_prune > 60:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget remote analyses whose final event never came (their worker died and the job
        finished elsewhere, or the notification was lost): their backlog would never be freed."""
        self._last_prune = now
        for aid, (_, _, seen) in list(self._received.items()):
            if now - seen > self.stale_seconds:
                del self._received[aid]
                self.local.forget(aid)


def make_event_bus(
    db: Database, kind: Literal["auto", "memory", "postgres"], pooler_mode: Literal["session", "transaction"]
) -> InProcessEventBus | PostgresEventBus:
    """The bus the settings ask for. Transaction poolers cannot carry LISTEN: in-process only."""
    if kind == "memory":
        return InProcessEventBus()
    if pooler_mode == "transaction":
        log.warning(
            "analysis events stay in this process: a transaction pooler cannot LISTEN "
            "(DATABASE_POOLER_MODE=transaction). Subscribers get the progress of analyses run by "
            "this process's workers; others only once finished, as they re-read the row (docs/DEPLOYMENT.md)"
        )
        return InProcessEventBus()
    return PostgresEventBus(db)
