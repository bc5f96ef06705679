"""Query limits (depth, aliases, fields, cost, tokens), introspection, request size, batching.

Every GraphQL limit is a validation rule (resolvers/limits.py), so a refused document never
executes: its response has no `data`, and a mutation inside it writes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from graphql import (
    get_introspection_query,
    get_named_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    parse,
)
from strawberry.extensions.validation_cache import _get_validate_cache
from strawberry.types import ExecutionResult

from app.server import create_app
from app.services import Services, graphql_limits
from resolvers.limits import LIST_SIZES, SIZED_BY_PARENT, DocumentMeasure, GraphQLLimits
from resolvers.schema import build_schema, schema
from tests.helpers import GraphQLClient, token_for

AppClient = Callable[..., AbstractAsyncContextManager[GraphQLClient]]

NODE = "id slug name category difficulty description preview rows formula loops conditions"
STATS = "stats { attempts learners completions successRate averageTimeSpentSeconds perceivedDifficulty }"
# What a catalog page asks for (GraphiQL-sized): a fragment, a variable page size, paging.
CATALOG_PAGE = f"""
query Catalog($first: Int, $after: String) {{
  patterns(first: $first, after: $after) {{
    totalCount
    pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ ...PatternCard }} }}
  }}
}}
fragment PatternCard on Pattern {{ {NODE} expectedOutput(size: 4) {STATS} }}
"""
# GraphiQL's own introspection query (descriptions, deprecated input values, repeatable directives).
INTROSPECTION = get_introspection_query(descriptions=True, specified_by_url=True, directive_is_repeatable=True,
                                        schema_description=True, input_value_deprecation=True)


@pytest.fixture
def app_client(services: Services) -> AppClient:
    """A GraphQL client of an app on the started services, with some settings changed."""

    @asynccontextmanager
    async def open_client(**overrides: object) -> AsyncIterator[GraphQLClient]:
        settings = services.settings.model_copy(update=overrides)
        transport = httpx.ASGITransport(app=create_app(settings, services))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield GraphQLClient(http)

    return open_client


def measure(query: str):
    return DocumentMeasure(schema._schema, parse(query)).total()


def refused(body: dict) -> list[str]:
    """The messages of a document refused before execution (QUERY_TOO_COMPLEX, no data)."""
    assert body.get("data") is None, body
    assert {e["extensions"]["code"] for e in body["errors"]} == {"QUERY_TOO_COMPLEX"}, body["errors"]
    return [e["message"] for e in body["errors"]]


# --------------------------------------------------------------------------- the measure itself


def test_every_list_of_objects_has_a_page_size() -> None:
    """A new list or paged field must say how big it gets, or the cost rule would count it as one
    item."""
    lists = set()
    for type_ in schema._schema.type_map.values():
        if type_.name.startswith("__") or not is_object_type(type_):
            continue
        for name, field in type_.fields.items():
            inner = field.type.of_type if is_non_null_type(field.type) else field.type
            if (is_list_type(inner) and is_object_type(get_named_type(field.type))) or "first" in field.args:
                lists.add(f"{type_.name}.{name}")
    assert lists == set(LIST_SIZES) | SIZED_BY_PARENT


def test_cost_multiplies_by_page_sizes() -> None:
    # patterns costs 1; what is inside it costs its page size each (default 20).
    assert measure("{ patterns { edges { node { id } } } }").cost == 1 + 20 * 3
    assert measure("{ patterns(first: 100) { edges { node { id } } } }").cost == 1 + 100 * 3
    assert measure("{ patterns(first: null) { totalCount } }").cost == 1 + 20
    # Beyond the maximum the resolver refuses anyway; a variable may be anything up to it.
    assert measure("{ patterns(first: 100000) { totalCount } }").cost == 1 + 100
    assert measure("query($n: Int) { patterns(first: $n) { totalCount } }").cost == 1 + 100
    assert measure("{ leaderboard { rank } }").cost == 1 + 10
    assert measure('{ searchPatterns(text: "x") { score pattern { id } } }').cost == 1 + 5 * 3
    assert measure('{ searchPatterns(text: "x", first: 50) { score } }').cost == 1 + 50
    assert measure("{ progress { pattern { id } } }").cost == 1 + 100 * 2
    # Nested lists multiply; fragments count where they are spread.
    nested = "{ patterns(first: 2) { edges { node { ...F } } } } fragment F on Pattern { id slug }"
    assert measure(nested).cost == 1 + 2 * (1 + 1 + 2)
    catalog = measure(CATALOG_PAGE)
    assert (catalog.depth, catalog.fields, catalog.aliases) == (4, 27, 0) and catalog.cost == 1 + 100 * 26


def test_fragments_are_measured_once_however_often_they_spread() -> None:
    # 2^40 fields once expanded: the checker must not expand them.
    doubling = "".join(f"fragment F{i} on Pattern {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(40))
    started = time.perf_counter()
    total = measure('{ pattern(slug: "x") { ...F0 } }\n' + doubling + "fragment F40 on Pattern { id }")
    assert total.fields == 2**40 + 1 and time.perf_counter() - started < 0.5


async def test_subscriptions_are_held_to_the_same_limits() -> None:
    deep = build_schema(GraphQLLimits(max_depth=1))
    stream = await deep.subscribe('subscription { analysisUpdates(analysisId: "x") { analysis { pattern { id } } } }')
    assert not isinstance(stream, ExecutionResult)  # a stream whose one result is the refusal
    first = await anext(stream)
    assert first.data is None and [e.extensions for e in first.errors or ()] == [{"code": "QUERY_TOO_COMPLEX"}]


def test_a_schema_per_limits_and_rules_built_once() -> None:
    limits = GraphQLLimits(max_aliases=3)
    assert build_schema(limits) is build_schema(GraphQLLimits(max_aliases=3))
    assert build_schema(GraphQLLimits()) is schema  # the default one, which export-schema prints
    assert build_schema(limits).as_str() == schema.as_str()


# --------------------------------------------------------------------------- refused before execution


async def test_three_hundred_aliases_are_refused_without_running(gql: GraphQLClient) -> None:
    query = "{ " + " ".join(f"a{i}: patterns(first: 100) {{ totalCount }}" for i in range(300)) + " }"
    messages = refused(await gql(query))
    assert any("300 aliases" in m for m in messages)
    assert any("costs" in m for m in messages)
    # 30 are fine (the default limit).
    body = await gql("{ " + " ".join(f"a{i}: pattern(slug: \"right-triangle\") {{ id }}" for i in range(30)) + " }")
    assert "errors" not in body and len(body["data"]) == 30


async def test_a_mutation_in_a_refused_document_writes_nothing(gql: GraphQLClient) -> None:
    token = token_for()
    pid = (await gql.data('{ pattern(slug: "right-triangle") { id } }'))["pattern"]["id"]
    aliases = " ".join(f"t{i}: __typename" for i in range(31))
    mutation = ("mutation($p: ID!) { saveProgress(input: {patternId: $p, progressPercentage: 50}) { attempts } "
                + aliases + " }")
    assert any("31 aliases" in m for m in refused(await gql(mutation, {"p": pid}, token=token)))
    assert (await gql.data("{ progress { attempts } }", token=token))["progress"] == []


async def test_fields_are_counted_with_fragments_expanded(gql: GraphQLClient) -> None:
    card = f"fragment Card on Pattern {{ {NODE} {STATS} }}"  # 18 fields
    once = await gql('{ pattern(slug: "right-triangle") { ...Card } } ' + card)
    assert "errors" not in once
    # Spread 17 times: 1 + 17 * 18 = 307 fields once expanded, in a document of a few lines.
    spreads = " ".join(["...Card"] * 17)
    messages = refused(await gql(f'{{ pattern(slug: "right-triangle") {{ {spreads} }} }} {card}'))
    assert messages == ["The query selects 307 fields (fragments expanded); the limit is 300."]


async def test_cost_is_refused_under_the_other_limits(gql: GraphQLClient) -> None:
    page = f"patterns(first: 100) {{ edges {{ node {{ {NODE} id }} }} }}"  # 1 + 100 * 14
    assert "errors" not in await gql(f"{{ a: {page} b: {page} c: {page} }}")  # 4203: under 5000
    messages = refused(await gql(f"{{ a: {page} b: {page} c: {page} d: {page} }}"))
    assert messages == ["The query costs 5604 (each field 1, times the page sizes of the lists above it); "
                        "the limit is 5000."]


async def test_limits_come_from_the_settings(app_client: AppClient) -> None:
    async with app_client(graphql_max_depth=2, graphql_max_aliases=1, graphql_max_fields=5,
                          graphql_max_cost=50) as gql:
        assert "errors" not in await gql("{ patterns(first: 1) { edges { cursor } } }")
        assert refused(await gql("{ patterns(first: 1) { edges { node { stats { attempts } } } } }")) == [
            "The query is 4 levels deep; the limit is 2."]
        assert refused(await gql("{ a: __typename b: __typename }")) == [
            "The query uses 2 aliases; the limit is 1."]
        assert refused(await gql("{ patterns(first: 1) { totalCount pageInfo { hasNextPage endCursor } } "
                                 "leaderboard { rank } }")) == [
            "The query selects 7 fields (fragments expanded); the limit is 5."]
        assert refused(await gql("{ patterns(first: 60) { totalCount } }"))[0].startswith("The query costs 61")


async def test_huge_documents_stop_at_the_parser(gql: GraphQLClient) -> None:
    # Token limit: 20 per allowed field (6000 by default), well under the body size limit.
    query = "{ " + "__typename " * 7000 + "}"
    assert len(query) < 256_000
    started = time.perf_counter()
    messages = refused(await gql(query))
    assert "tokens" in messages[0] and time.perf_counter() - started < 2


# --------------------------------------------------------------------------- legitimate documents pass


async def test_a_catalog_page_and_introspection_pass(gql: GraphQLClient) -> None:
    page = await gql.data(CATALOG_PAGE, {"first": 100})
    assert len(page["patterns"]["edges"]) == page["patterns"]["totalCount"] > 20
    types = (await gql.data(INTROSPECTION))["__schema"]["types"]
    assert "Pattern" in {t["name"] for t in types}


async def test_fragment_cycles_are_refused_quickly(gql: GraphQLClient) -> None:
    cycle = ('{ pattern(slug: "right-triangle") { ...A } } fragment A on Pattern { id ...B } '
             "fragment B on Pattern { slug ...A }")
    started = time.perf_counter()
    body = await gql(cycle)
    assert time.perf_counter() - started < 1
    assert body.get("data") is None and [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "within itself" in body["errors"][0]["message"]
    # An unknown fragment is a plain validation error too (not a crash of a limit rule).
    assert await gql.error_codes('{ pattern(slug: "right-triangle") { ...Nope } }') == ["BAD_USER_INPUT"]


async def test_doubling_fragments_are_refused_quickly(gql: GraphQLClient) -> None:
    doubling = "".join(f"fragment F{i} on Pattern {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(40))
    started = time.perf_counter()
    body = await gql('{ pattern(slug: "right-triangle") { ...F0 } }\n' + doubling + "fragment F40 on Pattern { id }")
    assert time.perf_counter() - started < 1
    assert any("fields" in m for m in refused(body))


async def test_a_document_is_validated_once(gql: GraphQLClient) -> None:
    # The second operation with the same text is a remembered query (resolvers/schema.py
    # ReadyQueries): no parse, no validation; the validation cache would have answered anyway.
    cache = _get_validate_cache(256)
    await gql.data(CATALOG_PAGE, {"first": 5})
    before = cache.cache_info()
    await gql.data(CATALOG_PAGE, {"first": 6})
    after = cache.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


# --------------------------------------------------------------------------- introspection


async def test_introspection_can_be_turned_off(app_client: AppClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="app.server"):
        async with app_client(graphql_introspection=False, graphiql=True) as gql:
            body = await gql(INTROSPECTION)
            assert body.get("data") is None
            assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
            assert len(body["errors"]) == 1  # one, not one per field selected
            assert await gql.error_codes('{ __type(name: "Pattern") { name } }') == ["FORBIDDEN"]
            # __typename is not introspection of the schema; clients (Apollo, urql) add it everywhere.
            assert (await gql.data("{ __typename }")) == {"__typename": "Query"}
            assert "errors" not in await gql(CATALOG_PAGE)
    assert "GRAPHQL_INTROSPECTION is off" in caplog.text


def test_limits_from_settings(services: Services) -> None:
    settings = services.settings.model_copy(update={"graphql_max_fields": 100, "graphql_introspection": False})
    limits = graphql_limits(settings)
    assert (limits.max_depth, limits.max_aliases, limits.max_fields, limits.max_cost) == (12, 30, 100, 5000)
    assert limits.max_tokens == 2000 and limits.introspection is False


# --------------------------------------------------------------------------- HTTP: body size and batching


async def test_a_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    query = '{ pattern(slug: "right-triangle") { id } }'
    padding = "#" + "x" * 260_000 + "\n"  # a comment: only the size is wrong
    response = await client.post("/graphql", json={"query": padding + query})
    assert response.status_code == 413
    assert response.json() == {"errors": [{"message": "The request body is larger than 256000 bytes.",
                                           "extensions": {"code": "BAD_USER_INPUT"}}]}
    # Just under the limit it is read and served.
    response = await client.post("/graphql", json={"query": "#" + "x" * 200_000 + "\n" + query})
    assert response.status_code == 200 and response.json()["data"]["pattern"]["id"], response.text[-500:]


async def test_a_chunked_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks(total: int) -> AsyncIterator[bytes]:
        nonlocal sent
        body = json.dumps({"query": "#" + "x" * total + '\n{ pattern(slug: "right-triangle") { id } }'}).encode()
        for start in range(0, len(body), 16_384):
            sent += 1
            yield body[start:start + 16_384]

    response = await client.post("/graphql", content=chunks(1_000_000), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers  # chunked, as the test means
    assert response.status_code == 413 and response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert sent < 20  # refused once past the limit, not after reading the whole megabyte
    response = await client.post("/graphql", content=chunks(50_000), headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json()["data"]["pattern"]["id"], response.text[-500:]


async def test_batches_run_up_to_the_limit_and_larger_ones_get_a_json_400(client: httpx.AsyncClient) -> None:
    # Apollo's BatchHttpLink: a JSON array of operations, each checked and answered on its own.
    one = {"query": '{ pattern(slug: "right-triangle") { slug } }'}
    typename = {"query": "{ __typename }"}
    too_many_aliases = {"query": "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"}
    response = await client.post("/graphql", json=[one, typename, too_many_aliases])
    assert response.status_code == 200, response.text
    first, second, third = response.json()
    assert first == {"data": {"pattern": {"slug": "right-triangle"}}}
    assert second == {"data": {"__typename": "Query"}}
    assert third["data"] is None and third["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    # GRAPHQL_MAX_BATCH (10) operations at most: one clear error, in the GraphQL shape, never a 500.
    response = await client.post("/graphql", json=[one] * 11)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Too many operations",
                                           "extensions": {"code": "BAD_USER_INPUT"}}]}
    response = await client.post("/graphql", json=[one] * 10)
    assert response.status_code == 200 and len(response.json()) == 10


async def test_batching_off_refuses_a_json_array(app_client: AppClient) -> None:
    async with app_client(graphql_max_batch=0) as off:
        response = await off.http.post("/graphql", json=[{"query": "{ __typename }"}])
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Batching is not enabled",
                                           "extensions": {"code": "BAD_USER_INPUT"}}]}


async def test_a_body_that_is_not_json_gets_a_json_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
