"""JavaScript through the real judge and sandbox (Node.js under every layer): the corpus of
learner-style submissions and the rules that differ in their details from Python's."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from catalog import get_pattern
from core.domain import Language
from judge.judge import Judge, RowMismatch, Verdict, reads_input
from sandbox import Sandbox, SandboxLimits
from tests.integration.test_judge import check_case
from tests.judge_corpus_javascript import JS_CASES, Case

LIMITS = SandboxLimits(cpu_seconds=1.0, wall_seconds=3.0)
BY_NAME = {c.name: c for c in JS_CASES}


@pytest.fixture(scope="module")
async def judge() -> AsyncIterator[Judge]:
    sandbox = Sandbox(LIMITS, workers=2, require="strict")
    await sandbox.start()
    assert sandbox.available("javascript"), sandbox.languages()
    yield Judge(sandbox)
    await sandbox.aclose()


def test_corpus_is_large_and_covers_every_verdict() -> None:
    assert len(JS_CASES) >= 30
    assert len(BY_NAME) == len(JS_CASES), "case names must be unique"
    assert set(Counter(c.verdict for c in JS_CASES)) == {v.value for v in Verdict}
    assert len({c.slug for c in JS_CASES}) >= 12


@pytest.mark.parametrize("case", JS_CASES, ids=[c.name for c in JS_CASES])
async def test_corpus_verdict(judge: Judge, case: Case) -> None:
    pattern = get_pattern(case.slug)
    result = await judge.judge(pattern, case.code, Language.JAVASCRIPT)
    check_case(case, pattern, result)
    assert "main.js:" not in (result.error or "") and "node:internal" not in (result.error or "")


async def test_off_by_one_mismatch_details(judge: Judge) -> None:
    result = await judge.judge(get_pattern("right-triangle"), BY_NAME["js-off-by-one-missing-row"].code,
                               Language.JAVASCRIPT)
    assert result.sizes_tested == [1, 4, 5, 7]
    assert RowMismatch(size=4, row=4, expected="****", actual=None) in result.mismatches
    assert result.output == ["*", "**", "***"]
    assert result.score == pytest.approx(13 / 17, abs=1e-3)  # the same program in Python scores the same


async def test_a_syntax_error_is_v8s_and_nothing_runs_at_other_sizes(judge: Judge) -> None:
    result = await judge.judge(get_pattern("right-triangle"), BY_NAME["js-missing-parenthesis"].code,
                               Language.JAVASCRIPT)
    assert result.verdict is Verdict.SYNTAX_ERROR
    assert result.error == "SyntaxError on line 2, column 29: Unexpected token '{'"
    assert result.sizes_tested == [] and result.output == [] and result.score == 0.0


async def test_runtime_error_keeps_partial_score_with_the_learners_line(judge: Judge) -> None:
    code = ("const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"
            "for (let i = 1; i <= n; i++) {\n  console.log('*'.repeat(i));\n  if (i === 3) null.size;\n}\n")
    result = await judge.judge(get_pattern("right-triangle"), code, Language.JAVASCRIPT)
    assert result.verdict is Verdict.RUNTIME_ERROR
    assert result.error == "TypeError: Cannot read properties of null (reading 'size') (line 4)"
    assert 0 < result.score < 1


async def test_the_same_text_is_judged_by_its_own_language(judge: Judge) -> None:
    python = "print('*' * 4)\nprint('*' * 4)\nprint('*' * 4)\nprint('*' * 4)\n"
    pattern = get_pattern("square-solid")
    assert (await judge.judge(pattern, python, Language.PYTHON)).verdict is Verdict.PASSED
    as_js = await judge.judge(pattern, python, Language.JAVASCRIPT)
    assert as_js.verdict is Verdict.RUNTIME_ERROR and as_js.error is not None
    assert as_js.error.startswith("TypeError") or as_js.error.startswith("ReferenceError"), as_js.error


def test_reads_input_detection() -> None:
    js = Language.JAVASCRIPT
    assert reads_input("const n = +require('fs').readFileSync(0, 'utf8')", js)
    assert reads_input("const fs = require('fs'); const n = Number(fs.readFileSync('/dev/stdin', 'utf8'))", js)
    assert reads_input("process.stdin.on('data', d => console.log(d))", js)
    assert reads_input("const rl = require('readline').createInterface({input: process.stdin})", js)
    assert reads_input("import readline from 'readline';", js)
    assert not reads_input("const n = 4;\nconsole.log('*'.repeat(n));", js)
    assert not reads_input("const data = require('fs').readFileSync('rows.txt', 'utf8');", js)
    assert not reads_input("n = int(input())", js)  # Python's input() means nothing here
