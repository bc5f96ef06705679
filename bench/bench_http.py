"""HTTP throughput of "20 patterns with stats": our GraphQL server vs a hand-written baseline.

    .venv/bin/python bench/bench_http.py [--duration 10] [--warmup 2] [--connections 32]
        [--rounds 1] [--profile] [--append-to docs/BENCHMARKS.md]

Sets up one database (an embedded PostgreSQL in a temporary folder, or a fresh database on
--database-url), migrated, seeded and filled by bench/load_attempts.py (so statistics are not
zeros), then starts, one after the other, each single-process server against it:

- ours: ``codepattern serve`` (DATABASE_URL set, LOG_LEVEL=WARNING);
- baseline: bench/baseline_app.py (Starlette + asyncpg, two SQL statements, uvicorn, 1 worker).

Both answer the same query; the JSON is compared before the load. Each is then driven by wrk
(POST, --connections open connections, one wrk thread to leave CPU to the server) for --warmup
seconds (discarded) and --duration seconds (measured); every response is checked by the wrk Lua
script (status 200 and no "errors" key). Prints req/s, p50/p99 latency, the server process's CPU
use and the ratio ours/baseline. --profile adds a py-spy run against our server (a separate load
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

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.load_attempts import load
from bench.scratch_db import default_name, scratch_database

ROOT = Path(__file__).resolve().parents[1]

QUERY = (
    "{ patterns(first: 20) { edges { node { id slug name difficulty preview stats { attempts learners "
    "completions successRate averageTimeSpentSeconds perceivedDifficulty } } } } }"
)
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent

# wrk: POST the query; every response is checked (status and no GraphQL "errors"), per thread,
# and done() prints one JSON line that the benchmark parses.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
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
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class LoadResult:
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
    server_cpu: float  # share of one core the server process used during the run
    sample: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, timeout: float = 10) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": QUERY}).encode(),
                                     headers={"Content-Type": "application/json"})
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
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise SystemExit(f"{server.name} not ready after {timeout:.0f} s; log:\n{server.log.read_text()}")


@contextmanager
def running(name: str, command: list[str], env: dict[str, str], port: int, workdir: Path,
            ready_timeout: float) -> Iterator[Server]:
    """A server subprocess, ready on ``port``; stopped (SIGTERM, then SIGKILL) on exit."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(name, process, port, log)
    try:
        wait_ready(server, ready_timeout)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        # Only our own child's process group (start_new_session above).
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(server: Server, script: Path, seconds: float, connections: int, threads: int, rnd: int) -> LoadResult:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script),
               f"{server.url}/graphql"]
    cpu_before, started = cpu_seconds(server.process.pid), time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    cpu = (cpu_seconds(server.process.pid) - cpu_before) / (time.monotonic() - started)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return LoadResult(
        server=server.name, round=rnd, requests=data["requests"], seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000, p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000, errors=data["socket_errors"] + data["status_errors"] + data["timeouts"],
        bad=data["bad"], checked=data["checked"], server_cpu=cpu, sample=data["sample"],
    )


def check_response(server: Server) -> dict:
    status, body = post(server.url)
    edges = body.get("data", {}).get("patterns", {}).get("edges", []) if status == 200 else []
    if status != 200 or "errors" in body or len(edges) != 20:
        raise SystemExit(f"{server.name}: unexpected answer {status}: {json.dumps(body)[:500]}")
    return body


