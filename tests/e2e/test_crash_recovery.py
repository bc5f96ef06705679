"""A server process killed mid-analysis: after a restart the job is picked up and finished."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import TEST_SECRET, token_for
from tests.live_server import free_port

# The real generation model takes ~18 s to load on this CPU: a dependable window in which the
# job is RUNNING and the server can be killed.
pytestmark = pytest.mark.real_models

ROOT = Path(__file__).resolve().parents[2]


def start_server(database_url: str, data_dir: Path, port: int, *, models: bool) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "SUPABASE_JWT_SECRET": TEST_SECRET,
        "ANALYSIS_LEASE_SECONDS": "2",
        "ANALYSIS_POLL_SECONDS": "0.5",
        "MODELS_ENABLED": "true" if models else "false",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, start_new_session=True,  # its own group: the kill takes the sandbox too
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


async def wait_ready(base: str, limit_seconds: float = 60) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(int(limit_seconds * 10)):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server did not become ready")


async def test_killed_server_resumes_the_job_after_restart(database_url, tmp_path, services) -> None:
    db = services.db  # the test's own handle on the same database
    await services.worker.aclose()  # this in-test worker must not take the job itself
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = token_for()
    server = start_server(database_url, tmp_path, port, models=True)
    try:
        await wait_ready(base)
        pid = await db.fetchval("SELECT id FROM patterns WHERE slug = 'right-triangle'")
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.post("/graphql", headers={"Authorization": f"Bearer {token}"}, json={
                "query": "mutation($i: RequestAnalysisInput!) { requestAnalysis(input: $i) { id } }",
                "variables": {"i": {"patternId": str(pid), "code": "print('*')"}},
            })
        analysis_id = response.json()["data"]["requestAnalysis"]["id"]
        for _ in range(300):
            status = await db.fetchval("SELECT status FROM analyses WHERE id = $1::uuid", analysis_id)
            if status == "RUNNING":
                break
            await asyncio.sleep(0.05)
        assert status == "RUNNING"
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()

    row = await db.fetchrow("SELECT status, job_attempts, worker_id FROM analyses WHERE id = $1::uuid", analysis_id)
    assert row["status"] == "RUNNING" and row["job_attempts"] == 1  # left behind by the dead server
    dead_worker = row["worker_id"]

    restarted = start_server(database_url, tmp_path, port, models=False)
    try:
        await wait_ready(base)
        for _ in range(300):
            row = await db.fetchrow(
                "SELECT status, job_attempts, worker_id, result FROM analyses WHERE id = $1::uuid", analysis_id)
            if row["status"] in ("DONE", "FAILED"):
                break
            await asyncio.sleep(0.1)
    finally:
        os.killpg(restarted.pid, signal.SIGTERM)
        restarted.wait(timeout=30)
    assert row["status"] == "DONE", row
    assert row["job_attempts"] == 2 and row["worker_id"] != dead_worker
    assert row["result"]["complexity"]["loops"] == 0
