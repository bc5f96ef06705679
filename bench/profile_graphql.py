"""Where one "20 patterns with stats" request spends its time, in process (no HTTP, no load
generator): the app's schema as it is, the same schema with its validation cache able to hit, and
lighter selections of the same query.

    .venv/bin/python bench/profile_graphql.py [--requests 300] [--database-url postgresql://...]

Each variant runs ``schema.execute`` --requests times, one after another, against a migrated and
seeded scratch database (embedded PostgreSQL in a temporary folder unless --database-url names a
server); prints milliseconds per request and the strawberry validation caches' hit counts.
Why: the HTTP benchmark (bench/bench_http.py) is CPU-bound in the server process; this splits
that CPU time by cause so a change can be checked quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.extensions.validation_cache import _get_validate_cache

from app.services import Services
from bench.scratch_db import bench_settings, default_name, scratch_database
from db import patterns
from db.patterns import PatternFilter
from resolvers.context import Context
from resolvers.errors import ErrorCodes
from resolvers.mutation import Mutation
from resolvers.query import Query
from resolvers.schema import MAX_QUERY_DEPTH, Schema
from resolvers.schema import schema as app_schema
from resolvers.subscription import Subscription

STATS = "stats { attempts learners completions successRate averageTimeSpentSeconds perceivedDifficulty }"
FULL = f"{{ patterns(first: 20) {{ edges {{ node {{ id slug name difficulty preview {STATS} }} }} }} }}"
SELECTIONS = {
    "without stats": "{ patterns(first: 20) { edges { node { id slug name difficulty preview } } } }",
    "only id": "{ patterns(first: 20) { edges { node { id } } } }",
    "{ __typename }": "{ __typename }",
}
# A maxsize no other schema uses, so this variant's validation cache is its own.
VARIANT_CACHE_SIZE = 255


def stable_depth_schema() -> Schema:
    """The app's extensions, except that the depth rule is one class built once: the validation
    cache keys on the rule classes, and QueryDepthLimiter builds a new class per request."""
    depth_rule = create_validator(MAX_QUERY_DEPTH, None, None)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            lambda: AddValidationRules([depth_rule]),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=VARIANT_CACHE_SIZE),
            ErrorCodes,
        ],
    )


async def per_request_ms(schema: Schema, services: Services, query: str, requests: int) -> float:
    for _ in range(min(30, requests)):  # warm caches and the pool
        context = await Context.build(services, services.verifier.caller_from_header, None)
        result = await schema.execute(query, context_value=context)
        if result.errors:
            raise SystemExit(f"{query}: {result.errors}")
    started = time.perf_counter()
    for _ in range(requests):
        context = await Context.build(services, services.verifier.caller_from_header, None)
        await schema.execute(query, context_value=context)
    return (time.perf_counter() - started) / requests * 1000


async def sql_only_ms(services: Services, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        page = await patterns.page(services.db, PatternFilter(), 20, None)
        await patterns.stats_by_pattern_ids(services.db, [r["id"] for r in page.rows])
    return (time.perf_counter() - started) / requests * 1000


async def run(args: argparse.Namespace) -> None:
    async with scratch_database(args.database_url, default_name("cpm_bench_profile")) as url:
        with tempfile.TemporaryDirectory(prefix="cpm-bench-") as tmp:
            services = Services.create(bench_settings(url, Path(tmp), database_pool_max=10))
            await services.start()
            try:
                variant = stable_depth_schema()
                rows = [
                    ("app schema, full query", await per_request_ms(app_schema, services, FULL, args.requests)),
                    ("validation cache able to hit, full query",
                     await per_request_ms(variant, services, FULL, args.requests)),
                ]
                for label, query in SELECTIONS.items():
                    rows.append((f"validation cache able to hit, {label}",
                                 await per_request_ms(variant, services, query, args.requests)))
                rows.append(("the two SQL statements alone (page + stats)", await sql_only_ms(services, args.requests)))
            finally:
                await services.close()
    width = max(len(label) for label, _ in rows)
    print(f"{'variant':{width}}  ms per request (sequential, {args.requests} requests)")
    for label, ms in rows:
        print(f"{label:{width}}  {ms:6.2f}")
    print(f"validation cache, app schema: {_get_validate_cache(256).cache_info()}")
    print(f"validation cache, variant:    {_get_validate_cache(VARIANT_CACHE_SIZE).cache_info()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per variant (default: 300)")
    parser.add_argument("--database-url", help="server URL whose user may create databases "
                                               "(default: an embedded PostgreSQL in a temporary folder)")
    args = parser.parse_args()
    if args.requests < 1:
        parser.error("--requests must be >= 1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
