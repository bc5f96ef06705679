"""Automatic persisted queries, Apollo's protocol: a client sends a document's sha256 in
`extensions.persistedQuery` instead of the document; the first time, the server answers
`PersistedQueryNotFound` and the client sends both, which the server checks and remembers.
A GET with only the hash is then short, and cacheable by any HTTP cache (app/graphql_view.py).

Remembered per process, in a bounded LRU (PERSISTED_QUERIES_MAX documents): a process that has
not seen a hash asks for the document once, as the protocol expects. A hash that does not match
its document is refused, so nobody can plant a document under another's hash.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from graphql import GraphQLError
from strawberry.http import GraphQLRequestData

from core.errors import ErrorCode

# What Apollo Client's persisted-queries link looks for (it reads the message).
NOT_FOUND = "PersistedQueryNotFound"


class PersistedQueries:
    def __init__(self, max_documents: int = 1000) -> None:
        self.max_documents = max_documents
        self._documents: OrderedDict[str, str] = OrderedDict()

    def resolve(self, data: GraphQLRequestData) -> tuple[GraphQLRequestData, GraphQLError | None]:
        """`data` with its document filled in from its hash, or the error to answer with."""
        persisted = (data.extensions or {}).get("persistedQuery")
        if persisted is None or self.max_documents <= 0:
            return data, None
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            return data, _error("Only version 1 of persisted queries is supported.", argument="persistedQuery")
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or len(digest) != 64:
            return data, _error("persistedQuery.sha256Hash must be 64 hexadecimal digits.", argument="persistedQuery")
        digest = digest.lower()
        if data.query is None:
            query = self._documents.get(digest)
            if query is None:
                return data, _error(NOT_FOUND)
            self._documents.move_to_end(digest)
            return replace(data, query=query), None
        if hashlib.sha256(data.query.encode()).hexdigest() != digest:
            return data, _error("persistedQuery.sha256Hash does not match the query.", argument="persistedQuery")
        self._documents[digest] = data.query
        self._documents.move_to_end(digest)
        while len(self._documents) > self.max_documents:
            self._documents.popitem(last=False)
        return data, None


def _error(message: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.BAD_USER_INPUT.value, **extensions})
