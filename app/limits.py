"""Request limits at the HTTP layer (pure ASGI middleware); the GraphQL limits: app/services.py.

- `BodySizeLimit`: a body over MAX_REQUEST_BYTES gets 413 before it is read: refused on its
  Content-Length, or, for a chunked body (or one longer than it said), as soon as the bytes
  received pass the limit. The body is otherwise handed on whole (the GraphQL view reads it all
  anyway). WebSocket messages are held to the same size by uvicorn (`ws_max_size`, app/cli.py).
- `JSONErrors`: Strawberry's view answers transport errors in plain text ("Batching is not
  enabled" for a JSON array, a body that is not JSON, no query); GraphQL clients read JSON, so
  those answers are re-sent in the GraphQL shape, `{"errors": [{"message", "extensions":
  {"code": "BAD_USER_INPUT"}}]}`, with the same status.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import ErrorCode


def error_body(message: str, code: ErrorCode) -> bytes:
    return json.dumps({"errors": [{"message": message, "extensions": {"code": code.value}}]}).encode()


async def send_error(send: Send, status: int, message: str, code: ErrorCode,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = error_body(message, code)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [*(headers or []), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self.refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body: no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self.refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # then the disconnect, for responses that wait for it

        await self.app(scope, replay, send)

    async def refuse(self, send: Send) -> None:
        # The rest of the body is never read, so the connection cannot carry another request.
        await send_error(send, 413, f"The request body is larger than {self.max_bytes} bytes.",
                         ErrorCode.BAD_USER_INPUT, [(b"connection", b"close")])


class JSONErrors:
    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # a plain-text error's start, held until its body is read
        parts: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                # The status first: every answer passes here, and few are 4xx.
                if 400 <= message["status"] < 500 and Headers(raw=message.get("headers", [])).get(
                        "content-type", "").startswith("text/plain"):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                kept = [(k, v) for k, v in held.get("headers", [])
                        if k.lower() not in (b"content-type", b"content-length")]
                text = b"".join(parts).decode("utf-8", "replace").strip() or "Bad request."
                await send_error(send, held["status"], text, ErrorCode.BAD_USER_INPUT, kept)
                return
            await send(message)

        await self.app(scope, receive, rewrite)
