"""Scale-out across processes: two API processes (`codepattern serve`, no workers of their own)
and `codepattern worker` processes on one database. A subscriber on one API streams an analysis
submitted on the other and run by a worker, through the PostgreSQL event bus; a worker killed
mid-analysis loses no job."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from core.domain import RULE_BASED
from tests.helpers import TEST_SECRET, admin_execute, token_for, with_database
from tests.live_server import free_port
from tests.tiny_models import TUTOR_REPLY, build_tiny_tutor_model

ROOT = Path(__file__).resolve().parents[2]
SUBMIT = """
mutation($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) { attempt { verdict } analysis { id status } }
}
"""
REQUEST = "mutation($i: RequestAnalysisInput!) { requestAnalysis(input: $i) { id status } }"
UPDATES = """
subscription($id: ID!) {
  analysisUpdates(analysisId: $id) {
    analysisId status stage textDelta
    analysis { status explanation modelUsed }
  }
}
"""
RIGHT_TRIANGLE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"


@pytest.fixture(scope="module")
def tiny_generation_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_tutor_model(tmp_path_factory.mktemp("multiprocess-model") / "generation")


class Processes:
    """`codepattern` subprocesses, each in its own process group (a kill takes its sandbox too),
    their output in files shown when a test fails."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args], cwd=ROOT, env={**self.env, **env},
            start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()  # the child holds its own descriptor
        self.started.append((name, process))
        return process

    def output(self) -> str:
        return "\n".join(f"--- {name} (exit {p.poll()}) ---\n{(self.folder / f'{name}.log').read_text()[-4000:]}"
                         for name, p in self.started)

    def stop_all(self) -> None:
        for _, process in self.started:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@dataclass
class Cluster:
    """Two API processes and a worker on one database, shared by this module's tests (starting
    `codepattern` processes is most of their time); each test adds the workers it kills."""

    database_url: str
    procs: Processes
    api1_port: int
    api2_port: int
    worker: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
