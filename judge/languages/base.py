"""The interface every language implements, and the types its answers come in.

A language module (``python.py``, ``javascript.py``) says, for programs written in it: which
sandbox runtime runs them and under what file name; which syntax errors are known without
running anything; whether the program reads standard input; what a failed run's error output
means (syntax error, exception and line, memory or file-size limit); the static metrics
(``judge.metrics`` defines them); the census of constructs the feedback and the verifier hold
prose to (``analysis.program``); and the idioms the hints are written with (``'*' * i`` or
``'*'.repeat(i)``). Everything else in the pipeline is the same for every language.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum

from core.domain import Language, Verdict
from sandbox import RunResult

EXPONENTIAL = 99  # degree marker for O(2^n)


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class InputScan:
    reads: bool = False  # reads standard input (input(), sys.stdin, readFileSync(0), process.stdin...)
    prompts: bool = False  # asks with a prompt that is printed to stdout (input("..."), rl.question("..."))


@dataclass(frozen=True)
class Failure:
    """What a failed run's error output says, in learner-facing terms (no paths)."""

    kind: str  # "syntax" | "memory" | "file-size" | "exception" | "exit"
    message: str | None = None  # e.g. "TypeError: Cannot read properties of null (reading 'length')"
    line: int | None = None  # the learner's line it came from
    column: int | None = None  # syntax errors only

    def text(self) -> str | None:
        if self.kind == "syntax":
            where = "" if self.line is None else f" on line {self.line}" + (
                f", column {self.column}" if self.column else "")
            return f"SyntaxError{where}: {self.message or 'invalid syntax'}"
        if self.message is None:
            return None
        return self.message + (f" (line {self.line})" if self.line else "")


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class CodeMetrics:
    score: float
    level: str
    cyclomatic: int
    max_nesting_depth: int
    loops: int
    conditions: int
    big_o: str
    lines: int
    syntax_error: str | None
    recursive: bool = False


def big_o_label(degree: int) -> str:
    if degree >= EXPONENTIAL:
        return "O(2^n)"
    return {0: "O(1)", 1: "O(n)"}.get(degree, f"O(n^{degree})")


def complexity_score(cyclomatic: int, depth: int, degree: int, lines: int) -> float:
    power = 4 if degree >= EXPONENTIAL else degree
    raw = 0.4 * max(cyclomatic - 1, 0) + 1.0 * depth + 0.75 * power + lines / 20
    return round(min(raw, 10.0), 1)


def metrics_of(*, cyclomatic: int, depth: int, loops: int, conditions: int, degree: int, lines: int,
               recursive: bool) -> CodeMetrics:
    score = complexity_score(cyclomatic, depth, degree, lines)
    return CodeMetrics(
        score=score,
        level="simple" if score < 3.5 else "moderate" if score < 6.5 else "complex",
        cyclomatic=cyclomatic,
        max_nesting_depth=depth,
        loops=loops,
        conditions=conditions,
        big_o=big_o_label(degree),
        lines=lines,
        syntax_error=None,
        recursive=recursive,
    )


def no_metrics(message: str) -> CodeMetrics:
    """What a program that cannot be parsed measures: nothing, with the reason."""
    return CodeMetrics(0.0, "simple", 0, 0, 0, 0, "O(1)", 0, message)


# --------------------------------------------------------------------------- census


class Construct(StrEnum):
    """Constructs a sentence can claim; one enum for the census, the prompt and the verifier."""

    FOR = "for loop"
    WHILE = "while loop"
    LOOP = "loop"  # for or while
    NESTED_LOOPS = "nested loops"
    FUNCTION = "function"
    RECURSION = "recursion"
    RETURN = "return"
    COMPREHENSION = "comprehension"
    CLASS = "class"
    DICT = "dictionary"
    LIST = "list"
    LAMBDA = "lambda"
    IMPORT = "import"
    TRY = "try/except"
    IF = "if"
    ELSE = "else"
    BREAK = "break"
    CONTINUE = "continue"
    INPUT = "input()"
    PRINT = "print()"
    STRING_REPEAT = "string repetition"
    JOIN = "join()"
    FSTRING = "f-string"
    ASSIGN = "assignment"
    INCREMENT = "increment"
    PADDING = "padding method"


