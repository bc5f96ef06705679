"""The read path over HTTP: our GraphQL server against PostGraphile and a hand-written endpoint.

    .venv/bin/python bench/bench_http.py [--duration 10] [--warmup 2] [--connections 32]
        [--rounds 1] [--scenarios catalog,learner] [--workers 2] [--profile]
        [--database-url postgresql://...] [--append-to docs/BENCHMARKS.md]

Sets up one database (an embedded PostgreSQL in a temporary folder, or a fresh database on
--database-url), migrated, seeded and filled by bench/load_attempts.py (so statistics are not
zeros), then starts, one after the other, each server against it and drives it with wrk (POST,
--connections open connections, one wrk thread to leave CPU to the server) for --warmup seconds
(discarded) and --duration seconds (measured); the wrk Lua script checks every response (status
200, no "errors" key). Two pages, each answered by every server with the same data (compared
before the load):

- catalog: "20 patterns with their statistics", anonymous:
  - ours: `codepattern serve` as deployed (the response cache on);
  - ours-nocache: the same with RESPONSE_CACHE=false: what the GraphQL engine itself costs;
  - ours-nocache-gcdefault: that with GC_TUNING=false (CPython's collector defaults), to show
    what app/gc_tuning.py buys;
  - ours-Nw: `serve --workers N` (--workers), the response cache on;
  - postgraphile: PostGraphile 4 (npm, installed into bench/.peers/; skipped with a line saying so
    where npm or node is missing), one Node process, `--default-role anon` so it runs each request
    as the anon role with row level security, as ours does; the statistics our schema derives
    (success rate, average time, perceived difficulty) are computed columns it inlines into its
    one SQL statement;
  - baseline: bench/baseline_app.py, Starlette + asyncpg, two SQL statements, no GraphQL.
- learner: `me` and `progress` with each pattern's name, signed in as one learner (an HS256 token):
  ours (the cache never serves signed-in callers; ours-gcdefault: GC_TUNING=false) against the
  hand-written endpoint's equivalent (it verifies the token too).

Prints req/s, p50/p99 latency, the server process's CPU use, and the ratios against PostGraphile
and the hand-written endpoint. --profile adds a py-spy run against ours-nocache (a separate load
run, since sampling costs CPU) and prints where its time goes. Everything started is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load_attempts import load
from bench.scratch_db import default_name, scratch_database

ROOT = Path(__file__).resolve().parents[1]

QUERY = (
    "{ patterns(first: 20) { edges { node { id slug name difficulty preview stats { attempts learners "
    "completions successRate averageTimeSpentSeconds perceivedDifficulty } } } } }"
)
# The same page in PostGraphile's schema: its statistics are the computed columns below.
PG_QUERY = (
    "{ allPatterns(first: 20, orderBy: POSITION_ASC) { nodes { id slug name difficulty preview "
    "patternStatByPatternId { attempts learners completions successRate averageTimeSpentSeconds "
    "perceivedDifficulty } } } }"
)
LEARNER_QUERY = (
    "{ me { id displayName points completedPatterns } progress { pattern { name slug } progressPercentage "
    "timeSpentSeconds attempts completed bestScore lastAttemptAt } }"
)
# PostGraphile inlines a function `<table>_<name>(<table>)` as the computed column `name`: our
# statistics' rules (resolvers/types.py PatternStats.from_row), in SQL, in the bench database only.
PG_COMPUTED_COLUMNS = """
CREATE FUNCTION pattern_stats_success_rate(s pattern_stats) RETURNS float8 LANGUAGE sql STABLE AS
$$ SELECT CASE WHEN s.learners > 0 THEN round(s.completions::numeric / s.learners, 4)::float8 ELSE 0 END $$;
CREATE FUNCTION pattern_stats_average_time_spent_seconds(s pattern_stats) RETURNS float8 LANGUAGE sql STABLE AS
$$ SELECT CASE WHEN s.learners > 0 THEN round(s.total_time_seconds::numeric / s.learners, 2)::float8 ELSE 0 END $$;
CREATE FUNCTION pattern_stats_perceived_difficulty(s pattern_stats) RETURNS text LANGUAGE sql STABLE AS
$$ SELECT CASE WHEN s.learners < 5 THEN 'UNRATED'
              WHEN s.completions::float8 / s.learners >= 0.7 THEN 'EASY'
              WHEN s.completions::float8 / s.learners >= 0.4 THEN 'MEDIUM' ELSE 'HARD' END $$;
