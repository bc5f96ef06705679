"""Blocking model code for :mod:`inference.service`: loading and running the models.

Everything here touches torch and must run on the model service's thread pool, never on the
event loop. Kept apart from the service so the benchmark can time the raw model calls with
exactly the loading and prompt code the server uses.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import torch

from core.text import keep_ends

from .sources import ModelSource, ModelSourceError, short_error

log = logging.getLogger("inference")

# Deterministic decoding: the same submission gets the same explanation.
# Greedy. No repetition penalty: measured over the feedback corpus (bench/bench_feedback.py), 1.0
# keeps 24% of SmolLM2's sentences with 23% of them false, 1.1 keeps 11% with 34% false, 1.2 keeps
# 2% with 50% false - a line-by-line answer repeats "Line", and a penalty pushes it off the form.
GENERATION_KWARGS: dict[str, Any] = {"do_sample": False, "repetition_penalty": 1.0}

# Tokenizers without a max length report a huge sentinel (int(1e30)).
_SANE_MAX_LENGTH = 1_000_000
_CODE_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
_TRUNCATION_MARK = "\n# ... (code shortened to fit the model's context) ...\n"
_MIN_CODE_CHARS = 60  # a prompt with less code than this is not worth sending


def resolve_device(setting: str) -> torch.device:
    """``auto`` → the first CUDA device when there is one, else the CPU."""
    value = (setting or "auto").strip().lower()
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(value)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelSourceError(f"MODEL_DEVICE={setting} but CUDA is not available")
    return device


# --------------------------------------------------------------------------- loading


@dataclass
class EmbeddingBundle:
    model: torch.nn.Module
    tokenizer: Any
    device: torch.device
    max_length: int
    dim: int
    input_names: frozenset[str]
    # Fast tokenizers change their truncation/padding state on each call and raise "Already
    # borrowed" when two threads do that at once.
    tokenizer_lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class GenerationBundle:
    model: Any  # a PreTrainedModel with generate()
    tokenizer: Any
    device: torch.device
    context_tokens: int  # prompt + new tokens must fit in this
    pad_token_id: int | None
    tokenizer_lock: threading.Lock = field(default_factory=threading.Lock)  # as in EmbeddingBundle
    from_cache: bool = False  # weights came from the GGUF weight cache rather than the GGUF itself


def _parameter_count(model: torch.nn.Module) -> str:
    count = sum(p.numel() for p in model.parameters())
    return f"{count / 1e6:.1f}M params"


def _embedding_max_length(location: str, tokenizer: Any, config: Any) -> int:
    candidates: list[int] = []
    # sentence-transformers truncates to max_seq_length (256 for MiniLM), not the tokenizer's 512.
    st_config = Path(location) / "sentence_bert_config.json"
    if st_config.is_file():
        try:
            value = json.loads(st_config.read_text()).get("max_seq_length")
            if isinstance(value, int) and value > 0:
                candidates.append(value)
        except (OSError, ValueError):
            pass
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < _SANE_MAX_LENGTH:
        candidates.append(model_max)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        candidates.append(positions)
    return min(candidates) if candidates else 512


# transformers builds models under process-wide patches of torch.nn (meta-device init, tied
# weights); two loads in two threads at once can leave one model's tied lm_head on the meta
# device ("Cannot copy out of meta tensor"). Loads are rare: one at a time.
_LOAD_LOCK = threading.Lock()


@contextlib.contextmanager
def library_progress_bars(on: bool) -> Iterator[None]:
    """transformers' own progress bars ("Loading weights", the GGUF conversion) on or off for one
    load: on a terminal they show how far it is; in a log they would be lines of carriage returns,
    and our log lines say what is happening instead. The GGUF converter calls tqdm directly,
    outside transformers' switch, so its name is pointed at a disabled tqdm meanwhile (loads run
    one at a time, under _LOAD_LOCK)."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    original = vars(gguf_utils).get("tqdm")  # None if a later transformers moves it: then it shows
    (hf_logging.enable_progress_bar if on else hf_logging.disable_progress_bar)()
    if not on and original is not None:
        setattr(gguf_utils, "tqdm", functools.partial(original, disable=True))  # noqa: B010  (not exported)
    try:
        yield
    finally:
        if original is not None:
            setattr(gguf_utils, "tqdm", original)  # noqa: B010
        (hf_logging.enable_progress_bar if was_on else hf_logging.disable_progress_bar)()


