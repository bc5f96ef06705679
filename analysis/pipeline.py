"""One analysis, stage by stage: execution (the judge), complexity (static analysis),
explanation (the generative model, streamed; rule-based when no model answers) and feedback.

Grounding: the verdict and every number come from the judge and the analyser. The model only
writes prose about those facts; suggestions and hints come from rules over the same facts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from typing import Any

import asyncpg

from core.domain import RULE_BASED, AnalysisKind, AnalysisStatus, Verdict
from db import attempts, patterns
from db.analyses import Analysis
from db.database import Database
from inference import ModelService, ModelUnavailable
from judge.judge import Judge, Judgment, reads_input
from judge.metrics import CodeMetrics, analyze_code

from .events import Event
from .feedback import Facts, build_messages, rule_based_feedback, suggestions_and_hints

log = logging.getLogger(__name__)

Publish = Callable[[Event], Awaitable[None]]


@dataclass
class Outcome:
    result: dict[str, Any]
    model_used: str = RULE_BASED
    ai_confidence: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


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
        "reads_input": reads_input(row["code"]),
    }


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
    def __init__(self, db: Database, judge: Judge, models: ModelService | None, max_new_tokens: int) -> None:
        # models None, or a service with models disabled: rule-based explanations only.
        self.db = db
        self.judge = judge
        self.models = models
        self.max_new_tokens = max_new_tokens
        self._fallback_logged = False

    @property
    def generation_on(self) -> bool:
        return self.models is not None and self.models.config.models_enabled

    def model_key(self, kind: AnalysisKind) -> str:
        """What an analysis of this kind is produced with, for reuse of identical requests."""
        if kind is AnalysisKind.COMPLEXITY or self.models is None or not self.generation_on:
            return RULE_BASED
        return self.models.generation_model_id

    async def run(self, job: Analysis, publish: Publish) -> Outcome:
        analysis_id, kind, code = job.id, job.kind, job.code
        timings: dict[str, float] = {}

        async def stage(name: str, delta: str | None = None) -> None:
            await publish(Event(analysis_id, AnalysisStatus.RUNNING, name, delta))

        [pattern_row] = await patterns.by_ids(self.db, [job.pattern_id])
        if pattern_row is None:  # patterns are never deleted (analyses reference them)
            raise LookupError(f"analysis {analysis_id} names a missing pattern {job.pattern_id}")
        pattern = patterns.to_pattern_def(pattern_row)

        judgment: dict[str, Any] | None = None
        if kind is not AnalysisKind.COMPLEXITY:
            started = time.perf_counter()
            attempt = await attempts.by_id(self.db, job.attempt_id) if job.attempt_id else None
            if attempt is not None:
                judgment = judgment_from_attempt(attempt)
            else:
                judgment = judgment_summary(await self.judge.judge(pattern, code))
            timings["execution_ms"] = round((time.perf_counter() - started) * 1000, 1)
            await stage("execution")

        started = time.perf_counter()
        metrics = await asyncio.to_thread(analyze_code, code)
        timings["complexity_ms"] = round((time.perf_counter() - started) * 1000, 1)
        await stage("complexity")

        mismatches = judgment["mismatches"] if judgment else []
        facts = Facts(
            pattern_name=pattern.name,
            pattern_description=pattern.description,
            expected_preview=list(pattern_row["preview"]),
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
        )

        explanation: str | None = None
        model_used, confidence = RULE_BASED, 0.0
        if kind is not AnalysisKind.COMPLEXITY:
            started = time.perf_counter()
            explanation, model_used, confidence = await self._explain(facts, kind, stage)
            timings["explanation_ms"] = round((time.perf_counter() - started) * 1000, 1)

        suggestions, hints = suggestions_and_hints(facts)
        await stage("feedback")
        result = {
            "complexity": complexity_of(metrics),
            "explanation": explanation,
            "suggestions": suggestions,
            "hints": hints,
            "judgment": judgment,
        }
        return Outcome(result=result, model_used=model_used, ai_confidence=confidence, timings=timings)

    async def _explain(
        self, facts: Facts, kind: AnalysisKind, stage: Callable[[str, str | None], Awaitable[None]]
    ) -> tuple[str, str, float]:
        """The grounded, rule-based summary first (a small model can contradict the facts; the
        learner reads them before its prose), then the model's explanation as it streams in.
        The streamed deltas joined are exactly the stored explanation."""
        grounded = rule_based_feedback(facts, kind).explanation.strip()
        await stage("explanation", grounded)
        if self.models is None or not self.generation_on:
            return grounded, RULE_BASED, 0.0
        parts: list[str] = []
        confidence = 0.0
        try:
            messages = build_messages(facts, kind)
            async with aclosing(self.models.stream_generate(messages, max_new_tokens=self.max_new_tokens)) as stream:
                async for delta in stream:
                    if not parts:
                        delta = delta.lstrip()
                        if not delta:
                            continue
                        await stage("explanation", "\n\n")
                    parts.append(delta)
                    await stage("explanation", delta)
            confidence = self.models.last_confidence(stream)
        except ModelUnavailable as exc:
            self._log_fallback(str(exc))
        except Exception:  # a broken model must not fail the analysis: keep the grounded text, loudly
            log.exception("generation failed; the explanation is the rule-based one")
        model_text = "".join(parts).strip()
        if not model_text:
            return grounded, RULE_BASED, 0.0
        return f"{grounded}\n\n{model_text}", self.models.generation_model_id, confidence

    def _log_fallback(self, reason: str) -> None:
        if not self._fallback_logged:
            log.warning("generative model unavailable (%s): analyses use rule-based explanations", reason)
            self._fallback_logged = True
