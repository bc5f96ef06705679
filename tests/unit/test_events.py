"""The in-process event bus: fan-out, late joiners, and the final event always delivered."""

from __future__ import annotations

import uuid

from analysis.events import Event, InProcessEventBus
from core.domain import AnalysisStatus


async def test_late_subscriber_gets_text_so_far_then_only_new_deltas() -> None:
    bus = InProcessEventBus()
    aid = uuid.uuid4()
    await bus.publish(Event(aid, AnalysisStatus.RUNNING, "explanation", "Hello "))
    await bus.publish(Event(aid, AnalysisStatus.RUNNING, "explanation", "wor"))
    async with bus.subscribe(aid) as sub:
        assert sub.text_so_far == "Hello wor"
        await bus.publish(Event(aid, AnalysisStatus.RUNNING, "explanation", "ld"))
        await bus.publish(Event(aid, AnalysisStatus.DONE, "done"))
        received = [sub.queue.get_nowait(), sub.queue.get_nowait()]
    assert sub.text_so_far + (received[0].text_delta or "") == "Hello world"
    assert received[1].is_final
    assert bus.subscriber_count(aid) == 0
    async with bus.subscribe(aid) as again:
        assert again.text_so_far == ""  # forgotten once final


async def test_slow_subscriber_drops_deltas_but_never_the_final_event() -> None:
    bus = InProcessEventBus(max_queued=3)
    aid, other = uuid.uuid4(), uuid.uuid4()
    async with bus.subscribe(aid) as sub, bus.subscribe(other) as bystander:
        for i in range(10):
            await bus.publish(Event(aid, AnalysisStatus.RUNNING, "explanation", str(i)))
        await bus.publish(Event(aid, AnalysisStatus.FAILED, "failed"))
        events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        assert len(events) == 3 and events[-1].status == "FAILED"
        assert bystander.queue.empty()
