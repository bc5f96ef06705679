"""The catalog entry type."""

from __future__ import annotations

import re
from dataclasses import dataclass

DIFFICULTIES: tuple[str, ...] = ("EASY", "MEDIUM", "HARD")
CATEGORIES: tuple[str, ...] = ("basic-star", "pyramid", "hollow", "diamond", "number", "alphabet", "special")

# Same rule as the CHECK constraints on patterns.slug / patterns.category in sql/001_core.sql.
KEBAB_CASE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class PatternDef:
    """One pattern of the catalog.

    ``loops`` and ``conditions`` describe the classic row-by-column solution that courses teach
    (one loop per row, one per run of characters); the reference may shorten runs with string
    repetition, so its own loop count can be lower.
    """

    slug: str
    name: str
    category: str
    difficulty: str
    description: str
    rows: int
    formula: str
    loops: int
    conditions: int
    reference: str
    min_size: int = 1
    max_size: int = 50

    def __post_init__(self) -> None:
        # Fail at import time rather than on the database's CHECK constraints during seeding.
        if not KEBAB_CASE.fullmatch(self.slug):
            raise ValueError(f"slug {self.slug!r} is not kebab-case")
        # Same rule as the database's CHECK: patterns added there (not from this catalog) may
        # bring new categories and must still be judgeable. The catalog test pins CATEGORIES.
        if not KEBAB_CASE.fullmatch(self.category):
            raise ValueError(f"{self.slug}: category {self.category!r} is not kebab-case")
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(f"{self.slug}: unknown difficulty {self.difficulty!r}")
        if not 1 <= self.min_size <= self.rows <= self.max_size:
            raise ValueError(f"{self.slug}: need 1 <= min_size <= rows <= max_size")
        if self.loops < 0 or self.conditions < 0:
            raise ValueError(f"{self.slug}: loops and conditions cannot be negative")
