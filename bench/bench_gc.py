"""The garbage collector's cost per request: Python's defaults against app/gc_tuning.py, in one run.

    .venv/bin/python bench/bench_gc.py [--database-url postgresql://...] [--concurrency 32]
        [--requests 320] [--rounds 6]

The whole ASGI application (app.server.create_app, response cache off, no models) is driven in
process, without HTTP, by --concurrency callers at once, as a loaded server runs them: the
catalog page (bench_http.QUERY) and a signed-in learner's page (bench_http.LEARNER_QUERY) over a
scratch database with 50,000 attempts. Rounds alternate between the collector as CPython sets it
(gc.unfreeze, thresholds 700/10/10) and as `tune_for_serving` leaves it (start-up frozen, a larger
young generation). Printed per page and mode: the process's CPU time per request (median and
minimum over the rounds) and the collector's own CPU time per request (gc.callbacks, thread time),
then tuned / default ratios. CPU time, not wall time: this machine's other load counts less.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from app.gc_tuning import tune_for_serving
from app.server import create_app
from bench.bench_http import LEARNER_QUERY, QUERY
from bench.bench_inprocess import call, loaded_app_settings
from bench.scratch_db import default_name

DEFAULT_THRESHOLD = (700, 10, 10)  # CPython's own


class CollectorClock:
    """CPU seconds spent inside the collector (its callbacks bracket every pass)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started


def set_mode(mode: str) -> None:
    if mode == "default":
        gc.unfreeze()
        gc.set_threshold(*DEFAULT_THRESHOLD)
    else:
        tune_for_serving()


async def run(args: argparse.Namespace) -> None:
    async with loaded_app_settings(args.database_url, default_name("cpm_bench_gc")) as (_url, settings, token):
        pages = {
            "catalog (20 patterns with stats)": (orjson.dumps({"query": QUERY}), []),
            "learner (me + progress)": (orjson.dumps({"query": LEARNER_QUERY}),
                                        [(b"authorization", f"Bearer {token}".encode())]),
        }
        app = create_app(settings)
        clock = CollectorClock()
        gc.callbacks.append(clock)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        async with app.router.lifespan_context(app):
            for page, (body, headers) in pages.items():
                for _ in range(100):  # warm caches, statements and the pool (call checks each answer)
                    await call(app, "/graphql", body, headers)

                async def caller(count: int, body: bytes = body, headers: list = headers) -> None:
                    for _ in range(count):
                        await call(app, "/graphql", body, headers)

                for round_ in range(args.rounds * 2):
                    mode = ("default", "tuned")[round_ % 2]
                    set_mode(mode)
                    per_caller = max(1, args.requests // args.concurrency)
                    total = per_caller * args.concurrency
                    cpu, collector = time.process_time(), clock.seconds
                    await asyncio.gather(*(caller(per_caller) for _ in range(args.concurrency)))
                    results.setdefault((page, mode), []).append(
                        ((time.process_time() - cpu) / total * 1000, (clock.seconds - collector) / total * 1000))
        set_mode("default")
    print(f"## The collector per request: CPython's defaults against app/gc_tuning.py "
          f"({args.concurrency} callers at once, {args.rounds} rounds each, alternating)\n")
    print("| page | collector | CPU ms/request (median) | (min) | of it in the collector |")
    print("|---|---|---:|---:|---:|")
    for page in pages:
        for mode in ("default", "tuned"):
            rows = results[(page, mode)]
            print(f"| {page} | {mode} | {statistics.median(r[0] for r in rows):.3f} | {min(r[0] for r in rows):.3f} "
                  f"| {statistics.median(r[1] for r in rows):.3f} |")
    print()
    for page in pages:
        default, tuned = results[(page, "default")], results[(page, "tuned")]
        ratio = statistics.median(r[0] for r in tuned) / statistics.median(r[0] for r in default)
        gc_ratio = statistics.median(r[1] for r in tuned) / max(statistics.median(r[1] for r in default), 1e-9)
        print(f"{page}: CPU per request tuned / default {ratio:.2f}x; collector time {gc_ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--database-url", help="server URL whose user may create databases "
                                               "(default: an embedded PostgreSQL in a temporary folder)")
    parser.add_argument("--concurrency", type=int, default=32, help="callers at once (default: 32, as bench_http)")
    parser.add_argument("--requests", type=int, default=320, help="requests per round (default: 320)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds per mode (default: 6)")
    args = parser.parse_args()
    if min(args.concurrency, args.requests, args.rounds) < 1:
        parser.error("--concurrency, --requests and --rounds must be >= 1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
