"""Subscription root.

A WebSocket authenticates once, at `connection_init`; a subscription must not outlive the token
it was opened with. Each one therefore ends, with UNAUTHENTICATED, when the caller's token stops
being accepted (`Caller.expires_at`: its `exp` plus the allowed clock skew): the client
reconnects with a fresh token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import TypeVar

import strawberry

from core.errors import Unauthenticated

from . import analysis as analysis_resolvers
from .analysis_types import AnalysisEvent
from .context import Info
from .metrics import SUBSCRIPTIONS

T = TypeVar("T")

EXPIRED_MESSAGE = "The access token has expired; reconnect with a fresh token."


async def until_token_expires(events: AsyncGenerator[T, None], expires_at: float | None) -> AsyncGenerator[T, None]:
    """`events` until the token expiring at `expires_at` (epoch seconds; None: never) does; then
    Unauthenticated. Waits for the next event race the remaining time; `events` is closed
    either way."""
    try:
        if expires_at is None:
            async for event in events:
                yield event
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (expires_at - time.time())
        while True:
            if loop.time() >= deadline:
                raise Unauthenticated(EXPIRED_MESSAGE)
            timeout = asyncio.timeout_at(deadline)
            try:
                async with timeout:
                    event = await anext(events)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if timeout.expired():
                    raise Unauthenticated(EXPIRED_MESSAGE) from None
                raise
            yield event
    finally:
        await events.aclose()


@strawberry.type
class Subscription:
    # Also ends, with UNAUTHENTICATED, when the access token expires (see the module's docstring).
    @strawberry.subscription(description="Analysis progress; ends after the event whose status is DONE or FAILED.")
    async def analysis_updates(self, info: Info, analysis_id: strawberry.ID) -> AsyncGenerator[AnalysisEvent, None]:
        expires_at = info.context.caller.expires_at  # a bad token raises its error here
        events = until_token_expires(analysis_resolvers.analysis_updates(info, analysis_id), expires_at)
        SUBSCRIPTIONS.inc()
        try:
            async for event in events:
                yield event
        finally:
            SUBSCRIPTIONS.dec()
            await events.aclose()