-- PostGraphile 4 reads whole rows (`select t.*`), which sql/015's column grant (no reference
-- programs for request roles) refuses; in this scratch database only, anon may read them all.
GRANT SELECT ON patterns TO anon;
"""
BENCH_SECRET = "bench-http-secret-0123456789abcdef0123456789"
PEERS = ROOT / "bench" / ".peers"
POSTGRAPHILE_VERSION = "4.14"
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent

# wrk: POST the query; every response is checked (status and no GraphQL "errors"), per thread,
# and done() prints one JSON line that the benchmark parses.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(headers)s
wrk.body = [==[%(body)s]==]

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; checked = 0; sample = "" end
function response(status, headers, body)
  checked = checked + 1
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    bad = bad + 1
    if sample == "" then
      sample = string.gsub(tostring(status) .. " " .. string.sub(body, 1, 200), '[%%c"\\\\]', " ")
    end
  end
end
function done(summary, latency, requests)
  local bad_total, checked_total, sample_any = 0, 0, ""
  for _, t in ipairs(threads) do
    bad_total = bad_total + t:get("bad")
    checked_total = checked_total + t:get("checked")
    if sample_any == "" then sample_any = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,"socket_errors":%%d,"status_errors":%%d,' ..
    '"timeouts":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"bad":%%d,"checked":%%d,"sample":"%%s"}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    bad_total, checked_total, sample_any))
end
"""


@dataclass(frozen=True)
class Target:
    """One server of a scenario: how to start it and what to ask it."""

    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    path: str  # where the page is POSTed
    query: str
    headers: dict[str, str]
    # The answer as plain data both kinds of server can be compared on.
    normalise: Callable[[dict], Any]
    ready_probe: str = "/readyz"  # GET answering 200 when ready; "" to POST the page instead


@dataclass(frozen=True)
class Server:
    target: Target
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.target.port}"


@dataclass(frozen=True)
class LoadResult:
    scenario: str
    server: str
    round: int
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    bad: int
    checked: int
    server_cpu: float  # share of one core the server's processes used during the run
    sample: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(server: Server, timeout: float = 10) -> tuple[int, dict]:
    target = server.target
    request = urllib.request.Request(f"{server.url}{target.path}", data=json.dumps({"query": target.query}).encode(),
                                     headers={"Content-Type": "application/json", **target.headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"body": exc.read()[:500].decode(errors="replace")}


def wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.name} exited with {server.process.returncode}; log:\n{server.log.read_text()}")
        try:
            if server.target.ready_probe:
                with urllib.request.urlopen(f"{server.url}{server.target.ready_probe}", timeout=2) as response:
                    if response.status == 200:
                        return
            elif post(server, timeout=2)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise SystemExit(f"{server.name} not ready after {timeout:.0f} s; log:\n{server.log.read_text()}")


@contextmanager
def running(target: Target, workdir: Path, ready_timeout: float) -> Iterator[Server]:
    """A server subprocess, ready on its port; stopped (SIGTERM, then SIGKILL) on exit."""
    log = workdir / f"{target.name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(target.command, env=target.env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(target, process, log)
    try:
        wait_ready(server, ready_timeout)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The whole group: `serve --workers N` and npm's node have children.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its descendants (the workers of `serve --workers N`)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        pending += [int(child) for child in children]
    return total


def wrk_script(target: Target, workdir: Path) -> Path:
    script = workdir / f"{target.name}.lua"
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in target.headers.items())
    script.write_text(WRK_SCRIPT % {"body": json.dumps({"query": target.query}), "headers": headers})
    return script


def run_wrk(server: Server, scenario: str, seconds: float, connections: int, threads: int, rnd: int,
            workdir: Path) -> LoadResult:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s",
               str(wrk_script(server.target, workdir)), f"{server.url}{server.target.path}"]
    cpu_before, started = cpu_seconds(server.process.pid), time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu = (cpu_seconds(server.process.pid) - cpu_before) / (time.monotonic() - started)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return LoadResult(
        scenario=scenario, server=server.name, round=rnd, requests=data["requests"],
        seconds=data["duration_us"] / 1e6, p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000, max_ms=data["max_us"] / 1000,
        errors=data["socket_errors"] + data["status_errors"] + data["timeouts"],
        bad=data["bad"], checked=data["checked"], server_cpu=cpu, sample=data["sample"],
    )


