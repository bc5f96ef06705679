"""Wakes one idle worker per ring, not all of them.

One notification stands for one job (a submission, a job marked watched), so one idle worker is
enough to look for it; a worker that claims a job rings again for the next one, so a burst of
jobs still drains as fast as claims go (they take one lock in turn anyway). With an
`asyncio.Event`, every ring woke every idle worker, and each ran a claim: a class of 8 made 64
claims for 8 jobs, on the same two cores as the judge and the model.

A ring while no worker waits is kept (one, not counted) for the next worker that would wait:
a worker rings-off (`clear`) before it claims, so a job queued after its claim's snapshot still
finds the bell rung when that claim comes back empty.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib


class Doorbell:
    def __init__(self) -> None:
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._rung = False

    @property
    def waiting(self) -> int:
        return sum(not waiter.done() for waiter in self._waiters)

    def ring(self) -> None:
        """Wake the longest-idle waiter, or keep the ring for the next one to wait."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._rung = True

    def clear(self) -> None:
        self._rung = False

    async def wait(self, seconds: float) -> bool:
        """Until rung (True) or `seconds` pass (False)."""
        if self._rung:
            self._rung = False
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for swallows a cancellation that comes
            # as the future completes, and a worker being shut down would claim on.
            async with asyncio.timeout(seconds):
                await waiter
            return True
        except TimeoutError:
            # A ring that came as the time ran out went to this waiter: keep it, not lose it.
            return self._was_rung(waiter)
        except asyncio.CancelledError:
            # Cancelled (shutdown) after a ring was handed to us: hand it to someone else.
            if self._was_rung(waiter):
                self.ring()
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    @staticmethod
    def _was_rung(waiter: asyncio.Future[None]) -> bool:
        return waiter.done() and not waiter.cancelled()
