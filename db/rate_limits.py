"""The `rate_limits` table: request budgets shared by every API process (sql/007_rate_limits.sql).

The algorithm is GCRA, the generic cell rate algorithm: a token bucket of `limit` requests that
refills at `limit` per window, kept as one timestamp per (bucket, key), the theoretical arrival
time `tat` (when the budget is whole again). Each request is one atomic statement in the
database's clock, so processes on several machines agree without their clocks agreeing:

    T = window / limit                      (the emission interval: one request's cost)
    t = greatest(tat, now) + T
    allowed when t <= now + window           → store tat = t
    denied otherwise, retry after tat + T - window - now seconds (tat unchanged: a caller who
    keeps knocking while limited does not push their own wait further out)

So a learner may send `limit` requests at once, then one every T (30 a minute: one every 2 s).
A row whose `tat` has passed means the same as no row (a whole budget), so stale rows are deleted
in small batches on a small fraction of calls, and the table holds only the callers active
within the last window.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from .database import Database

log = logging.getLogger(__name__)


class Bucket(StrEnum):
    """What is limited; each has its own budget per caller."""

    SUBMIT = "submit"
    ANALYSIS = "analysis"
    SEARCH = "search"
    JOIN = "join"  # joinGroup: codes cannot be guessed at this pace


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Requests per window for each bucket (0: no limit); built from the settings by `app.services`
    (RATE_LIMIT_*_PER_MINUTE). Tests shorten the window."""

    submit: int = 30
    analysis: int = 30
    search: int = 60
    join: int = 10
    window_seconds: float = 60.0
    # Share of calls that also delete up to `cleanup_batch` stale rows.
    cleanup_probability: float = 0.02
    cleanup_batch: int = 1000

    def __post_init__(self) -> None:
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if min(self.submit, self.analysis, self.search, self.join) < 0:
            raise ValueError("a rate limit is a count of requests: 0 (off) or more")
        if not 0 <= self.cleanup_probability <= 1 or self.cleanup_batch < 1:
            raise ValueError("cleanup_probability must be in [0, 1] and cleanup_batch at least 1")

    def limit(self, bucket: Bucket) -> int:
        return {Bucket.SUBMIT: self.submit, Bucket.ANALYSIS: self.analysis, Bucket.SEARCH: self.search,
                Bucket.JOIN: self.join}[bucket]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # Seconds until a request would be allowed; 0 when this one was.
    retry_after: float = 0.0


ALLOWED = Decision(allowed=True)

# $1 bucket, $2 key, $3 the emission interval T, $4 the window. SET expressions read the row as it
# was (r.tat is the old value), RETURNING reads it as written; a concurrent request for the same
# key waits on the row lock and then sees this one's tat, so no two requests spend one slot.
HIT = """
INSERT INTO rate_limits AS r (bucket, key, tat, allowed)
VALUES ($1, $2, statement_timestamp() + $3::interval, true)
ON CONFLICT (bucket, key) DO UPDATE SET
    allowed = greatest(r.tat, statement_timestamp()) + $3::interval <= statement_timestamp() + $4::interval,
    tat = CASE
        WHEN greatest(r.tat, statement_timestamp()) + $3::interval <= statement_timestamp() + $4::interval
        THEN greatest(r.tat, statement_timestamp()) + $3::interval
        ELSE r.tat
    END
RETURNING r.allowed, extract(epoch FROM r.tat + $3::interval - $4::interval - statement_timestamp())::float8
"""

# A whole budget needs no row. SKIP LOCKED: rows a request is updating right now are left alone.
DELETE_STALE = """
DELETE FROM rate_limits
WHERE (bucket, key) IN (
    SELECT bucket, key FROM rate_limits WHERE tat < statement_timestamp() LIMIT $1 FOR UPDATE SKIP LOCKED
) AND tat < statement_timestamp()
"""


async def hit(db: Database, bucket: str, key: str, limit: int, window: timedelta) -> Decision:
    """Spend one request of `limit` per `window` for (bucket, key), if there is one to spend."""
    row = await db.fetchrow(HIT, bucket, key, window / limit, window)
    assert row is not None  # an upsert always returns its row
    allowed, wait = row[0], row[1]
    return ALLOWED if allowed else Decision(allowed=False, retry_after=max(float(wait), 0.0))


async def delete_stale(db: Database, batch: int) -> int:
    """Delete up to `batch` rows whose budget is whole again; returns how many went."""
    status = await db.execute(DELETE_STALE, batch)
    return int(status.split()[-1])


class RateLimiter:
    """Checks and spends budgets with the server's own pool (never a request's role: the table is
    closed to them). A database failure propagates: every limited field needs the database
    anyway, and the GraphQL layer reports it as SERVICE_UNAVAILABLE."""

    def __init__(self, db: Database, config: RateLimitConfig,
                 sample: Callable[[], float] = random.random) -> None:
        self.db = db
        self.config = config
        self._sample = sample
        self._window = timedelta(seconds=config.window_seconds)

    def enabled(self, bucket: Bucket) -> bool:
        return self.config.limit(bucket) > 0

    async def hit(self, bucket: Bucket, key: str) -> Decision:
        limit = self.config.limit(bucket)
        if limit <= 0:
            return ALLOWED
        decision = await hit(self.db, bucket.value, key, limit, self._window)
        if self._sample() < self.config.cleanup_probability:
            await self.cleanup()
        return decision

    async def cleanup(self) -> int:
        """Delete one batch of stale rows. Best effort: a failure is logged, never the request's."""
        try:
            return await delete_stale(self.db, self.config.cleanup_batch)
        except Exception:
            log.warning("rate limits: deleting stale rows failed", exc_info=True)
            return 0
