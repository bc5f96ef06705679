"""Benchmark of the model service with the real packaged models (offline).

    .venv/bin/python bench/bench_models.py [--texts 64] [--tokens 48] [--threads 1,2] [--json out.json]

Measures, through :class:`inference.ModelService`:

* embeddings: texts/s for N concurrent one-text ``embed`` calls (coalesced into shared forward
  passes) against the same texts embedded one call after another;
* generation: tokens/s streamed through ``stream_generate`` against a plain ``model.generate`` on
  the same prompt and token budget (loaded with the same product loader);
* event-loop responsiveness while a generation runs: how late a 5 ms ticker wakes up (max, p99),
  for each torch thread count, and the latency of an ``embed`` call made meanwhile.

Prints a table and ratios; nothing is asserted. Timings depend on the machine: compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from transformers.utils import logging as hf_logging

from analysis.feedback import Facts
from analysis.prompt import build_messages
from app.services import inference_config
from core.settings import Settings
from inference import InferenceConfig, ModelService, loading, sources

log = logging.getLogger("bench")


def model_config(**overrides: object) -> InferenceConfig:
    """The packaged models' config as the server builds it, with these settings changed."""
    return inference_config(Settings(_env_file=None, models_enabled=True, **overrides))  # type: ignore[arg-type]

FACTS = Facts(
    pattern_name="Pyramid",
    pattern_description="A centred pyramid of stars: row i has 2*i - 1 stars.",
    expected_preview=["    *", "   ***", "  *****", " *******", "*********"],
    code=(  # forgets the leading spaces
        "n = int(input())\n"
        "for i in range(1, n + 1):\n"
        "    for k in range(2 * i - 1):\n"
        "        print('*', end='')\n"
        "    print()\n"
    ),
    verdict="WRONG_OUTPUT",
    error="Wrong output for n=5: row 1 differs",
    mismatches=[(5, 1, "    *", "*"), (5, 2, "   ***", "***")],
    score=0.4,
    cyclomatic=3,
    max_nesting_depth=2,
    loops=2,
    conditions=0,
    big_o="O(n^2)",
    complexity_level="low",
    reads_input=True,
)

TEXT_SEEDS = [
    "right triangle of stars", "inverted pyramid with spaces", "hollow square of hashes",
    "diamond made of asterisks", "number triangle counting up", "butterfly pattern",
    "Floyd's triangle", "alphabet pyramid with letters", "database connection pool",
]


@dataclass
class Row:
    name: str
    value: float
    unit: str
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    ratios: list[Row] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str, note: str = "") -> float:
        self.rows.append(Row(name, value, unit, note))
        return value

    def ratio(self, name: str, value: float, note: str = "") -> None:
        self.ratios.append(Row(name, value, "x", note))

    def print(self) -> None:
        width = max(len(r.name) for r in [*self.rows, *self.ratios])
        print()
        for key, value in self.facts.items():
            print(f"{key}: {value}")
        print()
        print(f"{'measure'.ljust(width)}  {'value':>10}  unit")
        print("-" * (width + 30))
        for row in self.rows:
            print(f"{row.name.ljust(width)}  {row.value:>10.2f}  {row.unit}  {row.note}")
        print()
        for row in self.ratios:
            print(f"{row.name.ljust(width)}  {row.value:>10.2f}  x  {row.note}")


def texts(n: int) -> list[str]:
    return [f"{TEXT_SEEDS[i % len(TEXT_SEEDS)]} (variant {i})" for i in range(n)]


async def bench_embeddings(service: ModelService, report: Report, n: int, rounds: int) -> None:
    batch = texts(n)
    await service.embed(batch[:1])  # load
    report.facts["embedding load"] = f"{service.status()['embedding']['load_seconds']} s"
    sequential: list[float] = []
    coalesced: list[float] = []
    passes: list[int] = []
    for _ in range(rounds):
        started = time.perf_counter()
        for text in batch:
            await service.embed([text])
        sequential.append(time.perf_counter() - started)

        before = service.stats.embed_forward_passes
        started = time.perf_counter()
        await asyncio.gather(*(service.embed([text]) for text in batch))
        coalesced.append(time.perf_counter() - started)
        passes.append(service.stats.embed_forward_passes - before)
    seq = report.add(f"embed: {n} calls one after another", n / min(sequential), "texts/s")
    co = report.add(f"embed: {n} concurrent calls (coalesced)", n / min(coalesced), "texts/s",
                    f"{statistics.median(passes):.0f} forward passes for {n} calls")
    report.ratio("embed coalesced / one-by-one", co / seq)


async def stream_once(service: ModelService, messages: list[dict[str, str]], tokens: int,
                      tick_ms: float = 5.0) -> dict[str, float]:
    """One streamed generation with a ticker measuring event-loop lag and an embed call mid-way."""
    lags: list[float] = []
    done = asyncio.Event()
    interval = tick_ms / 1000

    async def ticker() -> None:
        while not done.is_set():
            started = time.perf_counter()
            await asyncio.sleep(interval)
            lags.append(time.perf_counter() - started - interval)

    embed_latency: list[float] = []

    async def embed_meanwhile() -> None:
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        await service.embed(["a triangle of stars"])
        embed_latency.append(time.perf_counter() - started)

    tick_task = asyncio.create_task(ticker())
    embed_task = asyncio.create_task(embed_meanwhile())
    started = time.perf_counter()
    first: float | None = None
    stream = service.stream_generate(messages, max_new_tokens=tokens)
    async with contextlib.aclosing(stream):
        async for _ in stream:
            if first is None:
                first = time.perf_counter() - started
    elapsed = time.perf_counter() - started
    done.set()
    await asyncio.gather(tick_task, embed_task)
    lags.sort()
    return {
        "seconds": elapsed,
        "tokens": stream.tokens,
        "first_delta": first or elapsed,
        "lag_max_ms": lags[-1] * 1000 if lags else 0.0,
        "lag_p99_ms": lags[int(len(lags) * 0.99) - 1] * 1000 if lags else 0.0,
        "ticks": len(lags),
        "embed_ms": embed_latency[0] * 1000 if embed_latency else float("nan"),
    }


