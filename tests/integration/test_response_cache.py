"""The response cache (app/response_cache.py), persisted queries and HTTP caching, over HTTP on
the real app and a real PostgreSQL: answers are the uncached ones byte for byte, signed-in
callers are never served from it, writes anywhere make it forget, and its max age bounds
staleness when a notification never comes."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from app.response_cache import ResponseCache, ResponseCacheConfig, cache_key
from app.server import create_app
from app.services import Services
from tests.helpers import make_settings, token_for

CATALOG = """query Catalog($first: Int) { patterns(first: $first) { totalCount edges { cursor node {
  id slug name preview expectedOutput(size: 3) stats { attempts learners completions successRate perceivedDifficulty }
} } } }"""
STATS = '{ pattern(slug: "right-triangle") { id stats { attempts learners } } }'
PUBLIC_QUERIES = [  # (document, variables, operation name)
    (CATALOG, {"first": 5}, None),
    (CATALOG, {"first": 20}, "Catalog"),
    ('{ pattern(slug: "diamond-solid") { name rows formula expectedOutput(size: 5) } }', None, None),
    ("{ leaderboard(first: 5) { rank learnerId points } weekly: leaderboard(period: WEEK) { rank } }", None, None),
    ("query A { me { id } } query B { patterns(first: 2) { totalCount } }", None, "B"),
]
RIGHT_TRIANGLE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"
SUBMIT = "mutation($i: SubmitAttemptInput!) { submitAttempt(input: $i) { attempt { verdict } } }"

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def settings(database_url: str, tmp_path: Path):
    # No analysis workers (nothing here needs them) and no model: only the API and its cache.
    return make_settings(database_url, tmp_path, analysis_workers=0)


@pytest.fixture
def http(services: Services) -> Client:
    """An HTTP client of the app on `services`, the response cache on, or off (`cache=False`)."""

    @asynccontextmanager
    async def open_client(cache: bool = True) -> AsyncIterator[httpx.AsyncClient]:
        own = services if cache else dataclasses.replace(
            services, response_cache=ResponseCache(ResponseCacheConfig(enabled=False)))
        transport = httpx.ASGITransport(app=create_app(services.settings, own))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    return open_client


async def submit(client: httpx.AsyncClient, pattern_id: str) -> None:
    body = (await post(client, SUBMIT, {"i": {"patternId": pattern_id, "code": RIGHT_TRIANGLE}},
                       token=token_for())).json()
    assert body["data"]["submitAttempt"]["attempt"]["verdict"] == "PASSED", body


async def post(client: httpx.AsyncClient, query: str, variables: dict | None = None, token: str | None = None,
               **extra: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"query": query, "variables": variables, **extra}
    response = await client.post("/graphql", content=json.dumps(body), headers={
        "Content-Type": "application/json", **headers})
    assert response.status_code == 200, response.text
    return response


async def test_cached_answers_are_the_uncached_ones_byte_for_byte(services: Services, http: Client) -> None:
    cache = services.response_cache
    async with http(cache=False) as plain, http() as cached:
        for query, variables, name in PUBLIC_QUERIES:
            expected = (await post(plain, query, variables, operationName=name)).content
            assert "errors" not in json.loads(expected), expected
            hits = cache.hits
            first = (await post(cached, query, variables, operationName=name)).content  # computed, stored
            second = (await post(cached, query, variables, operationName=name)).content  # from the cache
            assert first == expected and second == expected, query
            assert cache.hits == hits + 1, query
        # Another operation of the same document is another entry.
        other = (await post(cached, PUBLIC_QUERIES[-1][0], operationName="A")).json()
        assert other == {"data": {"me": None}}
    assert json.loads(expected)["data"]["patterns"]["totalCount"] == 43


async def test_hits_are_counted_in_the_metrics(services: Services, http: Client) -> None:
    # A hit never reaches Strawberry (nor its metrics extension): the cache counts it as the query.
    def sample(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    operation = {"operation_name": "Catalog", "operation_type": "query"}
    async with http() as client:
        await post(client, CATALOG, {"first": 3}, operationName="Catalog")  # stored
        hits, operations = (sample("codepattern_response_cache_lookups_total", {"result": "hit"}),
                            sample("codepattern_graphql_operations_total", operation))
        await post(client, CATALOG, {"first": 3}, operationName="Catalog")  # a hit
    assert sample("codepattern_response_cache_lookups_total", {"result": "hit"}) == hits + 1
    assert sample("codepattern_graphql_operations_total", operation) == operations + 1


async def test_the_same_query_written_differently_shares_an_entry(services: Services, http: Client) -> None:
    compact = '{pattern(slug:"diamond-solid"){name rows}}'
    spaced = '\n{\n  pattern( slug: "diamond-solid" ) {\n    name\n    rows\n  }\n}\n'
    assert cache_key(compact, None, None) == cache_key(spaced, {}, None)
    assert cache_key(compact, None, None) != cache_key(compact, {"x": 1}, None)
    async with http() as client:
        first = (await post(client, compact)).content
        stored = services.response_cache.stored
        assert (await post(client, spaced)).content == first
        assert services.response_cache.stored == stored + 1  # a second raw form, the same answer
        assert services.response_cache.readiness()["entries"] == 1


async def test_signed_in_callers_are_never_served_or_stored(services: Services, http: Client) -> None:
    cache = services.response_cache
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    async with http() as client:
        await post(client, SUBMIT, {"i": {"patternId": "1", "code": RIGHT_TRIANGLE}}, token=token_for(alice))
        query = "{ me { id } progress { attempts } }"
        stored, hits = cache.stored, cache.hits
        for _ in range(2):
            assert (await post(client, query, token=token_for(alice))).json()["data"]["me"]["id"] == alice
        assert (await post(client, query, token=token_for(bob))).json()["data"] == {"me": {"id": bob}, "progress": []}
        # A bad token is answered for that caller too (UNAUTHENTICATED), never from the cache.
        bad = (await post(client, query, token="not-a-token")).json()
        assert bad["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert (cache.stored, cache.hits) == (stored, hits)
        # Anonymous, the same document is public: `me` is null, progress needs a token (an error,
        # so not stored either); `me` alone is stored, and stays null for everyone.
        anonymous = (await post(client, "{ me { id } }")).json()
        assert anonymous == {"data": {"me": None}}
        assert (await post(client, "{ me { id } }", token=token_for(alice))).json()["data"]["me"]["id"] == alice


async def test_errors_are_not_cached(services: Services, http: Client) -> None:
    cache = services.response_cache
    async with http() as client:
        stored = cache.stored
        for _ in range(2):
            body = (await post(client, '{ pattern(slug: "diamond-solid") { expectedOutput(size: 999) } }')).json()
            assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert cache.stored == stored


async def test_a_mutation_here_drops_the_cache_at_once(services: Services) -> None:
    # A cache that hears no notifications and keeps answers for a minute: only the mutation's own
    # invalidation can explain a fresh answer (with LISTEN on, the NOTIFY usually came first and
    # hid that it never happened: graphql-core's and Strawberry's OperationType were compared).
    deaf = dataclasses.replace(services, response_cache=ResponseCache(ResponseCacheConfig(max_age_seconds=60)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services.settings, deaf)),
                                 base_url="http://test") as client:
        pattern = (await post(client, STATS)).json()["data"]["pattern"]
        epoch = deaf.response_cache.epoch
        await submit(client, pattern["id"])
        assert deaf.response_cache.epoch == epoch + 1
        after = (await post(client, STATS)).json()["data"]["pattern"]["stats"]["attempts"]
        before = pattern["stats"]["attempts"]
    assert after == before + 1


async def test_a_write_by_another_process_is_heard(services: Services, database_url: str, tmp_path: Path) -> None:
    # Another API process writes (its own Services on the same database); this one hears the
    # NOTIFY and forgets. The max age is a minute here, so only the notification can explain it.
    long_lived = dataclasses.replace(services, response_cache=ResponseCache(
        ResponseCacheConfig(max_age_seconds=60), services.db))
    await long_lived.response_cache.start()
    other = Services.create(make_settings(database_url, tmp_path / "other", analysis_workers=0))
    await other.start()
    try:
        async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services.settings, long_lived)),
                                      base_url="http://here") as here,
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(other.settings, other)),
                                      base_url="http://there") as there):
            pattern = (await post(here, STATS)).json()["data"]["pattern"]
            before = pattern["stats"]["attempts"]
            assert long_lived.response_cache.readiness()["listening"] is True
            await submit(there, pattern["id"])
            started = time.monotonic()
            while (await post(here, STATS)).json()["data"]["pattern"]["stats"]["attempts"] == before:
                assert time.monotonic() - started < 5, "the other process's write was never heard"
                await asyncio.sleep(0.01)
    finally:
        await other.close()
        await long_lived.response_cache.aclose()


async def test_the_max_age_bounds_staleness_when_no_notification_comes(services: Services, database_url: str,
                                                                        tmp_path: Path) -> None:
    short = dataclasses.replace(services, response_cache=ResponseCache(
        ResponseCacheConfig(max_age_seconds=0.5), services.db))
    await short.response_cache.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services.settings, short)),
                                     base_url="http://test") as client:
            before = (await post(client, STATS)).json()["data"]["pattern"]["stats"]["attempts"]
            # A write that tells nobody: the triggers of sql/013 are off for it.
            async with services.db.transaction() as conn:
                await conn.execute("ALTER TABLE pattern_stats DISABLE TRIGGER pattern_stats_public_data_changed")
                await conn.execute("UPDATE pattern_stats SET attempts = attempts + 100 WHERE pattern_id = "
                                   "(SELECT id FROM patterns WHERE slug = 'right-triangle')")
                await conn.execute("ALTER TABLE pattern_stats ENABLE TRIGGER pattern_stats_public_data_changed")
            changed_at = time.monotonic()
            assert (await post(client, STATS)).json()["data"]["pattern"]["stats"]["attempts"] == before  # stale
            while (await post(client, STATS)).json()["data"]["pattern"]["stats"]["attempts"] == before:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            assert time.monotonic() - changed_at <= 0.5 + 0.2
    finally:
        await short.response_cache.aclose()


async def test_get_answers_carry_http_caching_headers(http: Client) -> None:
    params = {"query": '{ pattern(slug: "diamond-solid") { name } }'}
    async with http() as client:
        first = await client.get("/graphql", params=params, headers={"Accept": "application/json"})
        second = await client.get("/graphql", params=params, headers={"Accept": "application/json"})
        assert first.status_code == second.status_code == 200
        assert first.content == second.content and first.json() == {"data": {"pattern": {"name": "Diamond"}}}
        for response in (first, second):
            assert response.headers["cache-control"] == "public, max-age=1"
            assert response.headers["vary"] == "Authorization"
        assert first.headers["etag"] == second.headers["etag"]
        unchanged = await client.get("/graphql", params=params, headers={
            "Accept": "application/json", "If-None-Match": first.headers["etag"]})
        assert unchanged.status_code == 304 and unchanged.content == b""
        signed_in = await client.get("/graphql", params={"query": "{ me { id } }"}, headers={
            "Accept": "application/json", "Authorization": f"Bearer {token_for()}"})
        assert signed_in.headers["cache-control"] == "no-store" and "etag" not in signed_in.headers
        refused = await client.get("/graphql", params={"query": "{ progress { attempts } }"},
                                   headers={"Accept": "application/json"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert refused.headers["cache-control"] == "no-store"


async def test_automatic_persisted_queries(services: Services, http: Client) -> None:
    query = '{ pattern(slug: "diamond-solid") { name } }'
    digest = hashlib.sha256(query.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    async with http() as client:
        unknown = (await post(client, None, extensions=persisted)).json()  # type: ignore[arg-type]
        assert unknown["errors"][0]["message"] == "PersistedQueryNotFound"
        assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        registered = (await post(client, query, extensions=persisted)).json()
        assert registered == {"data": {"pattern": {"name": "Diamond"}}}
        by_hash = (await post(client, None, extensions=persisted)).json()  # type: ignore[arg-type]
        assert by_hash == registered
        # By GET, as Apollo Client sends it with useGETForHashedQueries: short and cacheable.
        response = await client.get("/graphql", params={"extensions": json.dumps(persisted)},
                                    headers={"Accept": "application/json"})
        assert response.json() == registered and response.headers["cache-control"] == "public, max-age=1"
        wrong = (await post(client, '{ pattern(slug: "x") { name } }', extensions=persisted)).json()
        assert wrong["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "persistedQuery"}
        assert (await post(client, None, extensions=persisted)).json() == registered  # not replaced
