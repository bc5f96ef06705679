"""The serving process's garbage collector, set for request work.

A request allocates thousands of short-lived objects, some in reference cycles (coroutines,
futures, graphql-core's closures), so CPython's default collector (a young-generation pass every
700 net allocations, a full pass over every tracked object now and then) runs constantly, and
each full pass walks the ~230,000 objects that start-up built and that live as long as the
process. Frozen after start-up, those are never walked again; with a larger young generation the
passes are fewer. Measured in process with 32 callers at once (bench/bench_gc.py, rounds
alternating in one run): collector time per request 0.17 -> 0.09 ms on the catalog page and
0.14 -> 0.03 ms on a learner's page; CPU per request 0.95x and 0.91x (docs/BENCHMARKS.md).
Only `serve` calls it: a test process builds and drops many applications.
"""

from __future__ import annotations

import gc

# Net allocations between young-generation passes (CPython's default is 700): a few MB of young
# objects at most, while a request makes several thousand.
GEN0_THRESHOLD = 10_000


def tune_for_serving() -> None:
    """Call once the application is built, before it serves: what exists now is kept for good."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
