"""One analysis in two parts.

The grounded part needs no model: the verdict and every number come from the judge and the code
analyser; the rule-based explanation, suggestions and hints come from rules over those facts. It
is computed when the analysis is queued (`ground`), in milliseconds, and stored with it, so a
learner reads it at once whatever the queue holds.

The model's prose is the slow part (`run`, on a worker): the model only writes about the facts,
streamed token by token after the grounded text, and joins a shared batch with the other
learners' (inference.batching). Without a model, or when it fails, the grounded part is the
analysis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import asyncpg

from catalog import PatternDef
from core.domain import RULE_BASED, AnalysisKind, AnalysisStatus, Language, Verdict
from db import attempts, patterns
from db.analyses import Analysis
from db.database import Database
from inference import ModelUnavailable
from judge.judge import Judge, Judgment, judge_sizes, reads_input
from judge.languages import support
from judge.metrics import CodeMetrics, analyze_code

from .events import Event
from .feedback import Facts, rule_based_feedback, solution_explanation, suggestions_and_hints
from .prompt import build_messages, max_new_tokens_for
from .verifier import Sentence, SentenceSplitter, SentenceVerifier

log = logging.getLogger(__name__)

Publish = Callable[[Event], Awaitable[None]]

_STOP_AFTER_DROPPED = 3  # model sentences dropped in a row before the model is stopped
_MAX_DROPPED_KEPT = 20


class Generator(Protocol):
    """What writes the prose: the in-process model service or a remote model server."""

    @property
    def generation_model_id(self) -> str: ...

    @property
    def generation_enabled(self) -> bool: ...

    def stream_generate(self, messages: list[dict[str, str]], max_new_tokens: int | None = None) -> Any: ...

    def last_confidence(self, stream: object) -> float: ...


@dataclass
class Outcome:
    result: dict[str, Any]
    model_used: str = RULE_BASED
    ai_confidence: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Explained:
    """The explanation an analysis ends with, and what the verifier did to the model's part."""

    text: str
    model_used: str = RULE_BASED
    confidence: float = 0.0
    tokens: int = 0
    sentences: dict[str, int] | None = None  # {"kept": .., "dropped": ..}; None: no model asked
    dropped: list[dict[str, str]] = field(default_factory=list)
    verify_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Grounded:
    """The part of an analysis that needs no model, and the facts the model is given."""

    result: dict[str, Any]
    facts: Facts

    @property
    def explanation(self) -> str:
        return str(self.result.get("explanation") or "")


def complexity_of(metrics: CodeMetrics) -> dict[str, Any]:
    return {
        "score": metrics.score,
        "level": metrics.level,
        "cyclomatic": metrics.cyclomatic,
        "max_nesting_depth": metrics.max_nesting_depth,
        "loops": metrics.loops,
        "conditions": metrics.conditions,
        "big_o": metrics.big_o,
    }


def judgment_from_attempt(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "verdict": row["verdict"],
        "score": float(row["score"]),
        "error": row["error"],
        "mismatches": list(row["mismatches"]),
        "sizes_tested": list(row["sizes_tested"]),
        "reads_input": reads_input(row["code"], Language(row["language"])),
    }


def reference_judgment(pattern: PatternDef) -> dict[str, Any]:
    """The judgment of a pattern's own reference program, without running it: the expected output
    is what the reference prints, so at every size the judge would try it passes, row for row."""
    reads = reads_input(pattern.reference)
    return {"verdict": Verdict.PASSED.value, "score": 1.0, "error": None, "mismatches": [],
            "sizes_tested": judge_sizes(pattern, reads), "reads_input": reads}


def judgment_summary(judgment: Judgment) -> dict[str, Any]:
    return {
        "verdict": judgment.verdict.value,
        "score": judgment.score,
        "error": judgment.error,
        "mismatches": [asdict(m) for m in judgment.mismatches],
        "sizes_tested": list(judgment.sizes_tested),
        "reads_input": judgment.reads_input,
    }


