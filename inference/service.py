"""The model service: the embedding and generative models behind one thread pool.

All torch work (loading, forward passes, generation) runs on the service's own
``ThreadPoolExecutor``; the event loop only schedules it. Models load lazily on first use (one
load however many callers arrive together), unload after a quiet period, and a model that
cannot load is reported once and then refused quickly with :class:`ModelUnavailable`, which
callers answer with the rule-based fallback.

Concurrent :meth:`ModelService.embed` calls are coalesced into one forward pass (dynamic
batching). Concurrent :meth:`ModelService.stream_generate` calls share one generation thread
that steps all of them together (continuous batching, :mod:`inference.batching`); each yields
its own text as the model produces it and stops when its consumer goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from prometheus_client import Counter, Histogram

from core.errors import DependencyUnavailable

from .sources import Kind, ModelSource, resolve_source, short_error

if TYPE_CHECKING:
    import torch

    from .batching import BatchEngine
    from .loading import EmbeddingBundle, GenerationBundle

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["not_loaded", "loading", "loaded", "failed", "disabled"]

_END = object()  # end of a generation stream


GENERATED_TOKENS = Counter("codepattern_generated_tokens", "Tokens written by the local generative model.")
GENERATION_TOKENS_PER_SECOND = Histogram(
    "codepattern_generation_tokens_per_second",
    "Speed of each finished generation: its tokens over its time from submission to the batch to "
    "its last token (prefill and waiting for a batch place included).",
    buckets=(1, 2, 5, 10, 20, 40, 80, 160, 320, 640),
)
MODEL_LOAD_SECONDS = Histogram(
    "codepattern_model_load_duration_seconds", "Loading a model, by kind and outcome (loaded, failed).",
    ["kind", "outcome"], buckets=(0.5, 1, 2.5, 5, 10, 20, 40, 80, 160),
)


class ModelUnavailable(DependencyUnavailable):
    """The model is disabled, missing or failed to load: use the rule-based fallback."""


@dataclass(frozen=True, slots=True)
class InferenceConfig:
    """What the model service needs; built from the settings by ``app.services`` (see the
    README's configuration table for each knob's meaning and default)."""

    embedding_model: str | None
    generation_model: str | None
    generation_gguf_file: str | None
    model_device: str
    torch_threads: int
    model_workers: int
    model_idle_unload_seconds: float
    models_enabled: bool
    embed_max_batch: int
    embed_max_wait_ms: float
    generation_max_new_tokens: int
    generation_context_tokens: int
    generation_max_batch: int  # sequences stepped together by the batch engine
    generation_batch_wait_ms: float  # an idle engine waits this long after the latest arrival
    generation_max_prompt_tokens: int  # prompts are shortened (the code first) to this
    generation_nice: int  # niceness added to the generation thread
    generation_threads: int = 0  # the engine's torch threads; 0: this process's CPUs, at most 4
    generation_batch_wait_max_ms: float = 1000.0  # ...and never longer than this after the first
    # A model that failed to load is tried again after this long (a folder may appear, a cache fill).
    retry_failed_seconds: float = 300.0
    # GGUF checkpoints: dequantised weights kept here (safetensors) so a restart skips the
    # conversion; None: convert on every load.
    weights_cache_dir: Path | None = None
    # transformers' progress bars while loading (a terminal); off: log lines only.
    progress_bars: bool = False


@dataclass
class ServiceStats:
    """Counters for tests, the benchmark and debugging."""

    embed_calls: int = 0
    embed_texts: int = 0
    embed_forward_passes: int = 0
    generations_started: int = 0
    generations_finished: int = 0
    generations_stopped_early: int = 0
    generated_tokens: int = 0
    loads: int = 0
    unloads: int = 0


@dataclass
class _Slot:
    """One model: where it comes from, its state and, while loaded, its bundle."""

    kind: Kind
    source: ModelSource
    resolve: Callable[[], ModelSource]  # again at each load: a folder may appear or be replaced
    state: State = "not_loaded"
    bundle: Any = None
    device: torch.device | None = None
    load_seconds: float | None = None
    last_error: str | None = None
    failed_at: float | None = None  # monotonic
    last_used: float | None = None  # monotonic, for the idle check
    last_used_wall: float | None = None  # epoch seconds, for status
    active: int = 0  # callers using the bundle right now; never unloaded while > 0
    load_task: asyncio.Task[None] | None = None  # the load in progress, shared by all who wait for it

    def touch(self) -> None:
        self.last_used = time.monotonic()
        self.last_used_wall = time.time()


@dataclass
class _EmbedRequest:
    texts: list[str]
    future: asyncio.Future[list[list[float]]]
    queued_at: float = field(default_factory=time.monotonic)


class ModelService:
    """Owns the models and the thread pool they run on; one per process."""

    def __init__(self, config: InferenceConfig) -> None:
        self.config = config
        s = config
        self.stats = ServiceStats()

        def embedding_source() -> ModelSource:
            return resolve_source("embedding", s.embedding_model)

        def generation_source() -> ModelSource:
            return resolve_source("generation", s.generation_model, s.generation_gguf_file)

        self._slots: dict[Kind, _Slot] = {
            "embedding": _Slot("embedding", embedding_source(), embedding_source),
            "generation": _Slot("generation", generation_source(), generation_source),
        }
        if not s.models_enabled:
            for slot in self._slots.values():
                slot.state = "disabled"
        self._threads = max(1, s.torch_threads)
        # Set in each worker as it starts: the count is per OS thread, and only these threads run torch.
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, s.model_workers),
            thread_name_prefix="models",
            initializer=_set_torch_threads,
            initargs=(self._threads,),
        )
        self._engine: BatchEngine | None = None  # for the loaded generation bundle
        self._embedding_dim: int | None = None
        self._pending: list[_EmbedRequest] = []
        self._pending_texts = 0
        self._batch_full = asyncio.Event()
        self._batch_task: asyncio.Task[None] | None = None
        self._reaper_task: asyncio.Task[None] | None = None
        self._stop_events: set[threading.Event] = set()
        self._closed = False

    # ------------------------------------------------------------------ reporting

    @property
    def embedding_model_id(self) -> str:
        return self._slots["embedding"].source.model_id

    @property
    def generation_model_id(self) -> str:
        return self._slots["generation"].source.model_id

    @property
    def embedding_dim(self) -> int | None:
        """Known once the embedding model has loaded (it stays known after an idle unload)."""
        return self._embedding_dim

    def status(self) -> dict[str, Any]:
        """Readiness facts per model, for /readyz and logs."""
        report: dict[str, Any] = {}
        for kind, slot in self._slots.items():
            report[kind] = {
                "model": slot.source.model_id,
                "path": slot.source.location,
                "gguf_file": slot.source.gguf_file,
                "state": slot.state,
                "device": str(slot.device) if slot.device else self._device_name(),
                "load_seconds": round(slot.load_seconds, 2) if slot.load_seconds is not None else None,
                "last_error": slot.last_error,
                "last_used": (
                    datetime.fromtimestamp(slot.last_used_wall, UTC).isoformat(timespec="seconds")
                    if slot.last_used_wall
                    else None
                ),
                "active": slot.active,
                # GGUF weights read from the weight cache rather than converted (see loading.py).
                "from_cache": bool(getattr(slot.bundle, "from_cache", False)),
            }
        return report

    # Services.readiness() looks for this name.
    readiness = status

    def _device_name(self) -> str:
        if not _model_code_imported.is_set():  # naming the device ("auto") needs torch
            return self.config.model_device
        from . import loading  # imported already (_import_model_code): a lookup

        try:
            return str(loading.resolve_device(self.config.model_device))
        except loading.ModelSourceError:
            return self.config.model_device

    # ------------------------------------------------------------------ lifecycle

    async def preload(self, which: Iterable[Kind] = ("embedding", "generation")) -> None:
        """Load models ahead of the first request; failures are logged and left for the fallback."""
        kinds = tuple(which)
        results = await asyncio.gather(*(self._acquire(self._slots[k]) for k in kinds),
                                       return_exceptions=True)
        for kind, result in zip(kinds, results, strict=True):
            if not isinstance(result, BaseException):
                self._release(self._slots[kind])
            elif not isinstance(result, ModelUnavailable):
                raise result

    async def aclose(self) -> None:
        """Stop background tasks, end generations, drop the models and shut the pool down."""
        if self._closed:
            return
        self._closed = True
        for event in list(self._stop_events):
            event.set()
        for task in (self._batch_task, self._reaper_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for request in self._pending:
            if not request.future.done():
                request.future.set_exception(ModelUnavailable("model service closed"))
        self._pending.clear()
        for slot in self._slots.values():
            if slot.state in ("loaded", "loading"):
                slot.state = "not_loaded"
            slot.bundle = None
        engine, self._engine = self._engine, None
        if engine is not None:  # every sequence gets its end; the thread finishes its step
            await asyncio.to_thread(engine.close)
        # Waiting for running generations (they stop at their next token) must not block the loop.
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise ModelUnavailable("model service closed")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # ------------------------------------------------------------------ loading and unloading

    def _unavailable_reason(self, slot: _Slot) -> str | None:
        if self._closed:
            return "model service closed"
        if slot.state == "disabled":
            return f"{slot.kind} model disabled (MODELS_ENABLED=false)"
        if (slot.state == "failed" and slot.failed_at is not None
                and time.monotonic() - slot.failed_at < self.config.retry_failed_seconds):
            return f"{slot.kind} model unavailable: {slot.last_error}"
        return None

    async def _acquire(self, slot: _Slot) -> Any:
        """The slot's bundle, loading it if needed; the caller must :meth:`_release` it."""
        reason = self._unavailable_reason(slot)
        if reason:
            raise ModelUnavailable(reason)
        if slot.bundle is None:
            # One load however many callers arrive; shielded, so a caller that gives up (client
            # gone) neither cancels it nor wastes it: the others still get the model.
            if slot.load_task is None or slot.load_task.done():
                slot.load_task = asyncio.get_running_loop().create_task(
                    self._load(slot), name=f"models-load-{slot.kind}"
                )
                slot.load_task.add_done_callback(_retrieve_exception)
            await asyncio.shield(slot.load_task)
            if slot.bundle is None:  # unloaded or closed in the instant since
                raise ModelUnavailable(self._unavailable_reason(slot) or f"{slot.kind} model not loaded")
        slot.active += 1
        slot.touch()
        self._ensure_reaper()
        return slot.bundle

    def _release(self, slot: _Slot) -> None:
        slot.active -= 1
        slot.touch()

    async def _load(self, slot: _Slot) -> None:
        source = slot.source = slot.resolve()
        retry = slot.state == "failed"
        slot.state = "loading"
        started = time.perf_counter()
        log.info("loading %s model %s from %s%s", slot.kind, source.model_id, source.location,
                 f" ({source.gguf_file})" if source.gguf_file else "")
        try:
            bundle: Any = await self._run(self._load_sync, slot.kind, source)
        except Exception as exc:
            MODEL_LOAD_SECONDS.labels(slot.kind, "failed").observe(time.perf_counter() - started)
            message = short_error(exc)
            # Logged once: later requests are refused from the recorded state without a word.
            if not (retry and message == slot.last_error):
                log.error("%s model %s failed to load: %s (using rule-based output; retry in %.0f s)",
                          slot.kind, source.model_id, message, self.config.retry_failed_seconds)
            slot.state = "failed"
            slot.last_error = message
            slot.failed_at = time.monotonic()
            raise ModelUnavailable(f"{slot.kind} model unavailable: {message}") from exc
        except asyncio.CancelledError:
            slot.state = "not_loaded"
            raise
        if self._closed:  # closed while loading: do not keep what nobody will release
            slot.state = "not_loaded"
            raise ModelUnavailable("model service closed")
        slot.bundle = bundle
        slot.device = bundle.device
        slot.state = "loaded"
        slot.load_seconds = time.perf_counter() - started
        MODEL_LOAD_SECONDS.labels(slot.kind, "loaded").observe(slot.load_seconds)
        slot.last_error = None
        slot.failed_at = None
        slot.touch()
        self.stats.loads += 1
        if slot.kind == "embedding":
            self._embedding_dim = bundle.dim
        log.info("%s model %s loaded in %.1f s on %s", slot.kind, source.model_id, slot.load_seconds,
                 bundle.device)

    def _load_sync(self, kind: Kind, source: ModelSource) -> Any:
        # On a model thread: the first load imports torch and transformers here, so the event loop
        # goes on serving (and start-up goes on) meanwhile.
        _import_model_code()
        from . import loading

        device = loading.resolve_device(self.config.model_device)
        bars = self.config.progress_bars
        if kind == "embedding":
            return loading.load_embedding(source, device, progress_bars=bars)
        return loading.load_generation(source, device, self.config.generation_context_tokens,
                                       self.config.weights_cache_dir, progress_bars=bars)

    def _ensure_reaper(self) -> None:
        if self._reaper_task is None or self._reaper_task.done():
            loop = asyncio.get_running_loop()
            self._reaper_task = loop.create_task(self._reap_idle(), name="models-idle-unload")

    async def _reap_idle(self) -> None:
        idle = self.config.model_idle_unload_seconds
        interval = min(max(idle / 4, 0.05), 30.0)
        while any(slot.bundle is not None for slot in self._slots.values()):
            await asyncio.sleep(interval)
            now = time.monotonic()
            for slot in self._slots.values():
                if (slot.bundle is not None and slot.active == 0 and slot.last_used is not None
                        and now - slot.last_used >= idle):
                    await self._unload(slot, f"idle for {now - slot.last_used:.0f} s")

    async def _unload(self, slot: _Slot, why: str) -> None:
        bundle, slot.bundle = slot.bundle, None
        slot.state = "not_loaded"
        self.stats.unloads += 1
        log.info("unloaded %s model %s (%s)", slot.kind, slot.source.model_id, why)
        device = getattr(bundle, "device", None)
        engine, self._engine = (self._engine, None) if slot.kind == "generation" else (None, self._engine)
        del bundle
        if engine is not None:
            await asyncio.to_thread(engine.close)
        if not self._closed:
            await self._run(_release_memory, device)

    # ------------------------------------------------------------------ embeddings

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """L2-normalised embeddings, one per text. Concurrent calls share forward passes."""
        texts = list(texts)
        if not texts:
            return []
        slot = self._slots["embedding"]
        reason = self._unavailable_reason(slot)
        if reason:
            raise ModelUnavailable(reason)
        self.stats.embed_calls += 1
        self.stats.embed_texts += len(texts)
        request = _EmbedRequest(texts, asyncio.get_running_loop().create_future())
        self._pending.append(request)
        self._pending_texts += len(texts)
        if self._pending_texts >= self.config.embed_max_batch:
            self._batch_full.set()
        if self._batch_task is None or self._batch_task.done():
            loop = asyncio.get_running_loop()
            self._batch_task = loop.create_task(self._batch_loop(), name="models-embed-batch")
        return await request.future

    def _take_batch(self) -> list[_EmbedRequest]:
        """Requests in arrival order up to embed_max_batch texts (at least one request)."""
        limit = self.config.embed_max_batch
        batch: list[_EmbedRequest] = []
        count = 0
        while self._pending:
            request = self._pending[0]
            if batch and count + len(request.texts) > limit:
                break
            self._pending.pop(0)
            self._pending_texts -= len(request.texts)
            if request.future.done():  # its caller was cancelled
                continue
            batch.append(request)
            count += len(request.texts)
        if self._pending_texts < limit:
            self._batch_full.clear()
        return batch

    async def _batch_loop(self) -> None:
        slot = self._slots["embedding"]
        wait = self.config.embed_max_wait_ms / 1000
        while self._pending:
            # Wait for company, but never make the oldest request wait longer than embed_max_wait_ms.
            remaining = wait - (time.monotonic() - self._pending[0].queued_at)
            if remaining > 0 and self._pending_texts < self.config.embed_max_batch:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._batch_full.wait()
            batch = self._take_batch()
            if not batch:
                continue
            try:
                vectors = await self._embed_batch(slot, batch)
            except ModelUnavailable as exc:
                _fail(batch, exc)
                continue
            except Exception as exc:
                log.exception("embedding batch of %d texts failed", sum(len(r.texts) for r in batch))
                _fail(batch, exc)
                continue
            except BaseException:
                # Cancelled (service closing): nobody may be left waiting on this batch.
                _fail(batch, ModelUnavailable("model service closed"))
                raise
            start = 0
            for request in batch:
                end = start + len(request.texts)
                if not request.future.done():
                    request.future.set_result(vectors[start:end])
                start = end

    async def _embed_batch(self, slot: _Slot, batch: list[_EmbedRequest]) -> list[list[float]]:
        bundle: EmbeddingBundle = await self._acquire(slot)
        try:
            texts = [text for request in batch for text in request.texts]
            return await self._run(self._embed_sync, bundle, texts)
        finally:
            self._release(slot)

    def _embed_sync(self, bundle: EmbeddingBundle, texts: list[str]) -> list[list[float]]:
        # A single request larger than embed_max_batch is split here, in the worker.
        size = max(1, self.config.embed_max_batch)
        vectors: list[list[float]] = []
        from . import loading  # imported with the model (_import_model_code)

        for start in range(0, len(texts), size):
            vectors.extend(loading.embed_batch(bundle, texts[start:start + size]))
            self.stats.embed_forward_passes += 1
        return vectors

    # ------------------------------------------------------------------ generation

    def stream_generate(
        self, messages: list[dict[str, str]], max_new_tokens: int | None = None
    ) -> GenerationStream:
        """Text deltas of the model's reply, as they are produced: ``async for delta in ...``.

        Raises :class:`ModelUnavailable` on the first iteration when there is no model. Stopping
        the iteration (``aclose()``, or the consuming task being cancelled) stops the model at its
        next token; use ``contextlib.aclosing`` so that happens at once rather than when the
        stream is garbage-collected.
        """
        return GenerationStream(lambda stream: self._generate(stream, messages, max_new_tokens))

    def last_confidence(self, stream: object) -> float:
        """The finished stream's confidence (0..1; 0.0 when it produced nothing)."""
        confidence = getattr(stream, "confidence", None)
        return round(confidence, 4) if confidence is not None else 0.0

    @property
    def generation_enabled(self) -> bool:
        return self.config.models_enabled

    def generation_stats(self) -> dict[str, Any]:
        """The batch engine's counters (mean batch = row_steps / steps), for /readyz and the benchmark."""
        engine = self._engine
        if engine is None:
            return {}
        stats = engine.stats
        return {"steps": stats.steps, "prefills": stats.prefills, "tokens": stats.tokens,
                "max_rows": stats.max_rows, "row_steps": stats.row_steps, "prefix_hits": stats.prefix_hits,
                "waiting": engine.waiting}

    def _engine_for(self, bundle: GenerationBundle) -> BatchEngine:
        from .batching import BatchConfig, BatchEngine  # imported with the model (_import_model_code)

        if self._engine is None or self._engine.bundle is not bundle:
            if self._engine is not None:  # the model was reloaded: the old engine is idle
                self._engine.close(timeout=0)
            s = self.config
            self._engine = BatchEngine(bundle, BatchConfig(
                max_batch=max(1, s.generation_max_batch),
                batch_wait_s=max(0.0, s.generation_batch_wait_ms) / 1000,
                batch_wait_max_s=max(0.0, s.generation_batch_wait_max_ms) / 1000,
                torch_threads=engine_threads(s.generation_threads),
                nice=s.generation_nice,
            ))
        return self._engine

    async def _generate(
        self, stream: GenerationStream, messages: list[dict[str, str]], max_new_tokens: int | None
    ) -> AsyncIterator[str]:
        slot = self._slots["generation"]
        reason = self._unavailable_reason(slot)
        if reason:
            raise ModelUnavailable(reason)
        new_tokens = max(1, max_new_tokens or self.config.generation_max_new_tokens)
        bundle: GenerationBundle = await self._acquire(slot)
        try:
            prompt = await self._run(_encode_prompt, bundle, messages, new_tokens,
                                     self.config.generation_max_prompt_tokens)
            engine = self._engine_for(bundle)
        except BaseException:
            self._release(slot)
            raise
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        logprobs: list[float] = []
        outcome: list[BaseException | None] = []

        def done(exc: BaseException | None) -> None:  # on the loop, after the last delta was queued
            self._stop_events.discard(sequence.stop)
            self.stats.generations_finished += 1
            self.stats.generated_tokens += len(logprobs)
            if logprobs:
                GENERATED_TOKENS.inc(len(logprobs))
                GENERATION_TOKENS_PER_SECOND.observe(len(logprobs) / max(1e-6, time.monotonic() - submitted))
            if sequence.stopped:
                self.stats.generations_stopped_early += 1
            stream.tokens = len(logprobs)
            if logprobs:
                # Mean probability the model gave its own chosen tokens (docs/DESIGN.md, aiConfidence).
                stream.confidence = sum(math.exp(lp) for lp in logprobs) / len(logprobs)
            # Released when the engine lets go of the sequence, not when the consumer leaves: the
            # model must not be unloaded under a sequence that is still in the batch.
            self._release(slot)
            outcome.append(exc)
            queue.put_nowait(_END)

        from .batching import Sequence  # imported with the model (_import_model_code)

        sequence = Sequence(
            prompt_ids=prompt,
            max_new_tokens=new_tokens,
            on_text=lambda text: loop.call_soon_threadsafe(queue.put_nowait, text),
            on_done=lambda exc: loop.call_soon_threadsafe(done, exc),
            on_token=logprobs.append,
        )
        self._stop_events.add(sequence.stop)
        self.stats.generations_started += 1
        submitted = time.monotonic()
        try:
            engine.submit(sequence)
        except RuntimeError:  # closed meanwhile
            self._stop_events.discard(sequence.stop)
            self._release(slot)
            raise ModelUnavailable("model service closed") from None
        finished = False
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    finished = True
                    break
                yield item  # type: ignore[misc]  # queue holds str and the _END marker
            exc = outcome[0] if outcome else None
            if exc is not None and not sequence.stopped:
                log.error("generation failed: %s", short_error(exc))
                raise ModelUnavailable(f"generation failed: {short_error(exc)}") from exc
        finally:
            if not finished:
                sequence.stop.set()  # leaves the batch at the next step; the others go on
                task = asyncio.current_task()
                if task is not None and not task.cancelling():
                    # Stopped by its consumer (not cancelled): wait the step or so until the engine
                    # lets go, so the stream's token count and confidence are final when we return.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_until_end(queue), 2.0)


