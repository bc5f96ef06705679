"""Sandbox and judge throughput, Python and JavaScript side by side.

    .venv/bin/python bench/bench_judge.py [--runs 50] [--judgments 60] [--workers 2]

Measures (1) the latency of one trivial run through a fresh interpreter per run ("spawn") and
through the warm fork server ("zygote"), (2) judge latency and judgments/s at concurrency 1
and 4 on a mix built from the catalog: each pattern's reference (PASSED), the same program with
one character changed (WRONG_OUTPUT), and one that fails half way (RUNTIME_ERROR); and (3) the
same for JavaScript: a run and a judgment through Node.js in the sandbox (a zygote cannot fork
a warm V8, so each run execs node), on the JavaScript corpus' passing and failing programs,
next to what starting node costs outside the sandbox, plainly and from a user-land V8 startup
snapshot (``node --snapshot-blob``: the warm start Node.js offers).
Prints a table and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog import PATTERNS, PatternDef, get_pattern
from core.domain import Language
from judge.judge import Judge
from sandbox import Sandbox, SandboxLimits
from sandbox.runtimes import NODE_FLAGS, node_runtime

JS_TRIANGLE = ("const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"
               "for (let i = 1; i <= n; i++) console.log('*'.repeat(i));\n")
# (pattern, program): ends quickly, in three verdicts (the JavaScript corpus' own styles).
JS_MIX = [
    ("right-triangle", JS_TRIANGLE),
    ("right-triangle", JS_TRIANGLE.replace("i <= n", "i < n")),
    ("left-triangle", JS_TRIANGLE.replace("'*'.repeat(i)", "'*'.repeat(i).padStart(n)")),
    ("square-solid", "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"
                     "for (let i = 0; i < n; i++) console.log(new Array(n).fill('*').join(''));\n"),
    ("isosceles-triangle", "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"
                           "for (let i = 1; i <= n + 1; i++)\n"
                           "  console.log(' '.repeat(n - i) + '*'.repeat(2 * i - 1));\n"),
    ("right-triangle", "console.log('*');\nconsole.log('**');\nconsole.log('***');\nconsole.log('****');\n"),
]


@dataclass(frozen=True)
class Row:
    name: str
    p50_ms: float
    p95_ms: float
    per_second: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def timed_calls(name: str, calls: int, concurrency: int, call: Callable[[int], Awaitable[object]]) -> Row:
    """``calls`` calls of ``call(i)``, ``concurrency`` at a time; per-call latency and calls/s."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await call(i)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    elapsed = time.perf_counter() - started
    return Row(name, statistics.median(latencies), percentile(latencies, 0.95), calls / elapsed)


async def bench_runs(mode: str, runs: int, runtime: str = "python") -> Row:
    code = "print('*' * 4)" if runtime == "python" else "console.log('*'.repeat(4))"
    async with Sandbox(SandboxLimits(), workers=1, mode=mode) as sandbox:  # type: ignore[arg-type]
        await sandbox.run(code, runtime=runtime)
        return await timed_calls(f"run, {runtime}, {mode}", runs, 1,
                                 lambda _: sandbox.run(code, "4\n", runtime=runtime))