def profile(server: Server, script: Path, args: argparse.Namespace, workdir: Path) -> list[str]:
    """py-spy samples our server during a load run; returns a short summary of where time goes."""
    py_spy = shutil.which("py-spy") or str(BIN / "py-spy")
    if not Path(py_spy).exists():
        return ["py-spy not installed (.venv/bin/pip install py-spy): no profile"]
    raw = workdir / "ours.pyspy.txt"
    sampler = subprocess.Popen([py_spy, "record", "--pid", str(server.process.pid), "--duration",
                                f"{int(args.duration)}", "--rate", "200", "--format", "raw", "--nonblocking",
                                "--output", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1)  # py-spy attaches before the load starts
    run_wrk(server, script, args.duration, args.connections, args.threads, 0)
    try:
        _, err = sampler.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        sampler.kill()
        _, err = sampler.communicate()
    if not raw.exists():
        return [f"py-spy failed: {err.decode(errors='replace')[-500:]}"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(raw, RESULTS / "http_ours_pyspy.txt")
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
        "| server | round | req/s | p50 ms | p90 ms | p99 ms | max ms | server CPU (1 core = 100%) | checked | bad |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.server} | {r.round} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p90_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} "
        f"| {100 * r.server_cpu:.0f}% | {r.checked:,} | {r.bad + r.errors} |"
        for r in results
    ]
    return lines


def median_of(results: list[LoadResult], server: str, attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in results if r.server == server)


async def prepare(url: str, attempts: int, learners: int) -> None:
    if attempts <= 0:
        return
    conn = await asyncpg.connect(url)
    try:
        await load(conn, learners=learners, attempts=attempts, chunk=max(attempts, 1), log=lambda _: None)
    finally:
        await conn.close()


async def main_async(args: argparse.Namespace) -> list[str]:
    out: list[str] = []

    def say(line: str = "") -> None:
        print(line, flush=True)
        out.append(line)

    async with scratch_database(args.database_url, default_name("cpm_bench_http")) as url:
        await prepare(url, args.attempts, args.learners)
        with tempfile.TemporaryDirectory(prefix="cpm-bench-http-") as tmp:
            workdir = Path(tmp)
            # Run the blocking part (subprocesses, wrk) in a thread so this loop stays free.
            await asyncio.to_thread(drive, args, url, workdir, say)
    return out


def drive(args: argparse.Namespace, url: str, workdir: Path, say: Callable[[str], None]) -> None:
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT % {"body": json.dumps({"query": QUERY})})
    base_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORT", "HOST")}
    ours_port, baseline_port = args.port_ours or free_port(), args.port_baseline or free_port()
    ours_env = {**base_env, "DATABASE_URL": url, "DATA_DIR": str(workdir / "data"), "LOG_LEVEL": "WARNING",
                "HF_HUB_OFFLINE": "1"}
    codepattern = BIN / "codepattern"
    ours_cmd = ([str(codepattern)] if codepattern.exists() else [sys.executable, "-m", "app.cli"]) + [
        "serve", "--port", str(ours_port)]
    baseline_cmd = [sys.executable, str(ROOT / "bench" / "baseline_app.py"), "--database-url", url,
                    "--port", str(baseline_port)]
    ours_env["PYTHONPATH"] = str(ROOT)
    servers = {
        "ours": (ours_cmd, ours_env, ours_port),
        "baseline": (baseline_cmd, {**base_env, "PYTHONPATH": str(ROOT)}, baseline_port),
    }

    # The two answers must match before their speed means anything.
    answers = {}
    for name, (command, env, port) in servers.items():
        with running(name, command, env, port, workdir, args.ready_timeout) as server:
            answers[name] = check_response(server)
    if answers["ours"] != answers["baseline"]:
        raise SystemExit("ours and baseline answer differently:\n"
                         f"{json.dumps(answers['ours'])[:600]}\n{json.dumps(answers['baseline'])[:600]}")
    size = len(json.dumps(answers["ours"]))
    say(f"both servers answer the same JSON ({size:,} bytes for 20 patterns with stats)")

    load_before = os.getloadavg()[0]
    results: list[LoadResult] = []
    profile_lines: list[str] = []
    for rnd in range(1, args.rounds + 1):
        for name, (command, env, port) in servers.items():
            with running(name, command, env, port, workdir, args.ready_timeout) as server:
                run_wrk(server, script, args.warmup, args.connections, args.threads, rnd)
                result = run_wrk(server, script, args.duration, args.connections, args.threads, rnd)
                check_response(server)
                results.append(result)
                say(f"round {rnd} {name}: {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, "
                    f"p99 {result.p99_ms:.1f} ms, server CPU {100 * result.server_cpu:.0f}%, "
                    f"{result.checked:,} responses checked, {result.bad + result.errors} bad")
                if result.bad or result.errors:
                    say(f"  first bad response: {result.sample}")
                if args.profile and name == "ours" and rnd == args.rounds:
                    profile_lines = profile(server, script, args, workdir)

    # Other work on the machine skews the numbers; the load average says how much there was.
    load_after = os.getloadavg()[0]
    ours_rps, base_rps = median_of(results, "ours", "rps"), median_of(results, "baseline", "rps")
    say()
    say(f"## HTTP: 20 patterns with stats ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
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
    say(f"ours / baseline (median req/s): {ours_rps:,.0f} / {base_rps:,.0f} = {ours_rps / base_rps:.2f}; "
        f"p50 {median_of(results, 'ours', 'p50_ms'):.1f} vs {median_of(results, 'baseline', 'p50_ms'):.1f} ms, "
        f"p99 {median_of(results, 'ours', 'p99_ms'):.1f} vs {median_of(results, 'baseline', 'p99_ms'):.1f} ms; "
        f"target >= 1000 req/s: {'met' if ours_rps >= 1000 else 'NOT met'}")
    if profile_lines:
        say()
        say("profile of ours under the same load (py-spy, separate run):")
        say("```")
        for line in profile_lines:
            say(line)
        say("```")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--database-url", help="server URL whose user may create databases "
                                               "(default: an embedded PostgreSQL in a temporary folder)")
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per server (default: 10)")
    parser.add_argument("--warmup", type=float, default=2, help="warm-up seconds, discarded (default: 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default: 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default: 1)")
    parser.add_argument("--rounds", type=int, default=1, help="ours then baseline, this many times (default: 1)")
    parser.add_argument("--attempts", type=int, default=50_000,
                        help="attempts generated so statistics are real (default: 50000; 0: none)")
    parser.add_argument("--learners", type=int, default=2_000, help="learners for those attempts (default: 2000)")
    parser.add_argument("--port-ours", type=int, help="port for our server (default: a free one)")
    parser.add_argument("--port-baseline", type=int, help="port for the baseline (default: a free one)")
    parser.add_argument("--ready-timeout", type=float, default=90, help="seconds to wait for /readyz (default: 90)")
    parser.add_argument("--profile", action="store_true", help="also sample our server with py-spy under load")
    parser.add_argument("--out", type=Path, default=RESULTS / "http.txt", help="report file")
    parser.add_argument("--append-to", type=Path, help="append the report to this Markdown file")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk not found (apt-get install -y wrk)")
    if args.duration <= 0 or args.warmup < 0 or args.connections < 1 or args.rounds < 1:
        parser.error("--duration > 0, --warmup >= 0, --connections >= 1, --rounds >= 1")
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