class GenerationStream:
    """Async iterator of a reply's text deltas. Once it has ended, ``tokens`` is the number of
    tokens generated and ``confidence`` the mean probability of those tokens (0..1)."""

    def __init__(self, start: Callable[[GenerationStream], AsyncIterator[str]]) -> None:
        self.tokens = 0
        self.confidence: float | None = None
        self._deltas = start(self)

    def __aiter__(self) -> GenerationStream:
        return self

    async def __anext__(self) -> str:
        return await anext(self._deltas)

    async def aclose(self) -> None:
        close = getattr(self._deltas, "aclose", None)
        if close is not None:
            await close()


async def _until_end(queue: asyncio.Queue[object]) -> None:
    while await queue.get() is not _END:
        pass


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    # Waiters see a failed load's exception; this keeps asyncio from also reporting it as unretrieved
    # when every waiter has gone.
    if not task.cancelled():
        task.exception()


def _fail(batch: list[_EmbedRequest], exc: BaseException) -> None:
    for request in batch:
        if not request.future.done():
            request.future.set_exception(exc)


def engine_threads(setting: int) -> int:
    """GENERATION_THREADS: as set, or (0) the CPUs this process may use, at most 4 (a 135M
    model's step gains little past that, and the API process needs its share)."""
    if setting > 0:
        return setting
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


