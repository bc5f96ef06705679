"""Feedback at classroom scale: the grounded part comes with the submission, watched analyses go
first, a learner runs a bounded number at once, and a newer submission supersedes an older one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.domain import AnalysisKind
from core.settings import Settings
from db import analyses
from db.database import Database
from tests.helpers import make_settings, token_for
from tests.integration.test_submissions import REQUEST, RIGHT_TRIANGLE, pattern_id, wait_done
from tests.live_server import live_server, subscribe

GROUNDED = """
mutation($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) {
    attempt { verdict }
    analysis { id status modelUsed explanation hints suggestions complexity { bigO loops } }
  }
}
"""
UPDATES = """
subscription($id: ID!) { analysisUpdates(analysisId: $id) { status stage analysis { status modelUsed explanation } } }
"""
WRONG = "n = int(input())\nfor i in range(n):\n    print('*' * (i + 2))\n"


# --------------------------------------------------------------------------- with a (tiny) model


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tiny_tutor: Path) -> Settings:
    # An idle engine waits 3 s for company before its prefill: a job stays RUNNING that long.
    return make_settings(database_url, tmp_path, models_enabled=True, generation_model=str(tiny_tutor),
                         models_preload=False, generation_batch_wait_ms=3000.0)


async def submit(gql, token: str, code: str) -> dict:
    pid = await pattern_id(gql, "right-triangle")
    return (await gql.data(GROUNDED, {"input": {"patternId": pid, "code": code}}, token=token))["submitAttempt"]


async def test_queued_analysis_carries_its_grounded_part(gql, services) -> None:
    await services.worker.aclose()  # nothing runs: what the learner sees is what was stored at once
    data = await submit(gql, token_for(), RIGHT_TRIANGLE)
    analysis = data["analysis"]
    assert analysis["status"] == "QUEUED" and analysis["modelUsed"] != "rule-based"
    assert analysis["explanation"] and analysis["complexity"]["bigO"] == "O(n^2)"


async def test_a_full_queue_keeps_submissions_and_refuses_explicit_requests(gql, services) -> None:
    await services.worker.aclose()  # nothing drains the queue
    services.submissions.max_queued = 2
    for _ in range(2):
        assert (await submit(gql, token_for(), RIGHT_TRIANGLE))["analysis"]["status"] == "QUEUED"
    # Full: a submission is still judged and recorded, its analysis ends with the grounded part.
    learner = str(uuid.uuid4())
    data = await submit(gql, token_for(learner), RIGHT_TRIANGLE)
    assert data["attempt"]["verdict"] == "PASSED"
    assert data["analysis"]["status"] == "DONE" and data["analysis"]["modelUsed"] == "rule-based"
    assert data["analysis"]["explanation"]
    # An explicit request for the model's prose is refused, with when to come back.
    pid = await pattern_id(gql, "right-triangle")
    response = await gql(REQUEST, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE}}, token=token_for(learner))
    (error,) = response["errors"]
    assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE" and error["extensions"]["retryAfter"] > 0
    assert await services.db.fetchval("SELECT count(*) FROM analyses WHERE status = 'QUEUED'") == 2
    # Only the complexity needs no model: still served.
    response = await gql(REQUEST, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE, "kind": "COMPLEXITY"}},
                         token=token_for(learner))
    assert response["data"]["requestAnalysis"]["status"] == "DONE"


async def test_a_newer_submission_supersedes_the_queued_one(gql, services) -> None:
    await services.worker.aclose()
    token = token_for()
    old = (await submit(gql, token, WRONG))["analysis"]
    async with live_server(services) as address:
        watcher = asyncio.create_task(subscribe(address, UPDATES, {"id": old["id"]}, token))
        await asyncio.sleep(0.5)
        new = (await submit(gql, token, RIGHT_TRIANGLE))["analysis"]
        messages = await asyncio.wait_for(watcher, 30)
    final = [m["payload"]["data"]["analysisUpdates"] for m in messages if m["type"] == "next"][-1]
    # The old one ends at once, with its grounded part; the new one waits for the model.
    assert final["status"] == "DONE" and final["analysis"]["modelUsed"] == "rule-based"
    assert final["analysis"]["explanation"] == old["explanation"]
    assert (await wait_done(gql, old["id"], token))["status"] == "DONE"
    row = await services.db.fetchrow("SELECT status, superseded_by FROM analyses WHERE id = $1::uuid", new["id"])
    assert row["status"] == "QUEUED" and row["superseded_by"] is None
    assert str(await services.db.fetchval("SELECT superseded_by FROM analyses WHERE id = $1::uuid", old["id"])) \
        == new["id"]


async def test_a_newer_submission_stops_the_running_one(gql, services) -> None:
    token = token_for()
    old = (await submit(gql, token, WRONG))["analysis"]
    for _ in range(100):  # claimed, and waiting in the engine for company (3 s)
        if await services.db.fetchval("SELECT status FROM analyses WHERE id = $1::uuid", old["id"]) == "RUNNING":
            break
        await asyncio.sleep(0.05)
    new = (await submit(gql, token, RIGHT_TRIANGLE))["analysis"]
    stopped = await wait_done(gql, old["id"], token)
    assert stopped["status"] == "DONE" and stopped["modelUsed"] == "rule-based"
    assert stopped["explanation"] == old["explanation"]
    finished = await wait_done(gql, new["id"], token)
    assert finished["status"] == "DONE" and finished["modelUsed"] != "rule-based"
    assert services.worker.readiness()["superseded"] == 1
    timings = await services.db.fetchval("SELECT timings FROM analyses WHERE id = $1::uuid", old["id"])
    assert timings.get("superseded") == 1.0 and timings.get("superseded_by") == new["id"]


# --------------------------------------------------------------------------- claim order, on the queue itself


async def queue_job(db: Database, learner: str, pattern: int, created_offset_s: float) -> uuid.UUID:
    await db.execute("INSERT INTO learners (id) VALUES ($1) ON CONFLICT DO NOTHING", learner)
    return await db.fetchval(
        """
        INSERT INTO analyses (learner_id, pattern_id, kind, code, code_sha256, created_at)
        VALUES ($1, $2, 'FULL', 'print(1)', repeat('a', 64), now() + make_interval(secs => $3)) RETURNING id
        """,
        learner, pattern, created_offset_s,
    )


@pytest.fixture
async def queue(settings: Settings) -> Database:
    from app.services import database_config

    db = Database(database_config(settings))
    await db.connect()
    yield db
    await db.close()


async def test_claims_take_watched_jobs_first_and_cap_each_learner(queue: Database) -> None:
    pattern = await queue.fetchval("SELECT id FROM patterns ORDER BY id LIMIT 1")
    a1 = await queue_job(queue, "learner-a", pattern, -30)
    a2 = await queue_job(queue, "learner-a", pattern, -20)
    b1 = await queue_job(queue, "learner-b", pattern, -10)
    c1 = await queue_job(queue, "learner-c", pattern, 0)
    await analyses.mark_watched(queue, c1)  # the newest, but somebody is waiting for it

    async def claim() -> uuid.UUID | None:
        job = await analyses.claim(queue, "w", lease_seconds=60, max_attempts=3, per_learner=1)
        return job.id if job else None

    assert await claim() == c1  # watched first
    assert await claim() == a1  # then the oldest
    assert await claim() == b1  # a2 waits: learner a already has one running
    assert await claim() is None
    await queue.execute("UPDATE analyses SET status = 'DONE', completed_at = now() WHERE id = $1", a1)
    assert await claim() == a2  # its turn once a1 is done
    kinds = {row["kind"] for row in await queue.fetch("SELECT kind FROM analyses")}
    assert kinds == {AnalysisKind.FULL.value}


async def test_a_claim_that_skipped_a_job_being_marked_watched_is_woken_again(queue: Database) -> None:
    # A subscriber marks the job watched while a worker claims: the claim skips the locked row and
    # finds nothing. When the mark commits, the workers hear of the job again (they would otherwise
    # sleep until the next wake-up: another job queued or ended).
    pattern = await queue.fetchval("SELECT id FROM patterns ORDER BY id LIMIT 1")
    job = await queue_job(queue, "learner-a", pattern, 0)
    heard: asyncio.Queue[str] = asyncio.Queue()

    def hear(_conn: Any, _pid: int, channel: str, _payload: str) -> None:
        heard.put_nowait(channel)

    listener = await queue.pool.acquire()
    try:
        await listener.add_listener(analyses.NEW_JOB_CHANNEL, hear)
        async with queue.transaction() as marking:
            await analyses.mark_watched(marking, job)
            assert await analyses.claim(queue, "w", lease_seconds=60, max_attempts=3, per_learner=1) is None
            assert heard.empty()  # nothing is said before the mark commits
        assert await asyncio.wait_for(heard.get(), 5) == analyses.NEW_JOB_CHANNEL
        claimed = await analyses.claim(queue, "w", lease_seconds=60, max_attempts=3, per_learner=1)
        assert claimed is not None and claimed.id == job
        # A running job needs no wake-up: marking it says nothing.
        async with queue.transaction() as marking:
            await analyses.mark_watched(marking, job)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(heard.get(), 0.5)
    finally:
        await listener.remove_listener(analyses.NEW_JOB_CHANNEL, hear)
        await queue.pool.release(listener)


class _FreezesHoldingTheClaimLock:
    """A worker paused (SIGSTOP, a stalled host) right after it took the claim lock: its
    transaction stays open and it never sends another statement."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.holding = asyncio.Event()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.db.transaction() as conn:
            yield self._Frozen(conn, self.holding)

    class _Frozen:
        def __init__(self, conn: Any, holding: asyncio.Event) -> None:
            self.conn, self.holding = conn, holding

        async def execute(self, query: str, *args: Any) -> str:
            status = await self.conn.execute(query, *args)
            if "pg_advisory_xact_lock" in query:
                self.holding.set()
                await asyncio.Event().wait()  # never again
            return status


async def test_a_claimer_stalled_holding_the_lock_does_not_stop_the_others(queue: Database) -> None:
    pattern = await queue.fetchval("SELECT id FROM patterns ORDER BY id LIMIT 1")
    job = await queue_job(queue, "learner-a", pattern, 0)
    frozen = _FreezesHoldingTheClaimLock(queue)
    stalled = asyncio.create_task(analyses.claim(
        frozen, "stalled", lease_seconds=60, max_attempts=3, per_learner=1, stall_seconds=0.5))  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(frozen.holding.wait(), 10)
        # Without the stall timeout this claim waits on the lock for as long as the other is paused.
        claimed = await asyncio.wait_for(
            analyses.claim(queue, "healthy", lease_seconds=60, max_attempts=3, per_learner=1), 15)
        assert claimed is not None and claimed.id == job
        assert await queue.fetchval("SELECT worker_id FROM analyses WHERE id = $1", job) == "healthy"
    finally:
        stalled.cancel()
        with contextlib.suppress(BaseException):
            await stalled