def load_embedding(source: ModelSource, device: torch.device, *, progress_bars: bool = False) -> EmbeddingBundle:
    """Tokenizer and encoder for mean-pooled sentence embeddings (blocking)."""
    with _LOAD_LOCK, library_progress_bars(progress_bars):
        return _load_embedding(source, device)


def load_generation(
    source: ModelSource,
    device: torch.device,
    context_tokens: int,
    weights_cache_dir: Path | None = None,
    *,
    cache_versions: dict[str, str] | None = None,
    progress_bars: bool = False,
) -> GenerationBundle:
    """Tokenizer and causal LM (blocking). GGUF checkpoints are dequantised to floats by transformers;
    with ``weights_cache_dir`` the dequantised weights are kept there and later loads read them
    (see :func:`cache_ingredients`). ``cache_versions`` replaces the library versions in the cache
    key (tests). ``progress_bars``: transformers' bars on stderr (a terminal), else log lines only."""
    with _LOAD_LOCK, library_progress_bars(progress_bars):
        return _load_generation(source, device, context_tokens, weights_cache_dir, cache_versions)


def _load_embedding(source: ModelSource, device: torch.device) -> EmbeddingBundle:
    from transformers import AutoModel, AutoTokenizer

    if source.error:
        raise ModelSourceError(source.error)
    started = time.perf_counter()
    log.info("embedding: loading tokenizer from %s", source.location)
    tokenizer = AutoTokenizer.from_pretrained(source.location)
    log.info("embedding: loading weights (%.1f s)", time.perf_counter() - started)
    model = AutoModel.from_pretrained(source.location, dtype=torch.float32)
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()  # T5-style checkpoints: the encoder is the sentence encoder
    model.to(device).eval()  # pyright: ignore[reportArgumentType]  (transformers' stubs)
    # Some tokenizers emit token_type_ids that the model does not accept (DistilBERT, RoBERTa-likes).
    input_names = frozenset(inspect.signature(model.forward).parameters)
    dim = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "d_model", 0))
    max_length = _embedding_max_length(source.location, tokenizer, model.config)
    log.info("embedding: %s ready (%s, dim %d, max %d tokens)", source.model_id, _parameter_count(model),
             dim, max_length)
    return EmbeddingBundle(model, tokenizer, device, max_length, dim, input_names)


def _generation_dtype(source: ModelSource, device: torch.device) -> Any:
    if device.type == "cuda":
        # GGUF dequantises to float32; half precision halves memory and is what GPUs are fast at.
        if source.gguf_file:
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return "auto"
    return torch.float32  # bf16/fp16 matmuls are slow or missing on most CPUs


def _load_generation(
    source: ModelSource,
    device: torch.device,
    context_tokens: int,
    weights_cache_dir: Path | None,
    cache_versions: dict[str, str] | None,
) -> GenerationBundle:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if source.error:
        raise ModelSourceError(source.error)
    dtype = _generation_dtype(source, device)
    started = time.perf_counter()
    entry = _cache_entry(source, dtype, weights_cache_dir, cache_versions)
    loaded = _load_cached(entry, dtype) if entry is not None else None
    from_cache = loaded is not None
    if loaded is not None:
        tokenizer, model = loaded
    else:
        extra: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
        what = f"{source.location}/{source.gguf_file}" if source.gguf_file else source.location
        log.info("generation: loading tokenizer from %s", what)
        tokenizer = AutoTokenizer.from_pretrained(source.location, **extra)
        log.info("generation: loading weights (%.1f s)", time.perf_counter() - started)
        model = AutoModelForCausalLM.from_pretrained(source.location, dtype=dtype, **extra)
        if entry is not None:
            _write_entry(entry, tokenizer, model)  # before .to(device): saves from CPU memory
    model.to(device).eval()  # pyright: ignore[reportArgumentType]  (transformers' stubs)
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        context_tokens = min(context_tokens, positions)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    log.info("generation: %s ready (%s, context %d tokens%s, %.1f s)", source.model_id,
             _parameter_count(model), context_tokens, ", cached weights" if from_cache else "",
             time.perf_counter() - started)
    return GenerationBundle(model, tokenizer, device, context_tokens, pad, from_cache=from_cache)


