"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from app.auth import mint_token
from app.services import inference_config
from core.settings import Settings
from inference import InferenceConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_SECRET = "test-secret-for-hs256-tokens-0123456789"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


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
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


TEST_DATA_DIR = Path(tempfile.gettempdir()) / "codepattern-tests"


def model_config(**overrides: object) -> InferenceConfig:
    """The model service's config as the server builds it from settings, with `overrides`
    (settings fields, or InferenceConfig-only fields such as retry_failed_seconds)."""
    own = {f.name for f in dataclasses.fields(InferenceConfig)} - set(Settings.model_fields)
    # Tests keep converted weights out of the user's data folder, in one cache they all share.
    values = {"data_dir": TEST_DATA_DIR, **{k: v for k, v in overrides.items() if k not in own}}
    config = inference_config(Settings(_env_file=None, **values))  # type: ignore[arg-type]
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if k in own})  # type: ignore[arg-type]


def token_for(user_id: str | None = None, **kwargs: object) -> str:
    return mint_token(TEST_SECRET, user_id=user_id or str(uuid.uuid4()), **kwargs)  # type: ignore[arg-type]


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


def stop_process_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to a server started with start_new_session=True (its whole group: sandbox, workers),
    SIGKILL if it has not exited within `timeout` seconds."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