_model_code_imported = threading.Event()


def _import_model_code() -> None:
    """Import :mod:`inference.loading` and :mod:`inference.batching` on a model thread, before a
    model's first load: they import torch and transformers (~3 s of CPU), which a process that
    never loads a model (MODELS_ENABLED=false, `codepattern migrate`) does not pay, and which a
    starting server pays while it connects to the database and starts the sandbox. Once they are
    in, the event loop's own imports of them (`_engine_for`, `_device_name`) are lookups."""
    if not _model_code_imported.is_set():
        from . import batching, loading  # noqa: F401

        _model_code_imported.set()


def _encode_prompt(bundle: GenerationBundle, messages: list[dict[str, str]], new_tokens: int,
                   max_prompt_tokens: int) -> list[int]:
    from . import loading  # imported with the model (_import_model_code)

    return loading.encode_prompt(bundle, messages, new_tokens, max_prompt_tokens)


def _release_memory(device: torch.device | None) -> None:
    from . import loading  # imported with the model (_import_model_code)

    loading.release(None, device)


def _set_torch_threads(threads: int) -> None:
    # torch.set_num_threads() from another thread does not reach a running worker (OpenMP keeps the
    # count per thread), so each worker sets its own when the pool starts it. It runs as a model
    # thread starts: the first to start imports torch here, off the event loop.
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