# --------------------------------------------------------------------------- GGUF weight cache
#
# transformers dequantises a GGUF checkpoint tensor by tensor in Python on every load (about 20 s
# for SmolLM2-135M on two cores). The result is saved once with save_pretrained (safetensors) and
# read back in about a second. One folder per entry, named after a hash of the key's ingredients;
# it appears complete or not at all (written under a temporary name, then renamed).

CACHE_FORMAT = "1"  # bump when the entry layout changes
_ENTRY_INFO = "cache-entry.json"
_HASH_MEMO_DIR = ".hashes"
_TEMP_PREFIX = ".tmp-"
_STALE_TEMP_SECONDS = 3600.0  # a temporary folder this old belongs to a process that died writing it


@dataclass(frozen=True)
class _CacheEntry:
    folder: Path
    gguf: Path
    ingredients: dict[str, str]


def library_versions() -> dict[str, str]:
    """The versions whose change may change dequantisation or the saved format."""
    import transformers

    return {"transformers": transformers.__version__, "torch": torch.__version__}


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """The file's sha256, read in 1 MiB chunks. With ``memo_dir`` the digest is remembered per
    (path, size, mtime_ns, inode) so restarts do not reread a multi-gigabyte checkpoint."""
    stat = path.stat()
    fingerprint = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                   "inode": stat.st_ino}
    memo = None
    if memo_dir is not None:
        memo = memo_dir / (hashlib.sha256(fingerprint["path"].encode()).hexdigest()[:24] + ".json")
        try:
            remembered = json.loads(memo.read_text())
            if isinstance(remembered, dict) and remembered.get("fingerprint") == fingerprint:
                return str(remembered["sha256"])
        except (OSError, ValueError, KeyError):
            pass  # no memo yet, or an unreadable one: hash the file
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    value = digest.hexdigest()
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            temp = memo.with_name(f"{memo.name}.{os.getpid()}.{secrets.token_hex(4)}")
            temp.write_text(json.dumps({"fingerprint": fingerprint, "sha256": value}))
            os.replace(temp, memo)
        except OSError as exc:
            log.debug("could not remember the hash of %s: %s", path, exc)
    return value


def cache_ingredients(gguf: Path, dtype: Any, versions: dict[str, str], memo_dir: Path | None = None) -> dict[str, str]:
    """What a cache entry depends on: the GGUF's content, the libraries that dequantise and save
    it, the dtype the weights were converted to and the entry layout."""
    return {
        "format": CACHE_FORMAT,
        "gguf_sha256": file_sha256(gguf, memo_dir),
        "dtype": str(dtype),
        **{name: str(value) for name, value in sorted(versions.items())},
    }


def _cache_entry(
    source: ModelSource, dtype: Any, cache_dir: Path | None, versions: dict[str, str] | None
) -> _CacheEntry | None:
    """The entry for this source, or None when it is not cached: no cache configured, a plain
    Hugging Face folder (already fast), or a GGUF that is not a local file (a Hub id)."""
    if cache_dir is None or not source.gguf_file:
        return None
    gguf = Path(source.location) / source.gguf_file
    if not gguf.is_file():
        return None
    try:
        ingredients = cache_ingredients(gguf, dtype, versions or library_versions(), cache_dir / _HASH_MEMO_DIR)
    except OSError as exc:
        log.warning("generation: weight cache skipped, cannot hash %s: %s", gguf, short_error(exc))
        return None
    key = hashlib.sha256(json.dumps(ingredients, sort_keys=True).encode()).hexdigest()[:20]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", gguf.stem)[:80]
    return _CacheEntry(cache_dir / f"{stem}-{key}", gguf, ingredients)