class AnalysisPipeline:
    def __init__(self, db: Database, judge: Judge, generator: Generator | None, max_new_tokens: int) -> None:
        # generator None, or one with generation disabled: rule-based explanations only.
        self.db = db
        self.judge = judge
        self.generator = generator
        self.max_new_tokens = max_new_tokens
        self._fallback_logged = False

    @property
    def generation_on(self) -> bool:
        return self.generator is not None and self.generator.generation_enabled

    def model_key(self, kind: AnalysisKind, language: Language = Language.PYTHON) -> str:
        """What an analysis of this kind is produced with, for reuse of identical requests. The
        model writes only for languages its sentence verifier has been measured on."""
        if (kind is AnalysisKind.COMPLEXITY or self.generator is None or not self.generation_on
                or not support(language).model_prose):
            return RULE_BASED
        return self.generator.generation_model_id

    def needs_model(self, kind: AnalysisKind, language: Language = Language.PYTHON) -> bool:
        """Whether anything of this kind waits for a model after the grounded part."""
        return self.model_key(kind, language) != RULE_BASED

    async def judge_code(
        self, pattern_row: asyncpg.Record, code: str, language: Language = Language.PYTHON
    ) -> dict[str, Any]:
        """`pattern_row` as `patterns.with_references` reads it (the judge needs the reference)."""
        return judgment_summary(await self.judge.judge(patterns.to_pattern_def(pattern_row), code, language))

    async def ground(
        self, pattern_row: asyncpg.Record, code: str, kind: AnalysisKind, judgment: dict[str, Any] | None,
        language: Language = Language.PYTHON,
    ) -> Grounded:
        """The grounded part of an analysis of `code` (judged already, unless kind is COMPLEXITY)."""
        return await self.ground_pattern(patterns.to_pattern_def(pattern_row), list(pattern_row["preview"]), code,
                                         kind, judgment, language)

    async def ground_pattern(
        self, pattern: PatternDef, preview: list[str], code: str, kind: AnalysisKind, judgment: dict[str, Any] | None,
        language: Language = Language.PYTHON,
    ) -> Grounded:
        """`ground` for a pattern given by value (the benchmark's way in: no database)."""
        metrics = await asyncio.to_thread(analyze_code, code, language)
        mismatches = judgment["mismatches"] if judgment else []
        facts = Facts(
            pattern_name=pattern.name,
            pattern_description=pattern.description,
            expected_preview=preview,
            code=code,
            verdict=Verdict(judgment["verdict"]) if judgment else None,
            error=judgment["error"] if judgment else metrics.syntax_error,
            mismatches=[(m["size"], m["row"], m["expected"], m["actual"]) for m in mismatches],
            score=judgment["score"] if judgment else None,
            cyclomatic=metrics.cyclomatic,
            max_nesting_depth=metrics.max_nesting_depth,
            loops=metrics.loops,
            conditions=metrics.conditions,
            big_o=metrics.big_o,
            complexity_level=metrics.level,
            reads_input=bool(judgment and judgment.get("reads_input")),
            sizes_tested=tuple(judgment.get("sizes_tested") or ()) if judgment else (),
            language=language,
        )
        explanation = None
        if kind is not AnalysisKind.COMPLEXITY:
            explanation = rule_based_feedback(facts, kind).explanation.strip()
        suggestions, hints = suggestions_and_hints(facts)
        result = {
            "complexity": complexity_of(metrics),
            "explanation": explanation,
            "suggestions": suggestions,
            "hints": hints,
            "judgment": judgment,
        }
        return Grounded(result, facts)

    async def ground_reference(self, pattern_row: asyncpg.Record) -> Grounded:
        """The grounded part of a pattern's solution: the reference analysed as any program is,
        its explanation written for a reference rather than for a learner's attempt."""
        pattern = patterns.to_pattern_def(pattern_row)
        grounded = await self.ground_pattern(pattern, list(pattern_row["preview"]), pattern.reference,
                                             AnalysisKind.EXPLANATION, reference_judgment(pattern))
        result = {**grounded.result, "explanation": solution_explanation(grounded.facts, pattern.formula)}
        return Grounded(result, grounded.facts)

    async def explain_reference(self, pattern_row: asyncpg.Record) -> Explained:
        """A solution's whole explanation: the grounded text, then the model's sentences that pass
        the same verifier as learners' feedback (nobody streams it: it is stored)."""
        async def unheard(_stage: str, _delta: str | None = None) -> None:
            return None

        return await self.explain(await self.ground_reference(pattern_row), AnalysisKind.EXPLANATION, unheard)

    async def run(self, job: Analysis, publish: Publish) -> Outcome:
        """The model's prose on top of the grounded part. The grounded part is rebuilt from the
        stored judgment (the code analyser takes milliseconds) because the prompt needs its
        facts; a job queued without a judgment is judged here. Published: the stages, the
        grounded text, then the prose as it comes."""
        analysis_id, kind, code = job.id, job.kind, job.code
        timings: dict[str, float] = {}

        async def stage(name: str, delta: str | None = None) -> None:
            await publish(Event(analysis_id, AnalysisStatus.RUNNING, name, delta))

        [pattern_row] = await patterns.with_references(self.db, [job.pattern_id])
        if pattern_row is None:  # patterns are never deleted (analyses reference them)
            raise LookupError(f"analysis {analysis_id} names a missing pattern {job.pattern_id}")

        judgment: dict[str, Any] | None = (job.result or {}).get("judgment")
        if judgment is None and kind is not AnalysisKind.COMPLEXITY:
            started = time.perf_counter()
            attempt = await attempts.by_id(self.db, job.attempt_id) if job.attempt_id else None
            judgment = judgment_from_attempt(attempt) if attempt else await self.judge_code(pattern_row, code,
                                                                                              job.language)
            timings["execution_ms"] = round((time.perf_counter() - started) * 1000, 1)
        await stage("execution")
        grounded = await self.ground(pattern_row, code, kind, judgment, job.language)
        await stage("complexity")

        result = dict(grounded.result)
        model_used, confidence = RULE_BASED, 0.0
        if kind is not AnalysisKind.COMPLEXITY:
            started = time.perf_counter()
            explained = await self.explain(grounded, kind, stage)
            result["explanation"] = explained.text
            model_used, confidence = explained.model_used, explained.confidence
            if explained.sentences is not None:
                result["model_sentences"] = explained.sentences
                # For operators and the benchmark, never shown to learners.
                result["model_dropped"] = explained.dropped[:_MAX_DROPPED_KEPT]
                timings["verify_ms"] = explained.verify_ms
            timings["explanation_ms"] = round((time.perf_counter() - started) * 1000, 1)
            timings["generated_tokens"] = explained.tokens
        await stage("feedback")
        return Outcome(result=result, model_used=model_used, ai_confidence=confidence, timings=timings)

    async def explain(
        self, grounded: Grounded, kind: AnalysisKind, stage: Callable[[str, str | None], Awaitable[None]]
    ) -> Explained:
        """The grounded text first, then the model's sentences that pass the verifier, each shown
        whole once checked (a dropped sentence is never shown). The streamed deltas joined are
        exactly the stored explanation. When no sentence survives, the explanation is the
        grounded text alone and the analysis is rule-based."""
        text = grounded.explanation
        await stage("explanation", text)
        if self.generator is None or not self.generation_on or not support(grounded.facts.language).model_prose:
            return Explained(text)
        verifier = SentenceVerifier(grounded.facts)
        splitter = SentenceSplitter()
        shown: list[str] = []
        dropped: list[dict[str, str]] = []
        verify_seconds = 0.0
        dropped_in_a_row = 0
        confidence, tokens, stopped = 0.0, 0, False

        async def consider(sentences: list[Sentence]) -> None:
            nonlocal verify_seconds, dropped_in_a_row
            for sentence in sentences:
                started = time.perf_counter()
                check = verifier.check(sentence)
                verify_seconds += time.perf_counter() - started
                if not check.kept:
                    dropped.append({"sentence": sentence.text[:300], "reason": check.reason or ""})
                    dropped_in_a_row += 1
                    continue
                dropped_in_a_row = 0
                separator = "\n\n" if not shown else "\n" if sentence.new_line else " "
                shown.append(separator + sentence.text)
                await stage("explanation", shown[-1])

        max_new_tokens = max_new_tokens_for(grounded.facts.code, self.max_new_tokens)
        try:
            messages = build_messages(grounded.facts, kind)
            async with aclosing(self.generator.stream_generate(messages, max_new_tokens=max_new_tokens)) as stream:
                async for delta in stream:
                    await consider(splitter.feed(delta))
                    if dropped_in_a_row >= _STOP_AFTER_DROPPED:
                        stopped = True  # off the rails: free the batch slot for the other learners
                        break
            tokens = getattr(stream, "tokens", 0)
            if not stopped:
                await consider(splitter.flush(complete=tokens < max_new_tokens))
            confidence = self.generator.last_confidence(stream)
        except ModelUnavailable as exc:
            self._log_fallback(str(exc))
        except Exception:  # a broken model must not fail the analysis: keep the grounded text, loudly
            log.exception("generation failed; the explanation is the rule-based one")
        sentences = {"kept": len(shown), "dropped": len(dropped)}
        verify_ms = round(verify_seconds * 1000, 2)
        if not shown:
            return Explained(text, tokens=tokens, sentences=sentences, dropped=dropped, verify_ms=verify_ms)
        return Explained(text + "".join(shown), self.generator.generation_model_id, confidence, tokens,
                         sentences, dropped, verify_ms)

    def _log_fallback(self, reason: str) -> None:
        if not self._fallback_logged:
            log.warning("generative model unavailable (%s): analyses use rule-based explanations", reason)
            self._fallback_logged = True