@dataclass(frozen=True)
class ProgramCensus:
    source: str
    parsed: bool
    constructs: frozenset[Construct]
    names: frozenset[str]  # variables, functions, parameters, attributes
    functions: frozenset[str]  # names of the program's own functions
    numbers: frozenset[int]  # integer literals
    strings: frozenset[str]  # string literal values
    line_count: int
    # Line number -> constructs on that line (a compound statement's header line gets its own).
    lines: dict[int, frozenset[Construct]] = field(default_factory=dict)

    @property
    def loops(self) -> bool:
        return Construct.LOOP in self.constructs


# --------------------------------------------------------------------------- idioms


@dataclass(frozen=True)
class Idioms:
    """How the hints say things in this language: code snippets and the few language-specific
    sentences. ``analysis.feedback`` writes everything else, the same for every language."""

    name: str  # "Python", "JavaScript"
    read_size: str  # a complete statement that reads the size n
    read_call: str  # how "reading input" is named in a sentence: "input()", "readFileSync(0)"
    print_call: str  # "print()", "console.log()"
    repeat_name: str  # "String multiplication", "String repetition"
    repeat: str  # a row of i stars, "'*' * i"
    pad_and_repeat: str  # "' ' * (n - i) + '*' * i"
    pyramid_row: str  # "' ' * (n - i) + '*' * (2 * i - 1)"
    spaces_for_row: str  # "' ' * (n - i)"
    short_row_loop: str  # a row loop that stops at n - 1, and how to include row n
    exact_row_loops: str  # loops that run exactly n times
    inner_bounds: str  # the off-by-one rule of the inner loop
    count_down: str  # a row loop that counts down
    spaced_join: str  # putting a space between characters
    no_newline: str  # printing without ending the line
    exception_hints: dict[str, str]
    syntax_hints: tuple[str, ...]  # general advice on a syntax error (after the line to check)
    syntax_usual_causes: str  # "a missing ':' after for/if, an unclosed bracket or quote"
    timeout_input_hint: str
    rejected_hint: str
    prompt_call: str  # the call whose prompt is printed: "input()", "question()"
    prompt_hint: str  # when a prompt was printed
    builtin_names: frozenset[str] = frozenset()


# --------------------------------------------------------------------------- the interface


class LanguageSupport(ABC):
    """One language, end to end (see the module docstring). Stateless: one instance serves all."""

    language: Language
    runtime: str  # the sandbox runtime (sandbox/runtimes.py) that runs its programs
    source_file: str  # the name the program has in error messages: "main.py", "main.js"
    idioms: Idioms
    # Whether the model's prose is offered for this language: only where the sentence verifier
    # has been measured against hand-labelled programs (docs/DESIGN.md, Feedback).
    model_prose: bool = False

    @abstractmethod
    def syntax_error(self, code: str) -> str | None:
        """A syntax error known without running anything (the message), or None."""

    def needs_syntax_probe(self, code: str) -> bool:
        """True when the program may not parse and the runtime itself should say so first (one
        run at the default size) before it is judged at every size."""
        return False

    @abstractmethod
    def scan_input(self, code: str) -> InputScan:
        """Static look for reads of standard input; in doubt, not reading."""

    @abstractmethod
    def failure(self, result: RunResult) -> Failure:
        """What a run that did not end cleanly (non-zero exit status or a signal) says."""

    @abstractmethod
    def metrics(self, code: str) -> CodeMetrics:
        """The static metrics (``judge.metrics``); a syntax error is in the result, never raised."""

    @abstractmethod
    def census(self, code: str) -> ProgramCensus:
        """What the program contains (``analysis.program``); a program that does not parse still
        gets one, from its words."""

    def verdict_of(self, failure: Failure, limits_text: dict[str, str]) -> tuple[Verdict, str]:
        """The verdict a failure forces (same rules in every language)."""
        if failure.kind == "syntax":
            return Verdict.SYNTAX_ERROR, failure.text() or "SyntaxError"
        if failure.kind == "memory":
            return Verdict.REJECTED, limits_text["memory"]
        if failure.kind == "file-size":
            return Verdict.REJECTED, limits_text["file-size"]
        return Verdict.RUNTIME_ERROR, failure.text() or "Program failed"
