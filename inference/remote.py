"""Generation on an OpenAI-compatible model server (vLLM, TGI, llama.cpp server, Ollama).

:class:`RemoteGenerator` offers the generation half of :class:`~inference.service.ModelService`'s
interface (``generation_model_id``, ``generation_enabled``, ``stream_generate``,
``last_confidence``), so the analysis pipeline streams prose from a GPU server the same way it
streams it from the in-process model. It speaks the Chat Completions API through the official
``openai`` SDK with ``stream=True``:

- decoding is greedy (``temperature=0``), like the local model's;
- ``confidence`` is the mean of ``exp(logprob)`` over the reply's tokens when the server returns
  token logprobs (``logprobs=True``); a server that returns none gives 0.0, which reads as
  "unknown", never as "sure";
- ``tokens`` comes from the final usage chunk (``stream_options.include_usage``), else from the
  logprobs, else from the number of text chunks (servers send about one per token);
- leaving the iteration early (``aclose()``, a cancelled consumer) closes the HTTP response at
  once, which drops the connection, and the server stops generating;
- any failure (refused connection, timeout, HTTP error, malformed stream) raises
  :class:`ModelUnavailable`, which the pipeline answers with the rule-based explanation. Each
  new failure reason is logged once; after a failure, requests are refused without a round
  trip for ``retry_failed_seconds`` so a dead server does not cost every analysis a timeout.

The API key is sent in the Authorization header only: it is scrubbed from every message this
module writes, and the URL is reported without any user or password in it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit, urlunsplit

from .service import GenerationStream, ModelUnavailable

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

log = logging.getLogger(__name__)

State = Literal["idle", "ok", "failed", "closed"]

# Servers without authentication accept any bearer token. An explicit value also stops the SDK
# from sending OPENAI_API_KEY from the environment (a real OpenAI key) to a self-hosted server.
_NO_KEY = "no-key"


@dataclass(frozen=True, slots=True)
class RemoteGenerationConfig:
    """Where the model server is; built from the settings by ``app.services``."""

    base_url: str  # the API root, e.g. http://vllm:8000/v1
    api_key: str | None = field(repr=False)
    model: str  # the model name the server knows
    timeout_seconds: float  # connecting, and each wait for the next bytes of the stream
    max_new_tokens: int
    # A failed server is asked again after this long; until then requests are refused at once.
    retry_failed_seconds: float = 15.0


@dataclass
class RemoteStats:
    """Counters for tests and debugging."""

    requests: int = 0
    finished: int = 0
    stopped_early: int = 0
    failed: int = 0
    generated_tokens: int = 0


class RemoteGenerator:
    """Streams replies from an OpenAI-compatible server; one per process."""

    def __init__(self, config: RemoteGenerationConfig) -> None:
        self.config = config
        self.stats = RemoteStats()
        self._url = _safe_url(config.base_url)
        # No retries: a retried stream could repeat text already shown, and the pipeline has a
        # fallback. The timeout applies per phase (connect, each read), not to the whole reply.
        # Imported here: the SDK costs half a second of every server start that does not use it.
        from openai import AsyncOpenAI

        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or _NO_KEY,
            timeout=config.timeout_seconds,
            max_retries=0,
        )
        self._state: State = "idle"
        self._last_error: str | None = None
        self._failed_at: float | None = None  # monotonic
        self._last_success_wall: float | None = None

    # ------------------------------------------------------------------ reporting

    @property
    def generation_model_id(self) -> str:
        # Recorded as the analysis' modelUsed: say it came from a server, not the packaged model.
        return f"openai:{self.config.model}"

    @property
    def generation_enabled(self) -> bool:
        return True

    def status(self) -> dict[str, Any]:
        """Readiness facts for /readyz and logs (never the key)."""
        return {
            "backend": "openai",
            "url": self._url,
            "model": self.config.model,
            "state": self._state,
            "last_error": self._last_error,
            "last_success": (
                datetime.fromtimestamp(self._last_success_wall, UTC).isoformat(timespec="seconds")
                if self._last_success_wall
                else None
            ),
        }

    # Services.readiness() looks for this name, as on ModelService.
    readiness = status

    def last_confidence(self, stream: object) -> float:
        """The finished stream's confidence (0..1; 0.0 when the server gave no logprobs)."""
        confidence = getattr(stream, "confidence", None)
        return round(confidence, 4) if confidence is not None else 0.0

    # ------------------------------------------------------------------ lifecycle

    async def aclose(self) -> None:
        """Close the HTTP client (its pooled connections); idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        await self._client.close()

    # ------------------------------------------------------------------ generation

    def stream_generate(
        self, messages: list[dict[str, str]], max_new_tokens: int | None = None
    ) -> GenerationStream:
        """Text deltas of the server's reply as they arrive: ``async for delta in ...``.

        Raises :class:`ModelUnavailable` on the first iteration when the server cannot answer,
        or later if the stream breaks. Use ``contextlib.aclosing`` so that leaving early closes
        the connection at once.
        """
        return GenerationStream(lambda stream: self._generate(stream, messages, max_new_tokens))

    async def _generate(
        self, stream: GenerationStream, messages: list[dict[str, str]], max_new_tokens: int | None
    ) -> AsyncIterator[str]:
        import openai

        reason = self._refusal()
        if reason:
            raise ModelUnavailable(reason)
        new_tokens = max(1, max_new_tokens or self.config.max_new_tokens)
        self.stats.requests += 1
        try:
            response = await self._client.chat.completions.create(
                model=self.config.model,
                # Role/content dicts are what the API takes; the SDK types them per role.
                messages=cast("list[ChatCompletionMessageParam]", messages),
                stream=True,
                temperature=0,
                max_tokens=new_tokens,
                logprobs=True,
                stream_options={"include_usage": True},
            )
        except openai.APIError as exc:
            # `from None`: the SDK's exception may carry the server's body, which is not ours to log.
            raise self._failure(_describe(exc, self.config.timeout_seconds)) from None
        logprobs: list[float] = []
        usage_tokens: int | None = None
        chunks = 0
        finished = failed = False
        try:
            async for chunk in response:
                if chunk.usage is not None and chunk.usage.completion_tokens is not None:
                    usage_tokens = int(chunk.usage.completion_tokens)
                for choice in chunk.choices or ():
                    if choice.index != 0:  # n=1: anything else is not ours
                        continue
                    if choice.logprobs is not None and choice.logprobs.content:
                        logprobs.extend(float(token.logprob) for token in choice.logprobs.content)
                    text = choice.delta.content if choice.delta is not None else None
                    if text is None:
                        continue
                    if not isinstance(text, str):
                        raise TypeError(f"delta content is {type(text).__name__}, not text")
                    if text:
                        chunks += 1
                        yield text
            finished = True
        except openai.APIError as exc:
            failed = True
            raise self._failure(_describe(exc, self.config.timeout_seconds, mid_reply=True)) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            # Bad JSON in an event, or a chunk of the wrong shape (the SDK does not validate).
            failed = True
            raise self._failure(f"malformed stream: {type(exc).__name__}: {_one_line(str(exc), 120)}") from None
        finally:
            # Before the stream has ended this drops the connection: the server sees the client
            # go and stops generating, rather than finishing a reply nobody reads.
            await response.close()
            if not finished and not failed:
                self.stats.stopped_early += 1
        stream.tokens = usage_tokens if usage_tokens is not None else (len(logprobs) or chunks)
        # Mean probability the model gave its own chosen tokens (docs/DESIGN.md, aiConfidence).
        stream.confidence = sum(math.exp(lp) for lp in logprobs) / len(logprobs) if logprobs else 0.0
        self.stats.finished += 1
        self.stats.generated_tokens += stream.tokens
        self._succeeded()

    # ------------------------------------------------------------------ health

    def _refusal(self) -> str | None:
        if self._state == "closed":
            return "generation client closed"
        if (self._state == "failed" and self._failed_at is not None
                and time.monotonic() - self._failed_at < self.config.retry_failed_seconds):
            return f"generation server unavailable: {self._last_error}"
        return None

    def _failure(self, what: str) -> ModelUnavailable:
        """Record a failure (logged when the reason changes) and the exception to raise."""
        message = self._scrub(f"{self._url}: {what}")
        self.stats.failed += 1
        if self._state != "failed" or message != self._last_error:
            log.error("generation server %s (using rule-based explanations; retry in %.0f s)",
                      message, self.config.retry_failed_seconds)
        if self._state != "closed":
            self._state = "failed"
        self._last_error = message
        self._failed_at = time.monotonic()
        return ModelUnavailable(f"generation server unavailable: {message}")

    def _succeeded(self) -> None:
        if self._state == "failed":
            log.info("generation server %s answers again", self._url)
        if self._state != "closed":
            self._state = "ok"
        self._last_error = None
        self._failed_at = None
        self._last_success_wall = time.time()

    def _scrub(self, text: str) -> str:
        key = self.config.api_key
        return text.replace(key, "***") if key else text


def _describe(exc: openai.APIError, timeout: float, *, mid_reply: bool = False) -> str:
    """A short reason for an SDK error: its kind and, for HTTP errors, the server's message."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
        return f"{'connection lost mid-reply' if mid_reply else 'cannot connect'} ({_one_line(detail, 160)})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {_one_line(_server_message(exc), 160)}"
    return f"{type(exc).__name__}: {_one_line(exc.message, 160)}"


def _server_message(exc: openai.APIStatusError) -> str:
    # OpenAI-style bodies are {"error": {"message": ...}}; others vary ({"detail": ...}, text).
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            for key in ("message", "detail", "error"):
                if isinstance(error.get(key), str):
                    return error[key]
        elif isinstance(error, str):
            return error
    return exc.response.reason_phrase or "error"


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe_url(url: str) -> str:
    """The URL without user:password@ (some deployments put credentials there)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
