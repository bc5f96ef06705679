"""PostgresEventBus: two bus instances (two processes, as far as the bus can tell) on one real
database, talking through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from analysis.events import CHANNEL, MAX_PAYLOAD_BYTES, Event, PostgresEventBus, split_text
from app.services import database_config
from core.domain import AnalysisStatus
from db.database import Database
from tests.helpers import make_settings

RUNNING, DONE = AnalysisStatus.RUNNING, AnalysisStatus.DONE


def escaped_size(text: str) -> int:
    """What a piece costs inside a payload, measured by the real encoder."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def test_split_text_respects_the_byte_budget_and_never_splits_a_character() -> None:
    text = 'naïve "quoted" \\ back\nslash\x01 日本語テキスト 🌟⭐ ' * 40
    pieces = split_text(text, 16)
    assert "".join(pieces) == text
    assert len(pieces) > 1
    assert all(0 < escaped_size(p) <= 16 for p in pieces), [p for p in pieces if escaped_size(p) > 16]
    assert split_text("", 16) == [""]
    assert split_text("short", 16) == ["short"]
    with pytest.raises(ValueError):
        split_text("x", 3)


def test_a_large_delta_becomes_ordered_notifications_under_the_limit() -> None:
    bus = PostgresEventBus(Database.__new__(Database))  # encoding only: no connection used
    aid = uuid.uuid4()
    first = bus.payloads(Event(aid, RUNNING, "explanation", "Hello "))
    big = "★ stars and rows " * 2000  # ~38 KB of UTF-8, with 3-byte characters
    split = bus.payloads(Event(aid, RUNNING, "explanation", big))
    final = bus.payloads(Event(aid, DONE, "done"))
    messages = [json.loads(p) for p in first + split + final]
    assert all(len(p.encode()) <= MAX_PAYLOAD_BYTES for p in first + split + final)
    assert len(split) >= 5
    assert [m["n"] for m in messages] == list(range(1, len(messages) + 1))
    assert "".join(m["t"] for m in messages[1:-1]) == big
    assert messages[-1]["s"] == "DONE" and messages[-1]["t"] is None
    # After the final event the analysis's numbering is forgotten.
    assert json.loads(bus.payloads(Event(aid, RUNNING, "x"))[0])["n"] == 1


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(database_config(make_settings(database_url, tmp_path)))
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
async def buses(db: Database) -> AsyncIterator[Callable[..., Awaitable[PostgresEventBus]]]:
    """Started buses on the test's database (each as another process would have it)."""
    started: list[PostgresEventBus] = []

    async def make(**options: object) -> PostgresEventBus:
        bus = PostgresEventBus(db, **options)  # type: ignore[arg-type]
        await bus.start()
        assert bus.listening
        started.append(bus)
        return bus

    yield make
    for bus in started:
        await bus.aclose()


async def next_event(queue: asyncio.Queue[Event]) -> Event:
    return await asyncio.wait_for(queue.get(), 10)


async def until_final(queue: asyncio.Queue[Event]) -> list[Event]:
    events = [await next_event(queue)]
    while not events[-1].is_final:
        events.append(await next_event(queue))
    return events


async def barrier(sender: PostgresEventBus, receiver: PostgresEventBus) -> None:
    """Return once `receiver` has handled every notification committed before this call: one
    connection's notifications arrive in commit order, so a marker sent now arrives after them."""
    marker = uuid.uuid4()
    async with receiver.subscribe(marker) as sub:
        await sender.publish(Event(marker, DONE, "done"))
        assert (await next_event(sub.queue)).analysis_id == marker


async def delivery_resumes(sender: PostgresEventBus, receiver: PostgresEventBus) -> bool:
    """Send markers until one gets through (the listener comes back after its backoff)."""
    for _ in range(100):
        marker = uuid.uuid4()
        async with receiver.subscribe(marker) as sub:
            await sender.publish(Event(marker, DONE, "done"))
            try:
                await asyncio.wait_for(sub.queue.get(), 0.2)
                return True
            except TimeoutError:
                continue
    return False


async def test_events_reach_another_bus_in_order_and_the_own_origin_is_skipped(buses) -> None:
    worker, api = await buses(), await buses(max_payload_bytes=300)
    aid = uuid.uuid4()
    deltas = ["Each ", "row ", "prints ", "ünïcödé ⭐ ", "x" * 2000, " done."]
    async with api.subscribe(aid) as remote, worker.subscribe(aid) as local:
        await worker.publish(Event(aid, RUNNING, "execution"))
        for delta in deltas:
            await worker.publish(Event(aid, RUNNING, "explanation", delta))
        await worker.publish(Event(aid, DONE, "done"))
        received = await until_final(remote.queue)
        local_events = await until_final(local.queue)
        # The worker's own notifications come back to it: they must not be delivered twice.
        await barrier(api, worker)
        assert local.queue.empty()
    assert [e.stage for e in received] == ["execution", *["explanation"] * len(deltas), "done"]
    assert [e.text_delta for e in received] == [None, *deltas, None]
    assert [e.text_delta for e in local_events] == [None, *deltas, None]
    assert worker.readiness()["sent"] == len(deltas) + 2  # one notification each: none needed splitting
    assert api.gaps == 0 and worker.gaps == 0


async def test_a_long_delta_is_split_and_joined_back_across_processes(buses) -> None:
    worker, api = await buses(max_payload_bytes=256), await buses()
    aid = uuid.uuid4()
    text = "日本語 and ascii, \"quotes\"\n" * 100
    async with api.subscribe(aid) as remote:
        await worker.publish(Event(aid, RUNNING, "explanation", text))
        await worker.publish(Event(aid, DONE, "done"))
        received = await until_final(remote.queue)
    assert len(received) > 3  # several notifications, delivered as consecutive deltas
    assert "".join(e.text_delta or "" for e in received) == text
    assert received[-1].status is DONE


