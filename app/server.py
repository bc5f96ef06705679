"""The ASGI application: GraphQL (HTTP, WebSocket, GraphiQL) and the health endpoints."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from core.settings import Settings, load_settings
from db.migrate import pending_migrations
from resolvers.schema import build_schema

from .graphiql import ASSETS_PATH, packaged_assets
from .graphql_view import GraphQLApp
from .limits import BodySizeLimit, JSONErrors
from .metrics import MetricsEndpoint
from .request_id import RequestId
from .services import Services, graphql_limits

log = logging.getLogger(__name__)


def models_state(models: dict[str, Any]) -> str:
    """One word for /readyz's public answer: loading, failed (the rule-based fallback serves),
    on-demand (loads on first use), loaded or disabled."""
    states = {v.get("state") for v in models.values() if isinstance(v, dict)} - {"disabled"}
    if models.get("preload") == "loading" or "loading" in states:
        return "loading"
    if not states:
        return "disabled"
    if "failed" in states:
        return "failed"
    return "loaded" if states == {"loaded"} else "on-demand"


def judged_languages(sandbox: object) -> list[str]:
    """The GraphQL `Language` values whose programs this server judges now (e.g. ["PYTHON", "JAVASCRIPT"])."""
    languages = sandbox.get("languages") if isinstance(sandbox, dict) else None
    if not isinstance(languages, dict):
        return []
    return [name.upper() for name, entry in languages.items()
            if isinstance(entry, dict) and entry.get("status") in ("complete", "degraded")]


def public_readiness(report: dict[str, Any]) -> dict[str, Any]:
    """What anyone may read: states only, no paths, model files, layers or error types."""
    sandbox = report.get("sandbox")
    migrations = str(report.get("migrations", "unknown"))
    public = {
        "status": report["status"],
        "database": report["database"],
        "migrations": "pending" if migrations.startswith("pending") else migrations,
        "models": models_state(report.get("models") or {}),
        "sandbox": sandbox.get("status", "unknown") if isinstance(sandbox, dict) else "unknown",
        "languages": report.get("languages", []),
    }
    if "reason" in report:
        public["reason"] = report["reason"]
    return public


def create_app(settings: Settings | None = None, services: Services | None = None) -> Starlette:
    settings = settings or load_settings()
    services = services or Services.create(settings)
    if settings.graphiql and not settings.graphql_introspection:
        log.warning("GRAPHIQL is on but GRAPHQL_INTROSPECTION is off: GraphiQL cannot read the schema "
                    "(no completion, no docs); turn one of them the other way")
    operator_token = settings.operator_token.get_secret_value().encode() if settings.operator_token else b""

    def shows_details(request: Request) -> bool:
        """READYZ_DETAILS on, or `Authorization: Bearer <OPERATOR_TOKEN>`."""
        if settings.readyz_details:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return (bool(operator_token) and scheme.lower() == "bearer"
                and secrets.compare_digest(token.strip().encode(), operator_token))

    metrics = MetricsEndpoint(services) if settings.metrics else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await services.start()
        if metrics is not None:
            await metrics.start()
        url = f"http://{settings.host}:{settings.port}/graphql"
        log.info("GraphQL ready at %s%s", url, " (GraphiQL in a browser)" if settings.graphiql else "")
        try:
            yield
        finally:
            try:
                if metrics is not None:
                    await metrics.close()
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
        report["languages"] = judged_languages(report.get("sandbox"))
        # A sandbox that refuses to judge (strict, a layer missing) makes the whole API not ready.
        ready = ready and services.sandbox.ready
        # Nor is a replica whose models are still loading at start (a GGUF conversion takes tens of
        # seconds): the load balancer waits. Once the preload ends, loaded or failed, it serves.
        if services.preload_state == "loading":
            report["reason"] = "models loading"
            ready = False
        report["status"] = "ready" if ready else "unavailable"
        if not shows_details(request):
            report = public_readiness(report)
        return JSONResponse(report, status_code=200 if ready else 503)

    graphiql = packaged_assets() if settings.graphiql else None
    if settings.otel_tracing:
        from .tracing import configure_tracing

        configure_tracing()
    schema = build_schema(graphql_limits(settings), metrics=settings.metrics, tracing=settings.otel_tracing)
    graphql = GraphQLApp(services, schema, graphiql)
    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
    ]
    if metrics is not None:
        routes.append(Route("/metrics", metrics.serve))
    if graphiql is not None:
        routes.append(Route(f"{ASSETS_PATH}/{{digest}}/{{name:path}}", graphiql.serve, methods=["GET", "HEAD"]))
    app = Starlette(
        routes=routes,
        # Outermost first: every answer carries X-Request-ID; an oversized body is refused before
        # anything reads it.
        middleware=[
            Middleware(RequestId, access_log=settings.log_format == "json"),
            Middleware(BodySizeLimit, max_bytes=settings.max_request_bytes),
            Middleware(JSONErrors, path="/graphql"),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
