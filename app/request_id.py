"""X-Request-ID for every HTTP request and WebSocket (pure ASGI middleware).

The caller's X-Request-ID is kept when it is a sane one (letters, digits and `._:@/+=-`, at most
128), otherwise a new one is made; it is set for the request's task (`core.request_id`, which the
logs print) and returned in the response's X-Request-ID header. A WebSocket keeps the id of its
upgrade request for all its subscriptions. With `access_log`, one line per HTTP request is logged
under that id (JSON logs use it instead of uvicorn's access log, which runs outside the request).
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.request_id import REQUEST_ID, accepted_request_id, new_request_id

HEADER = b"x-request-id"
access = logging.getLogger("app.access")


class RequestId:
    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get("x-request-id")) or new_request_id()
        token = REQUEST_ID.set(request_id)
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] in ("http.response.start", "websocket.accept"):
                status = message.get("status", 101)
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log and scope["type"] == "http":
                access.info("%s %s %d", scope["method"], scope["path"], status, extra={
                    "method": scope["method"], "path": scope["path"], "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2)})
            REQUEST_ID.reset(token)
