"""Prometheus metrics of GraphQL operations: how many, how long, and their errors by code.

Operation names come from clients, so they are bounded before they become a label: a name that
is not a plain GraphQL name, or past the first `MAX_OPERATION_NAMES` distinct ones this process
saw, is counted as `other`; an unnamed operation is `anonymous`. The label children are cached,
so an operation costs a dictionary lookup and three updates of process memory
(`bench/bench_metrics.py` measures it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from prometheus_client import Counter, Gauge, Histogram
from strawberry.extensions import SchemaExtension

MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
# Tens of microseconds (a cached read) to many seconds (a judged submission).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

OPERATIONS = Counter(
    "codepattern_graphql_operations",
    "GraphQL operations executed (each operation of a batch counts; a subscription when it ends).",
    ["operation_name", "operation_type"],
)
OPERATION_SECONDS = Histogram(
    "codepattern_graphql_operation_duration_seconds",
    "Time to execute a query or mutation, parsing and validation included (not subscriptions).",
    ["operation_name", "operation_type"],
    buckets=LATENCY_BUCKETS,
)
ERRORS = Counter(
    "codepattern_graphql_errors",
    "GraphQL errors returned, by extensions.code.",
    ["code", "operation_type"],
)

SUBSCRIPTIONS = Gauge(
    "codepattern_graphql_subscriptions_active", "Subscriptions streaming now (analysisUpdates).",
    multiprocess_mode="livesum",
)

_children: dict[tuple[str, str], tuple[Any, Any]] = {}
_names: set[str] = set()


def operation_label(name: object) -> str:
    """The label for an operation name as the client sent it (anything JSON can hold)."""
    if not name:
        return "anonymous"
    if not isinstance(name, str):
        return "other"
    if name in _names:
        return name
    if len(_names) >= MAX_OPERATION_NAMES or not _NAME.fullmatch(name):
        return "other"
    _names.add(name)
    return name


def _series(name: str, kind: str) -> tuple[Any, Any]:
    """The counter and the histogram (None for a subscription: it is not timed) of one label pair."""
    series = _children.get((name, kind))
    if series is None:
        seconds = OPERATION_SECONDS.labels(name, kind) if kind != "subscription" else None
        series = _children[(name, kind)] = (OPERATIONS.labels(name, kind), seconds)
    return series


def _operation_type(context: Any) -> str:
    try:
        return context.operation_type.value
    except Exception:  # no document (a parse error), or no such operation in it
        return "unknown"


def count_cached(name: object, seconds: float) -> None:
    """A query answered by the response cache (app/response_cache.py): Strawberry never saw it, so
    this extension did not count it; it counts as the query it is."""
    count, histogram = _series(operation_label(name), "query")
    count.inc()
    histogram.observe(seconds)


class GraphQLMetrics(SchemaExtension):
    """Listed first among the schema's extensions, so it sees the errors after ErrorCodes coded them.
    Strawberry runs a subscription's operation hook around its whole stream: it is counted, with
    its last event's errors, when it ends; `SUBSCRIPTIONS` counts the ones streaming."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            context = self.execution_context
            result = context.result
            errors: list[GraphQLError] | None = getattr(result, "errors", None) or context.pre_execution_errors
            count_operation(context.operation_name, _operation_type(context), started, errors)


def count_operation(name: object, kind: str, started: float, errors: list[GraphQLError] | None) -> None:
    """One operation that began at `started` (time.perf_counter) and ended now, with its coded
    errors (also for queries that run without the extension: resolvers/schema.py)."""
    count, seconds = _series(operation_label(name), kind)
    count.inc()
    if seconds is not None:  # a subscription lasts as long as its client wants: not timed
        seconds.observe(time.perf_counter() - started)
    for error in errors or ():
        code = (error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR")
        ERRORS.labels(str(code), kind).inc()