async def cluster(pg_server_url: str, template_database: str, tiny_generation_model: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    name = f"cpm_multiprocess_{os.getpid()}"
    await admin_execute(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    database_url = with_database(pg_server_url, name)
    folder = tmp_path_factory.mktemp("multiprocess")
    procs = Processes(folder, {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(folder),
        "SUPABASE_JWT_SECRET": TEST_SECRET,
        "SEED_ON_START": "false",  # the template database is migrated and seeded
        "EVENT_BUS": "postgres",
        "GENERATION_MODEL": str(tiny_generation_model),
        "GENERATION_MAX_NEW_TOKENS": "128",
        "MODELS_PRELOAD": "false",
        "MODEL_DEVICE": "cpu",
        "MODEL_CACHE": "false",
        "ANALYSIS_POLL_SECONDS": "0.5",
        "DATABASE_POOL_MIN": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "LOG_LEVEL": "INFO",
        "READYZ_DETAILS": "true",  # wait_ready reads the event bus's state
    })
    try:
        api1_port, api2_port = free_port(), free_port()
        api1 = procs.start("api1", "serve", "--port", str(api1_port), ANALYSIS_WORKERS="0")
        api2 = procs.start("api2", "serve", "--port", str(api2_port), ANALYSIS_WORKERS="0")
        worker = procs.start("worker", "worker", "--concurrency", "2")
        await asyncio.gather(wait_ready(api1_port, api1, procs), wait_ready(api2_port, api2, procs))
        yield Cluster(database_url, procs, api1_port, api2_port, worker)
    finally:
        procs.stop_all()
        await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def show_output(cluster: Cluster) -> Iterator[None]:
    yield
    print(cluster.procs.output())  # captured: pytest shows it only when the test failed


async def wait_ready(port: int, process: subprocess.Popen[bytes], procs: Processes) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(1200):
            assert process.poll() is None, procs.output()
            with contextlib.suppress(httpx.TransportError):
                response = await http.get("/readyz")
                if response.status_code == 200:
                    assert response.json()["events"]["listening"] is True
                    return
            await asyncio.sleep(0.05)
    raise AssertionError("API process did not become ready\n" + procs.output())


async def graphql(port: int, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        response = await http.post("/graphql", json={"query": query, "variables": variables},
                                   headers={"Authorization": f"Bearer {token}"})
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@contextlib.asynccontextmanager
async def subscription(port: int, analysis_id: str, token: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
    """A graphql-transport-ws subscription whose `next` payloads (then None) land in a queue."""
    events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    async with websockets.connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": UPDATES, "variables": {"id": analysis_id}}}))

        async def read() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "next":
                    assert "errors" not in message["payload"], message
                    events.put_nowait(message["payload"]["data"]["analysisUpdates"])
                elif message["type"] in ("complete", "error"):
                    assert message["type"] == "complete", message
                    events.put_nowait(None)
                    return

        reader = asyncio.create_task(read())
        try:
            yield events  # type: ignore[misc]
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def drain(events: asyncio.Queue[dict[str, Any] | None], limit_seconds: float = 60) -> list[dict[str, Any]]:
    """Events until the subscription completes."""
    received: list[dict[str, Any]] = []
    async with asyncio.timeout(limit_seconds):
        while (event := await events.get()) is not None:
            received.append(event)
    return received


async def pattern_id(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        return str(await conn.fetchval("SELECT id FROM patterns WHERE slug = 'right-triangle'"))
    finally:
        await conn.close()


async def test_a_subscriber_on_one_api_streams_an_analysis_submitted_on_another_and_run_by_a_worker(
        cluster: Cluster, show_output: None) -> None:
    worker = cluster.worker
    # Hold the worker still (wherever its start-up is) so the subscriber sees the job's whole life.
    os.killpg(worker.pid, signal.SIGSTOP)
    token = token_for()
    try:
        submitted = await graphql(cluster.api2_port, SUBMIT, {"input": {
            "patternId": await pattern_id(cluster.database_url), "code": RIGHT_TRIANGLE}}, token)
        assert submitted["submitAttempt"]["attempt"]["verdict"] == "PASSED"
        analysis_id = submitted["submitAttempt"]["analysis"]["id"]
        async with subscription(cluster.api1_port, analysis_id, token) as events:
            first = await asyncio.wait_for(events.get(), 30)  # the snapshot: the subscription is live
            os.killpg(worker.pid, signal.SIGCONT)
            rest = await drain(events)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGCONT)
    assert first is not None and first["status"] == "QUEUED" and not first["textDelta"]
    received = [first, *rest]
    stages = [e["stage"] for e in received]
    # Every stage the worker published reached the other API process, in order.
    assert stages[0] == "queued" and stages[-1] == "done", stages
    streamed = [s for s in stages if s not in ("queued", "done")]
    assert streamed == sorted(streamed, key=["execution", "complexity", "explanation", "feedback"].index), stages
    assert {"execution", "complexity", "explanation", "feedback"} <= set(streamed), stages
    assert all(e["analysisId"] == analysis_id for e in received)
    final = received[-1]
    assert final["status"] == "DONE" and final["analysis"]["status"] == "DONE"
    assert final["analysis"]["modelUsed"] != RULE_BASED  # the worker's (tiny) model wrote it
    # The model's sentences, each verified and sent whole, crossed processes in order.
    assert [e["textDelta"].strip() for e in received if e["textDelta"]][-3:] == TUTOR_REPLY.split("\n")
    assert final["analysis"]["explanation"] == "".join(e["textDelta"] or "" for e in received).strip()

    # SIGTERM: the worker stops cleanly (and leaves the next test's job alone).
    os.killpg(worker.pid, signal.SIGTERM)
    assert await asyncio.to_thread(worker.wait, 30) == 0


async def wait_for_log(procs: Processes, name: str, text: str) -> None:
    for _ in range(1200):
        if text in (procs.folder / f"{name}.log").read_text():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} never logged {text!r}\n" + procs.output())


async def test_a_worker_killed_mid_analysis_loses_no_job(cluster: Cluster, show_output: None) -> None:
    procs = cluster.procs
    first = procs.start("worker1", "worker", "--concurrency", "1", ANALYSIS_LEASE_SECONDS="2")
    second = procs.start("worker2", "worker", "--concurrency", "1", ANALYSIS_LEASE_SECONDS="2")
    await asyncio.gather(wait_for_log(procs, "worker1", "codepattern worker ready"),
                         wait_for_log(procs, "worker2", "codepattern worker ready"))
    # Neither may take the job before the trap is set; the second waits for the first to die.
    os.killpg(first.pid, signal.SIGSTOP)
    os.killpg(second.pid, signal.SIGSTOP)
    token = token_for()
    requested = await graphql(cluster.api1_port, REQUEST, {"i": {
        "patternId": await pattern_id(cluster.database_url), "code": RIGHT_TRIANGLE + "# mine\n"}}, token)
    analysis_id = requested["requestAnalysis"]["id"]
    assert requested["requestAnalysis"]["status"] == "QUEUED"  # the model's part is left to a worker
    conn = await asyncpg.connect(cluster.database_url)
    try:
        async with subscription(cluster.api2_port, analysis_id, token) as events:
            assert (await asyncio.wait_for(events.get(), 30) or {}).get("status") == "QUEUED"
            # The trap: a worker reads the pattern right after claiming its job; holding the table
            # locked keeps the first worker inside the job (RUNNING, under its lease) until it dies.
            trap = conn.transaction()
            await trap.start()
            await conn.execute("LOCK TABLE patterns IN ACCESS EXCLUSIVE MODE")
            os.killpg(first.pid, signal.SIGCONT)
            row = None
            for _ in range(1200):
                row = await conn.fetchrow(
                    """SELECT a.status, a.worker_id,
                              (SELECT count(*) FROM pg_locks l WHERE NOT l.granted AND l.relation = 'patterns'::regclass)
                              AS waiting
                       FROM analyses a WHERE a.id = $1::uuid""", analysis_id)
                if row["status"] == "RUNNING" and row["waiting"] > 0:
                    break
                await asyncio.sleep(0.05)
            assert row is not None and row["status"] == "RUNNING" and row["waiting"] > 0
            dead_worker = row["worker_id"]
            os.killpg(first.pid, signal.SIGKILL)  # no release, no final event: only its lease runs out
            await asyncio.to_thread(first.wait)
            await trap.rollback()
            os.killpg(second.pid, signal.SIGCONT)
            received = await drain(events)
        row = await conn.fetchrow("SELECT status, job_attempts, worker_id FROM analyses WHERE id = $1::uuid",
                                  analysis_id)
    finally:
        await conn.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(second.pid, signal.SIGCONT)
    assert received[-1]["status"] == "DONE" and received[-1]["analysis"]["status"] == "DONE", received
    assert received[-1]["analysis"]["modelUsed"] != RULE_BASED
    assert row["status"] == "DONE" and row["job_attempts"] == 2, dict(row)
    assert row["worker_id"] != dead_worker
