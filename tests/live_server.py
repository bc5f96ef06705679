"""A real uvicorn server on a free loopback port, and a graphql-transport-ws client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
import websockets

from app.server import create_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def live_server(services) -> AsyncIterator[str]:
    """Serve already-started services (lifespan off: the fixture owns start and close)."""
    port = free_port()
    config = uvicorn.Config(create_app(services.settings, services), host="127.0.0.1", port=port,
                            lifespan="off", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def subscribe(address: str, query: str, variables: dict[str, Any], token: str | None,
                    limit_seconds: float = 60.0) -> list[dict[str, Any]]:
    """Every message after the ack, until `complete` or `error` (inclusive)."""
    messages: list[dict[str, Any]] = []
    async with websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), limit_seconds))
        assert ack["type"] == "connection_ack", ack
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
        async with asyncio.timeout(limit_seconds):
            while True:
                frame = await ws.recv()
                assert isinstance(frame, str), f"graphql-transport-ws messages are text frames, got {frame!r:.80}"
                message = json.loads(frame)
                messages.append(message)
                if message["type"] in ("complete", "error"):
                    return messages
