"""The pattern catalog: definitions, reference solutions and their expected output."""

from __future__ import annotations

from functools import lru_cache

from .model import CATEGORIES, DIFFICULTIES, PatternDef
from .patterns import PATTERNS
from .runner import normalize_output, run_reference

__all__ = [
    "CATEGORIES",
    "DIFFICULTIES",
    "PATTERNS",
    "PatternDef",
    "expected_output",
    "get_pattern",
    "normalize_output",
    "preview",
    "reference_output",
    "run_reference",
]

_BY_SLUG: dict[str, PatternDef] = {p.slug: p for p in PATTERNS}
if len(_BY_SLUG) != len(PATTERNS):
    # A duplicate would silently shadow an entry here and break the upsert by slug when seeding.
    raise RuntimeError("duplicate slugs in catalog.PATTERNS")


def get_pattern(slug: str) -> PatternDef:
    """The pattern with this slug; KeyError when there is none."""
    try:
        return _BY_SLUG[slug]
    except KeyError:
        raise KeyError(f"unknown pattern slug: {slug!r}") from None


@lru_cache(maxsize=4096)
def reference_output(reference: str, n: int) -> tuple[str, ...]:
    """Normalised output of a reference program at size ``n``. Reference programs are ours and
    deterministic, so each (program, size) runs once per process."""
    return tuple(run_reference(reference, n))


def expected_output(pattern: PatternDef, n: int) -> tuple[str, ...]:
    """Normalised output of the pattern's reference at size ``n``.

    ValueError when ``n`` is outside [min_size, max_size].
    """
    if not pattern.min_size <= n <= pattern.max_size:
        raise ValueError(
            f"size {n} is outside [{pattern.min_size}, {pattern.max_size}] for pattern {pattern.slug!r}"
        )
    return reference_output(pattern.reference, n)


def preview(pattern: PatternDef) -> tuple[str, ...]:
    """The pattern at its default size."""
    return expected_output(pattern, pattern.rows)
