"""Rate limits on submitAttempt, requestAnalysis and searchPatterns, kept in PostgreSQL so that
every API process shares them (db/rate_limits.py, resolvers/rate_limit.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest

from app.server import create_app
from app.services import Services, database_config
from core.settings import Settings
from db.database import Database
from db.rate_limits import Bucket, RateLimitConfig, RateLimiter
from tests.helpers import GraphQLClient, make_settings, token_for
from tests.live_server import live_server

SUBMIT = """
mutation($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) { attempt { id verdict } }
}
"""
REQUEST = "mutation($input: RequestAnalysisInput!) { requestAnalysis(input: $input) { id status } }"
SEARCH = "query($t: String!) { searchPatterns(text: $t, first: 3) { score pattern { slug } } }"
CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"


class FakeSearch:
    """Stands in for the embedding search (models are off in these tests) and counts its calls,
    so a test sees whether the field's work was done."""

    def __init__(self) -> None:
        self.calls = 0

    async def search(self, text: str, first: int) -> list:
        self.calls += 1
        return []


def limit(services: Services, **config: object) -> RateLimiter:
    """Give the running services other limits (a short window: tests need not wait a minute)."""
    services.rate_limiter = RateLimiter(services.db, RateLimitConfig(**config))  # type: ignore[arg-type]
    return services.rate_limiter


def fake_search(services: Services) -> FakeSearch:
    fake = FakeSearch()
    services.search = fake  # type: ignore[assignment]
    return fake


@asynccontextmanager
async def http_client(services: Services, client_ip: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services.settings, services), client=(client_ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def pattern_id(gql: GraphQLClient, slug: str = "right-triangle") -> str:
    return (await gql.data("query($s: String) { pattern(slug: $s) { id } }", {"s": slug}))["pattern"]["id"]


def rate_limited(body: dict) -> float:
    """The retryAfter of a RATE_LIMITED answer (asserting that is what it is)."""
    assert [e["extensions"]["code"] for e in body.get("errors", [])] == ["RATE_LIMITED"], body
    retry_after = body["errors"][0]["extensions"]["retryAfter"]
    assert isinstance(retry_after, int | float) and retry_after > 0, body
    return float(retry_after)


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:
    # The limits come from the settings, through app.services, as in production.
    return make_settings(database_url, tmp_path, rate_limit_submit_per_minute=2, rate_limit_analysis_per_minute=1,
                         rate_limit_search_per_minute=3)


async def test_settings_reach_the_limiter_with_a_minute_window(services) -> None:
    config = services.rate_limiter.config
    assert (config.submit, config.analysis, config.search, config.window_seconds) == (2, 1, 3, 60.0)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.rate_limit_submit_per_minute, defaults.rate_limit_analysis_per_minute,
            defaults.rate_limit_search_per_minute) == (30, 30, 60)


