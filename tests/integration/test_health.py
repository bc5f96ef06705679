"""Health endpoints and GraphiQL."""

from __future__ import annotations

from graphql import GraphQLError

from resolvers.errors import with_code


async def test_healthz_and_readyz(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["database"] == "ok" and body["migrations"] == "applied"
    sandbox = body["sandbox"]
    assert sandbox["status"] == "complete" and sandbox["missing"] == [] and sandbox["require"] == "strict"
    assert (sandbox["root"], sandbox["pid"], sandbox["network"], sandbox["seccomp"]) == (
        "minimal", "namespace", "namespace", "filter")


async def test_readyz_is_503_when_the_database_is_gone(client, services) -> None:
    await services.db.pool.close()
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"


async def test_graphiql_is_served_to_browsers(client) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_errors_always_carry_a_code(gql) -> None:
    assert await gql.error_codes("{ nope }") == ["BAD_USER_INPUT"]
    assert await gql.error_codes("{ patterns(first: 1) { edges { node { slug } } }") == ["BAD_USER_INPUT"]
    deep = "{ progress { pattern { stats { attempts } } } }"
    assert "errors" in await gql(deep)
    # The schema has no cycles, so no real query is too deep; the limiter's error still maps.
    depth_error = GraphQLError("'q' exceeds maximum operation depth of 12")
    assert with_code(depth_error).extensions == {"code": "QUERY_TOO_COMPLEX"}


async def test_internal_errors_are_masked(gql, services) -> None:
    await services.db.execute("DROP TABLE pattern_stats CASCADE")
    body = await gql('{ pattern(slug: "right-triangle") { stats { attempts } } }')
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error["message"] == "Internal server error."
    assert "pattern_stats" not in str(body)
