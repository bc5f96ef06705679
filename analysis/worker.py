"""Background workers that drain the analysis queue.

Jobs live in the `analyses` table. A worker claims one under a lease (FOR UPDATE SKIP LOCKED,
so any number of workers in any number of processes share the queue), renews the lease while
it works, and stores the outcome. A worker that dies leaves a job whose lease runs out; the next
claim picks it up again. New jobs wake workers through LISTEN/NOTIFY (one idle worker per notification,
analysis/doorbell.py), with polling as a fallback;
the LISTEN connection is reopened with backoff when it drops (a database restart), and workers poll
meanwhile. A job that fails because the database (or another dependency) is unavailable is not
failed: it goes back to the queue, or waits out its lease once it has used up its attempts.

Order (db/analyses.py `claim`): watched analyses (a live subscriber) before unwatched ones, then
oldest first; a learner has at most `per_learner` analyses running. A job's grounded part was
stored when it was queued; the worker adds the model's prose, which the generation engine batches
across all of this process's running jobs. A job superseded by the learner's newer submission is
stopped mid-prose (CANCEL_CHANNEL) and finishes with its grounded part.

When no learner's analysis is waiting, a worker takes a pattern solution's explanation from
`pattern_solutions` (db/solutions.py), the same way: under a lease, the model's sentences checked
by the verifier and appended to the stored grounded text. Learners' analyses always go first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from core.domain import RULE_BASED, AnalysisKind, AnalysisStatus
from core.request_id import REQUEST_ID
from db import analyses, patterns, solutions
from db.analyses import Analysis
from db.database import UNAVAILABLE_ERRORS, Database
from db.listen import Listener
from db.solutions import SolutionJob

from .doorbell import Doorbell
from .events import Event, EventBus
from .pipeline import AnalysisPipeline, Outcome

log = logging.getLogger(__name__)

QUEUE_WAIT_SECONDS = Histogram(
    "codepattern_analysis_queue_wait_seconds",
    "From an analysis being queued to a worker claiming it (the database's clock).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
RUN_SECONDS = Histogram(
    "codepattern_analysis_run_duration_seconds",
    "A worker running one analysis (the model's prose, mostly), claim to stored outcome.",
    ["status"], buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160),
)
FINISHED = Counter("codepattern_analyses_finished", "Analyses finished by a worker, by status.", ["status"])

# A dependency that is down is logged at most this often (one line, not a traceback per poll).
_UNAVAILABLE_LOG_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Built from the settings by `app.services` (defaults and meaning: the README's table)."""

    concurrency: int  # analyses run at once by this process (0: none)
    lease_seconds: float  # a dead worker's job is picked up again after this
    poll_seconds: float  # fallback when LISTEN/NOTIFY is unavailable (poolers)
    max_attempts: int  # a job interrupted this often is failed, not retried
    per_learner: int  # a learner's jobs running at once, across all workers


