"""Argument checks shared by resolvers."""

from __future__ import annotations

from core.errors import BadUserInput

# The longest search text, for the catalog filter and semantic search alike.
MAX_SEARCH_TEXT = 500
# One call reports at most a day of work; larger numbers are client bugs.
MAX_TIME_PER_CALL = 24 * 3600


def check_time_spent(seconds: int | None) -> int:
    if seconds is None:
        return 0
    if not 0 <= seconds <= MAX_TIME_PER_CALL:
        raise BadUserInput(
            f"timeSpentSeconds must be between 0 and {MAX_TIME_PER_CALL}.", argument="timeSpentSeconds"
        )
    return seconds


def check_first(first: int | None, default: int, limit: int) -> int:
    """A page size: explicit null means the default, as if the argument were left out."""
    if first is None:
        return default
    if not 1 <= first <= limit:
        raise BadUserInput(f"first must be between 1 and {limit}.", argument="first")
    return first
