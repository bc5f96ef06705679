"""Health endpoints and GraphiQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from graphql import GraphQLError
from pydantic import SecretStr

from app.server import create_app
from app.services import Services
from resolvers.errors import with_code

OPERATOR_TOKEN = "operator-token-for-readyz-0123456789"
PUBLIC_KEYS = {"status", "database", "migrations", "models", "sandbox", "languages"}

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def app_client(services: Services) -> AppClient:
    """A client of an app on the started services, with some settings changed (only the app reads
    them: the readyz switches, the limits)."""

    @asynccontextmanager
    async def open_client(**overrides: object) -> AsyncIterator[httpx.AsyncClient]:
        settings = services.settings.model_copy(update=overrides)
        transport = httpx.ASGITransport(app=create_app(settings, services))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    return open_client


async def test_healthz_and_readyz_tell_anyone_states_only(client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "migrations": "applied", "models": "disabled",
                            "sandbox": "complete", "languages": ["PYTHON", "JAVASCRIPT"]}
    # No paths (site-packages, model folders, the sandbox's root), no layers, no workers.
    assert "/" not in ready.text and "site-packages" not in ready.text


async def test_readyz_details_with_the_setting(app_client: AppClient) -> None:
    async with app_client(readyz_details=True) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["database"] == "ok" and body["migrations"] == "applied"
    sandbox = body["sandbox"]
    assert sandbox["status"] == "complete" and sandbox["missing"] == [] and sandbox["require"] == "strict"
    assert (sandbox["root"], sandbox["pid"], sandbox["network"], sandbox["seccomp"]) == (
        "minimal", "namespace", "namespace", "filter")
    assert body["models"]["preload"] == "off" and body["models"]["embedding"]["state"] == "disabled"
    assert {"analysis", "events"} <= body.keys()
    # Each language's runtime, confined in a zygote of its own with every layer.
    languages = sandbox["languages"]
    assert languages["python"]["status"] == "complete" and languages["python"]["version"].startswith("3.")
    assert languages["javascript"]["status"] == "complete", languages
    assert languages["javascript"]["version"].startswith("v") and languages["javascript"]["runtime"].endswith("node")
    assert body["languages"] == ["PYTHON", "JAVASCRIPT"]


async def test_readyz_details_with_the_operator_token_only(app_client: AppClient) -> None:
    async with app_client(operator_token=SecretStr(OPERATOR_TOKEN)) as client:
        anonymous = (await client.get("/readyz")).json()
        wrong = (await client.get("/readyz", headers={"Authorization": "Bearer not-the-token"})).json()
        other_scheme = (await client.get("/readyz", headers={"Authorization": f"Basic {OPERATOR_TOKEN}"})).json()
        operator = (await client.get("/readyz", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"})).json()
    assert anonymous.keys() == wrong.keys() == other_scheme.keys() == PUBLIC_KEYS
    assert operator["sandbox"]["status"] == "complete" and "events" in operator
    # No token configured: a bearer header (even an empty one) never shows the details.
    async with app_client() as client:
        assert (await client.get("/readyz", headers={"Authorization": "Bearer "})).json().keys() == PUBLIC_KEYS


async def test_readyz_is_503_when_the_database_is_gone(client, app_client: AppClient, services) -> None:
    await services.db.pool.close()
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "database": "unreachable", "migrations": "unknown",
                            "models": "disabled", "sandbox": "complete", "languages": ["PYTHON", "JAVASCRIPT"]}
    async with app_client(readyz_details=True) as details:
        body = (await details.get("/readyz")).json()
    assert body["status"] == "unavailable" and body["error"]  # the exception's type only, for operators
    assert " " not in body["error"]


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
