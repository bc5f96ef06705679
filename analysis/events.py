"""The event bus between analysis workers and subscribers.

One small interface; this in-process implementation serves a single server process that runs
its own workers. A LISTEN/NOTIFY implementation can replace it for several processes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from core.domain import AnalysisStatus


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

    async def publish(self, event: Event) -> None:
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
