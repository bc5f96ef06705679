"""The hand-written baseline for bench/bench_http.py: Starlette + asyncpg, no GraphQL.

    BASELINE_JWT_SECRET=... .venv/bin/python bench/baseline_app.py --database-url URL [--port 8101]

Two endpoints, each answering one fixed shape whatever the body asks, as a hand-written
endpoint would:

- POST /graphql: ``{ patterns(first: 20) { edges { node { id slug name difficulty preview stats {
  attempts learners completions successRate averageTimeSpentSeconds perceivedDifficulty } } } } }``
  with two SQL statements (the page, then the stats of its patterns). The statistics are derived
  with the same rules as resolvers/types.py (PatternStats.from_row) so both servers return the
  same JSON.
- POST /learner: bench_http.LEARNER_QUERY (`me` and `progress` with pattern names) for the
  learner of the HS256 token in the Authorization header (verified with PyJWT: signature, exp,
  aud), with two SQL statements (the learner; the progress joined with the patterns' names).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import jwt
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


LEARNER_SQL = "SELECT id, display_name, points, completed_patterns FROM learners WHERE id = $1"
PROGRESS_SQL = """
SELECT p.name, p.slug, g.progress_percentage, g.time_spent_seconds, g.attempts, g.completed, g.best_score,
       g.last_attempt_at
FROM progress g JOIN patterns p ON p.id = g.pattern_id
WHERE g.learner_id = $1
ORDER BY g.last_attempt_at DESC NULLS LAST, g.pattern_id
"""


def create_app(database_url: str, pool_min: int = 2, pool_max: int = 10, jwt_secret: str | None = None) -> Starlette:
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

    async def learner(request: Request) -> JSONResponse:
        await request.json()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not jwt_secret:
            return JSONResponse({"errors": [{"message": "no token"}]}, status_code=401)
        try:
            claims = jwt.decode(token, jwt_secret, algorithms=["HS256"], audience="authenticated")
        except jwt.InvalidTokenError:
            return JSONResponse({"errors": [{"message": "bad token"}]}, status_code=401)
        pool = state["pool"]
        me = await pool.fetchrow(LEARNER_SQL, claims["sub"])
        rows = await pool.fetch(PROGRESS_SQL, claims["sub"])
        progress = [
            {
                "pattern": {"name": r["name"], "slug": r["slug"]},
                "progressPercentage": round(float(r["progress_percentage"]), 4),
                "timeSpentSeconds": min(r["time_spent_seconds"], 2**31 - 1),
                "attempts": r["attempts"],
                "completed": r["completed"],
                "bestScore": round(float(r["best_score"]), 4),
                "lastAttemptAt": r["last_attempt_at"].isoformat() if r["last_attempt_at"] else None,
            }
            for r in rows
        ]
        me_json = None if me is None else {"id": me["id"], "displayName": me["display_name"], "points": me["points"],
                                           "completedPatterns": me["completed_patterns"]}
        return JSONResponse({"data": {"me": me_json, "progress": progress}})

    async def readyz(request: Request) -> JSONResponse:
        await state["pool"].fetchval("SELECT 1")
        return JSONResponse({"status": "ready"})

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"]), Route("/learner", learner, methods=["POST"]),
                             Route("/readyz", readyz)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description="Hand-written Starlette + asyncpg baseline for bench_http.py.")
    parser.add_argument("--database-url", required=True, help="the database both servers read")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    # The same uvicorn settings as `codepattern serve` (one process, uvloop/httptools when installed).
    app = create_app(args.database_url, jwt_secret=os.environ.get("BASELINE_JWT_SECRET"))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
