"""The server's CPU per request against the hand-written endpoint's, both in this process, no HTTP.

    .venv/bin/python bench/bench_inprocess.py [--database-url postgresql://...] [--page learner]
        [--concurrency 16] [--requests 400] [--rounds 8] [--profile FILE]

Wall-clock ratios over HTTP (bench/bench_http.py) move with this shared VM's speed from one
minute to the next; CPU time per request, measured in one process with both apps taking turns,
moves far less, so a change to the engine can be judged in a few minutes. The whole ASGI app
(app.server.create_app: middlewares, the GraphQL view, the executor, row level security; the
response cache off, no models) and bench/baseline_app.py (Starlette + asyncpg, the same SQL by
hand) are driven by --concurrency callers at once, in rounds that alternate between them, over a
scratch database with 50,000 attempts. Every answer is checked: the same JSON from both.

Printed: each app's CPU milliseconds per request (median and minimum over the rounds, this
process's CPU time: the client's small share is in both), and hand-written / ours, the figure
issue #12 holds against 0.5 (the signed-in page) over HTTP. --profile FILE writes a cProfile of
ours (one more round) for `python -m pstats FILE`.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
import jwt
import orjson

from app.gc_tuning import tune_for_serving
from app.server import create_app
from bench.baseline_app import create_app as create_baseline
from bench.bench_http import LEARNER_QUERY, QUERY
from bench.load_attempts import load
from bench.scratch_db import bench_settings, default_name, scratch_database
from core.settings import Settings

PAGES = {"catalog": ("/graphql", QUERY), "learner": ("/learner", LEARNER_QUERY)}


async def call(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """One POST through the ASGI app; the response body."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"host", b"bench"), *headers],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    sent = False
    chunks: list[bytes] = []
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: the answer does not wait for a disconnect
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    answer = b"".join(chunks)
    if status != 200 or b'"errors"' in answer:
        raise SystemExit(f"{path} answered {status}: {answer[:300]!r}")
    return answer


@asynccontextmanager
async def loaded_app_settings(server_url: str | None, name: str) -> AsyncIterator[tuple[str, Settings, str]]:
    """A scratch database with 50,000 attempts by 2,000 learners: (its URL, the app's settings for
    it: response cache off, no models nor workers; a token of the learner with the most progress)."""
    async with scratch_database(server_url, name) as url:
        conn = await asyncpg.connect(url)
        try:
            await load(conn, learners=2_000, attempts=50_000, chunk=50_000, log=lambda _: None)
            learner = await conn.fetchval(
                "SELECT learner_id FROM progress GROUP BY learner_id ORDER BY count(*) DESC, learner_id LIMIT 1")
        finally:
            await conn.close()
        settings = bench_settings(url, Path(tempfile.mkdtemp(prefix="cpm-bench-")), response_cache=False,
                                  analysis_workers=0, database_pool_max=10, log_level="WARNING")
        secret = settings.supabase_jwt_secret.get_secret_value()  # type: ignore[union-attr]
        token = jwt.encode({"sub": learner, "aud": "authenticated", "role": "authenticated",
                            "exp": int(time.time()) + 3600}, secret, algorithm="HS256")
        yield url, settings, token


async def run(args: argparse.Namespace) -> None:
    async with loaded_app_settings(args.database_url, default_name("cpm_bench_inprocess")) as (url, settings, token):
        secret = settings.supabase_jwt_secret.get_secret_value()  # type: ignore[union-attr]
        headers = [(b"authorization", f"Bearer {token}".encode())] if args.page == "learner" else []
        baseline_path, query = PAGES[args.page]
        body = orjson.dumps({"query": query})
        ours = create_app(settings)
        theirs = create_baseline(url, pool_min=1, pool_max=10, jwt_secret=secret)
        targets = {"ours": (ours, "/graphql"), "hand-written": (theirs, baseline_path)}
        cpu: dict[str, list[float]] = {name: [] for name in targets}
        async with ours.router.lifespan_context(ours), theirs.router.lifespan_context(theirs):
            answers = {name: orjson.loads(await call(app, path, body, headers))
                       for name, (app, path) in targets.items()}
            if answers["ours"] != answers["hand-written"]:
                raise SystemExit(f"the two apps answer differently:\n{answers['ours']}\n{answers['hand-written']}")
            tune_for_serving()  # as `codepattern serve` leaves the collector
            per_caller = max(1, args.requests // args.concurrency)

            async def round_of(app: Any, path: str) -> float:
                async def caller() -> None:
                    for _ in range(per_caller):
                        await call(app, path, body, headers)

                started = time.process_time()
                await asyncio.gather(*(caller() for _ in range(args.concurrency)))
                return (time.process_time() - started) / (per_caller * args.concurrency) * 1000

            for app, path in targets.values():  # warm caches, statements and both pools
                await round_of(app, path)
            for _ in range(args.rounds):
                for name, (app, path) in targets.items():
                    cpu[name].append(await round_of(app, path))
            if args.profile:
                profiler = cProfile.Profile()
                profiler.enable()
                await round_of(ours, "/graphql")
                profiler.disable()
                profiler.dump_stats(args.profile)
    print(f"## {args.page} page in process: CPU ms per request ({args.concurrency} callers, "
          f"{per_caller * args.concurrency} requests a round, {args.rounds} rounds each, alternating)\n")
    print("| app | median | min |")
    print("|---|---:|---:|")
    for name, values in cpu.items():
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} |")
    ratio = statistics.median(cpu["hand-written"]) / statistics.median(cpu["ours"])
    print(f"\nhand-written / ours (CPU per request, medians): {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--database-url", help="server URL whose user may create databases "
                                               "(default: an embedded PostgreSQL in a temporary folder)")
    parser.add_argument("--page", choices=sorted(PAGES), default="learner", help="which page (default: learner)")
    parser.add_argument("--concurrency", type=int, default=16, help="callers at once (default: 16)")
    parser.add_argument("--requests", type=int, default=400, help="requests per round (default: 400)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per app (default: 8)")
    parser.add_argument("--profile", help="write a cProfile of one more round of ours to this file")
    args = parser.parse_args()
    if min(args.concurrency, args.requests, args.rounds) < 1:
        parser.error("--concurrency, --requests and --rounds must be >= 1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
