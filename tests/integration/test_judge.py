"""Judge verdicts on a corpus of learner submissions, plus the judging rules one by one."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest

from catalog import PatternDef, expected_output, get_pattern
from judge.judge import (
    Judge,
    Judgment,
    RowMismatch,
    Verdict,
    compare_rows,
    compile_error,
    judge_sizes,
    reads_input,
    scrub_paths,
)
from sandbox import Sandbox, SandboxLimits
from tests.helpers import REPO_ROOT
from tests.judge_corpus import CASES, Case

# Short limits keep the TIMEOUT cases fast; the verdict logic does not depend on their values.
LIMITS = SandboxLimits(cpu_seconds=1.0, wall_seconds=3.0)
BY_NAME = {c.name: c for c in CASES}


@pytest.fixture(scope="module")
async def judge() -> AsyncIterator[Judge]:
    sandbox = Sandbox(LIMITS, workers=2)
    await sandbox.start()
    yield Judge(sandbox)
    await sandbox.aclose()


async def run_case(judge: Judge, name: str) -> Judgment:
    c = BY_NAME[name]
    return await judge.judge(get_pattern(c.slug), c.code)


# --------------------------------------------------------------------------- corpus


def test_corpus_is_large_and_covers_every_verdict() -> None:
    assert len(CASES) >= 45
    assert len(BY_NAME) == len(CASES), "case names must be unique"
    counts = Counter(c.verdict for c in CASES)
    assert set(counts) == {v.value for v in Verdict}
    assert len({c.slug for c in CASES}) >= 12


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_corpus_verdict(judge: Judge, case: Case) -> None:
    pattern = get_pattern(case.slug)
    check_case(case, pattern, await judge.judge(pattern, case.code))


def check_case(case: Case, pattern: PatternDef, result: Judgment) -> None:
    """The judgment is the one the corpus names, and keeps every invariant."""
    assert result.verdict == Verdict(case.verdict), result
    assert case.min_score <= result.score <= case.max_score, result
    assert (result.score == 1.0) == (result.verdict is Verdict.PASSED)
    if case.error_contains is not None:
        assert result.error is not None and case.error_contains in result.error, result.error
    if case.reads_input is not None:
        assert result.reads_input is case.reads_input
    _check_invariants(pattern, result)


def _check_invariants(pattern: PatternDef, result: Judgment) -> None:
    # Errors are shown to learners: never a sandbox or server path.
    for leak in ("/tmp", "/root", str(REPO_ROOT), "sandbox/child.py"):
        assert leak not in (result.error or "")
    assert result.expected == list(expected_output(pattern, pattern.rows))
    if result.verdict is Verdict.PASSED:
        assert result.mismatches == [] and result.error is None
        assert result.output == result.expected
    else:
        assert result.error
    if result.verdict in (Verdict.SYNTAX_ERROR, Verdict.REJECTED) and not result.sizes_tested:
        return  # refused before running
    if result.reads_input:
        assert pattern.rows in result.sizes_tested
        assert len(result.sizes_tested) >= 3
        assert result.sizes_tested == sorted(set(result.sizes_tested))
        assert all(pattern.min_size <= n <= pattern.max_size for n in result.sizes_tested)
    else:
        assert result.sizes_tested == [pattern.rows]
    per_size = Counter(m.size for m in result.mismatches)
    assert all(count <= 3 for count in per_size.values())


# --------------------------------------------------------------------------- details


async def test_off_by_one_mismatch_details(judge: Judge) -> None:
    result = await run_case(judge, "off-by-one-missing-row")
    assert RowMismatch(size=4, row=4, expected="****", actual=None) in result.mismatches
    assert RowMismatch(size=1, row=1, expected="*", actual=None) in result.mismatches
    assert result.output == ["*", "**", "***"]
    # Right rows: n=1 0/1, n=4 3/4, n=5 4/5, n=7 6/7.
    assert result.score == pytest.approx(13 / 17, abs=1e-3)


async def test_wrong_alignment_mismatch_details(judge: Judge) -> None:
    result = await run_case(judge, "wrong-alignment")
    assert not [m for m in result.mismatches if m.size == 1]  # n=1 is "*" either way
    size4 = [m for m in result.mismatches if m.size == 4]
    assert size4 == [
        RowMismatch(4, 1, "   *", "*"),
        RowMismatch(4, 2, "  **", "**"),
        RowMismatch(4, 3, " ***", "***"),
    ]


async def test_hard_coded_default_size_passes_only_at_default(judge: Judge) -> None:
    result = await run_case(judge, "hard-coded-size-but-reads-n")
    assert result.verdict is Verdict.WRONG_OUTPUT
    assert result.output == result.expected  # right at the default size...
    assert {m.size for m in result.mismatches} == {1, 5, 7}  # ...wrong at every other one
    assert 0 < result.score < 1


async def test_hard_coded_print_without_input_is_judged_at_default_only(judge: Judge) -> None:
    result = await run_case(judge, "hard-coded-no-input")
    assert result.verdict is Verdict.PASSED
    assert result.sizes_tested == [4]
    assert result.reads_input is False


async def test_syntax_error_reports_line_and_column_without_running(judge: Judge) -> None:
    result = await run_case(judge, "missing-colon")
    assert result.error == "SyntaxError on line 2, column 25: expected ':'"
    assert result.sizes_tested == []
    assert result.output == []


async def test_runtime_error_keeps_partial_score(judge: Judge) -> None:
    code = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n    if i == 3:\n        1 / 0\n"
    result = await judge.judge(get_pattern("right-triangle"), code)
    assert result.verdict is Verdict.RUNTIME_ERROR
    assert result.error == "ZeroDivisionError: division by zero (line 5)"
    assert 0 < result.score < 1


async def test_absolute_path_in_error_is_scrubbed(judge: Judge) -> None:
    result = await run_case(judge, "reads-absolute-server-file")
    assert result.error == "FileNotFoundError: [Errno 2] No such file or directory: '<path>' (line 1)"


# --------------------------------------------------------------------------- rules as units


def test_reads_input_detection() -> None:
    assert reads_input("n = int(input())")
    assert reads_input("import sys\nn = int(sys.stdin.readline())")
    assert reads_input("from sys import stdin\nn = int(stdin.read())")
    assert reads_input("n = int(open(0).read())")
    assert reads_input("read = input\nn = int(read())")
    assert not reads_input("print('*')\nn = 4\n")
    assert not reads_input("for i in range(3) print(i)")  # unparsable: in doubt, default size
    assert reads_input("n = int(input())\nx = " + "n + " * 2_000 + "1")  # deep trees are walked iteratively


def _pattern(rows: int, low: int, high: int) -> PatternDef:
    base = get_pattern("right-triangle")
    return PatternDef(
        slug="test-pattern", name="t", category=base.category, difficulty=base.difficulty, description="",
        rows=rows, formula="", loops=1, conditions=0, reference=base.reference, min_size=low, max_size=high,
    )


def test_judge_sizes() -> None:
    assert judge_sizes(get_pattern("right-triangle"), reads=True) == [1, 4, 5, 7]
    assert judge_sizes(get_pattern("right-triangle"), reads=False) == [4]
    assert judge_sizes(_pattern(4, 1, 4), reads=True) == [1, 2, 3, 4]  # default at the top
    assert judge_sizes(_pattern(2, 2, 3), reads=True) == [2, 3]  # only two sizes exist
    assert judge_sizes(_pattern(5, 5, 5), reads=True) == [5]
    assert judge_sizes(_pattern(4, 1, 50), reads=True) == judge_sizes(_pattern(4, 1, 50), reads=True)


def test_compare_rows_is_positional() -> None:
    check = compare_rows(3, ["*", "**", "***"], ["*", "***"])
    assert (check.right, check.total) == (1, 3)
    assert check.mismatches == [RowMismatch(3, 2, "**", "***"), RowMismatch(3, 3, "***", None)]
    extra = compare_rows(1, ["*"], ["*", "extra", "more", "again", "and again"])
    assert (extra.right, extra.total) == (1, 5)
    assert len(extra.mismatches) == 3  # capped per size


def test_compile_error_messages() -> None:
    assert compile_error("print('ok')") is None
    verdict, message = compile_error("if True:\nprint(1)") or (None, "")
    assert verdict is Verdict.SYNTAX_ERROR
    assert message.startswith("IndentationError on line 2, column 1:")
    verdict, message = compile_error("print('a')\x00") or (None, "")
    assert verdict is Verdict.SYNTAX_ERROR and "null" in message
    verdict, _ = compile_error("x = 1\n" * 20_000) or (None, "")
    assert verdict is Verdict.REJECTED


def test_scrub_paths() -> None:
    assert scrub_paths("No such file: '/tmp/cpm-run-3/x.txt'") == "No such file: '<path>'"
    assert scrub_paths(f"error in {REPO_ROOT}/app/main.py") == "error in <path>"
    assert scrub_paths("unsupported operand type(s) for /: 'str'") == "unsupported operand type(s) for /: 'str'"
    assert scrub_paths("/etc/passwd and /homework") == "/etc/passwd and /homework"