def _load_cached(entry: _CacheEntry, dtype: Any) -> tuple[Any, Any] | None:
    """Tokenizer and model from a complete entry; None when there is none. An entry that cannot
    be used is logged and removed: the caller loads the GGUF and writes it again."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not entry.folder.is_dir():
        return None
    log.info("generation: loading cached weights from %s", entry.folder)
    try:
        info = json.loads((entry.folder / _ENTRY_INFO).read_text())
        if info.get("ingredients") != entry.ingredients:
            raise ValueError("its key does not match the GGUF")
        # A file cut short (disk full, crash before the data reached the disk) is caught here
        # rather than as an obscure safetensors error, or not at all.
        for name, size in info.get("files", {}).items():
            actual = (entry.folder / name).stat().st_size
            if actual != size:
                raise ValueError(f"{name} is {actual} bytes, expected {size}")
        tokenizer = AutoTokenizer.from_pretrained(entry.folder)
        model, loading_info = cast(tuple[Any, dict[str, Any]], AutoModelForCausalLM.from_pretrained(
            entry.folder, dtype=dtype, output_loading_info=True))
        # from_pretrained fills missing weights with random values and only warns.
        problems = {k: v for k, v in loading_info.items() if v and k != "unexpected_keys"}
        if problems:
            raise ValueError(f"incomplete weights: {problems}")
        return tokenizer, model
    except Exception as exc:
        log.warning("generation: cached weights in %s are unusable (%s); removing them and loading the GGUF",
                    entry.folder, short_error(exc))
        _remove_tree(entry.folder)
        return None


def _write_entry(entry: _CacheEntry, tokenizer: Any, model: Any) -> None:
    """Save the dequantised model and its tokenizer as a new entry. Never raises: without a cache
    the server still works, only its next start is slower."""
    started = time.perf_counter()
    cache_dir = entry.folder.parent
    temp = cache_dir / f"{_TEMP_PREFIX}{entry.folder.name}-{os.getpid()}-{secrets.token_hex(4)}"
    quantizer = getattr(model, "hf_quantizer", None)
    if getattr(quantizer, "packed_modules", None) or not all(p.is_floating_point() for p in model.parameters()):
        # transformers kept the GGUF blocks packed (the `kernels` package): nothing was dequantised.
        log.info("generation: weights kept in GGUF blocks; not caching them")
        return
    log.info("generation: caching dequantised weights in %s", entry.folder)
    try:
        if quantizer is not None:
            # The weights are plain tensors now; the GGUF marker left on the model only makes
            # save_pretrained refuse ("not serializable"). This is what quantizer.dequantize() does last.
            quantizer.remove_quantization_config(model)
        cache_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(cache_dir)
        model.save_pretrained(temp)
        tokenizer.save_pretrained(temp)
        files = {p.name: p.stat().st_size for p in sorted(temp.iterdir()) if p.is_file()}
        info = {
            "ingredients": entry.ingredients,
            "gguf": str(entry.gguf.resolve()),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": files,
        }
        (temp / _ENTRY_INFO).write_text(json.dumps(info, indent=2) + "\n")
        try:
            # rename, not replace: a folder cannot replace a non-empty one, which is what we want.
            temp.rename(entry.folder)
        except OSError:
            if not entry.folder.is_dir():
                raise
            # Another process converted the same checkpoint at the same time; its entry is as good.
            log.info("generation: %s was cached meanwhile by another process", entry.folder.name)
            _remove_tree(temp)
            return
        _prune_outdated(entry)
        size_mb = sum(files.values()) / 1e6
        log.info("generation: cached dequantised weights in %s (%.0f MB, %.1f s)", entry.folder, size_mb,
                 time.perf_counter() - started)
    except Exception as exc:
        log.warning("generation: could not cache weights in %s: %s", cache_dir, short_error(exc))
        _remove_tree(temp)


def _prune_outdated(entry: _CacheEntry) -> None:
    """Remove entries made from the same GGUF file under an older key (a library upgrade, a
    replaced checkpoint): without this, each upgrade would leave hundreds of megabytes behind."""
    gguf = str(entry.gguf.resolve())
    for folder in entry.folder.parent.iterdir():
        if folder == entry.folder or folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            info = json.loads((folder / _ENTRY_INFO).read_text())
        except (OSError, ValueError):
            continue  # not an entry of ours, or one that _load_cached will judge when it is asked for
        if isinstance(info, dict) and info.get("gguf") == gguf:
            log.info("generation: removing outdated cached weights %s", folder)
            _remove_tree(folder)


def _remove_stale_temps(cache_dir: Path) -> None:
    now = time.time()
    for folder in cache_dir.glob(f"{_TEMP_PREFIX}*"):
        try:
            if now - folder.stat().st_mtime > _STALE_TEMP_SECONDS:
                _remove_tree(folder)
        except OSError:
            pass  # removed by another process meanwhile


def _remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def release(bundle: object, device: torch.device | None) -> None:
    """Drop a bundle's tensors now rather than at the next garbage collection."""
    import gc

    del bundle
    gc.collect()
    if device is not None and device.type == "cuda":
        torch.cuda.empty_cache()


