"""`/metrics` scraped from a real server: one process (uvicorn in the test's loop) and
`codepattern serve --workers 2` (prometheus-client's multiprocess mode, set up by our CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.services import Services
from tests.helpers import TEST_SECRET, make_settings, stop_process_group, token_for
from tests.live_server import free_port, live_server, subscribe

ROOT = Path(__file__).resolve().parents[2]
SUBMIT = """mutation SubmitSolution($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) { attempt { verdict } analysis { id status } } }"""
CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape: (name, labels) → value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict, name: str, **labels: str) -> float:
    """A sample's value (0 when absent, as Prometheus reads a series not yet created)."""
    return scrape.get((name, frozenset(labels.items())), 0.0)


async def scrape(http: httpx.AsyncClient) -> dict:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


async def test_a_submission_shows_in_the_metrics(services) -> None:
    async with live_server(services) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        before = await scrape(http)
        pid = (await http.post("/graphql", json={"query": '{ pattern(slug: "right-triangle") { id } }'})).json()
        variables = {"input": {"patternId": pid["data"]["pattern"]["id"], "code": CODE}}
        headers = {"Authorization": f"Bearer {token_for()}"}
        body = (await http.post("/graphql", json={"query": SUBMIT, "variables": variables,
                                                  "operationName": "SubmitSolution"}, headers=headers)).json()
        assert body["data"]["submitAttempt"]["attempt"]["verdict"] == "PASSED", body
        # Anonymous: UNAUTHENTICATED, counted by its code.
        refused = (await http.post("/graphql", json={"query": SUBMIT, "variables": variables})).json()
        assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        after = await scrape(http)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    op = {"operation_name": "SubmitSolution", "operation_type": "mutation"}
    assert grew("codepattern_graphql_operations_total", **op) == 2  # the refused one too
    assert grew("codepattern_graphql_operation_duration_seconds_count", **op) == 2
    assert grew("codepattern_graphql_operation_duration_seconds_sum", **op) > 0
    assert grew("codepattern_graphql_operations_total", operation_name="anonymous", operation_type="query") == 1
    assert grew("codepattern_graphql_errors_total", code="UNAUTHENTICATED", operation_type="mutation") == 1
    assert grew("codepattern_judge_duration_seconds_count", verdict="PASSED") == 1
    assert grew("codepattern_sandbox_run_duration_seconds_count", outcome="ok") >= 1  # one run per size judged
    # States, read when scraped: models off here, the pool in use, nothing queued (no model prose to write).
    assert value(after, "codepattern_model_state", kind="generation", state="disabled") == 1
    assert value(after, "codepattern_model_state", kind="generation", state="loaded") == 0
    assert value(after, "codepattern_db_pool_max_connections") == services.settings.database_pool_max
    assert value(after, "codepattern_db_pool_connections", state="idle") >= 1
    assert value(after, "codepattern_analysis_queue_depth") == 0


async def test_the_queue_depth_and_wait_are_read_from_the_database(services, client) -> None:
    await services.worker.aclose()  # nobody claims: the job stays queued
    pattern_id = await services.db.fetchval("SELECT id FROM patterns WHERE slug = 'right-triangle'")
    learner = str(uuid.uuid4())
    await services.db.execute("INSERT INTO learners (id) VALUES ($1)", learner)
    await services.db.execute(
        """INSERT INTO analyses (learner_id, pattern_id, kind, status, code, code_sha256, created_at)
           VALUES ($1, $2, 'FULL', 'QUEUED', 'print(1)', repeat('a', 64), now() - interval '90 seconds')""",
        learner, pattern_id)
    scraped = samples((await client.get("/metrics")).text)
    assert value(scraped, "codepattern_analysis_queue_depth") == 1
    assert 90 <= value(scraped, "codepattern_analysis_queue_oldest_seconds") < 150


