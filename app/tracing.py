"""OTEL_TRACING=true: OpenTelemetry spans per GraphQL operation and resolver (Strawberry's
OpenTelemetryExtension, added by `resolvers.schema.build_schema`).

Spans go to the global tracer provider. When the process was started under OpenTelemetry's own
launcher (`opentelemetry-instrument codepattern serve`) that provider is already set up from the
OTEL_* variables and is used as it is. Otherwise one is made here, named `codepatternmaster`
(OTEL_SERVICE_NAME overrides), exporting with OTLP (OTEL_EXPORTER_OTLP_ENDPOINT & co.) when
`opentelemetry-exporter-otlp` is installed; without an exporter spans are made and dropped, and
the log says so.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def configure_tracing() -> None:
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise RuntimeError("OTEL_TRACING=true needs OpenTelemetry: pip install 'codepatternmaster[tracing]'") from exc
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        log.info("tracing: spans go to the tracer provider already configured")
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("tracing: opentelemetry-sdk is not installed, spans are not recorded "
                    "(pip install 'codepatternmaster[tracing]')")
        return
    provider = TracerProvider(resource=Resource.create({"service.name": "codepatternmaster"}))
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # pyright: ignore[reportMissingImports]
            OTLPSpanExporter,
        )
    except ImportError:
        log.warning("tracing: no exporter installed, spans are dropped (pip install opentelemetry-exporter-otlp "
                    "and set OTEL_EXPORTER_OTLP_ENDPOINT)")
    else:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        log.info("tracing: exporting spans over OTLP")
    trace.set_tracer_provider(provider)