# --------------------------------------------------------------------------- running


def embed_batch(bundle: EmbeddingBundle, texts: list[str]) -> list[list[float]]:
    """Mean pooling over real tokens, then L2 normalisation, as sentence-transformers does."""
    with bundle.tokenizer_lock:
        encoded = bundle.tokenizer(texts, padding=True, truncation=True, max_length=bundle.max_length,
                                   return_tensors="pt")
    inputs = {k: v.to(bundle.device) for k, v in encoded.items() if k in bundle.input_names}
    with torch.inference_mode():
        hidden = bundle.model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
        normalised = torch.nn.functional.normalize(pooled.float(), p=2, dim=1)
    return normalised.cpu().tolist()


def _plain_prompt(messages: list[dict[str, str]]) -> str:
    # Base models (gpt2 & co.) have no chat template.
    lines = [f"{m.get('role', 'user').capitalize()}: {m.get('content', '')}" for m in messages]
    return "\n\n".join([*lines, "Assistant:"])


def _tokenize_chat(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                            return_dict=True)["input_ids"]
    else:
        ids = tokenizer(_plain_prompt(messages))["input_ids"]
    return list(ids)


def _shorten(messages: list[dict[str, str]], chars: int) -> list[dict[str, str]] | None:
    """Remove about ``chars`` characters from the learner's code: the longest fenced block of the
    longest user message (or that message itself), keeping its beginning and end. None when
    there is nothing left to cut."""
    candidates = [i for i, m in enumerate(messages) if m.get("role") == "user"] or list(range(len(messages)))
    index = max(candidates, key=lambda i: len(messages[i].get("content", "")))
    content = messages[index].get("content", "")
    blocks = list(_CODE_FENCE.finditer(content))
    if blocks:
        block = max(blocks, key=lambda b: len(b.group(1)))
        start, end = block.span(1)
    else:
        start, end = 0, len(content)
    body = content[start:end]
    if _TRUNCATION_MARK in body:  # shortened before: cut from the original halves again
        head_part, tail_part = body.split(_TRUNCATION_MARK, 1)
        body = head_part + tail_part
    keep = max(_MIN_CODE_CHARS, len(body) - chars - len(_TRUNCATION_MARK))
    if keep >= len(body) - len(_TRUNCATION_MARK):
        return None  # nothing left worth cutting
    shortened = keep_ends(body, keep + len(_TRUNCATION_MARK), _TRUNCATION_MARK)
    result = [dict(m) for m in messages]
    result[index]["content"] = content[:start] + shortened + content[end:]
    return result


