"""The feedback corpus under the real judge: each program gets its labelled verdict, and the
product's rule-based explanation of it contradicts none of the hand-labelled facts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from analysis.pipeline import AnalysisPipeline, judgment_summary
from catalog import get_pattern, preview
from core.domain import AnalysisKind
from judge.judge import Judge, Judgment
from judge.metrics import CodeMetrics, analyze_code
from sandbox import Sandbox, SandboxLimits
from tests.feedback_checker import JudgedFacts, contradictions
from tests.feedback_corpus import PROGRAMS, Program

# Short limits, as in test_judge.py: the verdict logic does not depend on their values.
LIMITS = SandboxLimits(cpu_seconds=1.0, wall_seconds=3.0)

# Product sentences known to be false for a program (name -> why; none today): the checker is
# right to flag them. Strict xfail: once the product is fixed, drop the entry.
KNOWN_PRODUCT_ISSUES: dict[str, str] = {}

_judged: dict[str, tuple[Judgment, CodeMetrics]] = {}


@pytest.fixture(scope="module")
async def judge() -> AsyncIterator[Judge]:
    sandbox = Sandbox(LIMITS, workers=2)
    await sandbox.start()
    yield Judge(sandbox)
    await sandbox.aclose()


async def judged(judge: Judge, program: Program) -> tuple[Judgment, CodeMetrics]:
    """Each program is judged once per module, for both tests."""
    if program.name not in _judged:
        judgment = await judge.judge(get_pattern(program.slug), program.code)
        _judged[program.name] = judgment, analyze_code(program.code)
    return _judged[program.name]


async def product_explanation(program: Program, judgment: Judgment) -> str:
    """The product's own grounded FULL explanation (AnalysisPipeline.ground_pattern, no database)."""
    pattern = get_pattern(program.slug)
    pipeline = AnalysisPipeline(db=None, judge=None, generator=None, max_new_tokens=0)  # type: ignore[arg-type]
    grounded = await pipeline.ground_pattern(pattern, list(preview(pattern)), program.code, AnalysisKind.FULL,
                                             judgment_summary(judgment))
    return grounded.explanation


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
async def test_labelled_verdict(judge: Judge, program: Program) -> None:
    judgment, _ = await judged(judge, program)
    assert judgment.verdict == program.verdict, judgment
    if program.category == "hard_coded":
        assert judgment.reads_input is ("input" in program.constructs)


def _explanation_cases() -> list[object]:
    cases: list[object] = []
    for program in PROGRAMS:
        marks = []
        if program.name in KNOWN_PRODUCT_ISSUES:
            marks.append(pytest.mark.xfail(reason=KNOWN_PRODUCT_ISSUES[program.name], strict=True))
        cases.append(pytest.param(program, id=program.name, marks=marks))
    return cases


@pytest.mark.parametrize("program", _explanation_cases())
async def test_rule_based_explanation_has_no_contradiction(judge: Judge, program: Program) -> None:
    judgment, metrics = await judged(judge, program)
    explanation = await product_explanation(program, judgment)
    assert contradictions(program, explanation, JudgedFacts.from_judgment(judgment, metrics)) == [], explanation
