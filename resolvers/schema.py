"""The schema object: roots, extensions and error handling."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from .errors import ErrorCodes, coded_errors
from .execution import Executor
from .limits import GraphQLLimits, validation_rules
from .metrics import GraphQLMetrics
from .mutation import Mutation
from .query import Query
from .sessions import QueryReadSession
from .subscription import Subscription

log = logging.getLogger(__name__)

DEFAULT_LIMITS = GraphQLLimits()
MAX_QUERY_DEPTH = DEFAULT_LIMITS.max_depth  # the default (GRAPHQL_MAX_DEPTH)


class Schema(strawberry.Schema):
    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # A subscription has one result stream, which only `subscribe` (WebSocket) and `stream`
        # (multipart HTTP) deliver; Strawberry's HTTP view would run one POSTed plainly as a
        # query and fail inside it. Refused here it is a 400 that names the operation type.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES) - {OperationType.SUBSCRIPTION}
        return await super().execute(query, variable_values, context_value, root_value, operation_name,
                                     allowed, operation_extensions)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Parse and validation errors reach the response without passing through extensions'
        # after-operation hooks, so code them here, in place (the result holds this list).
        # Unexpected errors are logged once by `with_code`; caller mistakes are not logged.
        errors[:] = coded_errors(errors) or []


def build_schema(limits: GraphQLLimits = DEFAULT_LIMITS, *, metrics: bool = True, tracing: bool = False) -> Schema:
    """The schema enforcing `limits` (resolvers/limits.py); one per distinct value, reused.
    `metrics`: count and time operations for /metrics (resolvers/metrics.py); `tracing`: an
    OpenTelemetry span per operation and resolver (needs the `tracing` extra)."""
    return _build_schema(limits, metrics, tracing)


@lru_cache(maxsize=8)
def _build_schema(limits: GraphQLLimits, metrics: bool, tracing: bool) -> Schema:
    # The rule classes are built once here, not per request: ValidationCache keys on them, so a
    # class made per request (as QueryDepthLimiter(...) does) would make every request miss it.
    rules = validation_rules(limits)
    # Batches (Apollo's BatchHttpLink, a JSON array body) of at most max_batch operations; each
    # is checked against the limits on its own, and rate limits count each field that runs.
    batching = {"max_operations": limits.max_batch} if limits.max_batch > 0 else None
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(batching_config=batching),  # pyright: ignore[reportArgumentType]
        execution_context_class=Executor,
        extensions=[
            # First: its after-hook runs last, so it counts the errors as ErrorCodes coded them.
            *([GraphQLMetrics] if metrics else []),
            *(_tracing_extensions() if tracing else []),
            lambda: MaxTokensLimiter(limits.max_tokens),  # before parsing: sets the parser's limit
            lambda: AddValidationRules(rules),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            ErrorCodes,
            QueryReadSession,
        ],
    )


# Arguments recorded on resolver spans: identifiers and paging only. Never the learner's code,
# search text or other input objects (they would end up in the tracing backend).
TRACED_ARGUMENTS = frozenset({"id", "slug", "first", "after", "category", "difficulty", "period", "analysis_id"})


def traced_arguments(arguments: dict[str, Any], info: Any) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k in TRACED_ARGUMENTS}


def _tracing_extensions() -> list[Any]:
    try:
        from strawberry.extensions.tracing import OpenTelemetryExtension
    except ImportError as exc:  # opentelemetry-api is not installed
        raise RuntimeError("OTEL_TRACING=true needs OpenTelemetry: pip install 'codepatternmaster[tracing]'") from exc
    return [lambda: OpenTelemetryExtension(arg_filter=traced_arguments)]


# The default limits: what `codepattern export-schema` prints (the SDL does not depend on them).
schema = build_schema()
