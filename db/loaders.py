"""DataLoaders, created fresh for every request so nothing is cached across callers, and each
only when the request first uses it (most requests use one or two of them)."""

from __future__ import annotations

import uuid
from functools import cached_property, partial

import asyncpg
from strawberry.dataloader import DataLoader

from . import analyses, groups, patterns, progress
from .analyses import Analysis
from .database import Database
from .groups import BoardKey
from .scoped import Queryable


class Loaders:
    def __init__(self, db: Queryable, server_db: Database) -> None:
        self.db = db  # the caller's view: every loader but one reads through it
        self.server_db = server_db

    @cached_property
    def pattern_by_id(self) -> DataLoader[int, asyncpg.Record | None]:
        return DataLoader(load_fn=partial(patterns.by_ids, self.db))

    @cached_property
    def stats_by_pattern_id(self) -> DataLoader[int, asyncpg.Record | None]:
        return DataLoader(load_fn=partial(patterns.stats_by_pattern_ids, self.db))

    @cached_property
    def reference_by_pattern_id(self) -> DataLoader[int, str | None]:
        # Reference programs are read with the server's role (callers may not: sql/015); what is
        # shown of them is the expected output they print, never the code.
        return DataLoader(load_fn=partial(patterns.references, self.server_db))

    @cached_property
    def analysis_by_attempt_id(self) -> DataLoader[int, Analysis | None]:
        return DataLoader(load_fn=partial(analyses.by_attempt_ids, self.db))

    @cached_property
    def members_by_group_id(self) -> DataLoader[uuid.UUID, list[asyncpg.Record]]:
        return DataLoader(load_fn=partial(groups.members_of, self.db))

    @cached_property
    def group_leaderboard(self) -> DataLoader[BoardKey, list[asyncpg.Record]]:
        return DataLoader(load_fn=partial(groups.leaderboards, self.db))

    @cached_property
    def progress_by_key(self) -> DataLoader[tuple[str, int], asyncpg.Record | None]:
        return DataLoader(load_fn=partial(progress.by_learner_and_patterns, self.db))

    def prime_patterns(self, rows: list[asyncpg.Record]) -> None:
        """Patterns fetched by a list query need no second trip when resolved by id."""
        for row in rows:
            self.pattern_by_id.prime(row["id"], row)