def checked_answer(server: Server) -> Any:
    status, body = post(server)
    if status != 200 or "errors" in body or "data" not in body:
        raise SystemExit(f"{server.name}: unexpected answer {status}: {json.dumps(body)[:500]}")
    return server.target.normalise(body["data"])


def ours_catalog(data: dict) -> list[tuple]:
    return [_pattern_row(e["node"], e["node"]["stats"]) for e in data["patterns"]["edges"]]


def postgraphile_catalog(data: dict) -> list[tuple]:
    return [_pattern_row(n, n["patternStatByPatternId"] or {}) for n in data["allPatterns"]["nodes"]]


def _pattern_row(node: dict, stats: dict) -> tuple:
    # PostGraphile sends bigint as a string, and SQL's numeric rounding (half up) can differ from
    # Python's (binary floats, half even) in the last digit: the comparison stops a digit short.
    numbers = (round(float(stats.get("successRate") or 0), 3),
               round(float(stats.get("averageTimeSpentSeconds") or 0), 1))
    return (str(node["id"]), node["slug"], node["name"], node["difficulty"], tuple(node["preview"]),
            int(stats.get("attempts") or 0), int(stats.get("learners") or 0), int(stats.get("completions") or 0),
            numbers, stats.get("perceivedDifficulty") or "UNRATED")


def as_is(data: dict) -> dict:
    return data


def profile(server: Server, scenario: str, args: argparse.Namespace, workdir: Path) -> list[str]:
    """py-spy samples a server during a load run; returns a short summary of where time goes."""
    py_spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(py_spy).exists():
        return ["py-spy not installed (.venv/bin/pip install py-spy): no profile"]
    raw = workdir / f"{server.name}.pyspy.txt"
    sampler = subprocess.Popen([py_spy, "record", "--pid", str(server.process.pid), "--duration",
                                f"{int(args.duration)}", "--rate", "200", "--format", "raw", "--nonblocking",
                                "--output", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)  # py-spy attaches before the load starts
    run_wrk(server, scenario, args.duration, args.connections, args.threads, 0, workdir)
    try:
        _, err = sampler.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        sampler.kill()
        _, err = sampler.communicate()
    if not raw.exists():
        return [f"py-spy failed: {err.decode(errors='replace')[-500:]}"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(raw, RESULTS / f"http_{scenario}_{server.name}_pyspy.txt")
    return summarize_profile(raw.read_text())


def frame_module(frame: str) -> str:
    """'handle (strawberry/schema/execute.py:123)' -> 'strawberry'; our code by top folder."""
    inner = frame.rsplit("(", 1)[-1].rstrip(")")
    path = inner.split(":")[0]
    if "site-packages/" in path:
        return path.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if path.startswith(str(ROOT)):
        return path.removeprefix(str(ROOT) + "/").split("/")[0]
    parts = path.split("/")
    if "python3.11" in parts:
        return "stdlib:" + parts[parts.index("python3.11") + 1].removesuffix(".py")
    return path or frame


# Where a sample's time goes, by the first stage found in its stack (in this order), so the
# shares add up to 100%.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GraphQL validation (graphql-core validate)", ("validate_document (", "graphql/validation/")),
    ("GraphQL parsing", ("graphql/language/parser.py", "parse_document (")),
    ("SQL (asyncpg)", ("asyncpg/",)),
    ("DataLoader", ("strawberry/dataloader.py",)),
    ("JSON encoding", ("json/encoder.py", "json/__init__.py")),
    ("GraphQL execution (graphql-core executor, resolvers)", ("graphql/execution/", "resolvers/")),
    ("strawberry other (HTTP view, extensions, context)", ("strawberry/", "app/")),
    ("HTTP + ASGI (uvicorn, starlette)", ("uvicorn/", "starlette/", "httptools")),
)


def stage_of(frames: list[str]) -> str:
    for name, needles in STAGES:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    return "event loop and other"


def summarize_profile(collapsed: str, top: int = 15) -> list[str]:
    """Self time by function and by package, inclusive time of some functions of interest."""
    self_time: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        self_time[leaf] += count
        by_package[frame_module(leaf)] += count
        stages[stage_of(frames)] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return ["py-spy recorded no samples"]
    # py-spy leaves out idle samples (the loop waiting in epoll): shares are of busy time.
    lines = [f"py-spy: {total} busy samples of the server process (all threads); shares of busy time"]
    lines.append("by stage (a sample counts for the first stage found in its stack):")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in stages.most_common()]
    lines.append("self time by package/folder:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_package.most_common(top)]
    lines.append("self time by function:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_time.most_common(top)]
    lines.append("inclusive time, largest frames below the HTTP/ASGI layers:")
    # Every request passes through these wrappers; they say nothing about where time goes.
    skip = ("runners.py", "<module>", "app/cli.py", "starlette/", "uvicorn/", "strawberry/asgi/", "strawberry/http/",
            "await_maybe (", "Schema.execute (", "get_results (")
    interesting = [(name, n) for name, n in inclusive.most_common(300) if not any(s in name for s in skip)]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in interesting[:top]]
    return lines


def table(results: list[LoadResult]) -> list[str]:
    lines = [
        "| page | server | round | req/s | p50 ms | p90 ms | p99 ms | max ms | server CPU (1 core = 100%) "
        "| checked | bad |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.scenario} | {r.server} | {r.round} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} | {r.p99_ms:.1f} "
        f"| {r.max_ms:.1f} | {100 * r.server_cpu:.0f}% | {r.checked:,} | {r.bad + r.errors} |"
        for r in results
    ]
    return lines


def median_of(results: list[LoadResult], scenario: str, server: str, attr: str) -> float | None:
    values = [getattr(r, attr) for r in results if r.scenario == scenario and r.server == server]
    return statistics.median(values) if values else None


async def prepare(url: str, attempts: int, learners: int, with_postgraphile: bool) -> str:
    """Fill the database; returns the id of the learner with the most progress rows (the learner page)."""
    conn = await asyncpg.connect(url)
    try:
        if attempts > 0:
            await load(conn, learners=learners, attempts=attempts, chunk=max(attempts, 1), log=lambda _: None)
        if with_postgraphile:
            await conn.execute(PG_COMPUTED_COLUMNS)
        learner = await conn.fetchval(
            "SELECT learner_id FROM progress GROUP BY learner_id ORDER BY count(*) DESC, learner_id LIMIT 1")
    finally:
        await conn.close()
    return learner or "nobody"


def postgraphile_command() -> list[str] | None:
    """PostGraphile's CLI, installed into bench/.peers/ with npm on first use; None without node/npm."""
    binary = PEERS / "postgraphile" / "node_modules" / ".bin" / "postgraphile"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            return None
        folder = binary.parents[2]
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder),
                        f"postgraphile@{POSTGRAPHILE_VERSION}"], check=True, capture_output=True, timeout=600)
    return [str(binary)]


