"""Small helpers shared by resolvers."""

from __future__ import annotations

from functools import lru_cache

import catalog


@lru_cache(maxsize=2048)
def cached_reference_output(reference: str, size: int) -> tuple[str, ...]:
    """Reference programs are ours and deterministic: run each (program, size) once."""
    return tuple(catalog.run_reference(reference, size))
