"""Generation from an OpenAI-compatible model server (GENERATION_BACKEND=openai).

The server is real: a small Starlette app on uvicorn in this process, answering
POST /v1/chat/completions with Server-Sent Events in OpenAI's chunk format, its text and logprobs
produced by a tiny real transformers model through ``inference.loading.generate_streaming``.
The client is :class:`inference.RemoteGenerator` with the official ``openai`` SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.services import Services, remote_generation_config
from core.settings import Settings
from inference import ModelUnavailable, RemoteGenerationConfig, RemoteGenerator, loading, sources
from inference.loading import GenerationBundle
from tests.helpers import make_settings
from tests.integration.test_models import MESSAGES
from tests.live_server import free_port
from tests.tiny_models import build_tiny_generation_model

API_KEY = "sk-test-0123456789abcdef"
MODEL = "tiny-llama"
_END = object()


@dataclass
class Served:
    """One request as the server saw it, and what it sent back."""

    body: dict[str, Any]
    authorization: str | None
    text: str = ""
    logprobs: list[float] = field(default_factory=list)
    generation_ended: bool = False
    disconnected: bool = False


class ChatServer:
    """An OpenAI-compatible chat completions endpoint over a real (tiny) model.

    ``mode`` picks the behaviour of the next requests: ``ok``; ``no-logprobs`` (as servers that
    do not support them); ``pause`` (after the first text, generation waits until the client
    goes away, so the test can see that leaving closes the connection); ``http-500``;
    ``http-401`` (the error echoes the key it was given); ``stall-headers`` / ``stall-body``
    (silence until the test ends); ``malformed`` (an event that is not JSON); ``drop`` (the
    connection is cut once the first line of text is sent, as when the server dies mid-reply).
    """

    def __init__(self, bundle: GenerationBundle) -> None:
        self.bundle = bundle
        self.mode = "ok"
        self.requests: list[Served] = []
        self.release = asyncio.Event()  # ends the stalls at teardown
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.completions, methods=["POST"])])

    async def completions(self, request: Request) -> Response:
        served = Served(await request.json(), request.headers.get("authorization"))
        self.requests.append(served)
        if self.mode == "http-500":
            return JSONResponse({"error": {"message": "CUDA out of memory", "type": "server_error"}}, 500)
        if self.mode == "http-401":
            given = (served.authorization or "").removeprefix("Bearer ")
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {given}"}}, 401)
        if self.mode == "stall-headers":
            await self.release.wait()
        return _EventStream(self, served, self.mode)

    def chunk(self, served: Served, delta: dict[str, Any], logprobs: list[float] | None,
              finish_reason: str | None = None) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        if logprobs is not None:
            # The client reads only `logprob`; the token text is not known per token here.
            choice["logprobs"] = {"content": [{"token": "", "bytes": [], "logprob": lp, "top_logprobs": []}
                                              for lp in logprobs]}
        return _event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()),
                       "model": served.body.get("model"), "choices": [choice]})


class _EventStream(Response):
    """The SSE response: generation in a thread, chunks as its text arrives, and a watch for
    the client's disconnect that stops the model (as vLLM and llama.cpp do)."""

    def __init__(self, server: ChatServer, served: Served, mode: str) -> None:
        super().__init__(media_type="text/event-stream")
        self.server, self.served, self.mode = server, served, mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server, served, body = self.server, self.served, self.served.body
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        with_logprobs = bool(body.get("logprobs")) and self.mode != "no-logprobs"
        await send({"type": "http.response.body", "more_body": True,
                    "body": server.chunk(served, {"role": "assistant", "content": ""}, [] if with_logprobs else None)})
        if self.mode == "malformed":
            await send({"type": "http.response.body", "body": b"data: {\"choices\": [\n\n", "more_body": True})
            await server.release.wait()
            return
        if self.mode == "stall-body":
            await server.release.wait()
            return

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()
        resume = threading.Event()
        max_new = int(body["max_tokens"])

        def on_text(text: str) -> None:  # generation thread
            loop.call_soon_threadsafe(queue.put_nowait, (text, len(served.logprobs)))
            if self.mode == "pause":
                resume.wait(30)  # until the client is gone (or the test gives up)

        def work() -> None:
            ids = loading.encode_prompt(server.bundle, body["messages"], max_new)
            loading.generate_streaming(server.bundle, ids, max_new, on_text, stop, served.logprobs.append)

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            served.disconnected = True
            stop.set()
            resume.set()

        watcher = asyncio.create_task(watch_disconnect())
        generation = loop.run_in_executor(None, work)
        generation.add_done_callback(lambda _: queue.put_nowait(_END))
        sent_logprobs = 0
        try:
            while (item := await queue.get()) is not _END:
                text, count = item  # type: ignore[misc]
                served.text += text
                chunk_logprobs = served.logprobs[sent_logprobs:count] if with_logprobs else None
                sent_logprobs = count
                if not served.disconnected:
                    await send({"type": "http.response.body", "more_body": True,
                                "body": server.chunk(served, {"content": text}, chunk_logprobs)})
                if self.mode == "drop" and "\n" in served.text:
                    # An exception out of an ASGI app mid-body: uvicorn closes the connection as is.
                    raise ConnectionAbortedError("the model server died mid-reply")
            await generation
            served.generation_ended = True
            if served.disconnected:
                return
            # Tokens that finished no text (the streamer holds back partial words) still count.
            rest = served.logprobs[sent_logprobs:] if with_logprobs else None
            await send({"type": "http.response.body", "more_body": True,
                        "body": server.chunk(served, {}, rest, finish_reason="length")})
            if (body.get("stream_options") or {}).get("include_usage"):
                tokens = len(served.logprobs)
                await send({"type": "http.response.body", "more_body": True, "body": _event(
                    {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": int(time.time()),
                     "model": body.get("model"), "choices": [],
                     "usage": {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1}})})
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
        finally:
            stop.set()
            resume.set()
            watcher.cancel()


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> GenerationBundle:
    folder = build_tiny_generation_model(tmp_path_factory.mktemp("remote-generation"))
    return loading.load_generation(sources.resolve_source("generation", str(folder)), torch.device("cpu"), 2048)


