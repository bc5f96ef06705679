"""The server's long-lived parts: built once from the settings, each with its own typed config,
started in order and closed in reverse.

This is the only module (with the CLI) that reads `Settings`. Start-up runs inside an
`AsyncExitStack`: if any step fails, everything already opened (the embedded PostgreSQL, the
pool, the fork server, the model threads, the workers) is closed before the error propagates,
and `close()` closes all of it even when one part fails to close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Literal

from analysis.events import InProcessEventBus, PostgresEventBus, make_event_bus
from analysis.pipeline import AnalysisPipeline
from analysis.worker import AnalysisWorker, WorkerConfig
from core.progress import bars_wanted
from core.settings import Settings
from db.database import Database, DatabaseConfig
from db.rate_limits import RateLimitConfig, RateLimiter
from db.scoped import require_request_roles
from db.seed import migrate_and_seed
from inference import InferenceConfig, ModelService, RemoteGenerationConfig, RemoteGenerator
from inference.sources import Kind
from judge.judge import Judge
from resolvers.limits import TOKENS_PER_FIELD, GraphQLLimits
from sandbox import Sandbox, SandboxLimits
from usecases.search import PatternSearch
from usecases.solutions import Solutions
from usecases.submissions import Submissions

from .auth import TokenVerifier, load_or_create_dev_secret
from .response_cache import ResponseCache, ResponseCacheConfig

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
        generation_threads=settings.generation_threads,
        model_workers=settings.model_workers,
        model_idle_unload_seconds=settings.model_idle_unload_seconds,
        models_enabled=settings.models_enabled,
        embed_max_batch=settings.embed_max_batch,
        embed_max_wait_ms=settings.embed_max_wait_ms,
        generation_max_new_tokens=settings.generation_max_new_tokens,
        generation_context_tokens=settings.generation_context_tokens,
        generation_max_batch=settings.generation_max_batch,
        generation_batch_wait_ms=settings.generation_batch_wait_ms,
        generation_batch_wait_max_ms=settings.generation_batch_wait_max_ms,
        generation_max_prompt_tokens=settings.generation_max_prompt_tokens,
        generation_nice=settings.generation_nice,
        weights_cache_dir=settings.model_cache_dir if settings.model_cache else None,
        progress_bars=bars_wanted(settings.progress_bars),
    )


def remote_generation_config(settings: Settings) -> RemoteGenerationConfig:
    """GENERATION_BACKEND=openai: the model server's config; refuses to start without its URL and model."""
    missing = [name for name, value in (("GENERATION_API_URL", settings.generation_api_url),
                                        ("GENERATION_API_MODEL", settings.generation_api_model))
               if not (value and value.strip())]
    if missing:
        raise ValueError(f"GENERATION_BACKEND=openai needs {' and '.join(missing)} "
                         "(the server's API root, e.g. http://vllm:8000/v1, and the model name it serves)")
    key = settings.generation_api_key
    return RemoteGenerationConfig(
        base_url=(settings.generation_api_url or "").strip(),
        api_key=key.get_secret_value() if key is not None else None,
        model=(settings.generation_api_model or "").strip(),
        timeout_seconds=settings.generation_api_timeout_seconds,
        max_new_tokens=settings.generation_max_new_tokens,
    )


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        concurrency=settings.analysis_workers,
        lease_seconds=settings.analysis_lease_seconds,
        poll_seconds=settings.analysis_poll_seconds,
        max_attempts=settings.analysis_max_attempts,
        per_learner=settings.analysis_per_learner,
    )


def graphql_limits(settings: Settings) -> GraphQLLimits:
    return GraphQLLimits(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_fields=settings.graphql_max_fields,
        max_cost=settings.graphql_max_cost,
        max_tokens=TOKENS_PER_FIELD * settings.graphql_max_fields,
        introspection=settings.graphql_introspection,
        max_batch=settings.graphql_max_batch,
    )


def response_cache_config(settings: Settings) -> ResponseCacheConfig:
    return ResponseCacheConfig(
        enabled=settings.response_cache,
        max_age_seconds=settings.response_cache_max_age_seconds,
        max_entries=settings.response_cache_max_entries,
    )


def rate_limit_config(settings: Settings) -> RateLimitConfig:
    return RateLimitConfig(
        submit=settings.rate_limit_submit_per_minute,
        analysis=settings.rate_limit_analysis_per_minute,
        search=settings.rate_limit_search_per_minute,
        join=settings.rate_limit_join_per_minute,
        window_seconds=60.0,
    )


