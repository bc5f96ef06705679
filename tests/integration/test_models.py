"""The model service, exercised with tiny random models built here and loaded through the
service's own loading code (settings pointing at their folders): no download, a few seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from app.services import inference_config
from core.settings import Settings
from inference import ModelService, ModelUnavailable, sources
from inference import loading as models_loading
from inference.loading import GENERATION_KWARGS
from tests.helpers import model_config
from tests.tiny_models import build_tiny_embedding_model, build_tiny_generation_model

MESSAGES = [
    {"role": "system", "content": "You are a kind tutor."},
    {"role": "user", "content": "Explain the loop that prints a right triangle of stars."},
]

@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "embedding": build_tiny_embedding_model(root / "embedding"),
        "generation": build_tiny_generation_model(root / "generation"),
    }


@pytest.fixture
async def make_service(tiny_models: dict[str, Path]) -> AsyncIterator[Callable[..., ModelService]]:
    """Services on the tiny models (overrides on top); all closed after the test."""
    created: list[ModelService] = []

    def make(**overrides: object) -> ModelService:
        values: dict[str, object] = {
            "embedding_model": str(tiny_models["embedding"]),
            "generation_model": str(tiny_models["generation"]),
            "model_device": "cpu",
            "torch_threads": 1,
            "model_workers": 2,
            "generation_max_new_tokens": 24,
        }
        values.update(overrides)
        created.append(ModelService(model_config(**values)))
        return created[-1]

    yield make
    for service in created:
        await service.aclose()


@pytest.fixture
def service(make_service: Callable[..., ModelService]) -> ModelService:
    return make_service()


async def collect(service: ModelService, messages: list[dict[str, str]] = MESSAGES, max_new_tokens: int = 24
                  ) -> list[str]:
    async with contextlib.aclosing(service.stream_generate(messages, max_new_tokens)) as stream:
        return [delta async for delta in stream]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll a state that changes in a background task or thread (10 s at most)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the state itself
            await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- embeddings


async def test_embeddings_have_the_model_width_are_normalised_and_deterministic(service: ModelService) -> None:
    assert service.embedding_dim is None  # not loaded yet
    texts = ["right triangle of stars", "a pyramid", "database connection pool"]
    first = await service.embed(texts)
    again = await service.embed(texts)
    assert service.embedding_dim == 32
    assert [len(v) for v in first] == [32, 32, 32]
    for vector in first:
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-5)
    assert torch.allclose(torch.tensor(first), torch.tensor(again))
    assert await service.embed([]) == []
    status = service.status()["embedding"]
    assert status["state"] == "loaded" and status["device"] == "cpu" and status["load_seconds"] is not None
    assert status["last_used"] is not None


async def test_batched_results_equal_one_by_one(service: ModelService) -> None:
    texts = ["star", "right triangle of stars", "the pyramid has spaces before the stars on each row", "a"]
    together = await service.embed(texts)
    alone = [(await service.embed([text]))[0] for text in texts]
    assert torch.allclose(torch.tensor(together), torch.tensor(alone), atol=1e-5)


async def test_concurrent_embed_calls_share_forward_passes(service: ModelService) -> None:
    await service.embed(["warm up"])  # load first, so the calls below only wait for each other
    before = service.stats.embed_forward_passes
    texts = [f"row {i} of stars" for i in range(20)]
    results = await asyncio.gather(*(service.embed([text]) for text in texts))
    passes = service.stats.embed_forward_passes - before
    assert 1 <= passes < len(texts)
    # Each caller got its own text's vector back.
    expected = await service.embed(texts)
    assert torch.allclose(torch.tensor([r[0] for r in results]), torch.tensor(expected), atol=1e-5)


async def test_large_request_is_split_into_max_batch_passes(make_service: Callable[..., ModelService]) -> None:
    service = make_service(embed_max_batch=8)
    await service.embed(["warm up"])
    before = service.stats.embed_forward_passes
    vectors = await service.embed([f"star {i}" for i in range(20)])
    assert len(vectors) == 20
    assert service.stats.embed_forward_passes - before == 3  # 8 + 8 + 4


async def test_concurrent_first_callers_load_the_model_once(service: ModelService) -> None:
    results = await asyncio.gather(*(service.embed([f"text {i}"]) for i in range(5)),
                                   collect(service), collect(service))
    assert service.stats.loads == 2  # one embedding, one generation
    assert all(len(r) == 1 for r in results[:5])


async def test_a_caller_giving_up_during_the_load_does_not_waste_it(
    service: ModelService, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The tiny model loads in milliseconds: hold the real load until the first caller has quit.
    quit_done = threading.Event()
    real_load = models_loading.load_generation

    def load_after_the_quit(*args: Any, **kwargs: Any) -> Any:
        assert quit_done.wait(10)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(models_loading, "load_generation", load_after_the_quit)
    caplog.set_level(logging.INFO, logger="inference")
    quitter = asyncio.create_task(collect(service))
    await wait_until(lambda: service.status()["generation"]["state"] == "loading")
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    quit_done.set()
    assert len(await collect(service)) > 1
    # The second caller waited for the first caller's load instead of starting its own.
    assert [r.getMessage() for r in caplog.records].count(
        f"loading generation model {service.generation_model_id} from {service.status()['generation']['path']}"
    ) == 1
    assert service.stats.loads == 1


# --------------------------------------------------------------------------- generation


async def test_stream_yields_deltas_that_add_up_to_the_plain_decode(
    service: ModelService, tiny_models: dict[str, Path]
) -> None:
    stream = service.stream_generate(MESSAGES, max_new_tokens=24)
    deltas = [delta async for delta in stream]
    assert len(deltas) > 1
    assert stream.tokens == 24
    assert 0.0 < service.last_confidence(stream) <= 1.0

    # The same greedy decoding, straight through transformers, without the service.
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["generation"])
    model = AutoModelForCausalLM.from_pretrained(tiny_models["generation"])
    inputs = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, return_dict=True,
                                           return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=24, pad_token_id=tokenizer.pad_token_id, **GENERATION_KWARGS)
    plain = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "".join(deltas) == plain


async def test_event_loop_keeps_running_during_generation(service: ModelService) -> None:
    await collect(service, max_new_tokens=1)  # load outside the measured part
    loop_thread = threading.get_ident()
    ticks = 0
    ticks_between_deltas: list[int] = []
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    seen = 0
    async with contextlib.aclosing(service.stream_generate(MESSAGES, max_new_tokens=120)) as stream:
        async for _ in stream:
            ticks_between_deltas.append(ticks - seen)
            seen = ticks
    done.set()
    await task
    # The ticker ran all along, between deltas too: the model did not hold the loop.
    assert ticks >= 20
    assert sum(1 for t in ticks_between_deltas if t > 0) >= 2
    assert threading.get_ident() == loop_thread


async def test_leaving_the_stream_stops_generation(service: ModelService) -> None:
    await collect(service, max_new_tokens=1)
    started = service.stats.generations_finished
    tokens_before = service.stats.generated_tokens
    async with contextlib.aclosing(service.stream_generate(MESSAGES, max_new_tokens=200)) as stream:
        async for _ in stream:
            break
    await wait_until(lambda: service.stats.generations_finished == started + 1)
    assert service.stats.generations_stopped_early == 1
    assert service.stats.generated_tokens - tokens_before < 200
    assert service.status()["generation"]["active"] == 0


async def test_cancelling_the_consumer_stops_generation(service: ModelService) -> None:
    await collect(service, max_new_tokens=1)
    finished = service.stats.generations_finished
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for _ in service.stream_generate(MESSAGES, max_new_tokens=200):
            first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_until(lambda: service.stats.generations_finished == finished + 1)
    assert service.stats.generations_stopped_early == 1


async def test_long_prompt_is_shortened_in_the_code_and_keeps_the_instructions(
    tiny_models: dict[str, Path],
) -> None:
    bundle = models_loading.load_generation(
        sources.resolve_source("generation", str(tiny_models["generation"])), torch.device("cpu"), 2048
    )
    assert bundle.context_tokens == 256  # capped at the model's max_position_embeddings
    code = "\n".join(f"print('*' * {i})" for i in range(300))
    messages = [
        {"role": "system", "content": "You are a kind tutor."},
        {"role": "user", "content": f"The program:\n```python\n{code}\n```\nTask: explain it."},
    ]
    ids = models_loading.encode_prompt(bundle, messages, max_new_tokens=56)
    assert len(ids) <= 256 - 56
    text = bundle.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nYou are a kind tutor.")
    assert "Task: explain it." in text and "print('*' * 0)" in text and "print('*' * 299)" in text
    assert "code shortened" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_base_model_without_chat_template_gets_a_plain_prompt(tiny_models: dict[str, Path]) -> None:
    bundle = models_loading.load_generation(
        sources.resolve_source("generation", str(tiny_models["generation"])), torch.device("cpu"), 2048
    )
    bundle.tokenizer.chat_template = None
    text = bundle.tokenizer.decode(models_loading.encode_prompt(bundle, MESSAGES, max_new_tokens=8))
    assert text.startswith("System: You are a kind tutor.") and text.endswith("Assistant:")
    assert "User: Explain the loop" in text


# --------------------------------------------------------------------------- lifecycle


async def test_idle_model_is_unloaded_and_reloaded_on_next_use(make_service: Callable[..., ModelService]) -> None:
    service = make_service(model_idle_unload_seconds=0.2)
    first = await service.embed(["star"])
    assert service.status()["embedding"]["state"] == "loaded"
    await wait_until(lambda: service.status()["embedding"]["state"] == "not_loaded")
    assert service.stats.unloads == 1
    assert service.embedding_dim == 32  # still known
    again = await service.embed(["star"])
    assert service.status()["embedding"]["state"] == "loaded"
    assert service.stats.loads == 2
    assert torch.allclose(torch.tensor(first), torch.tensor(again))


async def test_missing_folder_fails_fast_and_is_logged_once(
    make_service: Callable[..., ModelService], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "no-such-model"
    service = make_service(embedding_model=str(missing), generation_model=str(missing))
    caplog.set_level(logging.INFO, logger="inference")
    for _ in range(3):
        with pytest.raises(ModelUnavailable, match="no such folder"):
            await service.embed(["star"])
        with pytest.raises(ModelUnavailable, match="no such folder"):
            await collect(service)
    for kind in ("embedding", "generation"):
        status = service.status()[kind]
        assert status["state"] == "failed"
        assert "no such folder" in status["last_error"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("inference")]
    assert len(errors) == 2  # one per model, not one per request
    assert service.stats.loads == 0


async def test_unknown_hub_id_offline_is_unavailable(make_service: Callable[..., ModelService]) -> None:
    service = make_service(embedding_model="no-such-org/no-such-model-cpm")
    with pytest.raises(ModelUnavailable):
        await service.embed(["star"])
    assert service.status()["embedding"]["state"] == "failed"


async def test_failed_model_is_retried_after_the_retry_delay(
    make_service: Callable[..., ModelService], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "later"
    service = make_service(embedding_model=str(folder), retry_failed_seconds=0.0)
    caplog.set_level(logging.INFO, logger="inference")
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            await service.embed(["star"])
    # The same failure on a retry is not logged again.
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    build_tiny_embedding_model(folder)  # the folder appears: the next retry loads it
    assert len((await service.embed(["star"]))[0]) == 32
    assert service.status()["embedding"]["state"] == "loaded"
    assert service.status()["embedding"]["last_error"] is None


async def test_disabled_models_refuse_at_once(make_service: Callable[..., ModelService]) -> None:
    service = make_service(models_enabled=False)
    assert {s["state"] for s in service.status().values()} == {"disabled"}
    with pytest.raises(ModelUnavailable, match="disabled"):
        await service.embed(["star"])
    with pytest.raises(ModelUnavailable, match="disabled"):
        await collect(service)
    await service.preload()  # nothing to load, nothing raised
    assert service.stats.loads == 0


async def test_preload_then_close_refuses_further_work(make_service: Callable[..., ModelService]) -> None:
    service = make_service()
    await service.preload()
    assert {s["state"] for s in service.status().values()} == {"loaded"}
    assert service.status()["generation"]["active"] == 0
    await service.aclose()
    with pytest.raises(ModelUnavailable, match="closed"):
        await service.embed(["star"])
    with pytest.raises(ModelUnavailable, match="closed"):
        await collect(service)


async def test_config_built_from_settings_carries_every_knob(tiny_models: dict[str, Path]) -> None:
    settings = Settings(_env_file=None, embedding_model=str(tiny_models["embedding"]), model_device="cpu",
                        embed_max_batch=4, models_enabled=True)
    service = ModelService(inference_config(settings))
    try:
        assert service.config.embed_max_batch == 4
        assert service.embedding_model_id == str(tiny_models["embedding"])
        assert service.generation_model_id == sources.DEFAULT_GENERATION_ID
        assert len(await service.embed(["star", "stars"])) == 2
    finally:
        await service.aclose()


# --------------------------------------------------------------------------- sources


def test_sources_resolve_packaged_defaults_ids_and_folders(tmp_path: Path) -> None:
    embedding = sources.resolve_source("embedding", None)
    assert embedding.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedding.error is None and (Path(embedding.location) / "config.json").is_file()
    generation = sources.resolve_source("generation", None)
    assert generation.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf" and generation.error is None
    assert (Path(generation.location) / generation.gguf_file).is_file()

    hub = sources.resolve_source("embedding", "microsoft/codebert-base")
    assert (hub.location, hub.model_id, hub.error) == ("microsoft/codebert-base", "microsoft/codebert-base", None)

    (tmp_path / "only.gguf").write_bytes(b"")
    single = sources.resolve_source("generation", str(tmp_path))
    assert single.gguf_file == "only.gguf" and single.error is None

    direct = sources.resolve_source("generation", str(tmp_path / "only.gguf"))
    assert (direct.location, direct.gguf_file, direct.error) == (str(tmp_path), "only.gguf", None)

    assert sources.resolve_source("generation", str(tmp_path), "other.gguf").error
    assert "no such folder" in (sources.resolve_source("embedding", "./nowhere/model").error or "")


def test_device_auto_follows_cuda_availability() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert models_loading.resolve_device("auto").type == expected
    assert models_loading.resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(models_loading.ModelSourceError):
            models_loading.resolve_device("cuda")