@contextlib.asynccontextmanager
async def serving(chat: ChatServer, log_level: str = "warning") -> AsyncIterator[str]:
    """`chat` on uvicorn on a free loopback port; yields its API root (…/v1)."""
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(chat.app, host="127.0.0.1", port=port, lifespan="off", log_level=log_level))
    task = asyncio.create_task(uv.serve())
    while not uv.started:  # noqa: ASYNC110  (uvicorn offers no start event)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        chat.release.set()
        uv.should_exit = True
        await task


@pytest.fixture
async def server(bundle: GenerationBundle) -> AsyncIterator[tuple[ChatServer, str]]:
    chat = ChatServer(bundle)
    async with serving(chat) as url:
        yield chat, url


@pytest.fixture
async def make_generator() -> AsyncIterator[Callable[..., RemoteGenerator]]:
    created: list[RemoteGenerator] = []

    def make(base_url: str, **overrides: Any) -> RemoteGenerator:
        values: dict[str, Any] = {"base_url": base_url, "api_key": API_KEY, "model": MODEL,
                                  "timeout_seconds": 10.0, "max_new_tokens": 24}
        values.update(overrides)
        created.append(RemoteGenerator(RemoteGenerationConfig(**values)))
        return created[-1]

    yield make
    for generator in created:
        await generator.aclose()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll a state that changes in the server's task or thread (10 s at most)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def drain(generator: RemoteGenerator, max_new_tokens: int | None = None) -> tuple[list[str], Any]:
    async with contextlib.aclosing(generator.stream_generate(MESSAGES, max_new_tokens)) as stream:
        return [delta async for delta in stream], stream


# --------------------------------------------------------------------------- streaming


