"""Sandbox and judge throughput.

    .venv/bin/python bench/bench_judge.py [--runs 50] [--judgments 60] [--workers 2]

Measures (1) the latency of one trivial run through a fresh interpreter per run ("spawn") and
through the warm fork server ("zygote"), and (2) judge latency and judgments/s at concurrency 1
and 4 on a mix built from the catalog: each pattern's reference (PASSED), the same program with
one character changed (WRONG_OUTPUT), and one that fails half way (RUNTIME_ERROR).
Prints a table and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog import PATTERNS, PatternDef
from judge.judge import Judge
from sandbox import Sandbox, SandboxLimits


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


async def bench_runs(mode: str, runs: int) -> Row:
    async with Sandbox(SandboxLimits(), workers=1, mode=mode) as sandbox:  # type: ignore[arg-type]
        await sandbox.run("print('warm-up')")
        return await timed_calls(f"run, {mode}", runs, 1, lambda _: sandbox.run("print('*' * 4)", "4\n"))


def judge_mix() -> list[tuple[PatternDef, str]]:
    """(pattern, program) pairs that end quickly, in three verdicts, over the whole catalog."""
    mix: list[tuple[PatternDef, str]] = []
    for pattern in PATTERNS:
        mix.append((pattern, pattern.reference))
        mix.append((pattern, pattern.reference.replace("*", "#", 1)))
        mix.append((pattern, pattern.reference.replace("print(", "print(1 // 0, ", 1)))
    return mix


async def bench_judge(mode: str, judgments: int, concurrency: int, workers: int) -> Row:
    mix = judge_mix()
    async with Sandbox(SandboxLimits(), workers=workers, mode=mode) as sandbox:  # type: ignore[arg-type]
        judge = Judge(sandbox)

        async def one(i: int) -> None:
            pattern, code = mix[i % len(mix)]
            await judge.judge(pattern, code)

        await one(0)
        return await timed_calls(f"judge, {mode}, concurrency {concurrency}", judgments, concurrency, one)


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
    print(f"\n{len(judge_mix())} submissions in the judge mix, sandbox workers={args.workers}\n")
    print_table([spawn, zygote, *judge_rows])
    print()
    print(f"zygote is {spawn.p50_ms / zygote.p50_ms:.1f}x faster than spawn per run (p50)")
    print(f"judge concurrency 4 vs 1: {judge_rows[1].per_second / judge_rows[0].per_second:.2f}x judgments/s")
    print(f"judge zygote vs spawn (concurrency 1): {judge_rows[0].per_second / judge_rows[2].per_second:.1f}x "
          "judgments/s")


if __name__ == "__main__":
    asyncio.run(main())
