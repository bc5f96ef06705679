"""app/gc_tuning.py: what exists when the server starts serving is frozen, and the young
generation is larger; the collector still collects what requests leave behind."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.gc_tuning import GEN0_THRESHOLD, tune_for_serving


@pytest.fixture
def restore_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_objects_are_frozen_and_young_passes_rarer(restore_collector: None) -> None:
    built_at_start = [[] for _ in range(1000)]
    _, gen1, gen2 = gc.get_threshold()
    tune_for_serving()
    assert gc.get_freeze_count() >= len(built_at_start)
    assert gc.get_threshold() == (GEN0_THRESHOLD, gen1, gen2)


def test_cycles_made_after_start_are_still_collected(restore_collector: None) -> None:
    tune_for_serving()

    class Node:
        pass

    for _ in range(100):
        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
    del a, b
    assert gc.collect() >= 200  # the cycles, found in the unfrozen generations
