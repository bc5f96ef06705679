"""Pattern solutions: the reference code and its explanation, once the learner has passed.

An explanation is produced once per pattern, language and model through the analysis pipeline
(grounded facts first, then the model's sentences checked by the same verifier as learners'
feedback) and stored (db/solutions.py). The first learner to pass a pattern whose solution is
not stored yet gets the grounded explanation at once, in the same request (a few milliseconds:
nothing is run, the reference passes by definition); with a model configured, the model's part is
queued as a durable job and later readers get the whole text. `codepattern seed --solutions`
computes every pattern's ahead of time, so with it nobody waits for anything.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from analysis.pipeline import AnalysisPipeline
from core.domain import RULE_BASED, AnalysisKind, AnalysisStatus, Language
from db import patterns, solutions
from db.database import Database
from db.scoped import Queryable
from db.solutions import SolutionKey, SolutionWrite

# The catalog's reference programs are Python.
REFERENCE_LANGUAGE = Language.PYTHON


def reference_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SolutionText:
    language: Language
    code: str
    explanation: str
    model_used: str


class Solutions:
    """Reads as the caller (`db`: row level security shows a solution only after a pass); writes
    the shared rows with the server's own role (`server_db`)."""

    def __init__(self, server_db: Database, pipeline: AnalysisPipeline, *,
                 on_queued: Callable[[], None] = lambda: None) -> None:
        self.server_db = server_db
        self.pipeline = pipeline
        self.on_queued = on_queued

    @property
    def model_key(self) -> str:
        return self.pipeline.model_key(AnalysisKind.EXPLANATION)

    async def for_learner(
        self, db: Queryable, learner_id: str, pattern_ids: Sequence[int]
    ) -> list[SolutionText | None]:
        """Each pattern's solution if the learner passed it, else None; one query for them all,
        and one write for those nobody has asked for yet."""
        model_key = self.model_key
        rows = await solutions.passed_with_solutions(db, learner_id, pattern_ids, REFERENCE_LANGUAGE.value, model_key)
        found: dict[int, SolutionText] = {}
        missing: list[asyncpg.Record] = []
        for row in rows:
            if row["stored_sha256"] == reference_digest(row["reference_solution"]):
                found[row["id"]] = SolutionText(REFERENCE_LANGUAGE, row["reference_solution"], row["explanation"],
                                                row["model_used"])
            else:
                missing.append(row)  # never asked for, or the reference changed since
        if missing:
            writes = [await self._grounded(row, model_key) for row in missing]
            await solutions.store(self.server_db, writes)
            if any(w.status is AnalysisStatus.QUEUED for w in writes):
                self.on_queued()
            for row, write in zip(missing, writes, strict=True):
                found[row["id"]] = SolutionText(REFERENCE_LANGUAGE, row["reference_solution"], write.explanation,
                                                write.model_used)
        return [found.get(pattern_id) for pattern_id in pattern_ids]

    async def _grounded(self, pattern_row: asyncpg.Record, model_key: str) -> SolutionWrite:
        grounded = await self.pipeline.ground_reference(pattern_row)
        return SolutionWrite(
            key=SolutionKey(pattern_row["id"], REFERENCE_LANGUAGE.value, model_key),
            reference_sha256=reference_digest(pattern_row["reference_solution"]),
            # Without a model the grounded text is all there is; with one, its part is queued.
            status=AnalysisStatus.DONE if model_key == RULE_BASED else AnalysisStatus.QUEUED,
            explanation=grounded.explanation,
            model_used=RULE_BASED,
        )

    async def precompute(self, *, concurrency: int = 8, report: Callable[[str], None] = lambda _line: None) -> int:
        """Every catalog pattern's solution for the current model, written whole (model prose
        included), skipping those already done for the current reference. Explanations run
        `concurrency` at a time, so the model batches them. Returns how many were written."""
        model_key = self.model_key
        rows = await self.server_db.fetch(
            f"SELECT {patterns.PATTERN_COLUMNS_WITH_REFERENCE} FROM patterns p ORDER BY p.position")
        done = {
            (r["pattern_id"], r["reference_sha256"])
            for r in await self.server_db.fetch(
                "SELECT pattern_id, reference_sha256 FROM pattern_solutions "
                "WHERE language = $1 AND model_key = $2 AND status = 'DONE'", REFERENCE_LANGUAGE.value, model_key)
        }
        todo = [r for r in rows if (r["id"], reference_digest(r["reference_solution"])) not in done]
        gate = asyncio.Semaphore(max(1, concurrency))

        async def one(row: asyncpg.Record) -> SolutionWrite:
            async with gate:
                explained = await self.pipeline.explain_reference(row)
            report(f"{row['slug']}: {explained.model_used}"
                   + (f", {explained.sentences['kept']} model sentences kept" if explained.sentences else ""))
            return SolutionWrite(
                key=SolutionKey(row["id"], REFERENCE_LANGUAGE.value, model_key),
                reference_sha256=reference_digest(row["reference_solution"]),
                status=AnalysisStatus.DONE, explanation=explained.text, model_used=explained.model_used,
                ai_confidence=explained.confidence,
                result={"model_sentences": explained.sentences, "model_dropped": explained.dropped[:20]},
            )

        writes = await asyncio.gather(*(one(r) for r in todo))
        await solutions.store(self.server_db, writes, replace_done=True)
        return len(writes)