async def main_async(args: argparse.Namespace) -> list[str]:
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    pg_command = postgraphile_command() if "catalog" in args.scenarios else None
    if "catalog" in args.scenarios and pg_command is None:
        say("postgraphile: skipped (node or npm not found; `apt-get install -y nodejs npm` brings them)")
    async with scratch_database(args.database_url, default_name("cpm_bench_http")) as url:
        learner = await prepare(url, args.attempts, args.learners, pg_command is not None)
        with tempfile.TemporaryDirectory(prefix="cpm-bench-http-") as tmp:
            workdir = Path(tmp)
            # Run the blocking part (subprocesses, wrk) in a thread so this loop stays free.
            await asyncio.to_thread(drive, args, url, learner, pg_command, workdir, say)
    return out


def targets(args: argparse.Namespace, url: str, learner: str, pg_command: list[str] | None,
            workdir: Path) -> dict[str, list[Target]]:
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "HOST")}
    ours_env = {**base_env, "DATABASE_URL": url, "DATA_DIR": str(workdir / "data"), "LOG_LEVEL": "WARNING",
                "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "SUPABASE_JWT_SECRET": BENCH_SECRET,
                "MODELS_ENABLED": "false", "ANALYSIS_WORKERS": "0"}
    codepattern = BIN / "codepattern"
    ours_cmd = [str(codepattern)] if codepattern.exists() else [sys.executable, "-m", "app.cli"]
    baseline_env = {**base_env, "PYTHONPATH": str(ROOT), "BASELINE_JWT_SECRET": BENCH_SECRET}

    def ours(name: str, query: str, headers: dict[str, str], normalise: Callable[[dict], Any],
             extra_env: dict[str, str] | None = None, workers: int = 1) -> Target:
        port = free_port()
        command = [*ours_cmd, "serve", "--port", str(port)] + (["--workers", str(workers)] if workers > 1 else [])
        return Target(name, command, {**ours_env, **(extra_env or {})}, port, "/graphql", query, headers, normalise)

    def baseline(path: str, query: str, headers: dict[str, str], normalise: Callable[[dict], Any]) -> Target:
        port = free_port()
        command = [sys.executable, str(ROOT / "bench" / "baseline_app.py"), "--database-url", url, "--port", str(port)]
        return Target("baseline", command, baseline_env, port, path, query, headers, normalise)

    found: dict[str, list[Target]] = {}
    if "catalog" in args.scenarios:
        catalog = [ours("ours", QUERY, {}, ours_catalog),
                   ours("ours-nocache", QUERY, {}, ours_catalog, {"RESPONSE_CACHE": "false"}),
                   # What app/gc_tuning.py buys, measured beside it.
                   ours("ours-nocache-gcdefault", QUERY, {}, ours_catalog,
                        {"RESPONSE_CACHE": "false", "GC_TUNING": "false"})]
        if args.workers > 1:
            catalog.append(ours(f"ours-{args.workers}w", QUERY, {}, ours_catalog, workers=args.workers))
        if pg_command is not None:
            port = free_port()
            catalog.append(Target(
                "postgraphile",
                [*pg_command, "--connection", url, "--schema", "public", "--host", "127.0.0.1", "--port", str(port),
                 "--default-role", "anon", "--disable-query-log", "--max-pool-size", "10"],
                base_env, port, "/graphql", PG_QUERY, {}, postgraphile_catalog, ready_probe=""))
        catalog.append(baseline("/graphql", QUERY, {}, ours_catalog))
        found["catalog"] = catalog
    if "learner" in args.scenarios:
        token = jwt.encode({"sub": learner, "aud": "authenticated", "role": "authenticated",
                            "exp": int(time.time()) + 24 * 3600}, BENCH_SECRET, algorithm="HS256")
        auth = {"Authorization": f"Bearer {token}"}
        found["learner"] = [ours("ours", LEARNER_QUERY, auth, as_is),
                            ours("ours-gcdefault", LEARNER_QUERY, auth, as_is, {"GC_TUNING": "false"}),
                            baseline("/learner", LEARNER_QUERY, auth, as_is)]
    return found


