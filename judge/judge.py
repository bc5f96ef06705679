"""Judge a learner's pattern program: run it in the sandbox and compare with the reference.

Contract:

* The expected output at size n is the pattern's reference output (``catalog.expected_output``).
* A program that reads its input (``input()``, ``sys.stdin``, ``open(0)``...) is judged at several
  sizes (see ``judge_sizes``); one that never reads input is judged at the default size only, so a
  hard-coded answer for the default size passes. Detection is static (``ast``); in doubt: default.
* Lines are compared after ``catalog.normalize_output``: trailing whitespace and trailing blank lines
  do not matter, everything else (leading spaces, leading blank lines) does.

Verdicts, checked in this order of severity over all sizes run:

* SYNTAX_ERROR: ``compile()`` fails (in the server: compiling never runs anything).
* REJECTED: a resource limit other than time: output too large, memory (MemoryError: with a 256 MB
  address-space limit an allocation failure is the limit, not a bug of the pattern logic), file
  size; or a program too long to accept.
* TIMEOUT: CPU or wall-clock limit.
* RUNTIME_ERROR: non-zero exit status or killed by a signal; ``error`` is the exception's last line
  (plus "(line N)" from the traceback), never a server or sandbox path.
* WRONG_OUTPUT: ran cleanly at every size but some output differs.
* PASSED: identical at every size.

Score: PASSED 1.0; SYNTAX_ERROR, REJECTED and TIMEOUT 0.0 (output of a killed program proves
nothing); WRONG_OUTPUT and RUNTIME_ERROR the share of right rows over every size, rows compared by
position over max(len(expected), len(actual)) per size, capped below 1.0.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Histogram

from catalog import PatternDef, expected_output, normalize_output
from core.domain import Verdict
from sandbox import RunResult, Sandbox

# The longest program judged by default; the API passes its own limit (MAX_CODE_CHARS).
DEFAULT_MAX_CODE_CHARS = 20_000
MISMATCHES_PER_SIZE = 3
MAX_OUTPUT_LINES = 500  # of the default-size output kept in a Judgment
MAX_ERROR_CHARS = 300
SIZES_TARGET = 4
LEARNER_FILE = "main.py"


# Highest first: when sizes fail differently, the most severe verdict is reported.
_SEVERITY = (Verdict.REJECTED, Verdict.TIMEOUT, Verdict.RUNTIME_ERROR)


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


def compile_error(code: str, max_chars: int = DEFAULT_MAX_CODE_CHARS) -> tuple[Verdict, str] | None:
    """SYNTAX_ERROR / REJECTED found without running anything, or None when the program compiles."""
    if len(code) > max_chars:
        return Verdict.REJECTED, f"Program too long: more than {max_chars} characters"
    try:
        compile(code, LEARNER_FILE, "exec", dont_inherit=True)
    except SyntaxError as exc:  # IndentationError and TabError included
        return Verdict.SYNTAX_ERROR, syntax_error_message(exc)
    except ValueError as exc:  # e.g. "source code string cannot contain null bytes"
        return Verdict.SYNTAX_ERROR, f"SyntaxError: {exc}"
    except (RecursionError, MemoryError, OverflowError):
        return Verdict.REJECTED, "Program too deeply nested to compile"
    return None


def syntax_error_message(exc: SyntaxError) -> str:
    """E.g. "SyntaxError on line 3, column 5: invalid syntax" (no file name: it is ours)."""
    name = type(exc).__name__
    if exc.lineno is None:
        return f"{name}: {exc.msg}"
    where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
    return f"{name} on {where}: {exc.msg}"


@dataclass(frozen=True)
class InputScan:
    reads: bool = False  # input(), sys.stdin, `from sys import stdin`, open(0), fileinput
    prompts: bool = False  # input("...") with a prompt, which is printed to stdout


def _node_reads(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("input", "stdin")  # called, aliased (read = input) or imported stdin
    if isinstance(node, ast.Attribute):
        return node.attr in ("stdin", "__stdin__")
    if isinstance(node, ast.ImportFrom):
        return node.module == "fileinput" or any(alias.name == "stdin" for alias in node.names)
    if isinstance(node, ast.Import):
        return any(alias.name == "fileinput" for alias in node.names)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open" and node.args:
        first = node.args[0]
        return isinstance(first, ast.Constant) and first.value in (0, "/dev/stdin")
    return False


def _node_prompts(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "input"
            and bool(node.args))


def scan_input(code: str) -> InputScan:
    """Static look for reads of standard input (iterative walk: deep programs cannot overflow it)."""
    try:
        nodes = list(ast.walk(ast.parse(code)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return InputScan()  # in doubt: treated as not reading input, i.e. judged at the default size
    return InputScan(reads=any(map(_node_reads, nodes)), prompts=any(map(_node_prompts, nodes)))


def reads_input(code: str) -> bool:
    return scan_input(code).reads


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
_TB_LINE_RE = re.compile(r'File "' + re.escape(LEARNER_FILE) + r'", line (\d+)')


def scrub_paths(text: str) -> str:
    """Replace server, home and temporary paths by "<path>": errors are shown to learners."""
    return _PATH_RE.sub("<path>", text)


def _clip(text: str) -> str:
    text = scrub_paths(text.strip())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _exception_line(stderr: str) -> tuple[str | None, int | None]:
    """The exception text of the last traceback in ``stderr`` and the learner's line it came from."""
    marker = stderr.rfind("Traceback (most recent call last):")
    if marker < 0:
        return None, None
    block = stderr[marker:].splitlines()[1:]
    line_numbers = [int(m.group(1)) for m in map(_TB_LINE_RE.search, block) if m]
    message = next((line for line in block if line and not line[0].isspace()), None)
    return message, (line_numbers[-1] if line_numbers else None)


