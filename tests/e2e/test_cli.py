"""The `codepattern` command as a person runs it: `check`, one-line errors, `token`, JSON logs, --reload."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import jwt
import pytest

from app.check import explain
from core.settings import Settings
from tests.helpers import TEST_SECRET, stop_process_group, with_database
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def environment(data_dir: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    return {**env, "DATA_DIR": str(data_dir), "MODELS_ENABLED": "false", "SUPABASE_JWT_SECRET": TEST_SECRET,
            "LOG_LEVEL": "WARNING", **values}


def codepattern(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def rows(table: str) -> dict[str, tuple[str, str]]:
    """`check`'s table: name → (state, detail)."""
    found = {}
    for line in table.splitlines()[1:]:
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=2)
        if len(parts) == 3:
            found[parts[0]] = (parts[1], parts[2])
    return found


def test_check_says_what_is_ready(database_url: str, tmp_path: Path) -> None:
    done = codepattern("check", env=environment(tmp_path, DATABASE_URL=database_url))
    assert done.returncode == 0, done.stdout + done.stderr
    table = rows(done.stdout)
    assert table["database"][0] == "ok" and "PostgreSQL" in table["database"][1]
    assert table["migrations"][0] == "ok" and table["migrations"][1].endswith("applied")
    assert table["catalog"][0] == "ok" and table["request roles"][0] == "ok"
    assert table["sandbox"] == ("ok", "every layer: root minimal, pid namespace, network namespace, filesystem "
                                      "private-tmp, user per-run-uid, seccomp filter")
    assert table["models"][0] == "ok" and table["tokens"][0] == "ok" and table["GraphiQL"][0] == "ok"
    assert done.stdout.rstrip().splitlines()[-1].startswith("ready")


async def test_check_fails_on_a_missing_database_and_unapplied_roles(pg_server_url: str, tmp_path: Path) -> None:
    missing = codepattern("check", env=environment(tmp_path, DATABASE_URL=with_database(pg_server_url, "no_such_db")))
    assert missing.returncode == 1
    state, detail = rows(missing.stdout)["database"]
    assert state == "FAIL" and detail.startswith("database 'no_such_db' does not exist at ")
    assert missing.stdout.rstrip().splitlines()[-1].startswith("NOT READY (1 failure")
    assert "Traceback" not in missing.stderr

    # A fresh database: nothing applied yet. Pending migrations are a warning (serve applies them).
    name = f"cpm_check_{os.getpid()}"
    admin = await asyncpg.connect(pg_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        fresh = await asyncio.to_thread(codepattern, "check",
                                        env=environment(tmp_path, DATABASE_URL=with_database(pg_server_url, name)))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    table = rows(fresh.stdout)
    assert table["migrations"][0] == "warn" and "pending" in table["migrations"][1]
    assert table["catalog"][0] == "warn"


@contextlib.contextmanager
def listening() -> Iterator[int]:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def test_serve_says_in_one_line_what_to_fix(tmp_path: Path, pg_server_url: str) -> None:
    with listening() as port:
        busy = codepattern("serve", "--port", str(port), env=environment(tmp_path))
    assert busy.returncode == 1 and "Traceback" not in busy.stderr
    assert busy.stderr.strip().splitlines()[-1] == (
        f"codepattern serve: port {port} on 127.0.0.1 is in use: stop the other server, or choose another with "
        "--port or PORT")
    closed = free_port()
    refused = codepattern("serve", "--port", str(free_port()),
                          env=environment(tmp_path, DATABASE_URL=f"postgresql://app@127.0.0.1:{closed}/db"))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        f"codepattern serve: nothing is listening at 127.0.0.1:{closed} (DATABASE_URL): start PostgreSQL there, "
        "or fix the host and port")
    missing = codepattern("migrate", env=environment(tmp_path, DATABASE_URL=with_database(pg_server_url, "nope_db")))
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1].startswith("codepattern migrate: database 'nope_db' does not exist")


def test_a_refused_password_names_the_user_and_the_fix() -> None:
    # The test servers trust local connections, so no real server here refuses a password: the
    # error is asyncpg's own, as it raises it for "password authentication failed".
    settings = Settings(_env_file=None, database_url="postgresql://learner_api:wrong@db.example.test:6543/postgres")  # type: ignore[call-arg]
    error = asyncpg.InvalidPasswordError('password authentication failed for user "learner_api"')
    assert explain(error, settings) == (
        "DATABASE_URL refused the password for user 'learner_api' at db.example.test:6543: correct the password "
        "in DATABASE_URL (Supabase: Project Settings > Database > Connection string)")
    assert "wrong" not in (explain(error, settings) or "")  # never the password itself
    assert explain(RuntimeError("anything else"), settings) is None  # unexpected errors keep their traceback


def test_token_prints_the_header_graphiql_takes(tmp_path: Path) -> None:
    done = codepattern("token", "--user", "5b0c1a8e-4a35-4c57-9d0b-1f7c6a1d2e3f", "--name", "Ada",
                       env=environment(tmp_path))
    assert done.returncode == 0, done.stderr
    header = json.loads(done.stdout)
    scheme, token = header["Authorization"].split(" ")
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"], audience="authenticated")
    assert scheme == "Bearer" and claims["sub"] == "5b0c1a8e-4a35-4c57-9d0b-1f7c6a1d2e3f"
    assert claims["user_metadata"] == {"display_name": "Ada"} and claims["role"] == "authenticated"
    raw = codepattern("token", "--raw", env=environment(tmp_path))
    assert raw.stdout.count(".") == 2 and "{" not in raw.stdout


async def serve_until(base: str, process: subprocess.Popen[str], path: str = "/healthz") -> httpx.Response:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(600):
            assert process.poll() is None, process.communicate()[1]
            with contextlib.suppress(httpx.HTTPError):
                return await http.get(path, headers={"X-Request-ID": "cli-test-1"})
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not start")


@pytest.mark.parametrize("reload", [False, True])
async def test_json_logs_and_reload(database_url: str, tmp_path: Path, reload: bool) -> None:
    port = free_port()
    env = environment(tmp_path, DATABASE_URL=database_url, LOG_FORMAT="json", LOG_LEVEL="INFO")
    process = subprocess.Popen(  # noqa: ASYNC220  (started once; the test waits on HTTP)
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *(["--reload"] if reload else [])],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        response = await serve_until(f"http://127.0.0.1:{port}", process)
        assert response.status_code == 200 and response.headers["x-request-id"] == "cli-test-1"
    finally:
        stop_process_group(process, timeout=20)
    lines = [line for line in (process.stderr.read() if process.stderr else "").splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is a JSON object
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    access = [e for e in entries if e["logger"] == "app.access"]
    assert {"message": "GET /healthz 200", "request_id": "cli-test-1", "status": 200}.items() <= access[0].items()
    assert any("GraphQL ready at" in e["message"] for e in entries)
    if reload:
        assert any("restarting when the code changes" in e["message"] for e in entries)
        assert any(e["logger"].startswith("uvicorn") and "reloader" in e["message"].lower() for e in entries)
