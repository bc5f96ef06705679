"""A subscription ends with UNAUTHENTICATED when the token it was opened with expires, over a real
WebSocket (graphql-transport-ws) against a live uvicorn server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest
import websockets

from app.auth import mint_token
from core.settings import Settings
from resolvers.subscription import EXPIRED_MESSAGE
from tests.helpers import TEST_SECRET, make_settings, token_for
from tests.live_server import live_server, subscribe

UPDATES = "subscription($id: ID!) { analysisUpdates(analysisId: $id) { analysisId status stage } }"
REQUEST = "mutation($input: RequestAnalysisInput!) { requestAnalysis(input: $input) { id status } }"
CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"
TTL_SECONDS = 3


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tiny_generator: Path) -> Settings:
    # A generative model (never loaded: the worker is held back), so analyses wait QUEUED for its
    # prose and their subscriptions stay open. No clock skew allowed: the token ends at its exp.
    return make_settings(database_url, tmp_path, models_enabled=True, generation_model=str(tiny_generator),
                         models_preload=False, jwt_leeway_seconds=0)


async def request(gql, token: str) -> str:
    pid = (await gql.data('{ pattern(slug: "right-triangle") { id } }'))["pattern"]["id"]
    code = CODE + "# unique " + uuid.uuid4().hex
    data = await gql.data(REQUEST, {"input": {"patternId": pid, "code": code, "kind": "FULL"}}, token=token)
    assert data["requestAnalysis"]["status"] == "QUEUED", data
    return data["requestAnalysis"]["id"]


def subscribers(services, analysis_id: str) -> int:
    bus = getattr(services.bus, "local", services.bus)  # the Postgres bus delivers through a local one
    return len(bus._subscribers.get(uuid.UUID(analysis_id), ()))


async def test_subscription_ends_with_unauthenticated_when_the_token_expires(gql, services) -> None:
    await services.worker.aclose()  # nothing runs: both analyses stay QUEUED
    learner, other = str(uuid.uuid4()), str(uuid.uuid4())
    analysis_id = await request(gql, token_for(learner))
    control_id = await request(gql, token_for(other))
    short = mint_token(TEST_SECRET, user_id=learner, ttl_seconds=TTL_SECONDS)
    async with live_server(services) as address:
        started = time.time()
        # A long-lived token on another connection: its subscription must outlive the short one.
        control = asyncio.create_task(subscribe(address, UPDATES, {"id": control_id}, token_for(other)))
        messages = await subscribe(address, UPDATES, {"id": analysis_id}, short, limit_seconds=TTL_SECONDS + 10)
        elapsed = time.time() - started
        await asyncio.sleep(0.2)
        assert not control.done(), control
        assert subscribers(services, analysis_id) == 0  # the ended subscription left the bus
        assert subscribers(services, control_id) == 1
        control.cancel()

    # The snapshot first, then the coded error once the token's exp passed (ttl 3 s: 2 to 3 s).
    assert messages[0]["type"] == "next", messages
    assert messages[0]["payload"]["data"]["analysisUpdates"]["status"] == "QUEUED"
    # The error is a `next` whose payload carries it (as for any failing event), then `complete`.
    assert [m["type"] for m in messages] == ["next", "next", "complete"], messages
    assert messages[1]["payload"]["data"] is None
    errors = messages[1]["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"], messages
    assert errors[0]["message"] == EXPIRED_MESSAGE and "expired" in errors[0]["message"]
    assert TTL_SECONDS - 1.5 <= elapsed <= TTL_SECONDS + 3, elapsed


async def test_an_already_expired_token_is_refused_at_connection_init(services) -> None:
    expired = mint_token(TEST_SECRET, user_id=str(uuid.uuid4()), ttl_seconds=-5)
    async with (
        live_server(services) as address,
        websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {expired}"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
