"""DataLoaders, created fresh for every request so nothing is cached across callers."""

from __future__ import annotations

import uuid
from functools import partial

import asyncpg
from strawberry.dataloader import DataLoader

from . import analyses, groups, patterns, progress
from .analyses import Analysis
from .groups import BoardKey
from .scoped import Queryable


class Loaders:
    def __init__(self, db: Queryable) -> None:
        self.pattern_by_id: DataLoader[int, asyncpg.Record | None] = DataLoader(
            load_fn=partial(patterns.by_ids, db)
        )
        self.stats_by_pattern_id: DataLoader[int, asyncpg.Record | None] = DataLoader(
            load_fn=partial(patterns.stats_by_pattern_ids, db)
        )
        self.analysis_by_attempt_id: DataLoader[int, Analysis | None] = DataLoader(
            load_fn=partial(analyses.by_attempt_ids, db)
        )
        self.members_by_group_id: DataLoader[uuid.UUID, list[asyncpg.Record]] = DataLoader(
            load_fn=partial(groups.members_of, db)
        )
        self.group_leaderboard: DataLoader[BoardKey, list[asyncpg.Record]] = DataLoader(
            load_fn=partial(groups.leaderboards, db)
        )
        self.progress_by_key: DataLoader[tuple[str, int], asyncpg.Record | None] = DataLoader(
            load_fn=partial(progress.by_learner_and_patterns, db)
        )

    def prime_patterns(self, rows: list[asyncpg.Record]) -> None:
        """Patterns fetched by a list query need no second trip when resolved by id."""
        for row in rows:
            self.pattern_by_id.prime(row["id"], row)
