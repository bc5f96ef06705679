"""The schema object: roots, extensions and error handling."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import strawberry
from graphql import DocumentNode
from graphql.error import GraphQLError
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.await_maybe import await_maybe

from .context import Context
from .errors import ErrorCodes, coded_errors
from .execution import Executor, share_selections
from .limits import GraphQLLimits, validation_rules
from .metrics import GraphQLMetrics, count_operation
from .mutation import Mutation
from .query import Query
from .sessions import QueryReadSession
from .subscription import Subscription

log = logging.getLogger(__name__)

DEFAULT_LIMITS = GraphQLLimits()
MAX_QUERY_DEPTH = DEFAULT_LIMITS.max_depth  # the default (GRAPHQL_MAX_DEPTH)


READY_QUERIES_MAX = 256  # as many as the parser's and the validation's caches keep
_UNKNOWN = object()


@dataclass(frozen=True, slots=True)
class ReadyQuery:
    document: DocumentNode
    # The operation Strawberry runs and the metrics count: the name given, else the document's first
    # operation's (Strawberry's rule; graphql-core alone would refuse a document of several).
    operation_name: str | None


class ReadyQueries:
    """Documents of queries that parsed and validated, least recently used dropped first."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[tuple[str, str | None], ReadyQuery] = OrderedDict()

    def get(self, key: tuple[str, str | None]) -> ReadyQuery | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def remember(self, key: tuple[str, str | None], query: ReadyQuery) -> None:
        self._entries[key] = query
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)


class RememberReadyQueries(SchemaExtension):
    """After validation: a query that parsed and validated is remembered, so the next operation
    with the same text and operation name takes `Schema._execute_ready`."""

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        schema = context.schema
        if (context.pre_execution_errors or context.graphql_document is None or context.query is None
                or not isinstance(schema, Schema) or schema.ready_queries is None):
            return
        try:
            if context.operation_type is not OperationType.QUERY:
                return
        except RuntimeError:  # no such operation in the document
            return
        # The operation name as the caller sent it (None when they sent none): the key a later
        # operation is looked up by. Strawberry keeps it in a private field; without it, nothing
        # is remembered and every operation takes the whole way.
        provided = getattr(context, "_provided_operation_name", _UNKNOWN)
        if provided is not None and not isinstance(provided, str):
            return
        schema.ready_queries.remember((context.query, provided),
                                      ReadyQuery(context.graphql_document, context.operation_name))
        # Its next executions also share what this one works out of the document alone.
        share_selections(context.graphql_document)


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
        ready = self.ready_queries
        # Only texts and names as GraphQL has them: the body's JSON may hold anything there (a
        # list is not even hashable), and the whole way answers that with its own error.
        if (ready is not None and type(query) is str and (operation_name is None or type(operation_name) is str)
                and OperationType.QUERY in allowed):
            known = ready.get((query, operation_name))
            if known is not None:
                return await self._execute_ready(known, variable_values, context_value, root_value,
                                                 operation_extensions)
        return await super().execute(query, variable_values, context_value, root_value, operation_name,
                                     allowed, operation_extensions)

    # Queries whose document this schema parsed and validated before, by (text, operation name),
    # filled by `RememberReadyQueries`; None: every operation takes Strawberry's whole way.
    ready_queries: ReadyQueries | None = None
    metrics_enabled: bool = False

    async def _execute_ready(self, known: ReadyQuery, variable_values: dict[str, Any] | None, context_value: Any,
                             root_value: Any, operation_extensions: dict[str, Any] | None) -> ExecutionResult:
        """A query whose document parsed and validated before, run without Strawberry's
        per-operation pipeline: what its extensions would do on that way (the read session,
        coded errors, the metrics) is done here, in the same order; parsing, validation and the
        token limit gave their answer the first time and cannot give another for the same text.
        Strawberry builds an execution context, seven extensions, their hook runners and a
        middleware manager for each operation: about a tenth of a signed-in page's CPU."""
        started = time.perf_counter()
        execute = self._get_execute_function()

        async def run() -> Any:
            return await await_maybe(execute(
                self._schema, known.document, root_value=root_value, variable_values=variable_values,
                operation_name=known.operation_name, context_value=context_value, is_awaitable=optimized_is_awaitable,
                executor_class=self.execution_context_class, operation_extensions=operation_extensions,
            ))

        try:
            if isinstance(context_value, Context):  # as QueryReadSession does on the whole way
                async with context_value.db.read_session():
                    result = await run()
            else:
                result = await run()
            data, errors = result.data, result.errors
        except Exception as exc:  # as Strawberry's execute: an error in the response, not a 500
            data, errors = None, [GraphQLError(str(exc), original_error=exc)]
        errors = coded_errors(errors)
        if self.metrics_enabled:
            count_operation(known.operation_name, OperationType.QUERY.value, started, errors)
        return ExecutionResult(data=data, errors=errors, extensions={})

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
    schema = Schema(
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
            # Last: it sees the validation's verdict. With tracing every operation keeps its spans.
            *([] if tracing else [RememberReadyQueries]),
        ],
    )
    schema.ready_queries = None if tracing else ReadyQueries(READY_QUERIES_MAX)
    schema.metrics_enabled = metrics
    return schema


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
