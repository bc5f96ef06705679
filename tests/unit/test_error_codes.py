"""resolvers/errors.py: an unexpected error is masked, coded and logged once, even though
Strawberry's way passes every error through the coding twice (process_errors, then ErrorCodes)."""

from __future__ import annotations

import logging

import pytest
from graphql.error import GraphQLError

from resolvers.errors import INTERNAL_MESSAGE, coded_errors


def test_an_unexpected_error_is_masked_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    raw = GraphQLError("secret detail", path=["me"], original_error=ValueError("secret detail"))
    with caplog.at_level(logging.ERROR, logger="resolvers.errors"):
        once = coded_errors([raw])
        twice = coded_errors(once)
    assert once is not None and twice is not None
    assert [(e.message, e.extensions) for e in twice] == [(INTERNAL_MESSAGE, {"code": "INTERNAL_SERVER_ERROR"})]
    logged = [r for r in caplog.records if r.name == "resolvers.errors"]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "secret detail" not in twice[0].message