class AnalysisWorker:
    def __init__(self, db: Database, pipeline: AnalysisPipeline, bus: EventBus, config: WorkerConfig) -> None:
        self.db = db
        self.pipeline = pipeline
        self.bus = bus
        self.concurrency = config.concurrency
        self.lease_seconds = config.lease_seconds
        self.poll_seconds = config.poll_seconds
        self.max_attempts = config.max_attempts
        self.per_learner = config.per_learner
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = Doorbell()  # one ring, one idle worker
        self._tasks: list[asyncio.Task[None]] = []
        # New and superseded jobs from any process; while it is down, workers poll every
        # poll_seconds, and when it is back they look at once (jobs queued meanwhile).
        self._listener = Listener(db, analyses.job_channels(self.wake, self.cancel), name="analysis jobs",
                                  on_up=self.wake)
        self._running: dict[uuid.UUID, asyncio.Task[Outcome]] = {}
        self._superseded: set[uuid.UUID] = set()
        self.completed = 0
        self.superseded = 0
        self.retried = 0  # jobs handed back because a dependency was down
        self._unavailable_logged_at = float("-inf")

    async def start(self) -> None:
        if self.concurrency <= 0:
            return
        await self._listener.start()  # the first try, whatever its outcome
        self._tasks = [asyncio.create_task(self._loop(), name=f"analysis-worker-{i}") for i in range(self.concurrency)]
        log.info("analysis workers: %d (%s)", self.concurrency, self.worker_id)

    def wake(self) -> None:
        self._wake.ring()

    def cancel(self, analysis_id: uuid.UUID) -> None:
        """Stop the model's prose for a job this process runs (superseded); ignored otherwise."""
        task = self._running.get(analysis_id)
        if task is not None and not task.done():
            self._superseded.add(analysis_id)
            task.cancel()

    def readiness(self) -> dict[str, object]:
        running = sum(not t.done() for t in self._tasks)
        return {"workers": running, "listening": self._listener.listening, "completed": self.completed,
                "running": len(self._running), "superseded": self.superseded}

    async def _loop(self) -> None:
        while True:
            # Cleared before the claim, so a job queued while the claim runs (after its snapshot)
            # still finds the bell rung; cleared after, its wake-up was lost and the job waited
            # for a busy worker to finish (measured: 8 s for the 8th of 8 learners).
            self._wake.clear()
            try:
                job = await analyses.claim(self.db, self.worker_id, self.lease_seconds, self.max_attempts,
                                           self.per_learner)
            except asyncio.CancelledError:
                raise
            except UNAVAILABLE_ERRORS as exc:
                self._log_unavailable("claiming an analysis failed (%s: %s); retrying", type(exc).__name__, exc)
                job = None
                await asyncio.sleep(self.poll_seconds)
            except Exception:
                log.exception("claiming an analysis failed; retrying")
                job = None
                await asyncio.sleep(self.poll_seconds)
            if job is None and await self._solution_turn():
                continue
            if job is None:
                # Listening, new jobs wake us; the poll only finds dead workers' expired leases.
                idle = max(self.poll_seconds, self.lease_seconds / 2) if self._listener.listening else self.poll_seconds
                await self._wake.wait(idle)
                continue
            # One wake-up may stand for several jobs: pass it on, so an idle worker looks for the
            # next one (and the one after it, if it finds one, and so on).
            self._wake.ring()
            # The job's logs carry the id of the request that queued it (core/request_id.py).
            request = REQUEST_ID.set(job.request_id)
            try:
                await self._process(job)
            except asyncio.CancelledError:
                raise
            except UNAVAILABLE_ERRORS as exc:
                self._log_unavailable("analysis %s could not be stored (%s: %s); it will be retried",
                                      job.id, type(exc).__name__, exc)
                await asyncio.sleep(self.poll_seconds)
            except Exception:
                # Storing the outcome failed: the job keeps its lease and is claimed again once it
                # runs out. The worker itself must live on.
                log.exception("analysis %s could not be stored; it will be retried", job.id)
                await asyncio.sleep(self.poll_seconds)
            finally:
                REQUEST_ID.reset(request)

    async def _solution_turn(self) -> bool:
        """Explain one queued pattern solution, if there is one for this worker's model."""
        model_key = self.pipeline.model_key(AnalysisKind.EXPLANATION)
        if model_key == RULE_BASED:
            return False  # nothing to add to the grounded text
        try:
            job = await solutions.claim(self.db, self.worker_id, model_key, self.lease_seconds, self.max_attempts)
        except UNAVAILABLE_ERRORS as exc:
            self._log_unavailable("claiming a solution failed (%s: %s); retrying", type(exc).__name__, exc)
            return False
        if job is None:
            return False
        heartbeat = asyncio.create_task(self._solution_heartbeat(job))
        try:
            [pattern_row] = await patterns.with_references(self.db, [job.key.pattern_id])
            if pattern_row is None:  # deleted with its solutions meanwhile
                return True
            explained = await self.pipeline.explain_reference(pattern_row)
            await solutions.finish(
                self.db, job, self.worker_id, status=AnalysisStatus.DONE, explanation=explained.text,
                model_used=explained.model_used, ai_confidence=explained.confidence,
                result={"model_sentences": explained.sentences, "model_dropped": explained.dropped[:20]},
            )
            self.completed += 1
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await solutions.release(self.db, job, self.worker_id)
            raise
        except Exception:
            # Its lease runs out and the job is tried again, or fails keeping its grounded text.
            log.exception("explaining the solution of pattern %s failed", job.key.pattern_id)
        finally:
            heartbeat.cancel()
        return True

    async def _solution_heartbeat(self, job: SolutionJob) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            with contextlib.suppress(Exception):
                await solutions.extend_lease(self.db, job, self.worker_id, self.lease_seconds)

    def _log_unavailable(self, message: str, *args: object) -> None:
        """A dependency is down: one line, not a traceback per worker per poll."""
        now = asyncio.get_running_loop().time()
        if now - self._unavailable_logged_at >= _UNAVAILABLE_LOG_SECONDS:
            self._unavailable_logged_at = now
            log.warning(message, *args)

    async def _process(self, job: Analysis) -> None:
        analysis_id = job.id
        waited = 0.0
        if job.started_at is not None:
            waited = max(0.0, (job.started_at - job.created_at).total_seconds())
            QUEUE_WAIT_SECONDS.observe(waited)
        started = time.monotonic()
        log.info("analysis %s: running (%s, attempt %d, %.2f s after it was queued)", analysis_id, job.kind.value,
                 job.job_attempts, waited)
        heartbeat = asyncio.create_task(self._heartbeat(analysis_id))
        status, error = AnalysisStatus.DONE, None
        outcome: Outcome | None = None
        run = asyncio.create_task(self.pipeline.run(job, self.bus.publish), name=f"analysis-{analysis_id}")
        self._running[analysis_id] = run
        try:
            outcome = await run
        except asyncio.CancelledError:
            if analysis_id not in self._superseded or not run.cancelled():
                # This worker is shutting down: hand the job back at once.
                heartbeat.cancel()
                run.cancel()
                await self._release(analysis_id)
                raise
            # Superseded: the prose is not wanted any more; the grounded part stands.
            self.superseded += 1
            outcome = Outcome(result=job.result or {}, timings={"superseded": 1.0})
        except UNAVAILABLE_ERRORS as exc:
            # The database (or the sandbox) is down, not the analysis wrong: run it again later.
            heartbeat.cancel()
            self.retried += 1
            self._log_unavailable("analysis %s interrupted (%s: %s); it will be retried",
                                  analysis_id, type(exc).__name__, exc)
            if job.job_attempts < self.max_attempts:
                await self._release(analysis_id)  # back to the queue (best effort: the database may be down)
            return  # otherwise its lease runs out and the next claim fails it
        except Exception:
            log.exception("analysis %s failed", analysis_id)
            status, error = AnalysisStatus.FAILED, "The analysis failed unexpectedly."
        finally:
            heartbeat.cancel()
            self._running.pop(analysis_id, None)
            self._superseded.discard(analysis_id)
        stored = await analyses.finish(
            self.db,
            analysis_id,
            self.worker_id,
            status=status,
            result=outcome.result if outcome else job.result,
            model_used=outcome.model_used if outcome else RULE_BASED,
            ai_confidence=outcome.ai_confidence if outcome else 0.0,
            error=error,
            timings=outcome.timings if outcome else {},
        )
        if stored is None:
            log.warning("analysis %s: lease lost to another worker; result dropped", analysis_id)
            return
        self.completed += 1
        log.info("analysis %s: %s in %.2f s (%s)", analysis_id, status.value.lower(), time.monotonic() - started,
                 outcome.model_used if outcome else RULE_BASED)
        FINISHED.labels(status.value).inc()
        RUN_SECONDS.labels(status.value).observe(time.monotonic() - started)
        await self.bus.publish(Event(analysis_id, status, status.lower()))

    async def _heartbeat(self, analysis_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            with contextlib.suppress(Exception):
                await analyses.extend_lease(self.db, analysis_id, self.worker_id, self.lease_seconds)

    async def _release(self, analysis_id: uuid.UUID) -> None:
        """On shutdown, hand an unfinished job back at once instead of waiting out its lease."""
        with contextlib.suppress(Exception):
            await analyses.release(self.db, analysis_id, self.worker_id)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self._listener.aclose()