async def test_metrics_can_be_turned_off(services) -> None:
    from app.server import create_app

    settings = services.settings.model_copy(update={"metrics": False})
    transport = httpx.ASGITransport(app=create_app(settings, services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await http.get("/metrics")).status_code == 404


@contextlib.asynccontextmanager
async def serve_processes(database_url: str, data_dir: Path, workers: int) -> AsyncIterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "SUPABASE_JWT_SECRET": TEST_SECRET,
           "MODELS_ENABLED": "false", "LOG_LEVEL": "WARNING", "DATABASE_POOL_MIN": "1", "DATABASE_POOL_MAX": "3"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the CLI makes its own
    process = subprocess.Popen(  # noqa: ASYNC220  (started once; the test waits on HTTP, not on it)
        [sys.executable, "-m", "app.cli", "serve", "--workers", str(workers), "--port", str(port)],
        cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(600):
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                with contextlib.suppress(httpx.HTTPError):
                    metrics = samples((await http.get("/metrics")).text)
                    # Each process reports its pool once it has started: all of them are up.
                    if value(metrics, "codepattern_db_pool_max_connections") == 3 * workers:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the processes did not all start")
        yield base
    finally:
        stop_process_group(process, timeout=20)


async def test_several_processes_report_one_sum(database_url: str, tmp_path: Path) -> None:
    async with serve_processes(database_url, tmp_path, workers=2) as base:
        sent = 40
        for _ in range(sent):  # a new connection each: the kernel hands them to either process
            async with httpx.AsyncClient(base_url=base) as http:
                await http.post("/graphql", json={"query": "query Count { leaderboard { rank } }"})
        for _ in range(6):  # whichever process answers the scrape, it adds up both
            async with httpx.AsyncClient(base_url=base) as http:
                scraped = samples((await http.get("/metrics")).text)
            assert value(scraped, "codepattern_graphql_operations_total",
                         operation_name="Count", operation_type="query") == sent
            assert value(scraped, "codepattern_db_pool_max_connections") == 6  # 2 live processes, 3 each


async def test_subscriptions_streaming_now_and_when_they_end(database_url: str, tmp_path: Path,
                                                            tiny_generator: Path) -> None:
    settings = make_settings(database_url, tmp_path, models_enabled=True, generation_model=str(tiny_generator),
                             models_preload=False, generation_max_new_tokens=8)
    services = Services.create(settings)
    await services.start()
    try:
        await services.worker.aclose()  # the analysis stays queued: its subscriber keeps streaming
        token = token_for()
        async with live_server(services) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
            pid = await services.db.fetchval("SELECT id FROM patterns WHERE slug = 'right-triangle'")
            body = (await http.post("/graphql", headers={"Authorization": f"Bearer {token}"}, json={
                "query": SUBMIT, "variables": {"input": {"patternId": str(pid), "code": CODE}}})).json()
            analysis_id = body["data"]["submitAttempt"]["analysis"]["id"]
            before = await scrape(http)
            follow = asyncio.create_task(subscribe(
                address, "subscription Follow($id: ID!) { analysisUpdates(analysisId: $id) { status } }",
                {"id": analysis_id}, token))
            for _ in range(100):
                during = await scrape(http)
                if value(during, "codepattern_graphql_subscriptions_active") == 1:
                    break
                await asyncio.sleep(0.05)
            assert value(during, "codepattern_graphql_subscriptions_active") == 1
            await services.worker.start()
            messages = await follow
            assert messages[-1]["type"] == "complete"
            after = await scrape(http)
    finally:
        await services.close()
    assert value(after, "codepattern_graphql_subscriptions_active") == 0
    op = {"operation_name": "Follow", "operation_type": "subscription"}
    assert value(after, "codepattern_graphql_operations_total", **op) - value(before, "codepattern_graphql_operations_total", **op) == 1
    assert value(after, "codepattern_analyses_finished_total", status="DONE") > value(
        before, "codepattern_analyses_finished_total", status="DONE")
    assert value(after, "codepattern_analysis_queue_wait_seconds_count") > value(
        before, "codepattern_analysis_queue_wait_seconds_count")


async def test_a_worker_process_serves_its_own_metrics(database_url: str, tmp_path: Path) -> None:
    """`codepattern worker` has no web server: --metrics-port gives it one for /metrics, where its
    judging and analyses show."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path), "SUPABASE_JWT_SECRET": TEST_SECRET,
           "MODELS_ENABLED": "false", "LOG_LEVEL": "WARNING", "ANALYSIS_POLL_SECONDS": "0.2"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    conn = await asyncpg.connect(database_url)
    try:
        learner = str(uuid.uuid4())
        await conn.execute("INSERT INTO learners (id) VALUES ($1)", learner)
        pattern_id = await conn.fetchval("SELECT id FROM patterns WHERE slug = 'right-triangle'")
        # Queued without its grounded part: the worker judges it (in its sandbox) before the rest.
        analysis_id = await conn.fetchval(
            """INSERT INTO analyses (learner_id, pattern_id, kind, status, code, code_sha256)
               VALUES ($1, $2, 'FULL', 'QUEUED', $3, repeat('b', 64)) RETURNING id""", learner, pattern_id, CODE)
        process = subprocess.Popen(  # noqa: ASYNC220  (started once; the test waits on HTTP)
            [sys.executable, "-m", "app.cli", "worker", "--concurrency", "1", "--metrics-port", str(port)],
            cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            scraped: dict = {}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                for _ in range(600):
                    assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                    with contextlib.suppress(httpx.HTTPError):
                        scraped = samples((await http.get("/metrics")).text)
                        if value(scraped, "codepattern_analyses_finished_total", status="DONE") == 1:
                            break
                    await asyncio.sleep(0.1)
        finally:
            stop_process_group(process, timeout=20)
        assert await conn.fetchval("SELECT status FROM analyses WHERE id = $1", analysis_id) == "DONE"
    finally:
        await conn.close()
    assert value(scraped, "codepattern_analyses_finished_total", status="DONE") == 1
    assert value(scraped, "codepattern_judge_duration_seconds_count", verdict="PASSED") == 1
    assert value(scraped, "codepattern_analysis_queue_wait_seconds_count") == 1
    assert value(scraped, "codepattern_model_state", kind="generation", state="disabled") == 1
