"""Errors with a meaning for callers, and the codes of the client contract.

Components raise `AppError` (or a subclass) for anything the caller should see, with a message
written for the caller. A component whose dependency is down (database, sandbox, model) raises a
`DependencyUnavailable`: its message is for the log, and callers get SERVICE_UNAVAILABLE. The
GraphQL layer (`resolvers/errors.py`) turns both into `extensions.code` and masks everything else.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


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


class DependencyUnavailable(Exception):
    """A part the request needs (database, sandbox, model) is down or not started; retrying
    later may work. The message is for operators; callers see SERVICE_UNAVAILABLE."""
