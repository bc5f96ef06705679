"""The response cache: finished JSON answers to anonymous GraphQL queries, served again without
running them, for at most RESPONSE_CACHE_MAX_AGE_SECONDS (1 s by default).

What may be cached: an anonymous request (no Authorization header at all: a signed-in caller's
answer is theirs alone, and even a bad token is answered per caller) holding one query operation
whose answer has no error. Anonymous callers see only public data (the catalog, its counters,
the leaderboards: row level security says so too), and nothing in such an answer depends on who
asks, so one caller's answer is every anonymous caller's. Errors (a rate limit, a bad argument)
are not cached.

Freshness: writes to public data send `NOTIFY public_data_changed` at commit (sql/013); every
process LISTENs (db/listen.py) and drops its entries on each one, and a mutation served here
drops them at once. An answer is stored only if no change was heard while it was computed (the
epoch it started under is still current). Where LISTEN is unavailable (a transaction pooler) or
a notification is lost, the max age alone bounds how stale an answer can be: that bound holds
whatever happens.

Keys: entries are keyed by the normalised request (the document parsed and printed again, its
variables as canonical JSON, the operation name), so the same query sent with other spacing or
key order shares an entry; the raw request (method and body, or query string) maps to that key
first, so a hit costs two dictionary lookups and no JSON parsing at all. Both maps are bounded
LRUs; answers larger than `max_entry_bytes` are not kept.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse, print_ast
from prometheus_client import Counter

from db.database import Database
from db.listen import Listener

log = logging.getLogger(__name__)

CHANGES_CHANNEL = "public_data_changed"

_LOOKUPS = Counter("codepattern_response_cache_lookups", "Anonymous requests looked up in the response cache.",
                   ["result"])
LOOKUPS_HIT, LOOKUPS_MISSED = _LOOKUPS.labels("hit"), _LOOKUPS.labels("miss")
INVALIDATIONS = Counter("codepattern_response_cache_invalidations",
                        "Times this process forgot its cached answers (public data changed, LISTEN lost or back).")


@dataclass(frozen=True, slots=True)
class ResponseCacheConfig:
    enabled: bool = True
    max_age_seconds: float = 1.0
    max_entries: int = 1024
    max_entry_bytes: int = 512_000

    def __post_init__(self) -> None:
        if not 0 < self.max_age_seconds <= 60:
            raise ValueError("RESPONSE_CACHE_MAX_AGE_SECONDS must be in (0, 60]")
        if self.max_entries < 1 or self.max_entry_bytes < 1:
            raise ValueError("the response cache needs room for at least one entry")


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    etag: str
    stored_at: float
    epoch: int
    operation_name: str | None = None  # as the client named it, for the operation metrics


class _LRU(OrderedDict[Any, Any]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def get_fresh(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


@lru_cache(maxsize=1024)
def normalised_document(query: str) -> tuple[str, frozenset[tuple[str | None, OperationType]]] | None:
    """(a digest of the document as graphql-core prints it, its operations' names and types),
    or None when it does not parse (such a request is never cached)."""
    try:
        document = parse(query)
    except GraphQLError:
        return None
    operations = frozenset(
        (d.name.value if d.name else None, d.operation)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )
    return hashlib.sha256(print_ast(document).encode()).hexdigest(), operations


def chosen_operation(query: str | None, operation_name: str | None) -> tuple[str | None, OperationType] | None:
    """(name, type) of the operation a request runs, or None when it names no single one (or the
    document does not parse)."""
    normalised = normalised_document(query) if query else None
    if normalised is None:
        return None
    chosen = [(name, kind) for name, kind in normalised[1] if operation_name is None or name == operation_name]
    return chosen[0] if len(chosen) == 1 else None


def cache_key(query: str | None, variables: dict[str, Any] | None, operation_name: str | None) -> str | None:
    """The normalised key of a request that holds one query operation; None for anything else
    (a mutation, a subscription, a document that does not parse or names no single operation)."""
    operation = chosen_operation(query, operation_name)
    if operation is None or operation[1] is not OperationType.QUERY:
        return None
    try:
        canonical = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    digest = normalised_document(query)[0]  # type: ignore[index, arg-type]  (parsed above)
    return f"{digest}:{hashlib.sha256(canonical).hexdigest()}:{operation_name or ''}"


class ResponseCache:
    def __init__(self, config: ResponseCacheConfig, db: Database | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._entries: _LRU = _LRU(config.max_entries)
        self._keys: _LRU = _LRU(config.max_entries * 4)  # raw request -> normalised key
        self.epoch = 0
        self.hits = self.misses = self.stored = self.invalidations = 0
        self._listener = (
            Listener(db, {CHANGES_CHANNEL: lambda _payload: self.invalidate()}, name="response cache",
                     on_up=self.invalidate, on_down=self.invalidate)
            if db is not None and config.enabled else None
        )

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    async def start(self) -> None:
        if self._listener is not None:
            await self._listener.start()

    async def aclose(self) -> None:
        if self._listener is not None:
            await self._listener.aclose()
        self.invalidate()

    def lookup(self, raw_key: bytes) -> Entry | None:
        """The fresh answer stored for this raw request, if any."""
        key = self._keys.get_fresh(raw_key)
        entry: Entry | None = self._entries.get_fresh(key) if key is not None else None
        if entry is None or entry.epoch != self.epoch or self._clock() - entry.stored_at > self.config.max_age_seconds:
            self.misses += 1
            LOOKUPS_MISSED.inc()
            return None
        self.hits += 1
        LOOKUPS_HIT.inc()
        return entry

    def store(self, raw_key: bytes, key: str, body: bytes, epoch: int,
              operation_name: str | None = None) -> Entry | None:
        """Keep `body` as the answer to `key` (and `raw_key`), unless public data changed since
        `epoch`, when its computation began, or it is too large."""
        if epoch != self.epoch or len(body) > self.config.max_entry_bytes:
            return None
        entry = Entry(body, etag_of(body), self._clock(), epoch, operation_name)
        self._keys.put(raw_key, key)
        self._entries.put(key, entry)
        self.stored += 1
        return entry

    def invalidate(self) -> None:
        """Public data changed (or we cannot know whether it did): forget every answer."""
        self.epoch += 1
        self.invalidations += 1
        INVALIDATIONS.inc()
        self._entries.clear()

    def readiness(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "listening": self._listener.listening if self._listener is not None else False,
            "entries": len(self._entries),
            "max_age_seconds": self.config.max_age_seconds,
            "hits": self.hits,
            "misses": self.misses,
            "invalidations": self.invalidations,
        }


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