async def test_over_the_limit_nothing_is_judged_or_written(gql, client, services) -> None:
    token, pid = token_for(), await pattern_id(gql)
    for _ in range(2):
        attempt = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": CODE}}, token=token))
        assert attempt["submitAttempt"]["attempt"]["verdict"] == "PASSED"
    response = await client.post("/graphql", json={"query": SUBMIT, "variables": {"input": {"patternId": pid, "code": CODE}}},
                                 headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    retry_after = rate_limited(response.json())
    assert 0 < retry_after <= 30  # 2 a minute: one more every 30 s
    assert int(response.headers["retry-after"]) >= retry_after
    assert await services.db.fetchval("SELECT count(*) FROM attempts") == 2
    analyses_before = await services.db.fetchval("SELECT count(*) FROM analyses")

    # requestAnalysis has its own budget (1 a minute here), untouched by the submissions.
    request = {"input": {"patternId": pid, "code": CODE, "kind": "COMPLEXITY"}}
    assert (await gql.data(REQUEST, request, token=token))["requestAnalysis"]["id"]
    rate_limited(await gql(REQUEST, request, token=token))
    assert await services.db.fetchval("SELECT count(*) FROM analyses") == analyses_before + 1
    assert await services.db.fetchval("SELECT count(*) FROM attempts") == 2


async def test_learners_have_separate_budgets(gql, services) -> None:
    pid = await pattern_id(gql)
    alice, bob = token_for(), token_for()
    request = {"input": {"patternId": pid, "code": CODE, "kind": "COMPLEXITY"}}
    assert (await gql.data(REQUEST, request, token=alice))["requestAnalysis"]["id"]
    rate_limited(await gql(REQUEST, request, token=alice))
    assert (await gql.data(REQUEST, request, token=bob))["requestAnalysis"]["id"]


async def test_anonymous_callers_are_limited_by_their_address(services) -> None:
    search = fake_search(services)
    async with http_client(services, "203.0.113.7") as first, http_client(services, "198.51.100.9") as second:
        for _ in range(3):
            assert (await GraphQLClient(first).data(SEARCH, {"t": "stars"}))["searchPatterns"] == []
        # A forwarded-for header is anyone's to write: it changes nothing.
        spoofed = await first.post("/graphql", json={"query": SEARCH, "variables": {"t": "stars"}},
                                   headers={"X-Forwarded-For": "192.0.2.1"})
        rate_limited(spoofed.json())
        assert spoofed.headers["retry-after"].isdigit()
        assert search.calls == 3  # the limited request did not search
        # Another address, and a learner signed in at the same address, have their own budgets.
        assert (await GraphQLClient(second).data(SEARCH, {"t": "stars"}))["searchPatterns"] == []
        assert (await GraphQLClient(first).data(SEARCH, {"t": "stars"}, token=token_for()))["searchPatterns"] == []
    keys = {r["key"] for r in await services.db.fetch("SELECT key FROM rate_limits WHERE bucket = 'search'")}
    assert {"ip:203.0.113.7", "ip:198.51.100.9"} <= keys


async def test_a_real_server_limits_by_the_socket_peer(services) -> None:
    fake_search(services)
    limit(services, search=1)
    async with live_server(services) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        gql = GraphQLClient(http)
        assert (await gql.data(SEARCH, {"t": "stars"}))["searchPatterns"] == []
        response = await http.post("/graphql", json={"query": SEARCH, "variables": {"t": "stars"}})
        rate_limited(response.json())
        assert int(response.headers["retry-after"]) >= 1
    assert await services.db.fetchval("SELECT key FROM rate_limits") == "ip:127.0.0.1"


async def test_a_bad_token_is_unauthenticated_not_rate_limited(gql, services) -> None:
    fake_search(services)
    limit(services, search=1, submit=1)
    assert (await gql.data(SEARCH, {"t": "stars"}))["searchPatterns"] == []
    rate_limited(await gql(SEARCH, {"t": "stars"}))  # the address's budget is spent...
    # ...but a broken token is refused as such, whatever the address's budget.
    assert await gql.error_codes(SEARCH, {"t": "stars"}, token="not-a-token") == ["UNAUTHENTICATED"]
    pid = await pattern_id(gql)
    assert await gql.error_codes(SUBMIT, {"input": {"patternId": pid, "code": CODE}},
                                 token="not-a-token") == ["UNAUTHENTICATED"]
    # Anonymous callers of a sign-in-only field are refused by the field and spend nothing.
    for _ in range(3):
        assert await gql.error_codes(SUBMIT, {"input": {"patternId": pid, "code": CODE}}) == ["UNAUTHENTICATED"]
    assert await services.db.fetchval("SELECT count(*) FROM rate_limits WHERE bucket = 'submit'") == 0


async def test_every_api_process_shares_the_limits(services, settings, tmp_path) -> None:
    """Two servers (own pools, own limiters) on one database: one budget, as for `serve
    --workers 2` or two replicas."""
    other = Services.create(settings.model_copy(update={"data_dir": tmp_path / "other", "analysis_workers": 0}))
    await other.start()
    try:
        token = token_for()
        searches = [fake_search(services), fake_search(other)]
        async with http_client(services) as one, http_client(other) as two:
            clients = [GraphQLClient(one), GraphQLClient(two)]
            for i in range(3):  # 3 a minute, spent across both servers
                assert (await clients[i % 2].data(SEARCH, {"t": "stars"}, token=token))["searchPatterns"] == []
            rate_limited(await clients[1](SEARCH, {"t": "stars"}, token=token))
            rate_limited(await clients[0](SEARCH, {"t": "stars"}, token=token))
        assert [s.calls for s in searches] == [2, 1]
    finally:
        await other.close()


async def test_the_budget_comes_back_after_retry_after(gql, services) -> None:
    fake_search(services)
    limit(services, search=2, window_seconds=2.0)  # a burst of 2, then one every second
    token = token_for()
    for _ in range(2):
        await gql.data(SEARCH, {"t": "stars"}, token=token)
    retry_after = rate_limited(await gql(SEARCH, {"t": "stars"}, token=token))
    assert retry_after <= 1.0
    # Knocking while limited does not push the wait further out.
    assert rate_limited(await gql(SEARCH, {"t": "stars"}, token=token)) <= retry_after
    await asyncio.sleep(retry_after)
    await gql.data(SEARCH, {"t": "stars"}, token=token)
    rate_limited(await gql(SEARCH, {"t": "stars"}, token=token))  # one came back, not the whole burst


async def test_zero_turns_a_limit_off(gql, services) -> None:
    search = fake_search(services)
    limit(services, search=0)
    for i in range(10):  # ten texts: with no limit, the response cache could answer repeats itself
        await gql.data(SEARCH, {"t": f"stars {i}"})
    assert search.calls == 10
    assert await services.db.fetchval("SELECT count(*) FROM rate_limits") == 0


async def test_concurrent_requests_spend_exactly_the_budget(services) -> None:
    limiter = limit(services, search=5)
    decisions = await asyncio.gather(*(limiter.hit(Bucket.SEARCH, "user:racer") for _ in range(20)))
    assert sum(d.allowed for d in decisions) == 5
    assert all(d.retry_after > 0 for d in decisions if not d.allowed)


async def test_stale_rows_are_deleted(services) -> None:
    limiter = limit(services, search=5, window_seconds=0.2, cleanup_probability=0.0)
    for i in range(30):
        await limiter.hit(Bucket.SEARCH, f"ip:10.0.0.{i}")
    assert await services.db.fetchval("SELECT count(*) FROM rate_limits") == 30
    await asyncio.sleep(0.1)  # each row's budget is whole again 0.04 s after its one request
    # A limiter sharing the table, whose own row stays in its window (1 a minute) while it sweeps.
    sweeping = limit(services, search=1, cleanup_probability=1.0, cleanup_batch=20)
    await sweeping.hit(Bucket.SEARCH, "ip:10.0.1.1")  # and deletes one batch of stale rows
    assert await services.db.fetchval("SELECT count(*) FROM rate_limits") == 11
    assert await sweeping.cleanup() == 10
    assert await services.db.fetchval("SELECT key FROM rate_limits") == "ip:10.0.1.1"  # still in its window
    assert await sweeping.cleanup() == 0


async def test_request_roles_cannot_read_or_write_the_limits(services) -> None:
    await limit(services, search=5).hit(Bucket.SEARCH, "user:someone")
    async with services.db.pool.acquire() as conn:
        for role in ("anon", "authenticated"):
            for statement in ("SELECT count(*) FROM rate_limits", "DELETE FROM rate_limits"):
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL ROLE {role}")
                    with pytest.raises(asyncpg.InsufficientPrivilegeError):
                        await conn.execute(statement)
    assert await services.db.fetchval("SELECT count(*) FROM rate_limits") == 1


async def test_a_database_outage_is_service_unavailable(gql, services) -> None:
    search = fake_search(services)
    down = Database(database_config(services.settings))  # never connected: as if the database were down
    services.rate_limiter = RateLimiter(down, dataclasses.replace(services.rate_limiter.config))
    assert await gql.error_codes(SEARCH, {"t": "stars"}, token=token_for()) == ["SERVICE_UNAVAILABLE"]
    assert search.calls == 0
    uid = str(uuid.uuid4())
    assert await gql.error_codes(SUBMIT, {"input": {"patternId": "1", "code": CODE}},
                                 token=token_for(uid)) == ["SERVICE_UNAVAILABLE"]
    assert await services.db.fetchval("SELECT count(*) FROM attempts") == 0
