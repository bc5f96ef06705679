"""The workers' doorbell: one ring wakes one idle worker, and a ring nobody heard is kept."""

from __future__ import annotations

import asyncio

import pytest

from analysis.doorbell import Doorbell


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_ring_wakes_one_of_several_waiters() -> None:
    bell = Doorbell()
    waiters = [asyncio.create_task(bell.wait(5)) for _ in range(4)]
    await _settle()
    assert bell.waiting == 4
    bell.ring()
    await _settle()
    assert sum(w.done() for w in waiters) == 1
    assert waiters[0].done() and waiters[0].result() is True  # the longest idle goes first
    assert bell.waiting == 3
    for _ in range(3):
        bell.ring()
    results = await asyncio.gather(*waiters)
    assert results == [True] * 4 and bell.waiting == 0


async def test_a_ring_with_nobody_waiting_is_kept_for_the_next_waiter_once() -> None:
    bell = Doorbell()
    bell.ring()
    bell.ring()  # kept as one ring, not counted
    assert await bell.wait(5) is True
    assert await bell.wait(0.05) is False


async def test_clear_drops_a_kept_ring() -> None:
    bell = Doorbell()
    bell.ring()
    bell.clear()
    assert await bell.wait(0.05) is False


async def test_a_wait_times_out_and_leaves_no_waiter_behind() -> None:
    bell = Doorbell()
    assert await bell.wait(0.01) is False
    assert bell.waiting == 0
    bell.ring()  # nobody waits: kept, not handed to the waiter that timed out
    assert await bell.wait(5) is True


async def test_a_waiter_cancelled_after_its_ring_hands_it_on() -> None:
    bell = Doorbell()
    first = asyncio.create_task(bell.wait(5))
    second = asyncio.create_task(bell.wait(5))
    await _settle()
    bell.ring()  # goes to `first`...
    first.cancel()  # ...which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) is True
