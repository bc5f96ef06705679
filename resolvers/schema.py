"""The schema object: roots, extensions and error handling."""

from __future__ import annotations

import logging

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import AddValidationRules, ParserCache, ValidationCache
from strawberry.extensions.query_depth_limiter import create_validator
from strawberry.types import ExecutionContext

from .errors import ErrorCodes, coded_errors
from .mutation import Mutation
from .query import Query
from .subscription import Subscription

log = logging.getLogger(__name__)

MAX_QUERY_DEPTH = 12
# Built once: ValidationCache keys on the rule classes, and QueryDepthLimiter makes a new class
# per instance, so a per-request limiter would make every request miss the cache.
DEPTH_RULE = create_validator(MAX_QUERY_DEPTH, None, None)


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        # Parse and validation errors reach the response without passing through extensions'
        # after-operation hooks, so code them here, in place (the result holds this list).
        # Unexpected errors are logged once by `with_code`; caller mistakes are not logged.
        errors[:] = coded_errors(errors) or []


def build_schema() -> Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            lambda: AddValidationRules([DEPTH_RULE]),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            ErrorCodes,
        ],
    )


schema = build_schema()
