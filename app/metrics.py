"""`GET /metrics`: Prometheus' text format, from `prometheus-client`.

Each component counts and times its own work where it happens (module-level metrics, the
library's idiom): GraphQL operations and their errors (`resolvers/metrics.py`), judging
(`judge/judge.py`), sandbox runs (`sandbox/client.py`), generation and model loads
(`inference/service.py`), analyses (`analysis/worker.py`). This module adds what is a state
rather than an event, read when it is asked for: the analysis queue, the connection pool, the
models.

Several processes (`codepattern serve --workers N`): the library's multiprocess mode. The CLI
points PROMETHEUS_MULTIPROC_DIR at an empty folder before the processes start; each process
writes its values there, and whichever process answers a scrape adds them all up. A process's
own states (its pool, its models) are written by each process every `SAMPLE_SECONDS`, and
summed over the live processes; the queue, one for all, is read by the process answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Gauge,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from db import analyses

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger(__name__)

# The `_created` timestamp series double the output and no dashboard of ours reads them (the
# multiprocess mode has none anyway).
disable_created_metrics()

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SAMPLE_SECONDS = 5.0
MODEL_STATES = ("not_loaded", "loading", "loaded", "failed", "disabled")

QUEUE_DEPTH = Gauge("codepattern_analysis_queue_depth", "Analyses waiting for a worker (all processes).",
                    multiprocess_mode="mostrecent")
QUEUE_OLDEST = Gauge("codepattern_analysis_queue_oldest_seconds",
                     "How long the oldest analysis waiting for a worker has waited.", multiprocess_mode="mostrecent")
POOL_CONNECTIONS = Gauge("codepattern_db_pool_connections",
                         "Database connections in the pools of the API processes, by state (in_use, idle).",
                         ["state"], multiprocess_mode="livesum")
POOL_MAX = Gauge("codepattern_db_pool_max_connections", "The pools' size limits (DATABASE_POOL_MAX), summed.",
                 multiprocess_mode="livesum")
MODEL_STATE = Gauge("codepattern_model_state",
                    "Processes whose model of this kind is in this state (not_loaded, loading, loaded, failed, "
                    "disabled).", ["kind", "state"], multiprocess_mode="livesum")
ANALYSES_RUNNING = Gauge("codepattern_analyses_running", "Analyses being run by workers of the API processes.",
                         multiprocess_mode="livesum")


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir(folder: Path) -> None:
    """An empty folder for the processes about to start: values left by an earlier run would be
    added to theirs."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink(missing_ok=True)


def remove_multiprocess_dir(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def sample_process(services: Services) -> None:
    """This process's own states: its pool, its models, its running analyses."""
    usage = services.db.pool_usage()
    if usage is not None:
        size, idle, most = usage
        POOL_CONNECTIONS.labels("in_use").set(size - idle)
        POOL_CONNECTIONS.labels("idle").set(idle)
        POOL_MAX.set(most)
    status = services.models.status()
    for kind in ("embedding", "generation"):
        state = status.get(kind, {}).get("state")
        for candidate in MODEL_STATES:
            MODEL_STATE.labels(kind, candidate).set(1 if candidate == state else 0)
    ANALYSES_RUNNING.set(int(services.worker.readiness().get("running", 0)))  # type: ignore[arg-type]


async def sample_queue(services: Services) -> None:
    try:
        depth, oldest = await analyses.queue_stats(services.db)
    except Exception as exc:  # the database is down: the other metrics still answer
        log.debug("metrics: queue not read: %s", exc)
        return
    QUEUE_DEPTH.set(depth)
    QUEUE_OLDEST.set(oldest)


async def _sample_every(services: Services, *, queue: bool) -> None:
    """Write this process's states every SAMPLE_SECONDS (and the queue's, where nobody else does)."""
    while True:
        with contextlib.suppress(Exception):
            sample_process(services)
            if queue:
                await sample_queue(services)
        await asyncio.sleep(SAMPLE_SECONDS)


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class WorkerMetrics:
    """`codepattern worker --metrics-port P`: the same metrics on a plain HTTP server of
    prometheus-client's own (a thread), since a worker has no web server; the states are sampled
    every SAMPLE_SECONDS."""

    def __init__(self, services: Services, host: str, port: int) -> None:
        self.services = services
        self.host = host
        self.port = port
        self._server: Any = None
        self._sampler: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from prometheus_client import start_http_server

        self._server, _ = start_http_server(self.port, addr=self.host)
        self._sampler = asyncio.get_running_loop().create_task(_sample_every(self.services, queue=True),
                                                               name="metrics-sampler")
        log.info("metrics: http://%s:%d/metrics", self.host, self.port)

    async def close(self) -> None:
        task, self._sampler = self._sampler, None
        await _cancel(task)
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.shutdown)
            server.server_close()


class MetricsEndpoint:
    """`GET /metrics`, and, with several processes, the sampler that writes this process's states."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._sampler: asyncio.Task[None] | None = None

    async def serve(self, request: Request) -> Response:
        sample_process(self.services)
        await sample_queue(self.services)
        folder = multiprocess_dir()
        if folder is None:
            body = generate_latest(REGISTRY)
        else:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(folder))
            body = generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    async def start(self) -> None:
        if multiprocess_dir() is not None and self._sampler is None:
            self._sampler = asyncio.get_running_loop().create_task(_sample_every(self.services, queue=False),
                                                                   name="metrics-sampler")

    async def close(self) -> None:
        task, self._sampler = self._sampler, None
        await _cancel(task)
        if multiprocess_dir() is not None:
            # This process's live gauges leave the sums (its counters and histograms stay counted).
            multiprocess.mark_process_dead(os.getpid())
