"""X-Request-ID: taken or made, returned, and following an analysis from submit to done; JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import pytest

from app.logging import JSONFormatter, RequestIdFilter
from core.request_id import REQUEST_ID
from core.settings import Settings
from tests.helpers import make_settings, token_for

SUBMIT = """mutation($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) { attempt { verdict } analysis { id status } } }"""
CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"


async def test_every_answer_carries_a_request_id(client) -> None:
    made = await client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    assert (await client.get("/healthz")).headers["x-request-id"] != made.headers["x-request-id"]
    kept = await client.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "trace-42"})
    assert kept.headers["x-request-id"] == "trace-42"
    # One that could break a log line or a header is replaced, not echoed.
    replaced = await client.get("/healthz", headers={"X-Request-ID": "a b\x7f" + "x" * 200})
    assert replaced.headers["x-request-id"] != "a b" and len(replaced.headers["x-request-id"]) == 32
    refused = await client.post("/graphql", content=b"x" * 300_000, headers={"X-Request-ID": "big-one"})
    assert refused.status_code == 413 and refused.headers["x-request-id"] == "big-one"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tiny_generator: Path) -> Settings:
    # A real (tiny) generative model, so the analysis is queued and a worker runs it.
    return make_settings(database_url, tmp_path, models_enabled=True, generation_model=str(tiny_generator),
                         models_preload=False, generation_max_new_tokens=8)


async def test_the_request_id_follows_an_analysis_to_its_worker(client, services, caplog) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    pattern_id = await services.db.fetchval("SELECT id FROM patterns WHERE slug = 'right-triangle'")
    response = await client.post("/graphql", headers={"Authorization": f"Bearer {token_for()}",
                                                      "X-Request-ID": "submit-7f3a"},
                                 json={"query": SUBMIT, "variables": {"input": {"patternId": str(pattern_id),
                                                                                "code": CODE}}})
    analysis = response.json()["data"]["submitAttempt"]["analysis"]
    assert analysis["status"] == "QUEUED"
    async with asyncio.timeout(60):
        status = None
        while status != "DONE":
            await asyncio.sleep(0.1)
            status = await services.db.fetchval("SELECT status FROM analyses WHERE id = $1::uuid", analysis["id"])
    assert await services.db.fetchval("SELECT request_id FROM analyses WHERE id = $1::uuid",
                                      analysis["id"]) == "submit-7f3a"
    lines = {r.getMessage().split(": ", 1)[1].split(" ", 1)[0]: r.request_id  # type: ignore[attr-defined]
             for r in caplog.records if r.getMessage().startswith(f"analysis {analysis['id']}: ")}
    # Queued by the request's task, run and finished by a worker task: one id throughout.
    assert lines == {"queued": "submit-7f3a", "running": "submit-7f3a", "done": "submit-7f3a"}, lines


def test_json_lines_carry_the_id_extra_fields_and_the_traceback() -> None:
    formatter, request_filter = JSONFormatter(), RequestIdFilter()
    token = REQUEST_ID.set("r-1")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            record = logging.getLogger("t").makeRecord("t", logging.ERROR, __file__, 1, "failed %s", ("x",),
                                                       sys.exc_info(), extra={"status": 500})
        request_filter.filter(record)
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "failed x" and entry["level"] == "ERROR" and entry["logger"] == "t"
    assert entry["request_id"] == "r-1" and entry["status"] == 500
    assert "ValueError: boom" in entry["exception"] and entry["time"].endswith("+00:00")