async def test_stream_is_the_servers_model_output_with_tokens_and_confidence(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator], bundle: GenerationBundle
) -> None:
    chat, url = server
    generator = make_generator(url)
    deltas, stream = await drain(generator)

    [served] = chat.requests
    assert len(deltas) > 1  # streamed, not one block
    assert "".join(deltas) == served.text
    # The server's text is the model's greedy decode of the same prompt.
    ids = loading.encode_prompt(bundle, MESSAGES, 24)
    assert served.text == loading.generate_text(bundle, ids, 24)[0]
    assert stream.tokens == 24 == len(served.logprobs)
    expected = sum(math.exp(lp) for lp in served.logprobs) / len(served.logprobs)
    assert stream.confidence == pytest.approx(expected)
    assert 0.0 < generator.last_confidence(stream) <= 1.0
    assert generator.last_confidence(stream) == round(expected, 4)

    # What was asked: greedy, logprobs, usage, the model, the length, the key in the header only.
    assert served.body["model"] == MODEL
    assert served.body["stream"] is True
    assert served.body["temperature"] == 0
    assert served.body["logprobs"] is True
    assert served.body["stream_options"] == {"include_usage": True}
    assert served.body["max_tokens"] == 24
    assert served.body["messages"] == MESSAGES
    assert served.authorization == f"Bearer {API_KEY}"
    assert generator.generation_model_id == f"openai:{MODEL}"
    assert generator.generation_enabled is True
    status = generator.status()
    assert status["state"] == "ok" and status["last_error"] is None and status["model"] == MODEL
    assert API_KEY not in json.dumps(status)


async def test_max_new_tokens_per_call_overrides_the_config(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator]
) -> None:
    chat, url = server
    _, stream = await drain(make_generator(url), max_new_tokens=7)
    assert chat.requests[-1].body["max_tokens"] == 7
    assert stream.tokens == 7


async def test_server_without_logprobs_gives_confidence_zero(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator]
) -> None:
    chat, url = server
    chat.mode = "no-logprobs"
    generator = make_generator(url)
    deltas, stream = await drain(generator)
    assert "".join(deltas) == chat.requests[-1].text != ""
    assert stream.tokens == 24  # from the usage chunk
    assert stream.confidence == 0.0
    assert generator.last_confidence(stream) == 0.0


async def test_leaving_the_stream_closes_the_connection_and_stops_the_server(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator]
) -> None:
    chat, url = server
    chat.mode = "pause"
    generator = make_generator(url)
    async with contextlib.aclosing(generator.stream_generate(MESSAGES, max_new_tokens=150)) as stream:
        async for _ in stream:
            break
    served = chat.requests[-1]
    # The server generates nothing more until it sees the client go; then the model stops.
    await wait_until(lambda: served.generation_ended)
    assert served.disconnected
    assert len(served.logprobs) < 150
    assert generator.stats.stopped_early == 1


async def test_cancelling_the_consumer_closes_the_connection(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator]
) -> None:
    chat, url = server
    chat.mode = "pause"
    generator = make_generator(url)
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for _ in generator.stream_generate(MESSAGES, max_new_tokens=150):
            first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    served = chat.requests[-1]
    await wait_until(lambda: served.generation_ended)
    assert served.disconnected
    assert len(served.logprobs) < 150


# --------------------------------------------------------------------------- failures


async def test_connection_refused_is_unavailable(make_generator: Callable[..., RemoteGenerator]) -> None:
    generator = make_generator(f"http://127.0.0.1:{free_port()}/v1", timeout_seconds=30.0)
    with pytest.raises(ModelUnavailable, match="cannot connect"):
        await drain(generator)
    status = generator.status()
    assert status["state"] == "failed"
    assert "cannot connect" in status["last_error"]


@pytest.mark.parametrize(("mode", "status_code", "server_message"),
                         [("http-500", 500, "CUDA out of memory"), ("http-401", 401, "Incorrect API key")])
async def test_http_errors_are_unavailable_without_the_key(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator],
    caplog: pytest.LogCaptureFixture, mode: str, status_code: int, server_message: str,
) -> None:
    chat, url = server
    chat.mode = mode
    generator = make_generator(url)
    with caplog.at_level(logging.INFO), pytest.raises(ModelUnavailable) as raised:
        await drain(generator)
    message = str(raised.value)
    assert f"HTTP {status_code}" in message
    assert server_message in message
    assert API_KEY not in message
    assert raised.value.__cause__ is None  # the SDK's error (with the server's body) is not chained
    assert all(API_KEY not in record.getMessage() for record in caplog.records)
    assert API_KEY not in json.dumps(generator.status())
    assert chat.requests[-1].authorization == f"Bearer {API_KEY}"  # it was sent, in the header


