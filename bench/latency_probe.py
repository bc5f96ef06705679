"""A small query's latency, measured from a process of its own.

    .venv/bin/python bench/latency_probe.py URL [--query Q] [--interval 0.1]

Posts ``--query`` to URL (a GraphQL endpoint) every ``--interval`` seconds (or right after the
previous answer when late) until stdin closes or the process is terminated, and prints one line
per answered request: ``<time.time() when sent> <latency in seconds>``. A failed request prints
``<time> error``.

Why its own process: a benchmark's own event loop (WebSocket streams, JSON parsing) delays the
probe's answers as much as the server does; from here only the server and the machine count.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

import httpx

DEFAULT_QUERY = "{ patterns(first: 1) { edges { node { id } } } }"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--query", default=DEFAULT_QUERY)
    parser.add_argument("--interval", type=float, default=0.1)
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The parent closing our stdin (or dying) ends the probe too.
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

    body = {"query": args.query}
    next_at = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            sent, started = time.time(), time.perf_counter()
            try:
                response = client.post(args.url, json=body)
                ok = response.status_code == 200 and "errors" not in response.json()
            except httpx.HTTPError:
                ok = False
            latency = time.perf_counter() - started
            print(f"{sent:.6f} {latency:.6f}" if ok else f"{sent:.6f} error", flush=True)
            next_at += args.interval
            delay = next_at - time.perf_counter()
            if delay < 0:
                next_at, delay = time.perf_counter(), 0.0
            stop.wait(delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
