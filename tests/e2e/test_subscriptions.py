"""analysisUpdates over a real WebSocket (graphql-transport-ws), against a live uvicorn server."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
import websockets

from core.settings import Settings
from tests.helpers import make_settings, token_for
from tests.live_server import live_server, subscribe
from tests.tiny_models import TUTOR_REPLY

UPDATES = """
subscription($id: ID!) {
  analysisUpdates(analysisId: $id) {
    analysisId status stage textDelta
    analysis { id status explanation modelUsed aiConfidence complexity { bigO } modelSentences { kept dropped } }
  }
}
"""
REQUEST = "mutation($input: RequestAnalysisInput!) { requestAnalysis(input: $input) { id status } }"
CODE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"  # all TUTOR_REPLY says is true


async def request(gql, token: str, code: str = CODE, kind: str = "FULL") -> str:
    pid = (await gql.data('{ pattern(slug: "right-triangle") { id } }'))["pattern"]["id"]
    data = await gql.data(REQUEST, {"input": {"patternId": pid, "code": code, "kind": kind}}, token=token)
    return data["requestAnalysis"]["id"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tiny_tutor: Path) -> Settings:
    # A real (tiny) generative model, so analyses are queued for its prose and stream it.
    return make_settings(database_url, tmp_path, models_enabled=True, generation_model=str(tiny_tutor),
                         models_preload=False, generation_max_new_tokens=128)


def events_of(messages: list[dict]) -> list[dict]:
    assert messages[-1]["type"] == "complete", messages[-1]
    nexts = [m for m in messages if m["type"] == "next"]
    assert all("errors" not in m["payload"] for m in nexts), nexts
    return [m["payload"]["data"]["analysisUpdates"] for m in nexts]


async def test_stream_of_stages_then_final_event_then_complete(gql, services) -> None:
    token = token_for()
    async with live_server(services) as address:
        # Hold the worker back so the subscription sees the whole life of the job.
        await services.worker.aclose()
        analysis_id = await request(gql, token, code=CODE + "# unique " + uuid.uuid4().hex)

        consumer = asyncio.create_task(subscribe(address, UPDATES, {"id": analysis_id}, token))
        await asyncio.sleep(0.5)
        await services.worker.start()
        events = events_of(await consumer)

    assert events[0]["status"] == "QUEUED" and events[0]["analysis"]["id"] == analysis_id
    # The grounded part is there before any worker ran: only the model's prose was queued.
    grounded = events[0]["analysis"]["explanation"]
    assert grounded and events[0]["analysis"]["complexity"]["bigO"] == "O(n^2)"
    stages = [e["stage"] for e in events]
    assert {"execution", "complexity", "explanation", "feedback"} <= set(stages), stages
    assert stages.index("execution") < stages.index("complexity") < stages.index("explanation")
    deltas = "".join(e["textDelta"] or "" for e in events)
    final = events[-1]
    assert final["status"] == "DONE" and final["stage"] == "done"
    assert final["analysis"]["explanation"] == deltas.strip()
    assert final["analysis"]["explanation"].startswith(grounded)
    # The tiny tutor's three sentences, each checked and then sent whole, after the grounded text.
    assert final["analysis"]["modelUsed"] != "rule-based"
    assert final["analysis"]["modelSentences"] == {"kept": 3, "dropped": 0}
    assert final["analysis"]["explanation"] == grounded + "\n\n" + TUTOR_REPLY
    assert [e["textDelta"].strip() for e in events if e["textDelta"]][-3:] == TUTOR_REPLY.split("\n")
    assert final["analysis"]["complexity"]["bigO"] == "O(n^2)"
    assert all(e["analysisId"] == analysis_id for e in events)


async def test_subscribing_after_the_end_yields_the_final_event_at_once(gql, services) -> None:
    token = token_for()
    analysis_id = await request(gql, token, kind="COMPLEXITY")
    for _ in range(300):
        status = (await gql.data("query($id: ID!) { analysis(id: $id) { status } }", {"id": analysis_id},
                                 token=token))["analysis"]["status"]
        if status == "DONE":
            break
        await asyncio.sleep(0.1)
    async with live_server(services) as address:
        events = events_of(await subscribe(address, UPDATES, {"id": analysis_id}, token))
    assert len(events) == 1 and events[0]["status"] == "DONE" and events[0]["analysis"]["complexity"]


async def test_only_the_owner_may_subscribe(gql, services) -> None:
    analysis_id = await request(gql, token_for())
    async with live_server(services) as address:
        messages = await subscribe(address, UPDATES, {"id": analysis_id}, token_for())
        anonymous = await subscribe(address, UPDATES, {"id": analysis_id}, None)
    codes = [e["extensions"]["code"] for m in messages if m["type"] in ("next", "error")
             for e in (m["payload"]["errors"] if m["type"] == "next" else m["payload"])]
    assert codes == ["NOT_FOUND"], messages
    anon_codes = [e["extensions"]["code"] for m in anonymous if m["type"] in ("next", "error")
                  for e in (m["payload"]["errors"] if m["type"] == "next" else m["payload"])]
    assert anon_codes == ["UNAUTHENTICATED"], anonymous


async def test_a_bad_token_is_refused_at_connection_init(services) -> None:
    async with (
        live_server(services) as address,
        websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4403
