"""Shared fixtures: a real PostgreSQL for the session, a fresh database for each test.

Without TEST_DATABASE_URL the embedded PostgreSQL 18 runs in a temporary folder; with it (for
example the machine's PostgreSQL 15) that server is used. Either way one template database is
migrated and seeded once, and every test gets its own copy of it.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from app.auth import mint_token
from app.services import Services
from app.settings import Settings
from db.database import Database
from db.migrate import migrate
from db.seed import seed_catalog

TEST_SECRET = "test-secret-for-hs256-tokens-0123456789"
TEMPLATE = f"cpm_template_{os.getpid()}"
_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    from db.embedded import EmbeddedPostgres

    folder = Path(tempfile.mkdtemp(prefix="cpm-test-pg-"))
    server = EmbeddedPostgres(folder / "pgdata")
    url = server.start()
    yield url
    server.stop()


async def admin_execute(server_url: str, *statements: str) -> None:
    """Run statements (CREATE/DROP DATABASE) on the server's maintenance connection."""
    admin = await asyncpg.connect(server_url)
    try:
        for statement in statements:
            await admin.execute(statement)
    finally:
        await admin.close()


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "supabase_jwt_secret": TEST_SECRET,
        "seed_on_start": False,
        "database_pool_min": 1,
        "database_pool_max": 8,
        "models_enabled": False,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session")
async def template_database(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}"', f'CREATE DATABASE "{TEMPLATE}"')
    settings = make_settings(with_database(pg_server_url, TEMPLATE), tmp_path_factory.mktemp("template"))
    db = Database(settings)
    await db.connect()
    try:
        async with db.pool.acquire() as conn:
            await migrate(conn)
        await seed_catalog(db)
    finally:
        await db.close()
    yield TEMPLATE
    await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}"')


@pytest.fixture
async def database_url(pg_server_url: str, template_database: str) -> AsyncIterator[str]:
    name = f"cpm_test_{os.getpid()}_{next(_counter)}"
    await admin_execute(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield with_database(pg_server_url, name)
    await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    services = Services.create(settings)
    await services.start()
    yield services
    await services.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    from app.server import create_app

    app = create_app(services.settings, services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def token_for(user_id: str | None = None, **kwargs: object) -> str:
    return mint_token(TEST_SECRET, user_id=user_id or str(uuid.uuid4()), **kwargs)


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def __call__(
        self, query: str, variables: dict | None = None, *, token: str | None = None
    ) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}},
                                        headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def data(self, query: str, variables: dict | None = None, *, token: str | None = None) -> dict:
        body = await self(query, variables, token=token)
        assert "errors" not in body, body.get("errors")
        return body["data"]

    async def error_codes(self, query: str, variables: dict | None = None, *, token: str | None = None) -> list[str]:
        body = await self(query, variables, token=token)
        assert body.get("errors"), f"expected errors, got {body}"
        return [e["extensions"]["code"] for e in body["errors"]]


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Anything that reaches a PostgreSQL server is a database test; .ci/run repeats those on PG 15.
    for item in items:
        if "pg_server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