def node_starts(runs: int) -> list[Row]:
    """Starting node outside the sandbox with the sandbox's flags: plainly (a script file), and
    from a user-land startup snapshot. Wall time per start, and CPU per start as "per s" (the
    starts one core can do each second)."""
    node = node_runtime().executable or "node"
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder, "main.js")
        script.write_text("console.log('*'.repeat(4));\n")
        entry = Path(folder, "entry.js")
        entry.write_text("require('v8').startupSnapshot.setDeserializeMainFunction(() => "
                         "process.stdout.write('*'.repeat(4) + '\\n'));\n")
        blob = Path(folder, "snapshot.blob")
        subprocess.run([node, *NODE_FLAGS, "--snapshot-blob", str(blob), "--build-snapshot", str(entry)], check=True,
                       capture_output=True)
        for name, argv in (("node start, host, plain", [node, *NODE_FLAGS, str(script)]),
                           ("node start, host, snapshot", [node, *NODE_FLAGS, "--snapshot-blob", str(blob)])):
            walls: list[float] = []
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            for _ in range(runs):
                started = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                walls.append((time.perf_counter() - started) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / runs
            rows.append(Row(name, statistics.median(walls), percentile(walls, 0.95), 1 / cpu if cpu else 0.0))
    return rows


def judge_mix() -> list[tuple[PatternDef, str]]:
    """(pattern, program) pairs that end quickly, in three verdicts, over the whole catalog."""
    mix: list[tuple[PatternDef, str]] = []
    for pattern in PATTERNS:
        mix.append((pattern, pattern.reference))
        mix.append((pattern, pattern.reference.replace("*", "#", 1)))
        mix.append((pattern, pattern.reference.replace("print(", "print(1 // 0, ", 1)))
    return mix


async def bench_judge(mode: str, judgments: int, concurrency: int, workers: int,
                      language: Language = Language.PYTHON) -> Row:
    mix = judge_mix() if language is Language.PYTHON else [(get_pattern(slug), code) for slug, code in JS_MIX]
    async with Sandbox(SandboxLimits(), workers=workers, mode=mode) as sandbox:  # type: ignore[arg-type]
        judge = Judge(sandbox)

        async def one(i: int) -> None:
            pattern, code = mix[i % len(mix)]
            await judge.judge(pattern, code, language)

        await one(0)
        name = f"judge, {language.lower()}, {mode}, concurrency {concurrency}"
        return await timed_calls(name, judgments, concurrency, one)


def print_table(rows: list[Row]) -> None:
    width = max(len(r.name) for r in rows)
    print(f"{'':{width}}  {'p50 ms':>8}  {'p95 ms':>8}  {'per s':>8}")
    for r in rows:
        print(f"{r.name:{width}}  {r.p50_ms:8.1f}  {r.p95_ms:8.1f}  {r.per_second:8.1f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--judgments", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="sandbox workers (settings default: 2)")
    args = parser.parse_args()

    async with Sandbox() as probe:
        print(f"isolation: {probe.isolation}")
    spawn = await bench_runs("spawn", args.runs)
    zygote = await bench_runs("zygote", args.runs)
    judge_rows = [
        await bench_judge("zygote", args.judgments, 1, args.workers),
        await bench_judge("zygote", args.judgments, 4, args.workers),
        await bench_judge("spawn", max(12, args.judgments // 4), 1, args.workers),
    ]
    js_run = await bench_runs("zygote", args.runs, "javascript")
    js_judge = [
        await bench_judge("zygote", args.judgments, 1, args.workers, Language.JAVASCRIPT),
        await bench_judge("zygote", args.judgments, 4, args.workers, Language.JAVASCRIPT),
    ]
    plain, snapshot = node_starts(max(10, args.runs // 2))
    print(f"\n{len(judge_mix())} Python and {len(JS_MIX)} JavaScript submissions in the judge mixes, "
          f"sandbox workers={args.workers}\n")
    print_table([spawn, zygote, *judge_rows, js_run, *js_judge, plain, snapshot])
    print("(node start rows: 'per s' is starts per CPU-second)")
    print()
    print(f"zygote is {spawn.p50_ms / zygote.p50_ms:.1f}x faster than spawn per run (p50)")
    print(f"judge concurrency 4 vs 1: {judge_rows[1].per_second / judge_rows[0].per_second:.2f}x judgments/s")
    print(f"judge zygote vs spawn (concurrency 1): {judge_rows[0].per_second / judge_rows[2].per_second:.1f}x "
          "judgments/s")
    print(f"JavaScript vs Python, one run (p50): {js_run.p50_ms / zygote.p50_ms:.1f}x the time")
    print(f"JavaScript vs Python, judge p50 at concurrency 1: {js_judge[0].p50_ms / judge_rows[0].p50_ms:.1f}x; "
          f"judgments/s at concurrency 4: {js_judge[1].per_second / judge_rows[1].per_second:.2f}x")
    print(f"sandboxed JavaScript run vs a plain node start on the host (p50): {js_run.p50_ms / plain.p50_ms:.2f}x")
    print(f"a startup snapshot would save {(1 - plain.per_second / snapshot.per_second) * 100:.0f}% of node's "
          f"start-up CPU ({1000 / plain.per_second:.0f} ms -> {1000 / snapshot.per_second:.0f} ms)")


if __name__ == "__main__":
    asyncio.run(main())
