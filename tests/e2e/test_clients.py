"""docs/clients.md's clients, run against a real server: Python with gql, and, where Node.js and
npm are installed, graphql-ws, Apollo Client and urql (npm packages installed into
docs/examples/node_modules, which git ignores). Each one queries the catalog, submits a solution
and follows its analysis live to the end; the documentation shows these very files."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core.settings import Settings
from tests.helpers import make_settings, token_for
from tests.live_server import live_server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
GUIDE = ROOT / "docs" / "clients.md"
JS_CLIENTS = ["graphql-ws.mjs", "apollo.mjs", "urql.mjs"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tiny_generator: Path) -> Settings:
    # A real (tiny) model, so the analysis is queued and streams its stages over the socket.
    return make_settings(database_url, tmp_path, models_enabled=True, generation_model=str(tiny_generator),
                         models_preload=False, generation_max_new_tokens=64)


def check_output(output: str) -> None:
    lines = output.splitlines()
    assert re.fullmatch(r"catalog: \d+ patterns", lines[0]), output
    assert lines[1] == "verdict: PASSED", output
    events = [line for line in lines if line.startswith("event: ")]
    assert events[-1].startswith("event: DONE done"), output  # followed to the end
    # The explanation's text came over the socket (from its start, however late the client joined).
    assert any("Right Triangle correctly" in line for line in events[:-1]), output


async def run_client(command: list[str], address: str, user: str) -> str:
    env = {**os.environ, "CODEPATTERN_URL": f"http://{address}/graphql", "CODEPATTERN_TOKEN": token_for(user)}
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode() + out.decode()
    return out.decode()


def test_the_guide_shows_the_files_that_are_run() -> None:
    guide = GUIDE.read_text()
    for name in ["python_gql.py", "common.mjs", *JS_CLIENTS]:
        assert (EXAMPLES / name).read_text().strip() in guide, f"docs/clients.md does not show {name} as it is"


async def test_python_gql_client(services) -> None:
    user = str(uuid.uuid4())
    async with live_server(services) as address:
        output = await run_client([sys.executable, str(EXAMPLES / "python_gql.py")], address, user)
    check_output(output)
    assert await services.db.fetchval("SELECT count(*) FROM attempts WHERE learner_id = $1", user) == 1


def node_modules() -> Path:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("Node.js and npm are not installed: the JavaScript clients of docs/clients.md were not run")
    installed = EXAMPLES / "node_modules" / ".package-lock.json"
    lock = EXAMPLES / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=EXAMPLES, check=True,
                       timeout=300)
    return EXAMPLES / "node_modules"


@pytest.mark.parametrize("client", JS_CLIENTS)
async def test_javascript_client(services, client: str) -> None:
    node_modules()
    user = str(uuid.uuid4())
    async with live_server(services) as address:
        output = await run_client([shutil.which("node") or "node", str(EXAMPLES / client)], address, user)
    check_output(output)
    assert await services.db.fetchval("SELECT count(*) FROM attempts WHERE learner_id = $1", user) == 1
