"""Judge a learner's pattern program: run it in the sandbox and compare with the reference.

The rules are the same in every language; what is particular to one (its syntax check, how it
reads input, what its error output means) comes from its module in ``judge/languages/``.

Contract:

* The expected output at size n is the pattern's reference output (``catalog.expected_output``).
* A program that reads its input (``input()``, ``sys.stdin``, ``open(0)``; in JavaScript
  ``readFileSync(0)``, ``process.stdin``...) is judged at several sizes (see ``judge_sizes``); one
  that never reads input is judged at the default size only, so a hard-coded answer for the default
  size passes. Detection is static (``ast``, tree-sitter); in doubt: default.
* Lines are compared after ``catalog.normalize_output``: trailing whitespace and trailing blank lines
  do not matter, everything else (leading spaces, leading blank lines) does.

Verdicts, checked in this order of severity over all sizes run:

* SYNTAX_ERROR: Python's ``compile()`` fails (in the server: compiling never runs anything), or
  V8 refuses to parse a JavaScript program (it parses the whole script before running any of it;
  when tree-sitter finds an error, one run at the default size asks V8 first).
* REJECTED: a resource limit other than time: output too large, memory (MemoryError: with a 256 MB
  address-space limit an allocation failure is the limit, not a bug of the pattern logic), file
  size; or a program too long to accept.
* TIMEOUT: CPU or wall-clock limit.
* RUNTIME_ERROR: non-zero exit status or killed by a signal; ``error`` is the exception's message
  (plus "(line N)" from the traceback or stack), never a server or sandbox path.
* WRONG_OUTPUT: ran cleanly at every size but some output differs.
* PASSED: identical at every size.

Score: PASSED 1.0; SYNTAX_ERROR, REJECTED and TIMEOUT 0.0 (output of a killed program proves
nothing); WRONG_OUTPUT and RUNTIME_ERROR the share of right rows over every size, rows compared by
position over max(len(expected), len(actual)) per size, capped below 1.0.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Histogram

from catalog import PatternDef, expected_output, normalize_output
from core.domain import Language, Verdict
from sandbox import RunResult, Sandbox

from .languages import LanguageSupport, support
from .languages.base import InputScan

# The longest program judged by default; the API passes its own limit (MAX_CODE_CHARS).
DEFAULT_MAX_CODE_CHARS = 20_000
MISMATCHES_PER_SIZE = 3
MAX_OUTPUT_LINES = 500  # of the default-size output kept in a Judgment
MAX_ERROR_CHARS = 300
SIZES_TARGET = 4


# Highest first: when sizes fail differently, the most severe verdict is reported.
_SEVERITY = (Verdict.SYNTAX_ERROR, Verdict.REJECTED, Verdict.TIMEOUT, Verdict.RUNTIME_ERROR)


@dataclass(frozen=True)
class RowMismatch:
    size: int
    row: int  # 1-based
    expected: str | None  # None: the program printed an extra row
    actual: str | None  # None: the row is missing


@dataclass(frozen=True)
class Judgment:
    verdict: Verdict
    score: float  # 0..1
    sizes_tested: list[int]
    output: list[str]  # normalised output at the default size (first MAX_OUTPUT_LINES lines)
    expected: list[str]  # expected output at the default size
    mismatches: list[RowMismatch]  # first MISMATCHES_PER_SIZE wrong rows per size
    error: str | None
    duration_ms: int
    reads_input: bool


@dataclass(frozen=True)
class _SizeCheck:
    size: int
    right: int
    total: int
    mismatches: list[RowMismatch]


# --------------------------------------------------------------------------- static checks


def compile_error(
    code: str, max_chars: int = DEFAULT_MAX_CODE_CHARS, language: Language = Language.PYTHON
) -> tuple[Verdict, str] | None:
    """SYNTAX_ERROR / REJECTED found without running anything, or None when nothing is known yet."""
    if len(code) > max_chars:
        return Verdict.REJECTED, f"Program too long: more than {max_chars} characters"
    try:
        message = support(language).syntax_error(code)
    except (RecursionError, MemoryError, OverflowError):
        return Verdict.REJECTED, "Program too deeply nested to compile"
    return (Verdict.SYNTAX_ERROR, message) if message is not None else None


def scan_input(code: str, language: Language = Language.PYTHON) -> InputScan:
    """Static look for reads of standard input; in doubt: treated as not reading input, i.e.
    judged at the default size."""
    try:
        return support(language).scan_input(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return InputScan()


def reads_input(code: str, language: Language = Language.PYTHON) -> bool:
    return scan_input(code, language).reads


def judge_sizes(pattern: PatternDef, reads: bool) -> list[int]:
    """Sizes to judge at, ascending: the default alone, or ~4 sizes including the default and min."""
    default = pattern.rows
    if not reads:
        return [default]
    candidates = [default, pattern.min_size, default + 1, default + 3,
                  default - 1, default + 2, pattern.max_size, pattern.min_size + 1]
    sizes: list[int] = []
    for n in candidates:
        if pattern.min_size <= n <= pattern.max_size and n not in sizes:
            sizes.append(n)
        if len(sizes) == SIZES_TARGET:
            break
    return sorted(sizes)


# --------------------------------------------------------------------------- run outcomes


def _sensitive_prefixes() -> list[str]:
    prefixes = {"/tmp", "/var/tmp", "/dev/shm", "/root", "/home", os.getcwd(), sys.prefix, sys.base_prefix,
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    return sorted((p for p in prefixes if p and p != "/"), key=len, reverse=True)


# A sensitive prefix at a path boundary, then the rest of that path.
_PATH_RE = re.compile(
    r"(?<![\w/.])(?:" + "|".join(re.escape(p) for p in _sensitive_prefixes()) + r")(?![\w.-])(?:/[^\s'\",)]*)?"
)
def scrub_paths(text: str) -> str:
    """Replace server, home and temporary paths by "<path>": errors are shown to learners."""
    return _PATH_RE.sub("<path>", text)


def _clip(text: str) -> str:
    text = scrub_paths(text.strip())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _last_line(text: str) -> str | None:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def _signal_message(sig: int) -> str:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = str(sig)
    return f"Program crashed (killed by signal {name})"


def classify_run(
    result: RunResult, sandbox: Sandbox, language: LanguageSupport | None = None
) -> tuple[Verdict, str] | None:
    """The verdict a run forces by itself (limits, crashes), or None when it ended normally."""
    language = language or support(Language.PYTHON)
    limits = sandbox.limits
    if result.output_truncated:
        return Verdict.REJECTED, f"Output limit exceeded: printed more than {limits.max_output_bytes} bytes"
    if result.timed_out:
        if result.limit_exceeded == "cpu":
            return Verdict.TIMEOUT, (f"Time limit exceeded: used more than {limits.cpu_seconds:g} s of CPU "
                                     "(an endless loop?)")
        return Verdict.TIMEOUT, (f"Time limit exceeded: still running after {limits.wall_seconds:g} s "
                                 "(waiting for more input, or sleeping?)")
    if result.ok:
        return None
    failure = language.failure(result)
    if failure.kind == "exit" and result.signal == signal.SIGXFSZ:
        failure = type(failure)("file-size")
    limits_text = {"memory": f"Memory limit exceeded ({limits.memory_mb} MB)",
                   "file-size": f"File size limit exceeded ({limits.max_file_bytes} bytes)"}
    if failure.kind in ("exception", "exit") and result.signal is not None:
        return Verdict.RUNTIME_ERROR, _signal_message(result.signal)
    if failure.kind == "exit":
        extra = _last_line(result.stderr)
        status = f"Program exited with status {result.exit_code}"
        return Verdict.RUNTIME_ERROR, _clip(f"{status}: {extra}" if extra else status)
    verdict, message = language.verdict_of(failure, limits_text)
    return verdict, _clip(message) if verdict is Verdict.RUNTIME_ERROR else message


def compare_rows(size: int, expected: Sequence[str], actual: Sequence[str]) -> _SizeCheck:
    total = max(len(expected), len(actual))
    right = 0
    mismatches: list[RowMismatch] = []
    for i in range(total):
        want = expected[i] if i < len(expected) else None
        got = actual[i] if i < len(actual) else None
        if want is not None and want == got:
            right += 1
        elif len(mismatches) < MISMATCHES_PER_SIZE:
            mismatches.append(RowMismatch(size=size, row=i + 1, expected=want, actual=got))
    return _SizeCheck(size=size, right=right, total=total, mismatches=mismatches)


# --------------------------------------------------------------------------- judge


JUDGE_SECONDS = Histogram(
    "codepattern_judge_duration_seconds",
    "Judging one program: static checks, its sandbox runs at every size tested, the comparison.",
    ["verdict"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0),
)


class Judge:
    def __init__(self, sandbox: Sandbox, max_code_chars: int = DEFAULT_MAX_CODE_CHARS) -> None:
        self.sandbox = sandbox
        self.max_code_chars = max_code_chars

    async def judge(self, pattern: PatternDef, code: str, language: Language = Language.PYTHON) -> Judgment:
        """Verdict for ``code`` on ``pattern``. Raises only SandboxError (infrastructure failure;
        LanguageUnavailable when this server cannot run ``language``)."""
        started = time.monotonic()
        judgment = await self._judge(pattern, code, language, started)
        JUDGE_SECONDS.labels(judgment.verdict.value).observe(time.monotonic() - started)
        return judgment

    async def _judge(self, pattern: PatternDef, code: str, language: Language, started: float) -> Judgment:
        lang = support(language)
        default_expected = list(expected_output(pattern, pattern.rows))
        static = compile_error(code, self.max_code_chars, language)
        scan = scan_input(code, language) if len(code) <= self.max_code_chars else InputScan()
        if static is not None:
            verdict, error = static
            return Judgment(verdict, 0.0, [], [], default_expected, [], error, _ms(started), scan.reads)
        sizes = judge_sizes(pattern, scan.reads)
        if lang.needs_syntax_probe(code):
            # The runtime's parser decides: one run, at the default size, before the others.
            first = await self.sandbox.run(code, f"{pattern.rows}\n", runtime=lang.runtime)
            refused = self._syntax_refusal(first, lang)
            if refused is not None:
                return Judgment(Verdict.SYNTAX_ERROR, 0.0, [], [], default_expected, [], refused, _ms(started),
                                scan.reads)
            others = [n for n in sizes if n != pattern.rows]
            rest = await self.sandbox.run_many(code, [f"{n}\n" for n in others], runtime=lang.runtime)
            by_size = {pattern.rows: first, **dict(zip(others, rest, strict=True))}
            results = [by_size[n] for n in sizes]
        else:
            results = await self.sandbox.run_many(code, [f"{n}\n" for n in sizes], runtime=lang.runtime)
        return self._verdict(pattern, sizes, results, scan, default_expected, started, lang)

    def _syntax_refusal(self, result: RunResult, lang: LanguageSupport) -> str | None:
        forced = classify_run(result, self.sandbox, lang)
        return forced[1] if forced is not None and forced[0] is Verdict.SYNTAX_ERROR else None

    def _verdict(
        self,
        pattern: PatternDef,
        sizes: list[int],
        results: list[RunResult],
        scan: InputScan,
        default_expected: list[str],
        started: float,
        lang: LanguageSupport,
    ) -> Judgment:
        forced = [c for c in (classify_run(r, self.sandbox, lang) for r in results) if c is not None]
        verdict, error = _worst(forced)
        if verdict is Verdict.SYNTAX_ERROR:  # the runtime refused to parse it: nothing of it ran
            return Judgment(verdict, 0.0, [], [], default_expected, [], error, _ms(started), scan.reads)
        outputs = {n: normalize_output(r.stdout) for n, r in zip(sizes, results, strict=True)}
        checks = [compare_rows(n, expected_output(pattern, n), outputs[n]) for n in sizes]
        mismatches = [m for check in checks for m in check.mismatches]
        if verdict in (Verdict.REJECTED, Verdict.TIMEOUT):
            score, mismatches = 0.0, []
        else:
            score = _row_score(checks)
            if verdict is None:
                verdict = Verdict.PASSED if score == 1.0 else Verdict.WRONG_OUTPUT
                error = None if verdict is Verdict.PASSED else _wrong_output_hint(checks, scan.prompts, lang)
            if verdict is not Verdict.PASSED:
                score = min(score, 0.99)
        assert verdict is not None  # every branch above sets it
        return Judgment(
            verdict=verdict,
            score=round(score, 4),
            sizes_tested=sizes,
            output=outputs[pattern.rows][:MAX_OUTPUT_LINES],
            expected=default_expected,
            mismatches=[] if verdict is Verdict.PASSED else mismatches,
            error=error,
            duration_ms=_ms(started),
            reads_input=scan.reads,
        )


def _worst(forced: list[tuple[Verdict, str]]) -> tuple[Verdict | None, str | None]:
    for verdict in _SEVERITY:
        for found, error in forced:
            if found is verdict:
                return found, error
    return None, None


def _row_score(checks: list[_SizeCheck]) -> float:
    total = sum(c.total for c in checks)
    return sum(c.right for c in checks) / total if total else 0.0


def _wrong_output_hint(checks: list[_SizeCheck], prompts: bool, lang: LanguageSupport) -> str:
    wrong = [c for c in checks if c.mismatches]
    first = wrong[0]
    message = f"Wrong output for n={first.size}: row {first.mismatches[0].row} differs"
    if len(wrong) > 1:
        message += f" (and at {len(wrong) - 1} other size{'s' if len(wrong) > 2 else ''})"
    if prompts:
        message += f"; note that the prompt given to {lang.idioms.prompt_call} is printed too"
    return message


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
