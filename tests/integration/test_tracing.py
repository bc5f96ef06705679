"""OTEL_TRACING: an OpenTelemetry span per operation and per resolver, without the learner's input."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.server import create_app
from tests.helpers import token_for

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    # The global provider can be set once per process: this module's exporter for all of them.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        sdk = TracerProvider()
        sdk.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(sdk)


async def test_spans_per_operation_and_resolver_without_input(services) -> None:
    EXPORTER.clear()
    settings = services.settings.model_copy(update={"otel_tracing": True})
    transport = httpx.ASGITransport(app=create_app(settings, services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.post("/graphql", json={"query": 'query Lookup { pattern(slug: "right-triangle") { name } }'})
        secret_code = "print('my secret solution')"
        await http.post("/graphql", headers={"Authorization": f"Bearer {token_for()}"}, json={
            "query": "mutation Send($c: String!) { requestAnalysis(input: {patternId: \"1\", code: $c}) { id } }",
            "variables": {"c": secret_code}})
    spans = EXPORTER.get_finished_spans()
    names = [s.name for s in spans]
    assert "GraphQL Query: Lookup" in names and "GraphQL Query: Send" in names
    assert "GraphQL Resolving: pattern" in names and "GraphQL Resolving: requestAnalysis" in names
    lookup = next(s for s in spans if s.name == "GraphQL Resolving: pattern")
    assert lookup.attributes is not None and lookup.attributes.get("graphql.param.slug") == "right-triangle"
    everything = repr([dict(s.attributes or {}) for s in spans])
    assert "my secret solution" not in everything  # only ids and paging arguments are recorded


async def test_tracing_is_off_by_default(client) -> None:
    from core.settings import Settings

    assert Settings(_env_file=None).otel_tracing is False  # type: ignore[call-arg]
    EXPORTER.clear()
    await client.post("/graphql", json={"query": 'query Lookup { pattern(slug: "right-triangle") { name } }'})
    assert EXPORTER.get_finished_spans() == ()
