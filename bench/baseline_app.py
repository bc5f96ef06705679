"""The hand-written baseline for bench/bench_http.py: Starlette + asyncpg, no GraphQL.

    .venv/bin/python bench/baseline_app.py --database-url URL [--port 8101]

POST /graphql answers the shape of
``{ patterns(first: 20) { edges { node { id slug name difficulty preview stats { attempts learners
completions successRate averageTimeSpentSeconds perceivedDifficulty } } } } }``
whatever the body asks, with two SQL statements (the page, then the stats of its patterns): what
a hand-written endpoint does. The statistics are derived with the same rules as
resolvers/types.py (PatternStats.from_row) so both servers return the same JSON.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PAGE_SQL = "SELECT id, slug, name, difficulty, preview FROM patterns ORDER BY position LIMIT $1"
STATS_SQL = """
SELECT pattern_id, attempts, learners, completions, total_time_seconds
FROM pattern_stats WHERE pattern_id = ANY($1::bigint[])
"""


def perceived_difficulty(learners: int, rate: float) -> str:
    if learners < 5:
        return "UNRATED"
    return "EASY" if rate >= 0.7 else "MEDIUM" if rate >= 0.4 else "HARD"


def stats_json(row: asyncpg.Record | None) -> dict[str, Any]:
    attempts, learners, completions, total = (
        (row["attempts"], row["learners"], row["completions"], row["total_time_seconds"]) if row else (0, 0, 0, 0)
    )
    rate = completions / learners if learners else 0.0
    return {
        "attempts": min(attempts, 2**31 - 1),
        "learners": learners,
        "completions": completions,
        "successRate": round(rate, 4),
        "averageTimeSpentSeconds": round(total / learners, 2) if learners else 0.0,
        "perceivedDifficulty": perceived_difficulty(learners, rate),
    }


def create_app(database_url: str, pool_min: int = 2, pool_max: int = 10) -> Starlette:
    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(database_url, min_size=pool_min, max_size=pool_max)
        try:
            yield
        finally:
            await state["pool"].close()

    async def graphql(request: Request) -> JSONResponse:
        await request.json()  # read and parse the body like a real endpoint; the shape is fixed
        pool = state["pool"]
        rows = await pool.fetch(PAGE_SQL, 20)
        stats = {r["pattern_id"]: r for r in await pool.fetch(STATS_SQL, [r["id"] for r in rows])}
        edges = [
            {
                "node": {
                    "id": str(r["id"]),
                    "slug": r["slug"],
                    "name": r["name"],
                    "difficulty": r["difficulty"],
                    "preview": list(r["preview"]),
                    "stats": stats_json(stats.get(r["id"])),
                }
            }
            for r in rows
        ]
        return JSONResponse({"data": {"patterns": {"edges": edges}}})

    async def readyz(request: Request) -> JSONResponse:
        await state["pool"].fetchval("SELECT 1")
        return JSONResponse({"status": "ready"})

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]), Route("/readyz", readyz)],
                     lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description="Hand-written Starlette + asyncpg baseline for bench_http.py.")
    parser.add_argument("--database-url", required=True, help="the database both servers read")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    # The same uvicorn settings as `codepattern serve` (one process, uvloop/httptools when installed).
    uvicorn.run(create_app(args.database_url), host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