async def test_failures_are_logged_once_per_state_change(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator], caplog: pytest.LogCaptureFixture
) -> None:
    chat, url = server
    chat.mode = "http-500"
    generator = make_generator(url, retry_failed_seconds=0.0)
    with caplog.at_level(logging.INFO, logger="inference.remote"):
        for _ in range(3):
            with pytest.raises(ModelUnavailable):
                await drain(generator)
        chat.mode = "ok"
        deltas, _ = await drain(generator)
    assert len(chat.requests) == 4
    assert deltas
    errors = [r for r in caplog.records if r.name == "inference.remote" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert any("answers again" in r.getMessage() for r in caplog.records if r.name == "inference.remote")
    assert generator.status()["state"] == "ok"


async def test_a_failed_server_is_not_asked_again_until_the_retry_delay(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator]
) -> None:
    chat, url = server
    chat.mode = "http-500"
    generator = make_generator(url, retry_failed_seconds=600.0)
    with pytest.raises(ModelUnavailable):
        await drain(generator)
    chat.mode = "ok"
    with pytest.raises(ModelUnavailable, match="HTTP 500"):
        await drain(generator)
    assert len(chat.requests) == 1  # refused from the recorded state, no round trip


@pytest.mark.parametrize("mode", ["stall-headers", "stall-body"])
async def test_a_server_silent_past_the_timeout_is_unavailable(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator], mode: str
) -> None:
    chat, url = server
    chat.mode = mode
    generator = make_generator(url, timeout_seconds=0.3)
    with pytest.raises(ModelUnavailable, match=r"no answer within 0\.3 s"):
        await drain(generator)
    assert generator.status()["state"] == "failed"


async def test_malformed_stream_is_unavailable(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator]
) -> None:
    chat, url = server
    chat.mode = "malformed"
    generator = make_generator(url)
    with pytest.raises(ModelUnavailable, match="malformed stream"):
        await drain(generator)


async def test_closed_generator_refuses_and_close_is_idempotent(
    server: tuple[ChatServer, str], make_generator: Callable[..., RemoteGenerator]
) -> None:
    chat, url = server
    generator = make_generator(url)
    await generator.aclose()
    await generator.aclose()
    with pytest.raises(ModelUnavailable, match="closed"):
        await drain(generator)
    assert chat.requests == []
    assert generator.status()["state"] == "closed"


# --------------------------------------------------------------------------- wiring


def test_config_from_settings_requires_url_and_model_and_hides_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GENERATION_API_URL and GENERATION_API_MODEL"):
        remote_generation_config(Settings(_env_file=None, generation_backend="openai"))  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="needs GENERATION_API_MODEL"):
        remote_generation_config(Settings(_env_file=None, generation_backend="openai",  # type: ignore[call-arg]
                                          generation_api_url="http://gpu:8001/v1"))
    config = remote_generation_config(Settings(
        _env_file=None, generation_backend="openai", generation_api_url="http://gpu:8001/v1",  # type: ignore[call-arg]
        generation_api_key=SecretStr(API_KEY), generation_api_model=MODEL,
        generation_api_timeout_seconds=12.0, generation_max_new_tokens=99,
    ))
    assert config == RemoteGenerationConfig(base_url="http://gpu:8001/v1", api_key=API_KEY, model=MODEL,
                                            timeout_seconds=12.0, max_new_tokens=99)
    assert API_KEY not in repr(config)
    # Credentials in the URL are not reported either.
    assert RemoteGenerator(RemoteGenerationConfig("http://user:pw@gpu:8001/v1", None, MODEL, 1.0, 8)
                           ).status()["url"] == "http://gpu:8001/v1"


async def test_services_use_the_remote_generator_and_close_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GENERATION_API_URL"):
        Services.create(make_settings("postgresql://unused/db", tmp_path, generation_backend="openai"))
    services = Services.create(make_settings(
        "postgresql://unused/db", tmp_path, generation_backend="openai",
        generation_api_url="http://gpu:8001/v1", generation_api_model=MODEL, generation_api_key=API_KEY,
    ))
    try:
        assert isinstance(services.generator, RemoteGenerator)
        assert services.generator.generation_model_id == f"openai:{MODEL}"
        assert services.generator.config.api_key == API_KEY
        assert services.models is not services.generator  # embeddings stay on the local service
    finally:
        await services.close()
    assert services.generator.status()["state"] == "closed"

    local = Services.create(make_settings("postgresql://unused/db", tmp_path))
    await local.close()
    assert local.generator is local.models
