"""Shared fixtures: a real PostgreSQL for the session, a fresh database for each test.

Without TEST_DATABASE_URL the embedded PostgreSQL 18 runs in a temporary folder; with it (for
example the machine's PostgreSQL 15) that server is used. Either way one template database is
migrated and seeded once, and every test gets its own copy of it.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from app.services import Services, database_config
from core.settings import Settings
from db.database import Database
from db.seed import migrate_and_seed
from tests.helpers import GraphQLClient, admin_execute, make_settings, with_database

TEMPLATE = f"cpm_template_{os.getpid()}"
_counter = itertools.count()


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


@pytest.fixture(scope="session")
async def template_database(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{TEMPLATE}"', f'CREATE DATABASE "{TEMPLATE}"')
    settings = make_settings(with_database(pg_server_url, TEMPLATE), tmp_path_factory.mktemp("template"))
    db = Database(database_config(settings))
    await db.connect()
    try:
        await migrate_and_seed(db, "always")
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


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(client)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Anything that reaches a PostgreSQL server is a database test; .ci/run repeats those on PG 15.
    for item in items:
        if "pg_server_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def tiny_generator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real generative model (tests/tiny_models.py), built once per session."""
    from tests.tiny_models import build_tiny_generation_model

    return build_tiny_generation_model(tmp_path_factory.mktemp("tiny-generation"))


@pytest.fixture(scope="session")
def tiny_tutor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained to say `tests.tiny_models.TUTOR_REPLY` of any program, built once."""
    from tests.tiny_models import build_tiny_tutor_model

    return build_tiny_tutor_model(tmp_path_factory.mktemp("tiny-tutor"))