def encode_prompt(bundle: GenerationBundle, messages: list[dict[str, str]], max_new_tokens: int,
                  max_prompt_tokens: int | None = None) -> list[int]:
    """Prompt token ids that leave room for ``max_new_tokens`` (and are at most
    ``max_prompt_tokens``): the code is shortened first (the instructions and facts stay); only if
    that is not enough is the prompt cut from the left."""
    budget = max(16, bundle.context_tokens - max_new_tokens)
    if max_prompt_tokens is not None:
        budget = max(16, min(budget, max_prompt_tokens))
    with bundle.tokenizer_lock:
        ids = _tokenize_chat(bundle.tokenizer, messages)
        for _ in range(4):
            if len(ids) <= budget:
                return ids
            chars_per_token = max(1.0, sum(len(m.get("content", "")) for m in messages) / max(1, len(ids)))
            overflow = int((len(ids) - budget) * chars_per_token * 1.15) + 16
            shortened = _shorten(messages, overflow)
            if shortened is None:
                break
            messages = shortened
            ids = _tokenize_chat(bundle.tokenizer, messages)
    if len(ids) > budget:
        log.warning("generation prompt still %d tokens after shortening the code; keeping the last %d",
                    len(ids), budget)
        ids = ids[-budget:]
    return ids


def _streamer_class() -> type:
    from transformers import TextStreamer

    class CallbackStreamer(TextStreamer):
        """TextStreamer (word-safe incremental decoding) that hands each delta to a callback."""

        def __init__(self, tokenizer: Any, on_text: Callable[[str], None]) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self._on_text = on_text

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                self._on_text(text)

    return CallbackStreamer


def _stop_criterion(stop: threading.Event) -> Any:
    from transformers import StoppingCriteria

    class StopOnEvent(StoppingCriteria):
        """Ends generation at the next token once the consumer has gone away."""

        def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
            done = torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device)
            return cast(torch.BoolTensor, done)

    return StopOnEvent()


def _token_recorder(on_token: Callable[[float], None]) -> Any:
    from transformers import LogitsProcessor

    class RecordConfidence(LogitsProcessor):
        """Reports the log-probability of the most likely next token (the one greedy decoding
        picks) after the other processors; changes nothing."""

        def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
            on_token(float(torch.log_softmax(scores[0].float(), dim=-1).max()))
            return scores

    return RecordConfidence()


def generate_streaming(
    bundle: GenerationBundle,
    prompt_ids: list[int],
    max_new_tokens: int,
    on_text: Callable[[str], None],
    stop: threading.Event,
    on_token: Callable[[float], None] = lambda logprob: None,
) -> None:
    """Blocking ``model.generate`` that reports text deltas through ``on_text`` and each token's
    log-probability through ``on_token``, and ends early once ``stop`` is set."""
    from transformers import LogitsProcessorList, StoppingCriteriaList

    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=bundle.device)
    streamer = _streamer_class()(bundle.tokenizer, on_text)
    with torch.inference_mode():
        bundle.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            pad_token_id=bundle.pad_token_id,
            streamer=streamer,
            logits_processor=LogitsProcessorList([_token_recorder(on_token)]),
            stopping_criteria=StoppingCriteriaList([_stop_criterion(stop)]),
            **GENERATION_KWARGS,
        )


def generate_text(bundle: GenerationBundle, prompt_ids: list[int], max_new_tokens: int) -> tuple[str, int]:
    """Plain ``model.generate`` without streaming (the benchmark's and tests' reference):
    the decoded text and the number of new tokens."""
    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=bundle.device)
    with torch.inference_mode():
        output = bundle.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_new_tokens,
            pad_token_id=bundle.pad_token_id,
            **GENERATION_KWARGS,
        )
    new = output[0, input_ids.shape[1]:]
    return bundle.tokenizer.decode(new, skip_special_tokens=True), int(new.shape[0])
