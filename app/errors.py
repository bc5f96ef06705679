"""Error codes of the client contract, and the extension that gives every error one.

Resolvers raise `AppError` (or one of its subclasses) for anything the caller should see.
Anything else is a bug or an outage: its message is replaced, it is logged with its traceback,
and the caller gets INTERNAL_SERVER_ERROR (or SERVICE_UNAVAILABLE when the database is down).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

import asyncpg
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    RATE_LIMITED = "RATE_LIMITED"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class AppError(Exception):
    """An error whose message is meant for the caller."""

    code: ErrorCode = ErrorCode.BAD_USER_INPUT

    def __init__(self, message: str, *, code: ErrorCode | None = None, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extensions = extensions


class BadUserInput(AppError):
    code = ErrorCode.BAD_USER_INPUT


class Unauthenticated(AppError):
    code = ErrorCode.UNAUTHENTICATED

    def __init__(self, message: str = "Sign in: this needs a valid access token.") -> None:
        super().__init__(message)


class Forbidden(AppError):
    code = ErrorCode.FORBIDDEN


class NotFound(AppError):
    code = ErrorCode.NOT_FOUND


class ServiceUnavailable(AppError):
    code = ErrorCode.SERVICE_UNAVAILABLE


INTERNAL_MESSAGE = "Internal server error."
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again shortly."

# Failures of the database itself, as opposed to bugs in our code.
DATABASE_DOWN = (
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
    if isinstance(original, DATABASE_DOWN):
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
