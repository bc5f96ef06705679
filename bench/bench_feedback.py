"""How often the model's prose contradicts the code, before and after the sentence verifier.

    .venv/bin/python bench/bench_feedback.py [--model ID_OR_FOLDER] [--gguf-file F]
        [--penalties 1.0] [--limit N] [--threads 2] [--out bench/results/feedback.txt]

For every program of the hand-labelled corpus (tests/feedback_corpus.py, loaded by path: the
benchmarks import nothing from the test suite), the product's own code does what a worker does:
the judge runs it in the sandbox, `AnalysisPipeline.ground_pattern` computes the grounded part,
and `AnalysisPipeline.explain` has the model (the packaged SmolLM2 unless --model says another
Hugging Face causal LM id or folder) write its prose through the batch engine, all programs at
once, checked by the verifier sentence by sentence. The independent checker
(tests/feedback_checker.py, hand labels) then reads:

* raw: every sentence the model wrote (kept or dropped) - the contradiction rate without a verifier;
* shown: what the learner reads (grounded text + kept sentences) - must be 0.

Also reported: the share of model sentences kept, the verifier's own time per analysis, and how
much later the first model text is shown than the model's first token (a sentence is held until
it is whole and checked). `--penalties 1.0,1.1,1.2` repeats the run for each repetition penalty
(decoding is greedy). Prints a table; nothing is asserted: the CI test is
tests/e2e/test_feedback_truth.py.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.pipeline import AnalysisPipeline, judgment_summary
from analysis.prompt import build_messages
from app.services import inference_config
from catalog import get_pattern, preview
from core.domain import AnalysisKind
from core.settings import Settings
from inference import ModelService, loading
from judge.judge import Judge
from judge.metrics import analyze_code
from sandbox import Sandbox, SandboxLimits

ROOT = Path(__file__).resolve().parent.parent


def load_by_path(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


corpus = load_by_path("feedback_corpus", ROOT / "tests" / "feedback_corpus.py")
checker = load_by_path("feedback_checker", ROOT / "tests" / "feedback_checker.py")


class TimedStream:
    """A reply's stream, noting when its first token came."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.first_token_at: float | None = None

    @property
    def tokens(self) -> int:
        return getattr(self.inner, "tokens", 0)

    def __aiter__(self) -> TimedStream:
        return self

    async def __anext__(self) -> str:
        delta = await self.inner.__anext__()
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        return delta

    async def aclose(self) -> None:
        await self.inner.aclose()


class TimedGenerator:
    """The model service, each reply's first token timed (keyed by its prompt)."""

    def __init__(self, service: ModelService) -> None:
        self.service = service
        self.streams: dict[str, TimedStream] = {}

    @property
    def generation_model_id(self) -> str:
        return self.service.generation_model_id

    @property
    def generation_enabled(self) -> bool:
        return self.service.generation_enabled

    def stream_generate(self, messages: list[dict[str, str]], max_new_tokens: int | None = None) -> TimedStream:
        stream = TimedStream(self.service.stream_generate(messages, max_new_tokens))
        self.streams[messages[-1]["content"]] = stream
        return stream

    def last_confidence(self, stream: object) -> float:
        return self.service.last_confidence(getattr(stream, "inner", stream))


@dataclass
class Run:
    penalty: float
    programs: int = 0
    kept: int = 0
    dropped: int = 0
    raw_sentences: int = 0
    raw_false: int = 0
    raw_replies_false: int = 0
    shown_false: int = 0
    rule_based: int = 0
    verify_ms: list[float] = field(default_factory=list)
    hold_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0
    examples: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)


async def judge_all(programs: list[Any]) -> dict[str, tuple[Any, Any]]:
    sandbox = Sandbox(SandboxLimits(cpu_seconds=1.0, wall_seconds=3.0), workers=2)
    await sandbox.start()
    try:
        judge = Judge(sandbox)
        judged = {}
        for program in programs:
            judgment = await judge.judge(get_pattern(program.slug), program.code)
            judged[program.name] = (judgment, analyze_code(program.code))
        return judged
    finally:
        await sandbox.aclose()