@dataclass
class Services:
    settings: Settings
    db: Database
    verifier: TokenVerifier
    sandbox: Sandbox
    judge: Judge
    models: ModelService
    # What writes the explanations: the ModelService itself, or a model server (GENERATION_BACKEND=openai).
    generator: ModelService | RemoteGenerator
    bus: InProcessEventBus | PostgresEventBus
    pipeline: AnalysisPipeline
    worker: AnalysisWorker
    search: PatternSearch
    submissions: Submissions
    solutions: Solutions
    rate_limiter: RateLimiter
    response_cache: ResponseCache
    started: bool = False
    _stack: AsyncExitStack | None = field(default=None, repr=False)
    # MODELS_PRELOAD: the background load started by start(); None when preload is off.
    _preload_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        # First: a bad GENERATION_API_* setting fails before anything is opened.
        remote = remote_generation_config(settings) if settings.generation_backend == "openai" else None
        db = Database(database_config(settings))
        sandbox = Sandbox(sandbox_limits(settings), workers=settings.sandbox_workers,
                          require=settings.sandbox_require)
        judge = Judge(sandbox, max_code_chars=settings.max_code_chars)
        models = ModelService(inference_config(settings))
        generator = RemoteGenerator(remote) if remote is not None else models  # embeddings stay local
        bus = make_event_bus(db, settings.event_bus, settings.database_pooler_mode)
        pipeline = AnalysisPipeline(db, judge, generator, settings.generation_max_new_tokens)
        worker = AnalysisWorker(db, pipeline, bus, worker_config(settings))
        secret = load_or_create_dev_secret(settings.supabase_jwt_secret, settings.jwt_secret_file)
        return cls(
            settings=settings,
            db=db,
            verifier=TokenVerifier.from_settings(settings, secret),
            sandbox=sandbox,
            judge=judge,
            models=models,
            generator=generator,
            bus=bus,
            pipeline=pipeline,
            worker=worker,
            search=PatternSearch(db, models, progress_bars=bars_wanted(settings.progress_bars)),
            submissions=Submissions(
                db, pipeline, bus, max_code_chars=settings.max_code_chars,
                max_queued=settings.analysis_queue_max, on_queued=worker.wake,
            ),
            solutions=Solutions(db, pipeline, on_queued=worker.wake),
            rate_limiter=RateLimiter(db, rate_limit_config(settings)),
            response_cache=ResponseCache(response_cache_config(settings), db),
        )

    async def start(self) -> None:
        """Open every part; on any failure close what was opened, then re-raise.

        The slow parts overlap: the models load in their threads (seconds) while the sandbox's
        zygotes start and the database connects and migrates; the rest needs the database."""
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self.models.aclose)  # its threads exist from creation
            if self.generator is not self.models:
                stack.push_async_callback(self.generator.aclose)
            preload = self.settings.models_enabled and self.settings.models_preload
            database_up = asyncio.Event()
            if preload:
                # Not awaited: start-up goes on, /readyz says "models loading" until it ends.
                self._preload_task = asyncio.get_running_loop().create_task(
                    self._preload_models(database_up), name="models-preload")
                # Cancelled before models.aclose (pushed first, closed last).
                stack.push_async_callback(self._stop_preload)
            stack.push_async_callback(self.sandbox.aclose)
            stack.push_async_callback(self.db.close)
            # Both awaited to the end even when one fails, so nothing is left starting.
            results = await asyncio.gather(self.sandbox.start(), self._open_database(), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            database_up.set()
            status = self.models.status()
            log.info(
                "models (%s): embedding %s, generation %s",
                "loading in the background" if preload else "loaded on first use",
                status.get("embedding", {}).get("model"),
                status.get("generation", {}).get("model"),
            )
            # Closed after the workers (their last events still go out), before the pool.
            stack.push_async_callback(self.bus.aclose)
            await self.bus.start()
            stack.push_async_callback(self.worker.aclose)
            await self.worker.start()
            stack.push_async_callback(self.response_cache.aclose)
            await self.response_cache.start()
            self._stack = stack.pop_all()
        self.started = True

    async def _open_database(self) -> None:
        await self.db.connect()
        await migrate_and_seed(self.db, "if-empty" if self.settings.seed_on_start else "never")
        await require_request_roles(self.db)

    async def _preload_models(self, database_up: asyncio.Event) -> None:
        # A remote generation server loads its own model: only the embedding model is ours then.
        kinds: tuple[Kind, ...] = ("embedding", "generation") if self.generator is self.models else ("embedding",)
        started = time.perf_counter()
        try:
            await self.models.preload(kinds)
        except Exception:
            # Whatever went wrong, requests still get the rule-based fallback or a load on first use.
            log.exception("models: background load failed")
            return
        status = self.models.status()
        log.info("models: background load finished in %.1f s (%s)", time.perf_counter() - started,
                 ", ".join(f"{kind} {status[kind]['state']}" for kind in kinds))
        if status["embedding"]["state"] == "loaded":
            # Semantic search's index, now rather than on the first search (it needs the database).
            await database_up.wait()
            try:
                await self.search.ensure_index()
            except Exception:
                log.exception("catalog embedding failed; searchPatterns tries again on first use")

    async def _stop_preload(self) -> None:
        task, self._preload_task = self._preload_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def preload_state(self) -> Literal["off", "loading", "done"]:
        """MODELS_PRELOAD's progress. "done" whether the models loaded or failed: a failed model
        means the rule-based fallback, which still serves."""
        task = self._preload_task
        if task is None:
            return "off"
        return "done" if task.done() else "loading"

    def readiness(self) -> dict[str, object]:
        """Extra facts for /readyz."""
        return {
            "sandbox": self.sandbox.report(),
            "models": {**self.models.status(), "preload": self.preload_state},
            **({"generation_server": self.generator.status()} if self.generator is not self.models else {}),
            "analysis": self.worker.readiness(),
            "events": self.bus.readiness(),
            "response_cache": self.response_cache.readiness(),
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
            await self.generator.aclose()  # idempotent; the ModelService itself when local