def drive(args: argparse.Namespace, url: str, learner: str, pg_command: list[str] | None, workdir: Path,
          say: Callable[[str], None]) -> None:
    scenarios = targets(args, url, learner, pg_command, workdir)

    # The answers must match before their speed means anything.
    for scenario, servers in scenarios.items():
        answers: dict[str, Any] = {}
        for target in servers:
            with running(target, workdir, args.ready_timeout) as server:
                answers[target.name] = checked_answer(server)
        first_name, first = next(iter(answers.items()))
        for name, answer in answers.items():
            if answer != first:
                raise SystemExit(f"{scenario}: {first_name} and {name} answer differently:\n"
                                 f"{json.dumps(first, default=str)[:800]}\n{json.dumps(answer, default=str)[:800]}")
        say(f"{scenario}: {len(answers)} servers answer the same data ({', '.join(answers)})")

    load_before = os.getloadavg()[0]
    results: list[LoadResult] = []
    profiles: dict[str, list[str]] = {}
    for rnd in range(1, args.rounds + 1):
        for scenario, servers in scenarios.items():
            for target in servers:
                with running(target, workdir, args.ready_timeout) as server:
                    run_wrk(server, scenario, args.warmup, args.connections, args.threads, rnd, workdir)
                    result = run_wrk(server, scenario, args.duration, args.connections, args.threads, rnd, workdir)
                    checked_answer(server)
                    results.append(result)
                    say(f"round {rnd} {scenario} {target.name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                        f"p99 {result.p99_ms:.1f} ms, server CPU {100 * result.server_cpu:.0f}%, "
                        f"{result.checked:,} responses checked, {result.bad + result.errors} bad")
                    if result.bad or result.errors:
                        say(f"  first bad response: {result.sample}")
                    # What the engine costs: ours without the cache, on each page.
                    engine = target.name == "ours-nocache" or (scenario == "learner" and target.name == "ours")
                    if args.profile and engine and rnd == args.rounds:
                        profiles[f"{scenario}: {target.name}"] = profile(server, scenario, args, workdir)

    # Other work on the machine skews the numbers; the load average says how much there was.
    load_after = os.getloadavg()[0]
    say()
    say(f"## HTTP: the read path against PostGraphile and a hand-written endpoint "
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    say()
    say(f"machine: {platform.node()}, {len(os.sched_getaffinity(0))} CPUs, Python {platform.python_version()}; "
        f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s after {args.warmup:g} s warm-up, "
        f"POST, every response checked; data: {args.attempts:,} attempts by {args.learners:,} learners; "
        f"1-min load average before/after: {load_before:.2f}/{load_after:.2f}")
    say(f"command: `{' '.join(['.venv/bin/python', 'bench/bench_http.py', *sys.argv[1:]])}`")
    say()
    for line in table(results):
        say(line)
    say()
    for line in ratios(results):
        say(line)
    for name, lines in profiles.items():
        say()
        say(f"profile of {name} under the same load (py-spy, separate run):")
        say("```")
        for line in lines:
            say(line)
        say("```")


def ratios(results: list[LoadResult]) -> list[str]:
    """Median req/s and p99 of each server as a ratio to the peers of its page."""
    lines: list[str] = []
    for scenario in dict.fromkeys(r.scenario for r in results):
        names = list(dict.fromkeys(r.server for r in results if r.scenario == scenario))
        peers = [p for p in ("postgraphile", "baseline") if p in names]
        for name in names:
            if name in peers:
                continue
            rps, p99 = median_of(results, scenario, name, "rps"), median_of(results, scenario, name, "p99_ms")
            parts = [f"{scenario}: {name} {rps:,.0f} req/s, p99 {p99:.1f} ms"]
            for peer in peers:
                peer_rps = median_of(results, scenario, peer, "rps")
                peer_p99 = median_of(results, scenario, peer, "p99_ms")
                assert rps is not None and peer_rps and p99 is not None and peer_p99
                parts.append(f"{rps / peer_rps:.2f}x {peer}'s req/s ({peer_rps:,.0f}), p99 {p99 / peer_p99:.2f}x its "
                             f"{peer_p99:.1f} ms")
            lines.append("; ".join(parts))
        for tuned in names:
            default = f"{tuned}-gcdefault"
            if default in names:
                tuned_rps = median_of(results, scenario, tuned, "rps")
                default_rps = median_of(results, scenario, default, "rps")
                assert tuned_rps is not None and default_rps
                lines.append(f"{scenario}: GC_TUNING (app/gc_tuning.py): {tuned} / {default} req/s "
                             f"{tuned_rps / default_rps:.2f}x")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--database-url", help="server URL whose user may create databases "
                                               "(default: an embedded PostgreSQL in a temporary folder)")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per server (default: 10)")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds, discarded (default: 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default: 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default: 1)")
    parser.add_argument("--rounds", type=int, default=1, help="every server once per round (default: 1)")
    parser.add_argument("--scenarios", default="catalog,learner",
                        type=lambda text: [s for s in text.split(",") if s],
                        help="pages to measure: catalog, learner (default: both)")
    parser.add_argument("--workers", type=int, default=2, help="also ours with `serve --workers N` (1: not)")
    parser.add_argument("--attempts", type=int, default=50_000,
                        help="attempts generated so statistics are real (default: 50000; 0: none)")
    parser.add_argument("--learners", type=int, default=2_000, help="learners for those attempts (default: 2000)")
    parser.add_argument("--ready-timeout", type=float, default=90, help="seconds to wait for readiness (default: 90)")
    parser.add_argument("--profile", action="store_true",
                        help="also sample ours without the cache (catalog: ours-nocache; learner: ours) with py-spy")
    parser.add_argument("--out", type=Path, default=RESULTS / "http.txt", help="report file")
    parser.add_argument("--append-to", type=Path, help="append the report to this Markdown file")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk not found (apt-get install -y wrk)")
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1 or args.rounds < 1:
        parser.error("--duration > 0, --warmup >= 0, --connections >= 1, --rounds >= 1")
    if unknown := set(args.scenarios) - {"catalog", "learner"}:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    args = parse_args()
    out = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(out) + "\n")
    print(f"\nwritten to {args.out}")
    if args.append_to:
        with args.append_to.open("a") as doc:
            doc.write("\n" + "\n".join(out) + "\n")
        print(f"appended to {args.append_to}")


if __name__ == "__main__":
    main()