def _last_line(text: str) -> str | None:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else None


def runtime_error_message(result: RunResult) -> str:
    if result.signal is not None:
        try:
            name = signal.Signals(result.signal).name
        except ValueError:
            name = str(result.signal)
        return f"Program crashed (killed by signal {name})"
    message, line = _exception_line(result.stderr)
    if message is None:
        extra = _last_line(result.stderr)
        status = f"Program exited with status {result.exit_code}"
        return _clip(f"{status}: {extra}" if extra else status)
    return _clip(message) + (f" (line {line})" if line else "")


def classify_run(result: RunResult, sandbox: Sandbox) -> tuple[Verdict, str] | None:
    """The verdict a run forces by itself (limits, crashes), or None when it ended normally."""
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
    message, _ = _exception_line(result.stderr)
    if message is not None and message.startswith("MemoryError"):
        return Verdict.REJECTED, f"Memory limit exceeded ({limits.memory_mb} MB)"
    if (message is not None and "[Errno 27]" in message) or result.signal == signal.SIGXFSZ:
        return Verdict.REJECTED, f"File size limit exceeded ({limits.max_file_bytes} bytes)"
    return Verdict.RUNTIME_ERROR, runtime_error_message(result)


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

    async def judge(self, pattern: PatternDef, code: str) -> Judgment:
        """Verdict for ``code`` on ``pattern``. Raises only SandboxError (infrastructure failure)."""
        started = time.monotonic()
        judgment = await self._judge(pattern, code, started)
        JUDGE_SECONDS.labels(judgment.verdict.value).observe(time.monotonic() - started)
        return judgment

    async def _judge(self, pattern: PatternDef, code: str, started: float) -> Judgment:
        default_expected = list(expected_output(pattern, pattern.rows))
        static = compile_error(code, self.max_code_chars)
        scan = scan_input(code) if len(code) <= self.max_code_chars else InputScan()
        if static is not None:
            verdict, error = static
            return Judgment(verdict, 0.0, [], [], default_expected, [], error, _ms(started), scan.reads)
        sizes = judge_sizes(pattern, scan.reads)
        results = await self.sandbox.run_many(code, [f"{n}\n" for n in sizes])
        return self._verdict(pattern, sizes, results, scan, default_expected, started)

    def _verdict(
        self,
        pattern: PatternDef,
        sizes: list[int],
        results: list[RunResult],
        scan: InputScan,
        default_expected: list[str],
        started: float,
    ) -> Judgment:
        outputs = {n: normalize_output(r.stdout) for n, r in zip(sizes, results, strict=True)}
        checks = [compare_rows(n, expected_output(pattern, n), outputs[n]) for n in sizes]
        forced = [c for c in (classify_run(r, self.sandbox) for r in results) if c is not None]
        mismatches = [m for check in checks for m in check.mismatches]
        verdict, error = _worst(forced)
        if verdict in (Verdict.REJECTED, Verdict.TIMEOUT):
            score, mismatches = 0.0, []
        else:
            score = _row_score(checks)
            if verdict is None:
                verdict = Verdict.PASSED if score == 1.0 else Verdict.WRONG_OUTPUT
                error = None if verdict is Verdict.PASSED else _wrong_output_hint(checks, scan.prompts)
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


def _wrong_output_hint(checks: list[_SizeCheck], prompts: bool) -> str:
    wrong = [c for c in checks if c.mismatches]
    first = wrong[0]
    message = f"Wrong output for n={first.size}: row {first.mismatches[0].row} differs"
    if len(wrong) > 1:
        message += f" (and at {len(wrong) - 1} other size{'s' if len(wrong) > 2 else ''})"
    if prompts:
        message += "; note that the prompt given to input() is printed too"
    return message


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
