"""The extension that gives every GraphQL error `extensions.code` and masks internal ones.

`AppError`s keep their message and code. A `DependencyUnavailable` (or the database driver's
connection failures) becomes SERVICE_UNAVAILABLE with a generic message, logged in one line (at
most one a kind of failure every few seconds: in an outage every request fails alike). Anything
else is a bug: its message is replaced, it is logged with its traceback, and the caller gets
INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.error import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.execution import ExecutionResult as StrawberryExecutionResult

from core.errors import AppError, ErrorCode
from db.database import UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Internal server error."
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; try again shortly."



UNSTORABLE_TEXT_MESSAGE = "Text must be valid Unicode without NUL characters."


def is_unstorable_text(exc: BaseException | None) -> bool:
    """Text PostgreSQL cannot take: a NUL character (in text or jsonb), or a lone surrogate (no
    UTF-8 encoder accepts one; asyncpg raises a DataError caused by the UnicodeEncodeError). The
    server's own text has neither: it came from the caller (arguments, variables, token claims, what
    their program printed). Coded BAD_USER_INPUT, and logged as a warning: input that should have
    been refused, or cleaned, before it reached the database."""
    if isinstance(exc, (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)):
        return True
    cause = exc.__cause__ if isinstance(exc, asyncpg.DataError) else exc
    return isinstance(cause, UnicodeEncodeError) and "surrogates not allowed" in str(cause)


def classify(error: GraphQLError) -> tuple[ErrorCode, str, dict[str, Any]]:
    """The code, the message the caller may see, and extra extensions for one error."""
    original = error.original_error
    if isinstance(original, AppError):
        return original.code, original.message, original.extensions
    if original is None:
        # Raised by graphql-core itself: syntax, validation, variable coercion, depth limits.
        code = error.extensions.get("code") if error.extensions else None
        if code in ErrorCode.__members__:
            # Already coded (errors pass here twice): keep its other extensions (retryAfter, argument).
            return ErrorCode(code), error.message, {k: v for k, v in (error.extensions or {}).items() if k != "code"}
        # The rules of resolvers/limits.py code their errors QUERY_TOO_COMPLEX themselves (above).
        # Strawberry's depth limiter, and the parser's token limit (MaxTokensLimiter) and nesting
        # limit, which end "... Parsing aborted.", do not.
        if "exceeds maximum operation depth" in error.message or "Parsing aborted." in error.message:
            return ErrorCode.QUERY_TOO_COMPLEX, error.message, {}
        return ErrorCode.BAD_USER_INPUT, error.message, {}
    if isinstance(original, GraphQLError):
        return classify(original)
    if is_unstorable_text(original):
        return ErrorCode.BAD_USER_INPUT, UNSTORABLE_TEXT_MESSAGE, {}
    if isinstance(original, UNAVAILABLE_ERRORS):
        return ErrorCode.SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE, {}
    return ErrorCode.INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE, {}


UNAVAILABLE_LOG_SECONDS = 10.0
_unavailable_logged: dict[str, tuple[float, int]] = {}  # kind of failure -> (last logged, unlogged since)


def _log_unavailable(error: GraphQLError) -> None:
    """A dependency is down: one line, no traceback, and at most one per kind of failure every
    UNAVAILABLE_LOG_SECONDS, with a count of the others (in an outage every request fails alike)."""
    original = error.original_error
    kind = type(original).__name__
    now = time.monotonic()
    last, unlogged = _unavailable_logged.get(kind, (-math.inf, 0))
    if now - last < UNAVAILABLE_LOG_SECONDS:
        _unavailable_logged[kind] = (last, unlogged + 1)
        return
    _unavailable_logged[kind] = (now, 0)
    log.warning("dependency unavailable at %s: %s: %s%s", error.path, kind, original,
                f" ({unlogged} more since the last report)" if unlogged else "")


def with_code(error: GraphQLError) -> GraphQLError:
    code, message, extra = classify(error)
    # Errors are coded twice on Strawberry's way; only the first pass still holds the original
    # (the coded copy has none), so only it logs.
    if (code is ErrorCode.INTERNAL_SERVER_ERROR and error.original_error is not None
            and not isinstance(error.original_error, AppError)):
        log.error("unexpected error at %s", error.path, exc_info=error.original_error)
    elif code is ErrorCode.SERVICE_UNAVAILABLE and error.original_error is not None and not isinstance(
        error.original_error, AppError
    ):
        _log_unavailable(error)
    elif is_unstorable_text(error.original_error):
        log.warning("text the database cannot store reached it at %s: %s", error.path, error.original_error)
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
