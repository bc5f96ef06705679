"""The ASGI application: GraphQL (HTTP, WebSocket, GraphiQL) and the health endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL

from core.settings import Settings, load_settings
from db.migrate import pending_migrations
from resolvers.context import Context
from resolvers.schema import schema

from .services import Services

log = logging.getLogger(__name__)


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, services: Services) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if services.settings.graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        )
        self.services = services

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        authorization = request.headers.get("authorization") if isinstance(request, Request) else None
        context = Context.build(self.services, self.services.verifier.caller_from_header, authorization,
                                request=request)
        context.response = response
        return context

    async def on_ws_connect(self, context: Context) -> None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        token = params.get("Authorization") or params.get("authorization") or params.get("authToken")
        if isinstance(token, str) and token and not token.lower().startswith("bearer "):
            token = f"Bearer {token}"
        context.authenticate(token if isinstance(token, str) else None)
        if context.auth_error is not None:
            # A token was sent and it is bad: refuse the connection (4403) so the client refreshes it.
            raise ConnectionRejectionError({"code": context.auth_error.code.value,
                                            "message": context.auth_error.message})


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or load_settings()
    services = services or Services.create(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.start()
        url = f"http://{settings.host}:{settings.port}/graphql"
        log.info("GraphQL ready at %s%s", url, " (GraphiQL in a browser)" if settings.graphiql else "")
        try:
            yield
        finally:
            await services.close()

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        report: dict[str, Any] = {"database": "unreachable", "migrations": "unknown"}
        ready = False
        try:
            async with services.db.pool.acquire(timeout=2) as conn:
                pending = await pending_migrations(conn)
            report["database"] = "ok"
            report["migrations"] = "applied" if not pending else f"pending: {[m.name for m in pending]}"
            ready = not pending
        except Exception as exc:  # any failure here means "not ready"; say which kind
            report["error"] = type(exc).__name__
        report.update(services.readiness())
        # A sandbox that refuses to judge (strict, a layer missing) makes the whole API not ready.
        ready = ready and services.sandbox.ready
        # Nor is a replica whose models are still loading at start (a GGUF conversion takes tens of
        # seconds): the load balancer waits. Once the preload ends, loaded or failed, it serves.
        if services.preload_state == "loading":
            report["reason"] = "models loading"
            ready = False
        report["status"] = "ready" if ready else "unavailable"
        return JSONResponse(report, status_code=200 if ready else 503)

    graphql = GraphQLApp(services)
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
