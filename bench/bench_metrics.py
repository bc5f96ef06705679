"""What the GraphQL metrics extension (resolvers/metrics.py) costs per operation.

    .venv/bin/python bench/bench_metrics.py [--operations 20000] [--rounds 5]

Runs the same operations through two schemas built by `build_schema`, with and without the
metrics extension, in alternating rounds in one process (so both see the same machine load),
and prints the median time per operation of each, the difference (the extension's cost) and
their ratio. Two operations: `{ __typename }` (no resolver of ours, no database: the cost is as
large a share as it can be) and a named query with a validation error (the error-counting path).
No database is needed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resolvers.schema import DEFAULT_LIMITS, build_schema

OPERATIONS = {
    "typename": ("query Typename { __typename }", "Typename"),
    "invalid": ("query Broken { nope }", "Broken"),
}


async def per_operation(schema, query: str, name: str, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await schema.execute(query, operation_name=name)
    return (time.perf_counter() - started) / count


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operations", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with_metrics = build_schema(DEFAULT_LIMITS, metrics=True)
    without = build_schema(DEFAULT_LIMITS, metrics=False)
    print(f"{'operation':<10} {'without (us)':>13} {'with (us)':>10} {'cost (us)':>10} {'ratio':>7}")
    for label, (query, name) in OPERATIONS.items():
        for schema in (with_metrics, without):  # warm the parser and validation caches
            await per_operation(schema, query, name, 500)
        plain, measured = [], []
        for _ in range(args.rounds):
            plain.append(await per_operation(without, query, name, args.operations))
            measured.append(await per_operation(with_metrics, query, name, args.operations))
        a, b = statistics.median(plain) * 1e6, statistics.median(measured) * 1e6
        print(f"{label:<10} {a:>13.1f} {b:>10.1f} {b - a:>10.1f} {b / a:>7.3f}")


if __name__ == "__main__":
    asyncio.run(main())
