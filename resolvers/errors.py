"""The extension that gives every GraphQL error `extensions.code` and masks internal ones.

`AppError`s keep their message and code. A `DependencyUnavailable` (or the database driver's
connection failures) becomes SERVICE_UNAVAILABLE with a generic message. Anything else is a bug:
its message is replaced, it is logged with its traceback, and the caller gets
INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import asyncpg
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult

from core.errors import AppError, DependencyUnavailable, ErrorCode

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Internal server error."
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again shortly."

# Failures of a dependency, as opposed to bugs in our code.
UNAVAILABLE = (
    DependencyUnavailable,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    ConnectionError,
    OSError,
    TimeoutError,
)


def classify(error: GraphQLError) -> tuple[ErrorCode, str, dict[str, Any]]:
    """The code, the message the caller may see, and extra extensions for one error."""
    original = error.original_error
    if isinstance(original, AppError):
        return original.code, original.message, original.extensions
    if original is None:
        # Raised by graphql-core itself: syntax, validation, variable coercion, depth limits.
        code = error.extensions.get("code") if error.extensions else None
        if code in ErrorCode.__members__:
            return ErrorCode(code), error.message, {}
        if "exceeds maximum operation depth" in error.message:
            return ErrorCode.QUERY_TOO_COMPLEX, error.message, {}
        return ErrorCode.BAD_USER_INPUT, error.message, {}
    if isinstance(original, GraphQLError):
        return classify(original)
    if isinstance(original, UNAVAILABLE):
        return ErrorCode.SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE, {}
    return ErrorCode.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE, {}


def with_code(error: GraphQLError) -> GraphQLError:
    code, message, extra = classify(error)
    if code in (ErrorCode.INTERNAL_SERVER_ERROR, ErrorCode.SERVICE_UNAVAILABLE) and not isinstance(
        error.original_error, AppError
    ):
        log.error("unexpected error at %s", error.path, exc_info=error.original_error)
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={**extra, "code": code.value},
    )


def coded_errors(errors: list[GraphQLError] | None) -> list[GraphQLError] | None:
    return [with_code(e) for e in errors] if errors else errors


class ErrorCodes(SchemaExtension):
    """Gives every error `extensions.code` and masks internal ones (queries, mutations and
    each subscription event alike)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if isinstance(result, (GraphQLExecutionResult, StrawberryExecutionResult)):
            result.errors = coded_errors(result.errors)
        if self.execution_context.pre_execution_errors:
            self.execution_context.pre_execution_errors = coded_errors(
                self.execution_context.pre_execution_errors
            )