async def run_once(args: argparse.Namespace, penalty: float, programs: list[Any],
                   judged: dict[str, tuple[Any, Any]]) -> Run:
    loading.GENERATION_KWARGS["repetition_penalty"] = penalty  # the batch engine reads it when made
    settings = Settings(_env_file=None, models_enabled=True, torch_threads=args.threads,  # type: ignore[call-arg]
                        generation_model=args.model, generation_gguf_file=args.gguf_file)
    service = ModelService(inference_config(settings))
    await service.preload(["generation"])
    generator = TimedGenerator(service)
    pipeline = AnalysisPipeline(db=None, judge=None, generator=generator,  # type: ignore[arg-type]
                                max_new_tokens=settings.generation_max_new_tokens)
    run = Run(penalty)

    async def one(program: Any) -> None:
        judgment, metrics = judged[program.name]
        pattern = get_pattern(program.slug)
        grounded = await pipeline.ground_pattern(pattern, list(preview(pattern)), program.code, AnalysisKind.FULL,
                                                 judgment_summary(judgment))
        shown_at: list[float] = []

        async def stage(name: str, delta: str | None = None) -> None:
            if delta and len(shown_at) < 2:
                shown_at.append(time.perf_counter())  # [0]: the grounded text, [1]: the first model text

        explained = await pipeline.explain(grounded, AnalysisKind.FULL, stage)
        facts = checker.JudgedFacts.from_judgment(judgment, metrics)
        sentences = explained.sentences or {"kept": 0, "dropped": 0}
        shown_model = explained.text[len(grounded.explanation):].strip()
        raw = checker.split_sentences(shown_model) + [d["sentence"] for d in explained.dropped]
        false_raw = [s for s in raw if checker.contradictions(program, s, facts)]
        run.programs += 1
        run.kept += sentences["kept"]
        run.dropped += sentences["dropped"]
        run.raw_sentences += len(raw)
        run.raw_false += len(false_raw)
        run.raw_replies_false += bool(false_raw)
        run.shown_false += bool(checker.contradictions(program, explained.text, facts))
        run.rule_based += explained.model_used == "rule-based"
        run.tokens += explained.tokens
        run.verify_ms.append(explained.verify_ms)
        for d in explained.dropped:
            reason = d["reason"].split(";")[0].split(" (")[0]
            reason = " ".join(reason.split()[:2])
            run.reasons[reason] = run.reasons.get(reason, 0) + 1
        stream = generator.streams.get(build_messages(grounded.facts)[-1]["content"])
        if stream is not None and stream.first_token_at is not None and len(shown_at) == 2:
            run.hold_ms.append((shown_at[1] - stream.first_token_at) * 1000)
        if program.category in ("passing", "wrong", "runtime_error") and sentences["kept"] >= 2:
            run.examples.setdefault(program.category, f"[{program.name}]\n{program.code}\n--- shown:\n{explained.text}")

    started = time.perf_counter()
    await asyncio.gather(*(one(p) for p in programs))
    run.seconds = time.perf_counter() - started
    await service.aclose()
    return run


def report(runs: list[Run], model: str) -> str:
    lines = [f"model: {model}", f"corpus: {runs[0].programs} programs, "
             f"{len({p.slug for p in corpus.PROGRAMS})} patterns", ""]
    header = (f"{'penalty':>7} {'sentences':>9} {'raw false':>10} {'replies w/ false':>16} {'shown false':>11} "
              f"{'kept':>9} {'rule-based':>10} {'verify ms':>9} {'hold ms p50':>11} {'tok/s':>6}")
    lines.append(header)
    for run in runs:
        total = run.kept + run.dropped
        hold = statistics.median(run.hold_ms) if run.hold_ms else float("nan")
        lines.append(
            f"{run.penalty:>7.2f} {run.raw_sentences:>9} {run.raw_false / max(1, run.raw_sentences):>10.1%} "
            f"{run.raw_replies_false / max(1, run.programs):>16.1%} {run.shown_false:>11} "
            f"{run.kept / max(1, total):>9.1%} {run.rule_based:>10} {statistics.mean(run.verify_ms):>9.2f} "
            f"{hold:>11.0f} {run.tokens / run.seconds:>6.1f}")
    best = runs[0]
    lines += ["", "why sentences were dropped (first run):"]
    lines += [f"  {count:>4}  {reason}" for reason, count in sorted(best.reasons.items(), key=lambda kv: -kv[1])[:12]]
    lines += ["", "examples as a learner sees them (first run):"]
    for category, text in best.examples.items():
        lines += [f"== {category}", text, ""]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="generation model id or folder (default: packaged SmolLM2)")
    parser.add_argument("--gguf-file", default=None)
    parser.add_argument("--penalties", default=str(loading.GENERATION_KWARGS["repetition_penalty"]),
                        help="comma-separated repetition penalties (default: the product's)")
    parser.add_argument("--limit", type=int, default=0, help="first N programs only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    programs = corpus.PROGRAMS[: args.limit] if args.limit else corpus.PROGRAMS
    judged = await judge_all(programs)
    runs = [await run_once(args, float(p), programs, judged) for p in args.penalties.split(",")]
    text = report(runs, args.model or "packaged SmolLM2-135M-Instruct (Q4_1 GGUF)")
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    asyncio.run(main())