def raw_generate(bundle: loading.GenerationBundle, messages: list[dict[str, str]], tokens: int,
                 threads: int) -> dict[str, float]:
    # torch's thread count is per OS thread (OpenMP): set it in the thread that runs the model.
    torch.set_num_threads(threads)
    ids = loading.encode_prompt(bundle, messages, tokens)
    started = time.perf_counter()
    _, produced = loading.generate_text(bundle, ids, tokens)
    return {"seconds": time.perf_counter() - started, "tokens": produced, "prompt_tokens": len(ids)}


async def bench_generation(report: Report, tokens: int, threads: int, rounds: int) -> None:
    """A fresh service per thread count: its pool threads take the count when they start."""
    messages = build_messages(FACTS, "FEEDBACK")
    service = ModelService(model_config(torch_threads=threads, model_workers=2, model_device="cpu"))
    try:
        await service.embed(["warm up"])
        await stream_once(service, messages, 1)  # load
        load_seconds = service.status()["generation"]["load_seconds"]
        report.facts[f"generation load (threads={threads})"] = f"{load_seconds} s"
        # The raw baseline runs the very model the service loaded (bench-only peek at the service).
        bundle = service._slots["generation"].bundle
        raw_runs: list[dict[str, float]] = []
        streamed_runs: list[dict[str, float]] = []
        for _ in range(rounds):
            raw_runs.append(await asyncio.to_thread(raw_generate, bundle, messages, tokens, threads))
            streamed_runs.append(await stream_once(service, messages, tokens))
    finally:
        await service.aclose()
    report.facts["prompt tokens"] = raw_runs[0]["prompt_tokens"]
    raw = max(raw_runs, key=lambda r: r["tokens"] / r["seconds"])
    streamed = max(streamed_runs, key=lambda r: r["tokens"] / r["seconds"])
    raw_rate = report.add(f"generate: raw model.generate, threads={threads}", raw["tokens"] / raw["seconds"],
                          "tokens/s", f"{raw['tokens']:.0f} tokens incl. prefill")
    rate = report.add(f"generate: stream_generate, threads={threads}",
                      streamed["tokens"] / streamed["seconds"], "tokens/s",
                      f"first delta after {streamed['first_delta']:.2f} s")
    report.add(f"loop lag max during generation, threads={threads}",
               max(r["lag_max_ms"] for r in streamed_runs), "ms",
               f"p99 {max(r['lag_p99_ms'] for r in streamed_runs):.1f} ms, 5 ms ticker")
    report.add(f"embed latency during generation, threads={threads}",
               statistics.median(r["embed_ms"] for r in streamed_runs), "ms", "one text, median")
    report.ratio(f"stream / raw tokens/s, threads={threads}", rate / raw_rate)


async def main(args: argparse.Namespace) -> Report:
    thread_counts = [int(t) for t in args.threads.split(",")]
    settings = model_config(torch_threads=thread_counts[0], model_workers=2, model_device="cpu",
                            embed_max_batch=args.max_batch)
    report = Report()
    report.facts.update({
        "torch": torch.__version__,
        "cpu cores": os.cpu_count(),
        "embedding model": sources.resolve_source("embedding", None).model_id,
        "generation model": sources.resolve_source("generation", None).model_id,
        "embed_max_batch": settings.embed_max_batch,
    })
    service = ModelService(settings)
    try:
        await bench_embeddings(service, report, args.texts, args.rounds)
    finally:
        await service.aclose()
    if not args.skip_generation:
        for count in thread_counts:
            await bench_generation(report, args.tokens, count, args.gen_rounds)
        if len(thread_counts) > 1:
            values = {r.name: r.value for r in report.rows}
            low, high = thread_counts[0], thread_counts[-1]
            for what in ("loop lag max during generation", "generate: stream_generate"):
                report.ratio(f"{what}: threads={high} / threads={low}",
                             values[f"{what}, threads={high}"] / max(values[f"{what}, threads={low}"], 1e-9))
    return report


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=64, help="texts per embedding round")
    parser.add_argument("--rounds", type=int, default=3, help="embedding rounds (best is reported)")
    parser.add_argument("--max-batch", type=int, default=32, help="embed_max_batch")
    parser.add_argument("--tokens", type=int, default=48, help="new tokens per generation")
    parser.add_argument("--gen-rounds", type=int, default=2, help="generation rounds (best is reported)")
    parser.add_argument("--threads", default="1,2", help="torch thread counts to compare")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    hf_logging.disable_progress_bar()
    result = asyncio.run(main(arguments))
    result.print()
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps(
            {"facts": result.facts, "rows": [r.__dict__ for r in result.rows],
             "ratios": [r.__dict__ for r in result.ratios]}, indent=2, default=str))
