"""A generative model that is missing, fails to load or fails mid-reply never fails the analysis:
it completes with the grounded feedback (and whatever verified prose came before the failure),
and the subscription watching it always ends with the final event and `complete`.

Real parts throughout: the real loading code on a missing folder and on a folder whose weights
are damaged, and a real OpenAI-compatible server (tests/integration/test_remote_generation.py's,
over the tiny tutor model) that cuts the connection after its first line; a real uvicorn server
and a real graphql-transport-ws client.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import torch

from app.services import Services
from core.settings import Settings
from inference import loading, sources
from tests.e2e.test_subscriptions import UPDATES, events_of, request
from tests.helpers import GraphQLClient, make_settings, token_for
from tests.integration.test_remote_generation import ChatServer, serving
from tests.live_server import live_server, subscribe
from tests.tiny_models import TUTOR_REPLY

pytestmark = pytest.mark.db

CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"


@pytest.fixture
async def make_services(database_url: str, tmp_path: Path) -> AsyncIterator:
    started: list[Services] = []

    async def make(**overrides: object) -> Services:
        settings: Settings = make_settings(database_url, tmp_path, models_enabled=True, models_preload=False,
                                           generation_max_new_tokens=128, **overrides)
        services = Services.create(settings)
        await services.start()
        started.append(services)
        return services

    yield make
    for services in started:
        await services.close()


async def watch_to_the_end(services: Services, code: str) -> list[dict]:
    """Request an analysis, watch it over a real WebSocket until it completes, return the events."""
    token = token_for()
    async with live_server(services) as address:
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            analysis_id = await request(GraphQLClient(http), token, code=code)
        return events_of(await subscribe(address, UPDATES, {"id": analysis_id}, token, limit_seconds=120))


def assert_grounded_end(events: list[dict]) -> dict:
    grounded = events[0]["analysis"]["explanation"]
    final = events[-1]
    assert grounded, events[0]
    assert final["status"] == "DONE" and final["stage"] == "done", final
    assert final["analysis"]["explanation"].startswith(grounded)
    return final["analysis"]


async def test_a_missing_model_folder_leaves_the_grounded_feedback(make_services, tmp_path: Path) -> None:
    services = await make_services(generation_model=str(tmp_path / "no-such-model"))
    events = await watch_to_the_end(services, CODE + f"# {uuid.uuid4().hex}\n")
    analysis = assert_grounded_end(events)
    assert analysis["modelUsed"] == "rule-based"
    assert analysis["explanation"] == events[0]["analysis"]["explanation"]
    assert services.models.status()["generation"]["state"] == "failed"


async def test_damaged_weights_fail_the_load_and_leave_the_grounded_feedback(
    make_services, tiny_tutor: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "damaged-tutor"
    shutil.copytree(tiny_tutor, damaged)
    [weights] = damaged.glob("*.safetensors")
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])  # a download cut short
    services = await make_services(generation_model=str(damaged))
    events = await watch_to_the_end(services, CODE + f"# {uuid.uuid4().hex}\n")
    analysis = assert_grounded_end(events)
    assert analysis["modelUsed"] == "rule-based"
    status = services.models.status()["generation"]
    assert status["state"] == "failed" and "SafetensorError" in status["last_error"], status


@pytest.fixture
async def dying_model_server(tiny_tutor: Path) -> AsyncIterator[tuple[ChatServer, str]]:
    bundle = loading.load_generation(sources.resolve_source("generation", str(tiny_tutor)), torch.device("cpu"), 2048)
    chat = ChatServer(bundle)
    chat.mode = "drop"
    async with serving(chat, log_level="critical") as url:  # the cut is logged as an ASGI error
        yield chat, url


async def test_a_model_server_dying_mid_reply_keeps_what_was_verified(make_services, dying_model_server) -> None:
    chat, url = dying_model_server
    services = await make_services(generation_backend="openai", generation_api_url=url,
                                   generation_api_model="tiny-tutor", generation_api_timeout_seconds=10)
    events = await watch_to_the_end(services, CODE + f"# {uuid.uuid4().hex}\n")
    analysis = assert_grounded_end(events)
    [served] = chat.requests
    first_line = TUTOR_REPLY.split("\n")[0]
    assert served.text.startswith(first_line) and served.text != TUTOR_REPLY  # cut after its first line
    # The sentence that arrived whole was verified and kept; nothing after the cut was invented.
    assert analysis["explanation"] == events[0]["analysis"]["explanation"] + "\n\n" + first_line
    assert analysis["modelSentences"] == {"kept": 1, "dropped": 0}
    assert analysis["modelUsed"] == "openai:tiny-tutor"
    assert services.generator.status()["state"] == "failed"
    assert "connection lost mid-reply" in services.generator.status()["last_error"]
