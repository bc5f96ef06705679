"""Types for judged attempts and analyses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from db import analyses

from .context import Info
from .types import AnalysisKind, AnalysisStatus, Language, Pattern, Progress, Verdict, iso, load_pattern


@strawberry.type
class RowMismatch:
    size: int
    row: int
    expected: str | None
    actual: str | None


@strawberry.type
class Attempt:
    id: strawberry.ID
    verdict: Verdict
    score: float = strawberry.field(description="Share of right rows across the sizes tested, 0..1.")
    sizes_tested: list[int]
    output: list[str] = strawberry.field(description="What the program printed at the default size.")
    expected: list[str]
    mismatches: list[RowMismatch] = strawberry.field(description="First wrong rows per size; empty when PASSED.")
    error: str | None = strawberry.field(description="Learner-facing message for errors and timeouts.")
    duration_ms: int
    code: str = strawberry.field(description="The program as it was submitted.")
    language: Language
    created_at: str = strawberry.field(description="When it was submitted (ISO 8601, UTC).")
    pattern_id: strawberry.Private[int]
    db_id: strawberry.Private[int]
    created: strawberry.Private[datetime]

    @classmethod
    def from_row(cls, row: Any) -> Attempt:
        return cls(
            id=strawberry.ID(str(row["id"])),
            verdict=Verdict(row["verdict"]),
            score=round(float(row["score"]), 4),
            sizes_tested=list(row["sizes_tested"]),
            output=list(row["output"]),
            expected=list(row["expected"]),
            mismatches=[RowMismatch(**m) for m in row["mismatches"]],
            error=row["error"],
            duration_ms=row["duration_ms"],
            code=row["code"],
            language=Language(row["language"]),
            created_at=iso(row["created_at"]) or "",
            pattern_id=row["pattern_id"],
            db_id=row["id"],
            created=row["created_at"],
        )

    @strawberry.field
    async def pattern(self, info: Info) -> Pattern:
        return await load_pattern(info, self.pattern_id)

    @strawberry.field(description="The analysis queued with this submission.")
    async def analysis(self, info: Info) -> Analysis | None:
        row = await info.context.loaders.analysis_by_attempt_id.load(self.db_id)
        return Analysis.of(row) if row is not None else None


@strawberry.type
class Complexity:
    score: float = strawberry.field(description="0..10; higher is more complex.")
    level: str
    cyclomatic: int
    max_nesting_depth: int
    loops: int
    conditions: int
    big_o: str = strawberry.field(name="bigO", description="Estimated time in the pattern size n.")


@strawberry.type
class Analysis:
    id: strawberry.ID
    kind: AnalysisKind
    status: AnalysisStatus
    complexity: Complexity | None
    explanation: str | None
    suggestions: list[str]
    hints: list[str]
    model_used: str = strawberry.field(
        description='Model id or path, or "rule-based" (also when no model sentence survived the verifier).')
    ai_confidence: float = strawberry.field(description="0 when the rule-based fallback produced it.")
    created_at: str
    completed_at: str | None
    pattern_id: strawberry.Private[int]
    created: strawberry.Private[datetime]
    db_id: strawberry.Private[uuid.UUID]
    model_sentences: ModelSentences | None = strawberry.field(
        default=None, description="Null until a model has written, or when none was asked.")

    @classmethod
    def of(cls, row: analyses.Analysis) -> Analysis:
        result = row.result or {}
        complexity = result.get("complexity")
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=row.kind,
            status=row.status,
            complexity=Complexity(**complexity) if complexity else None,
            explanation=result.get("explanation"),
            suggestions=list(result.get("suggestions", [])),
            hints=list(result.get("hints", [])),
            # Until it is done: the model it is queued for (the key identical requests share).
            model_used=row.model_used or row.model_key,
            ai_confidence=round(row.ai_confidence, 4),
            created_at=iso(row.created_at) or "",
            completed_at=iso(row.completed_at),
            pattern_id=row.pattern_id,
            created=row.created_at,
            db_id=row.id,
            model_sentences=_model_sentences(result.get("model_sentences")),
        )

    @strawberry.field
    async def pattern(self, info: Info) -> Pattern:
        return await load_pattern(info, self.pattern_id)


@strawberry.type(description="What the verifier did to the model's sentences before a learner read them.")
class ModelSentences:
    kept: int = strawberry.field(description="Model sentences shown: each checked against the code and the judge.")
    dropped: int = strawberry.field(description="Model sentences withheld because they contradicted the facts "
                                    "or could not be checked.")


@strawberry.type
class AnalysisEvent:
    analysis_id: strawberry.ID
    status: AnalysisStatus
    stage: str
    text_delta: str | None = None
    analysis: Analysis | None = None


@strawberry.type
class SubmitAttemptPayload:
    attempt: Attempt
    progress: Progress
    analysis: Analysis


@strawberry.input
class SubmitAttemptInput:
    pattern_id: strawberry.ID
    code: str
    language: Language | None = Language.PYTHON
    time_spent_seconds: int | None = 0


@strawberry.input
class RequestAnalysisInput:
    pattern_id: strawberry.ID
    code: str
    kind: AnalysisKind | None = AnalysisKind.FULL
    language: Language | None = Language.PYTHON


@strawberry.input
class SaveProgressInput:
    pattern_id: strawberry.ID
    progress_percentage: float
    time_spent_seconds: int | None = 0
    completed: bool | None = False


def _model_sentences(counts: object) -> ModelSentences | None:
    if not isinstance(counts, dict):
        return None
    return ModelSentences(kept=int(counts.get("kept", 0)), dropped=int(counts.get("dropped", 0)))
