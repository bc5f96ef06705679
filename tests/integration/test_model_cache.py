"""The GGUF weight cache (inference/loading.py) and the background model preload at start
(app/services.py, /readyz). A tiny Llama is written as a real GGUF file here with the `gguf`
package and loaded through transformers' own GGUF code, as the packaged SmolLM2 is."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

from app.server import create_app
from app.services import Services, inference_config
from core.settings import Settings
from inference import ModelService, loading, sources
from inference.loading import GenerationBundle, ModelSource
from tests.helpers import REPO_ROOT, make_settings, model_config
from tests.integration.test_models import MESSAGES, wait_until
from tests.tiny_models import build_tiny_embedding_model, build_tiny_generation_model

CPU = torch.device("cpu")
NEW_TOKENS = 12

StartServices = Callable[..., Awaitable[tuple[Services, httpx.AsyncClient]]]

# HF parameter names of one Llama layer → llama.cpp's GGUF tensor names.
_LAYER_TENSORS = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def write_tiny_gguf(hf_folder: Path, target: Path, *, tied: bool) -> Path:
    """The tiny Llama of test_models.py as a float32 GGUF with its BPE tokenizer and chat template.
    ``tied``: no output.weight, so transformers ties lm_head to the embeddings (as in SmolLM2)."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf_folder)
    model = AutoModelForCausalLM.from_pretrained(hf_folder)
    config = model.config
    target.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(target), "llama")
    writer.add_name("tiny")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(len(tokenizer))
    writer.add_tokenizer_model("gpt2")  # byte-level BPE, as SmolLM2's GGUF
    tokens = [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    special = set(tokenizer.all_special_tokens)
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_chat_template(tokenizer.chat_template)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            if tied:
                continue
            gguf_name = "output.weight"
        elif name == "model.embed_tokens.weight":
            gguf_name = "token_embd.weight"
        elif name == "model.norm.weight":
            gguf_name = "output_norm.weight"
        else:  # model.layers.<i>.<module>.weight
            parts = name.split(".")
            gguf_name = f"blk.{parts[2]}.{_LAYER_TENSORS['.'.join(parts[3:-1])]}.weight"
        writer.add_tensor(gguf_name, tensor.float().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


@pytest.fixture(scope="session")
def tiny_ggufs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-gguf")
    hf = build_tiny_generation_model(root / "hf")
    return {
        "untied": write_tiny_gguf(hf, root / "untied" / "tiny.gguf", tied=False),
        "tied": write_tiny_gguf(hf, root / "tied" / "tiny-tied.gguf", tied=True),
        "embedding": build_tiny_embedding_model(root / "embedding"),
        "hf": hf,
    }


def gguf_source(path: Path) -> ModelSource:
    source = sources.resolve_source("generation", str(path))
    assert source.error is None and source.gguf_file == path.name
    return source


def load(source: ModelSource, cache: Path | None, **kwargs: object) -> GenerationBundle:
    return loading.load_generation(source, CPU, 256, cache, **kwargs)  # type: ignore[arg-type]


def greedy(bundle: GenerationBundle) -> tuple[list[int], str]:
    ids = loading.encode_prompt(bundle, MESSAGES, NEW_TOKENS)
    text, count = loading.generate_text(bundle, ids, NEW_TOKENS)
    assert count == NEW_TOKENS  # the tiny model has no EOS: every run is as long
    return ids, text


def entries(cache: Path) -> list[Path]:
    """Complete entries: folders that are neither temporary nor the hash memo."""
    return sorted(p for p in cache.iterdir() if p.is_dir() and not p.name.startswith("."))


# --------------------------------------------------------------------------- the cache


@pytest.mark.parametrize("variant", ["untied", "tied"])
def test_second_load_reads_the_cache_and_generates_the_same(
    tiny_ggufs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture, variant: str
) -> None:
    source = gguf_source(tiny_ggufs[variant])
    cache = tmp_path / "cache"
    with caplog.at_level(logging.INFO, logger="inference"):
        first = load(source, cache)
    assert not first.from_cache
    [entry] = entries(cache)
    assert f"generation: caching dequantised weights in {entry}" in caplog.text
    info = json.loads((entry / "cache-entry.json").read_text())
    expected_sha = hashlib.sha256(tiny_ggufs[variant].read_bytes()).hexdigest()
    assert info["ingredients"]["gguf_sha256"] == expected_sha
    assert info["ingredients"]["dtype"] == "torch.float32"
    assert info["ingredients"]["torch"] == torch.__version__
    assert (entry / "model.safetensors").stat().st_size == info["files"]["model.safetensors"]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="inference"):
        second = load(source, cache)
    assert second.from_cache
    assert f"generation: loading cached weights from {entry}" in caplog.text
    assert "caching dequantised weights" not in caplog.text
    assert second.tokenizer.chat_template == first.tokenizer.chat_template
    assert second.context_tokens == first.context_tokens and second.pad_token_id == first.pad_token_id
    # Same weights bit for bit, same prompt tokens, same greedy continuation.
    first_state, second_state = first.model.state_dict(), second.model.state_dict()
    assert first_state.keys() == second_state.keys()
    assert all(torch.equal(first_state[k], second_state[k]) for k in first_state)
    assert greedy(first) == greedy(second)
    if variant == "tied":
        assert second.model.lm_head.weight.data_ptr() == second.model.model.embed_tokens.weight.data_ptr()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _scramble_header(path: Path) -> None:
    data = bytearray(path.read_bytes())  # same size, so only the safetensors parser can tell
    data[8:64] = b"\xff" * 56
    path.write_bytes(bytes(data))


def _break_info(path: Path) -> None:
    (path.parent / "cache-entry.json").write_text("{not json")


@pytest.mark.parametrize("damage", [_truncate, _scramble_header, _break_info])
def test_a_damaged_entry_is_removed_and_rebuilt_from_the_gguf(
    tiny_ggufs: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
) -> None:
    source = gguf_source(tiny_ggufs["untied"])
    cache = tmp_path / "cache"
    reference = greedy(load(source, cache))
    [entry] = entries(cache)
    weights = entry / "model.safetensors"
    size = weights.stat().st_size
    damage(weights)

    with caplog.at_level(logging.INFO, logger="inference"):
        again = load(source, cache)
    assert not again.from_cache  # the GGUF, not the damaged entry
    assert f"cached weights in {entry} are unusable" in caplog.text
    assert f"generation: caching dequantised weights in {entry}" in caplog.text
    assert greedy(again) == reference
    assert entries(cache) == [entry] and weights.stat().st_size == size
    assert json.loads((entry / "cache-entry.json").read_text())["files"]["model.safetensors"] == size
    assert load(source, cache).from_cache  # rebuilt entry is good


def test_a_changed_key_misses_and_replaces_the_old_entry(tiny_ggufs: dict[str, Path], tmp_path: Path) -> None:
    source = gguf_source(tiny_ggufs["untied"])
    cache = tmp_path / "cache"
    versions = loading.library_versions()
    assert not load(source, cache, cache_versions=versions).from_cache
    [old] = entries(cache)
    assert load(source, cache, cache_versions=versions).from_cache

    upgraded = {**versions, "torch": "0.0.0+test"}
    assert not load(source, cache, cache_versions=upgraded).from_cache
    [new] = entries(cache)  # the outdated entry of the same GGUF is gone
    assert new != old
    assert json.loads((new / "cache-entry.json").read_text())["ingredients"]["torch"] == "0.0.0+test"
    assert load(source, cache, cache_versions=upgraded).from_cache
    assert not load(source, cache, cache_versions=versions).from_cache  # and back again


def test_a_changed_gguf_file_misses(tiny_ggufs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    gguf_path = folder / "model.gguf"
    gguf_path.write_bytes(tiny_ggufs["untied"].read_bytes())
    cache = tmp_path / "cache"
    assert not load(gguf_source(gguf_path), cache).from_cache
    gguf_path.write_bytes(tiny_ggufs["tied"].read_bytes())  # replaced in place: new content, new hash
    bundle = load(gguf_source(gguf_path), cache)
    assert not bundle.from_cache
    assert bundle.model.lm_head.weight.data_ptr() == bundle.model.model.embed_tokens.weight.data_ptr()


def test_plain_folders_and_no_cache_dir_write_nothing(tiny_ggufs: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plain = sources.resolve_source("generation", str(tiny_ggufs["hf"]))
    assert not load(plain, cache).from_cache
    assert not cache.exists()  # a Hugging Face folder already loads fast
    assert not load(gguf_source(tiny_ggufs["untied"]), None).from_cache
    assert not cache.exists()


def test_file_hash_is_memoised_per_path_size_and_mtime(tmp_path: Path) -> None:
    memo = tmp_path / "memo"
    path = tmp_path / "weights.gguf"
    path.write_bytes(b"a" * 3_000_000)
    digest = loading.file_sha256(path, memo)
    assert digest == hashlib.sha256(b"a" * 3_000_000).hexdigest()
    [memo_file] = memo.iterdir()
    assert json.loads(memo_file.read_text())["sha256"] == digest
    assert loading.file_sha256(path, memo) == digest
    path.write_bytes(b"b" * 3_000_001)
    assert loading.file_sha256(path, memo) == hashlib.sha256(b"b" * 3_000_001).hexdigest()


def test_stale_temporary_folders_are_cleared_and_fresh_ones_kept(
    tiny_ggufs: dict[str, Path], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    stale, fresh = cache / ".tmp-crashed-1", cache / ".tmp-writing-2"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"half")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    assert not load(gguf_source(tiny_ggufs["untied"]), cache).from_cache
    assert not stale.exists()  # a writer that died
    assert fresh.exists()  # maybe another process writing right now
    assert len(entries(cache)) == 1


_LOAD_IN_A_PROCESS = """
import sys, torch
from pathlib import Path
from inference import loading, sources
source = sources.resolve_source("generation", sys.argv[1])
bundle = loading.load_generation(source, torch.device("cpu"), 256, Path(sys.argv[2]))
ids = loading.encode_prompt(bundle, [{"role": "user", "content": "stars"}], 8)
print(loading.generate_text(bundle, ids, 8)[0])
"""


def test_two_processes_filling_the_cache_at_once_both_load(tiny_ggufs: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    args = [sys.executable, "-c", _LOAD_IN_A_PROCESS, str(tiny_ggufs["untied"]), str(cache)]
    processes = [subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    results = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in results]
    assert results[0][0] == results[1][0]
    # One complete entry, no temporary folder left behind, and it loads.
    assert [p.name for p in cache.iterdir() if p.name.startswith(".tmp-")] == []
    assert len(entries(cache)) == 1
    assert load(gguf_source(tiny_ggufs["untied"]), cache).from_cache


async def test_model_service_uses_the_configured_cache(tiny_ggufs: dict[str, Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    values = {"generation_model": str(tiny_ggufs["untied"]), "model_device": "cpu", "weights_cache_dir": cache}
    for expected in (False, True):
        service = ModelService(model_config(**values))
        try:
            await service.preload(("generation",))
            status = service.status()["generation"]
            assert status["state"] == "loaded" and status["from_cache"] is expected
        finally:
            await service.aclose()


def test_inference_config_takes_the_cache_dir_from_the_settings(tmp_path: Path) -> None:
    on = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert inference_config(on).weights_cache_dir == tmp_path / "model-cache"
    off = Settings(_env_file=None, data_dir=tmp_path, model_cache=False)  # type: ignore[call-arg]
    assert inference_config(off).weights_cache_dir is None


@pytest.mark.real_models
def test_packaged_smollm2_round_trips_through_the_cache(tmp_path: Path) -> None:
    source = sources.resolve_source("generation", None)
    if source.error:
        pytest.skip(source.error)
    cache = tmp_path / "cache"
    first = load(source, cache)
    second = load(source, cache)
    assert (first.from_cache, second.from_cache) == (False, True)
    ids = loading.encode_prompt(first, MESSAGES, 16)
    assert ids == loading.encode_prompt(second, MESSAGES, 16)
    assert loading.generate_text(first, ids, 16) == loading.generate_text(second, ids, 16)


# --------------------------------------------------------------------------- preload at start


@pytest.fixture
async def start_services(
    database_url: str, tmp_path: Path, tiny_ggufs: dict[str, Path]
) -> AsyncIterator[StartServices]:
    """Services on the tiny models (GGUF generation model), started; closed after the test."""
    opened: list[tuple[Services, httpx.AsyncClient]] = []

    async def start(**overrides: object) -> tuple[Services, httpx.AsyncClient]:
        values: dict[str, object] = {
            "models_enabled": True,
            "embedding_model": str(tiny_ggufs["embedding"]),
            "generation_model": str(tiny_ggufs["untied"]),
            "model_device": "cpu",
            "analysis_workers": 0,
            "readyz_details": True,  # these tests read the models' states from /readyz
        }
        values.update(overrides)
        services = Services.create(make_settings(database_url, tmp_path, **values))
        await services.start()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services.settings, services)),
                                   base_url="http://test")
        opened.append((services, client))
        return services, client

    yield start
    for services, client in opened:
        await client.aclose()
        await services.close()


async def _readyz(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status_code, response.json()


async def test_readyz_waits_for_the_preload_then_serves(start_services: StartServices, tmp_path: Path) -> None:
    # Loads take loading's lock: holding it keeps the preload in progress for as long as needed.
    assert loading._LOAD_LOCK.acquire(timeout=30)
    try:
        services, client = await start_services(models_preload=True)
        assert services.started  # start-up did not wait for the models
        await wait_until(lambda: services.models.status()["embedding"]["state"] == "loading")
        code, body = await _readyz(client)
        assert code == 503 and body["status"] == "unavailable" and body["reason"] == "models loading"
        assert body["models"]["preload"] == "loading" and body["database"] == "ok"
    finally:
        loading._LOAD_LOCK.release()
    await wait_until(lambda: services.preload_state == "done")
    code, body = await _readyz(client)
    assert code == 200 and body["status"] == "ready" and "reason" not in body
    assert body["models"]["preload"] == "done"
    assert (body["models"]["embedding"]["state"], body["models"]["generation"]["state"]) == ("loaded", "loaded")
    # MODEL_CACHE is on by default: the GGUF's weights went to DATA_DIR/model-cache.
    assert entries(tmp_path / "model-cache")


async def test_a_model_that_fails_to_preload_still_lets_the_replica_serve(
    start_services: StartServices, tmp_path: Path
) -> None:
    services, client = await start_services(models_preload=True, generation_model=str(tmp_path / "missing"))
    await wait_until(lambda: services.preload_state == "done")
    code, body = await _readyz(client)
    assert code == 200 and body["models"]["preload"] == "done"
    assert body["models"]["generation"]["state"] == "failed"  # the rule-based fallback serves
    assert body["models"]["embedding"]["state"] == "loaded"


async def test_without_preload_nothing_loads_at_start(start_services: StartServices) -> None:
    services, client = await start_services(models_preload=False)
    code, body = await _readyz(client)
    assert code == 200 and body["models"]["preload"] == "off"
    assert {services.models.status()[k]["state"] for k in ("embedding", "generation")} == {"not_loaded"}
    assert services.models.stats.loads == 0


async def test_models_disabled_means_no_preload(start_services: StartServices) -> None:
    services, client = await start_services(models_enabled=False, models_preload=True)
    code, body = await _readyz(client)
    assert code == 200 and body["models"]["preload"] == "off"
    assert {services.models.status()[k]["state"] for k in ("embedding", "generation")} == {"disabled"}


async def test_close_during_the_preload_cancels_it(start_services: StartServices) -> None:
    assert loading._LOAD_LOCK.acquire(timeout=30)
    try:
        services, _ = await start_services(models_preload=True)
        await wait_until(lambda: services.preload_state == "loading")
        task = services._preload_task
        assert task is not None
        closing = asyncio.create_task(services.close())
        await wait_until(task.done)  # cancelled first, while the load itself is still stuck
        assert task.cancelled()
    finally:
        loading._LOAD_LOCK.release()  # the load in the thread finishes; the pool can shut down
    await closing
    assert services.preload_state == "off"
    assert {services.models.status()[k]["state"] for k in ("embedding", "generation")} == {"not_loaded"}
