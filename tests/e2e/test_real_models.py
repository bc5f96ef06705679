"""The real packaged defaults (all-MiniLM-L6-v2, SmolLM2-135M-Instruct GGUF) through the
product's loading code: slow (about 30 s on two CPU cores), marked ``real_models``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from analysis.feedback import Facts
from analysis.prompt import build_messages
from inference import ModelService
from tests.helpers import model_config

pytestmark = pytest.mark.real_models


@pytest.fixture(scope="module")
async def real_service() -> AsyncIterator[ModelService]:
    service = ModelService(model_config(torch_threads=2, model_workers=2, model_device="auto"))
    yield service
    await service.aclose()


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # both are L2-normalised


async def test_minilm_puts_similar_texts_close(real_service: ModelService) -> None:
    query, near, far = await real_service.embed(
        ["right triangle of stars", "a triangle made of asterisks", "database connection pool"]
    )
    assert real_service.embedding_dim == 384 and len(query) == 384
    assert cosine(query, near) > cosine(query, far) + 0.2
    status = real_service.status()["embedding"]
    assert status["state"] == "loaded" and status["model"] == "sentence-transformers/all-MiniLM-L6-v2"


async def test_smollm2_streams_an_answer_to_a_pattern_prompt(real_service: ModelService) -> None:
    facts = Facts(
        pattern_name="Right Triangle",
        pattern_description="A right-angled triangle of stars, one more star per row.",
        expected_preview=["*", "**", "***", "****"],
        code="n = int(input())\nfor i in range(1, n):\n    print('*' * i)\n",
        verdict="WRONG_OUTPUT",
        error="Wrong output for n=4: row 4 differs",
        mismatches=[(4, 4, "****", None)],
        score=0.75,
        cyclomatic=2,
        max_nesting_depth=1,
        loops=1,
        conditions=0,
        big_o="O(n^2)",
        complexity_level="low",
        reads_input=True,
    )
    stream = real_service.stream_generate(build_messages(facts, "FEEDBACK"), max_new_tokens=24)
    async with contextlib.aclosing(stream):
        deltas = [delta async for delta in stream]
    text = "".join(deltas)
    assert len(deltas) > 1
    assert sum(ch.isalpha() for ch in text) >= 10, text
    assert 0 < stream.tokens <= 24
    assert 0.0 < real_service.last_confidence(stream) <= 1.0
    status = real_service.status()["generation"]
    assert status["state"] == "loaded" and status["gguf_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"


async def test_both_models_load_concurrently() -> None:
    # Regression: two from_pretrained calls in two pool threads at once raced on transformers'
    # process-wide patches ("Cannot copy out of meta tensor"); loads are now serialised.
    service = ModelService(model_config(model_workers=2))
    try:
        await service.preload()
        status = service.status()
        assert status["embedding"]["state"] == "loaded", status
        assert status["generation"]["state"] == "loaded", status
    finally:
        await service.aclose()
