"""The server's long-lived parts: built once from the settings, each with its own typed config,
started in order and closed in reverse.

This is the only module (with the CLI) that reads `Settings`. Start-up runs inside an
`AsyncExitStack`: if any step fails, everything already opened (the embedded PostgreSQL, the
pool, the fork server, the model threads, the workers) is closed before the error propagates,
and `close()` closes all of it even when one part fails to close.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from analysis.events import InProcessEventBus
from analysis.pipeline import AnalysisPipeline
from analysis.worker import AnalysisWorker, WorkerConfig
from core.settings import Settings
from db.database import Database, DatabaseConfig
from db.seed import migrate_and_seed
from inference import InferenceConfig, ModelService
from judge.judge import Judge
from sandbox import Sandbox, SandboxLimits
from usecases.search import PatternSearch
from usecases.submissions import Submissions

from .auth import TokenVerifier, load_or_create_dev_secret

log = logging.getLogger(__name__)


def database_config(settings: Settings) -> DatabaseConfig:
    return DatabaseConfig(
        url=settings.database_url,
        pgdata_dir=settings.pgdata_dir,
        pooler_mode=settings.database_pooler_mode,
        pool_min=settings.database_pool_min,
        pool_max=settings.database_pool_max,
        command_timeout=settings.database_command_timeout,
    )


def sandbox_limits(settings: Settings) -> SandboxLimits:
    return SandboxLimits(
        cpu_seconds=settings.sandbox_cpu_seconds,
        wall_seconds=settings.sandbox_wall_seconds,
        memory_mb=settings.sandbox_memory_mb,
        max_output_bytes=settings.sandbox_max_output_bytes,
    )


def inference_config(settings: Settings) -> InferenceConfig:
    return InferenceConfig(
        embedding_model=settings.embedding_model,
        generation_model=settings.generation_model,
        generation_gguf_file=settings.generation_gguf_file,
        model_device=settings.model_device,
        torch_threads=settings.torch_threads,
        model_workers=settings.model_workers,
        model_idle_unload_seconds=settings.model_idle_unload_seconds,
        models_enabled=settings.models_enabled,
        embed_max_batch=settings.embed_max_batch,
        embed_max_wait_ms=settings.embed_max_wait_ms,
        generation_max_new_tokens=settings.generation_max_new_tokens,
        generation_context_tokens=settings.generation_context_tokens,
    )


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        concurrency=settings.analysis_workers,
        lease_seconds=settings.analysis_lease_seconds,
        poll_seconds=settings.analysis_poll_seconds,
        max_attempts=settings.analysis_max_attempts,
    )


@dataclass
class Services:
    settings: Settings
    db: Database
    verifier: TokenVerifier
    sandbox: Sandbox
    judge: Judge
    models: ModelService
    bus: InProcessEventBus
    pipeline: AnalysisPipeline
    worker: AnalysisWorker
    search: PatternSearch
    submissions: Submissions
    started: bool = False
    _stack: AsyncExitStack | None = field(default=None, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        db = Database(database_config(settings))
        sandbox = Sandbox(sandbox_limits(settings), workers=settings.sandbox_workers,
                          require=settings.sandbox_require)
        judge = Judge(sandbox, max_code_chars=settings.max_code_chars)
        models = ModelService(inference_config(settings))
        bus = InProcessEventBus()
        pipeline = AnalysisPipeline(db, judge, models, settings.generation_max_new_tokens)
        worker = AnalysisWorker(db, pipeline, bus, worker_config(settings))
        secret = load_or_create_dev_secret(settings.supabase_jwt_secret, settings.jwt_secret_file)
        return cls(
            settings=settings,
            db=db,
            verifier=TokenVerifier(secret, settings.jwt_audience),
            sandbox=sandbox,
            judge=judge,
            models=models,
            bus=bus,
            pipeline=pipeline,
            worker=worker,
            search=PatternSearch(db, models),
            submissions=Submissions(
                db, judge, pipeline, max_code_chars=settings.max_code_chars, on_queued=worker.wake
            ),
        )

    async def start(self) -> None:
        """Open every part in order; on any failure close what was opened, then re-raise."""
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.models.aclose)  # its threads exist from creation
            stack.push_async_callback(self.sandbox.aclose)
            await self.sandbox.start()  # logs the isolation it achieved
            stack.push_async_callback(self.db.close)
            await self.db.connect()
            await migrate_and_seed(self.db, "if-empty" if self.settings.seed_on_start else "never")
            status = self.models.status()
            log.info(
                "models (loaded on first use): embedding %s, generation %s",
                status.get("embedding", {}).get("model"),
                status.get("generation", {}).get("model"),
            )
            stack.push_async_callback(self.worker.aclose)
            await self.worker.start()
            self._stack = stack.pop_all()
        self.started = True

    def readiness(self) -> dict[str, object]:
        """Extra facts for /readyz."""
        return {
            "sandbox": self.sandbox.report(),
            "models": self.models.status(),
            "analysis": self.worker.readiness(),
        }

    async def close(self) -> None:
        """Close everything that was started, in reverse order; idempotent. Every part is closed
        even when another fails to; a failure is re-raised once all of them ran."""
        self.started = False
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        else:  # never started (or a failed start already closed everything): the model threads
            await self.models.aclose()
