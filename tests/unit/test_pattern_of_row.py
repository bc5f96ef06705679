"""resolvers.types.PatternOfRow: a Pattern whose fields are read off its row when asked."""

from __future__ import annotations

from core.domain import Difficulty
from resolvers.types import Pattern, PatternOfRow

FULL_ROW = {
    "id": 7, "slug": "right-triangle", "name": "Right Triangle", "category": "triangles", "difficulty": "EASY",
    "description": "Stars.", "default_size": 5, "min_size": 1, "max_size": 20, "formula": "i stars",
    "loops": 1, "conditions": 0, "preview": ["*", "**"], "position": 3,
}


def test_every_field_reads_its_column() -> None:
    pattern = Pattern.from_row(FULL_ROW)
    assert isinstance(pattern, Pattern)
    assert (pattern.id, pattern.slug, pattern.name, pattern.category, pattern.difficulty) == (
        "7", "right-triangle", "Right Triangle", "triangles", Difficulty.EASY)
    assert (pattern.description, pattern.rows, pattern.formula, pattern.loops, pattern.conditions) == (
        "Stars.", 5, "i stars", 1, 0)
    assert (pattern.db_id, pattern.min_size, pattern.max_size, pattern.position) == (7, 1, 20, 3)
    assert pattern.preview == ["*", "**"] and pattern.preview is not FULL_ROW["preview"]  # a copy per read
    assert pattern.stats_row is None  # no statistics' columns in the row


def test_a_page_row_carries_its_statistics() -> None:
    row = {**FULL_ROW, "attempts": None, "learners": None, "completions": None, "total_time_seconds": None}
    assert Pattern.from_row(row).stats_row is row  # joined, NULL: nobody tried it yet


def test_a_summary_row_answers_its_fields_and_can_be_shown_and_compared() -> None:
    summary = {k: FULL_ROW[k] for k in ("id", "slug", "name", "category", "difficulty")}
    pattern = PatternOfRow(summary)
    assert (pattern.name, pattern.slug, pattern.db_id) == ("Right Triangle", "right-triangle", 7)
    assert "right-triangle" in repr(pattern)
    assert pattern == PatternOfRow(dict(summary))
    assert pattern != PatternOfRow({**summary, "id": 8})
