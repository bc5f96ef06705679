"""Continuous batching (inference/batching.py) through the model service, on a tiny real model and
on the packaged SmolLM2: batched text equals `model.generate` alone, sequences join and leave
between steps, and one sequence's end or failure leaves the others running."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import torch

from inference import ModelService, loading, sources
from inference.batching import BatchConfig, BatchEngine, Sequence
from inference.loading import GenerationBundle
from tests.helpers import model_config

SHARED = "You are a tutor. The pattern is a right triangle of stars, one more star on each row. "


def prompts(count: int) -> list[list[dict[str, str]]]:
    # A long shared start (computed once per batch, then cached), and different lengths after it,
    # so rows are padded differently in the batch.
    return [[{"role": "system", "content": SHARED * 2},
             {"role": "user", "content": f"Explain loop number {i}. " + "Print stars. " * (i % 4)}]
            for i in range(count)]


@pytest.fixture(scope="module")
def bundle(tiny_generator: Path) -> GenerationBundle:
    source = sources.resolve_source("generation", str(tiny_generator))
    return loading.load_generation(source, torch.device("cpu"), 256)


@pytest.fixture
async def make_service(tiny_generator: Path) -> AsyncIterator[Callable[..., ModelService]]:
    created: list[ModelService] = []

    def make(**overrides: object) -> ModelService:
        values: dict[str, object] = {"generation_model": str(tiny_generator), "model_device": "cpu",
                                     "generation_max_new_tokens": 24, "generation_nice": 0,
                                     "generation_batch_wait_ms": 50.0}
        values.update(overrides)
        created.append(ModelService(model_config(**values)))
        return created[-1]

    yield make
    for service in created:
        await service.aclose()


def reference(bundle: GenerationBundle, messages: list[dict[str, str]], new_tokens: int) -> str:
    """`model.generate` for this prompt alone: what every batched row must reproduce."""
    ids = loading.encode_prompt(bundle, messages, new_tokens)
    return loading.generate_text(bundle, ids, new_tokens)[0]


async def collect(service: ModelService, messages: list[dict[str, str]], new_tokens: int,
                  first: asyncio.Event | None = None) -> str:
    parts: list[str] = []
    async with contextlib.aclosing(service.stream_generate(messages, new_tokens)) as stream:
        async for delta in stream:
            parts.append(delta)
            if first is not None:
                first.set()
    return "".join(parts)


async def test_batched_rows_give_the_text_of_each_prompt_alone(
    make_service: Callable[..., ModelService], bundle: GenerationBundle
) -> None:
    service = make_service()
    batch = prompts(6)
    texts = await asyncio.gather(*(collect(service, m, 24) for m in batch))
    assert texts == [reference(bundle, m, 24) for m in batch]
    stats = service.generation_stats()
    assert stats["max_rows"] == 6  # they really were stepped together
    assert stats["steps"] < 6 * 24  # one step per token position, not per token
    # A second wave reuses the shared prompt start computed for the first, and still gets the same text.
    again = await asyncio.gather(*(collect(service, m, 24) for m in batch[:3]))
    assert again == texts[:3]
    assert service.generation_stats()["prefix_hits"] >= 1


async def test_a_newcomer_joins_a_running_batch_and_still_gets_its_own_text(
    make_service: Callable[..., ModelService], bundle: GenerationBundle
) -> None:
    service = make_service(generation_batch_wait_ms=0.0)
    early, late = prompts(3)[:2], prompts(3)[2]
    started = asyncio.Event()
    running = [asyncio.create_task(collect(service, m, 60, started)) for m in early]
    await started.wait()
    joined = await collect(service, late, 20)
    texts = await asyncio.gather(*running)
    assert joined == reference(bundle, late, 20)
    assert texts == [reference(bundle, m, 60) for m in early]
    stats = service.generation_stats()
    assert stats["prefills"] >= 2 and stats["max_rows"] == 3  # admitted between steps, not after


async def test_a_consumer_leaving_early_leaves_the_others_running(
    make_service: Callable[..., ModelService], bundle: GenerationBundle
) -> None:
    service = make_service()
    batch = prompts(3)

    async def leave_after_three() -> int:
        seen = 0
        async with contextlib.aclosing(service.stream_generate(batch[0], 40)) as stream:
            async for _ in stream:
                seen += 1
                if seen == 3:
                    break
        return seen

    left, *finished = await asyncio.gather(leave_after_three(), collect(service, batch[1], 40),
                                           collect(service, batch[2], 40))
    assert left == 3
    assert finished == [reference(bundle, m, 40) for m in batch[1:]]
    await asyncio.sleep(0.2)  # the stop is seen at the engine's next step
    assert service.stats.generations_stopped_early == 1
    assert service.stats.generations_finished == 3


async def test_a_cancelled_consumer_leaves_the_others_running(
    make_service: Callable[..., ModelService], bundle: GenerationBundle
) -> None:
    service = make_service()
    batch = prompts(2)
    started = asyncio.Event()
    doomed = asyncio.create_task(collect(service, batch[0], 200, started))
    survivor = asyncio.create_task(collect(service, batch[1], 40))
    await started.wait()
    doomed.cancel()
    assert await survivor == reference(bundle, batch[1], 40)
    with pytest.raises(asyncio.CancelledError):
        await doomed


def test_a_sequence_whose_consumer_fails_ends_alone(bundle: GenerationBundle) -> None:
    engine = BatchEngine(bundle, BatchConfig(max_batch=4, batch_wait_s=0.05, torch_threads=1, nice=0))
    ended: dict[int, BaseException | None] = {}
    all_done = threading.Event()

    def make(index: int, on_text: Callable[[str], object]) -> Sequence:
        ids = loading.encode_prompt(bundle, prompts(3)[index], 30)

        def done(exc: BaseException | None) -> None:  # on the engine thread
            ended[index] = exc
            if len(ended) == 3:
                all_done.set()

        return Sequence(ids, 30, on_text=on_text, on_done=done)

    def broken(text: str) -> None:
        raise ValueError("the consumer broke")

    texts: list[list[str]] = [[], []]
    sequences = [make(0, broken), make(1, texts[0].append), make(2, texts[1].append)]
    for sequence in sequences:
        engine.submit(sequence)
    assert all_done.wait(timeout=60)
    engine.close()
    assert isinstance(ended[0], ValueError)
    assert ended[1] is None and ended[2] is None
    assert len(sequences[1].generated) == 30 and len(sequences[2].generated) == 30
    assert "".join(texts[0]) == reference(bundle, prompts(3)[1], 30)


def _admissions(bundle: GenerationBundle, config: BatchConfig, gaps: list[float]) -> int:
    """Prefills the engine made for sequences submitted `gaps` seconds apart (all finished)."""
    engine = BatchEngine(bundle, config)
    finished = threading.Semaphore(0)
    try:
        for index, gap in enumerate([0.0, *gaps]):
            time.sleep(gap)
            ids = loading.encode_prompt(bundle, prompts(3)[index % 3], 4)
            engine.submit(Sequence(ids, 4, on_text=lambda t: None, on_done=lambda exc: finished.release()))
        for _ in range(len(gaps) + 1):
            assert finished.acquire(timeout=60)
        return engine.stats.prefills
    finally:
        engine.close()


def test_an_idle_engine_waits_for_company_counted_from_the_latest_arrival(bundle: GenerationBundle) -> None:
    """A class's prompts arrive as each judgment ends: 1.2 s from the first to the third, each
    within the 1 s wait of the one before, so all three are prefilled as one (a window counted
    from the first arrival would have left the third to a prefill of its own)."""
    config = BatchConfig(max_batch=4, batch_wait_s=1.0, torch_threads=1, nice=0, batch_wait_max_s=10.0)
    assert _admissions(bundle, config, [0.6, 0.6]) == 1


def test_the_wait_for_company_is_bounded_after_the_first_arrival(bundle: GenerationBundle) -> None:
    # The second comes within the wait, the third after the bound: two prefills.
    config = BatchConfig(max_batch=4, batch_wait_s=1.0, torch_threads=1, nice=0, batch_wait_max_s=0.8)
    assert _admissions(bundle, config, [0.4, 0.8]) == 2


def test_closing_the_engine_ends_every_sequence(bundle: GenerationBundle) -> None:
    engine = BatchEngine(bundle, BatchConfig(max_batch=1, batch_wait_s=0.0, torch_threads=1, nice=0))
    ended: list[BaseException | None] = []
    lock = threading.Lock()

    def done(exc: BaseException | None) -> None:
        with lock:
            ended.append(exc)

    for messages in prompts(3):  # max_batch 1: two of them are still waiting when it closes
        engine.submit(Sequence(loading.encode_prompt(bundle, messages, 200), 200, on_text=lambda t: None,
                               on_done=done))
    engine.close()
    assert len(ended) == 3
    with pytest.raises(RuntimeError):
        engine.submit(Sequence([1, 2], 5, on_text=lambda t: None, on_done=done))


@pytest.mark.real_models
async def test_packaged_model_batched_equals_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """SmolLM2-135M (the packaged default): four learners' prompts stepped together give, token for
    token, what `model.generate` gives each alone (greedy, with a repetition penalty: the default
    is none, and the engine's penalty over each row's own tokens must match generate's too)."""
    monkeypatch.setitem(loading.GENERATION_KWARGS, "repetition_penalty", 1.2)
    service = ModelService(model_config(models_enabled=True, generation_nice=0))
    try:
        batch = [[{"role": "user", "content": f"In one sentence: why does a loop print {n} rows of stars?"}]
                 for n in (3, 5, 8, 13)]
        texts = await asyncio.gather(*(collect(service, m, 32) for m in batch))
        bundle = service._slots["generation"].bundle  # the very model the service ran
        assert texts == [reference(bundle, m, 32) for m in batch]
        assert service.generation_stats()["max_rows"] == 4
    finally:
        await service.aclose()


def test_the_growing_cache_holds_what_concatenation_would() -> None:
    # inference/batching.py's cache layers write each step into room kept at the end instead of
    # concatenating; across room rebuilds, a batch selection and a crop, they must hold exactly
    # what transformers' concatenating DynamicLayer holds.
    from transformers.cache_utils import DynamicLayer

    from inference.batching import _cache

    torch.manual_seed(0)
    ours = _cache([(torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4))])
    layer = ours.layers[0]
    plain = DynamicLayer()
    plain.update(layer.keys.clone(), layer.values.clone())
    for step in range(300):  # past the room several times
        keys, values = torch.randn(layer.keys.shape[0], 2, 1, 4), torch.randn(layer.keys.shape[0], 2, 1, 4)
        got = layer.update(keys, values)
        want = plain.update(keys, values)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1]), step
        if step == 140:
            for each in (layer, plain):
                each.batch_select_indices(torch.tensor([0, 2]))
        if step == 200:
            for each in (layer, plain):
                each.crop(-7)
    assert layer.get_seq_length() == plain.get_seq_length() == 5 + 300 - 7
    assert type(layer).__name__ == "GrowingLayer"


def test_assembled_rows_are_right_aligned_over_zeros() -> None:
    # A newcomer's rows join the batch's in one copy (inference/batching.py `_assemble`):
    # each group right-aligned at the batch's width, zeros in front, room left for next steps.
    from inference.batching import _assemble

    old = [(torch.randn(2, 3, 6, 4), torch.randn(2, 3, 6, 4))]
    new = [(torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4))]
    cache = _assemble([old, new], 6)
    layer = cache.layers[0]
    assert layer.keys.shape == (3, 3, 6, 4) and layer.get_seq_length() == 6
    assert torch.equal(layer.keys[:2], old[0][0]) and torch.equal(layer.values[:2], old[0][1])
    assert torch.equal(layer.keys[2:, :, 2:], new[0][0]) and torch.equal(layer.values[2:, :, 2:], new[0][1])
    assert not layer.keys[2:, :, :2].any() and not layer.values[2:, :, :2].any()
    step = torch.randn(3, 3, 1, 4)
    keys, _ = layer.update(step, step)
    assert keys.shape[2] == 7 and torch.equal(keys[:, :, 6:], step)
    assert keys.data_ptr() == layer._room[0].data_ptr()  # written into the room, not copied