async def test_a_late_subscriber_in_another_process_gets_the_text_so_far(buses) -> None:
    worker, api = await buses(), await buses()
    aid = uuid.uuid4()
    await worker.publish(Event(aid, RUNNING, "explanation", "Hello "))
    await worker.publish(Event(aid, RUNNING, "explanation", "wor"))
    await barrier(worker, api)
    async with api.subscribe(aid) as late:
        assert late.text_so_far == "Hello wor"
        await worker.publish(Event(aid, RUNNING, "explanation", "ld"))
        await worker.publish(Event(aid, DONE, "done"))
        rest = await until_final(late.queue)
    assert late.text_so_far + "".join(e.text_delta or "" for e in rest) == "Hello world"
    async with api.subscribe(aid) as after:
        assert after.text_so_far == ""  # forgotten once final, as in one process


async def test_gaps_are_logged_and_a_takeover_restarts_the_backlog(
        buses, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    api = await buses()
    aid = uuid.uuid4()

    async def notify(origin: str, seq: int, text: str | None, status: str = "RUNNING") -> None:
        payload = {"o": origin, "a": str(aid), "n": seq, "s": status, "g": "explanation", "t": text}
        await db.execute("SELECT pg_notify($1, $2)", CHANNEL, json.dumps(payload))

    caplog.set_level(logging.WARNING, logger="analysis.events")
    async with api.subscribe(aid) as sub:
        await notify("first-worker", 1, "one ")
        await notify("first-worker", 4, "four ")  # 2 and 3 never came
        assert [(await next_event(sub.queue)).text_delta for _ in range(2)] == ["one ", "four "]
        assert api.gaps == 1
        assert any("2 missed" in r.getMessage() for r in caplog.records)
        # The first worker died; another one runs the job again from the start.
        await notify("second-worker", 1, "again ")
        assert (await next_event(sub.queue)).text_delta == "again "
    async with api.subscribe(aid) as late:
        assert late.text_so_far == "again "  # not "one four again"
    assert api.gaps == 1  # a new origin starting at 1 is no gap
    await notify("second-worker", 2, None, "DONE")
    await notify("junk", 1, None, "NOT-A-STATUS")  # malformed: logged and ignored, the bus lives on
    # Notifications arrive in order: once the junk is logged, the DONE before it was delivered
    # too, so the next subscriber cannot get it.
    async with asyncio.timeout(10):
        while not any("malformed" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    async with api.subscribe(aid) as sub:
        await notify("second-worker", 3, "still listening")
        assert (await next_event(sub.queue)).text_delta == "still listening"


async def test_dropped_connections_reconnect_and_local_delivery_never_stops(
        buses, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    worker, api = await buses(), await buses()
    aid = uuid.uuid4()
    caplog.set_level(logging.INFO, logger="db.listen")
    # Kill every bus connection (the listeners and the senders), as a database restart would.
    killed = await db.fetchval(
        """
        SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND (query ILIKE 'LISTEN%' OR query ILIKE '%pg_notify%')
        """
    )
    assert killed >= 2  # both listeners at least (the api has sent nothing yet)
    async with worker.subscribe(aid) as local, api.subscribe(aid) as remote:
        await worker.publish(Event(aid, RUNNING, "explanation", "local first"))
        assert local.queue.get_nowait().text_delta == "local first"  # at once, network or not
        assert await delivery_resumes(worker, api)
        await worker.publish(Event(aid, DONE, "done"))
        received = await until_final(remote.queue)
    # What was published while the api's listener was down may be lost; the final event is not.
    assert received[-1].status is DONE
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("analysis events: LISTEN unavailable") for m in messages), messages
    assert "analysis events: listening again" in messages


async def test_start_and_aclose_are_idempotent_and_a_closed_bus_still_delivers_locally(db: Database) -> None:
    bus = PostgresEventBus(db)
    await bus.start()
    await bus.start()
    assert bus.listening
    listeners = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'")
    assert listeners == 1
    await bus.aclose()
    await bus.aclose()
    assert not bus.listening
    aid = uuid.uuid4()
    async with bus.subscribe(aid) as sub:
        await bus.publish(Event(aid, DONE, "done"))
        assert sub.queue.get_nowait().is_final


async def test_unreachable_database_at_start_is_retried_not_raised(tmp_path: Path) -> None:
    # A port nothing listens on: start() must return (the worker must not break) and keep trying.
    db = Database(database_config(make_settings("postgresql://postgres@127.0.0.1:9/none", tmp_path)))
    db.url = db.config.url
    bus = PostgresEventBus(db)
    await bus.start()
    try:
        assert not bus.listening
        aid = uuid.uuid4()
        async with bus.subscribe(aid) as sub:
            await bus.publish(Event(aid, RUNNING, "explanation", "hi"))
            assert sub.queue.get_nowait().text_delta == "hi"
    finally:
        await bus.aclose()


async def test_notify_payload_limit_is_real(db: Database) -> None:
    """The limit the splitting guards against: PostgreSQL refuses 8000 bytes."""
    with pytest.raises(asyncpg.InvalidParameterValueError):
        await db.execute("SELECT pg_notify($1, $2)", CHANNEL, "x" * 8000)
    await db.execute("SELECT pg_notify($1, $2)", CHANNEL, "x" * MAX_PAYLOAD_BYTES)
