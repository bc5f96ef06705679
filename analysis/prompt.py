"""The prompt: verified facts and a narrow job, shown by example.

A 135M-parameter model cannot be trusted to "explain the program"; asked that, it writes about
recursion, Fibonacci and functions that are not there. Its job here is narrow: one short sentence
per line of the learner's program, starting "Line N", then one sentence on the result, with the
facts measured by the judge and the code census in the prompt. Three worked examples (never a
corpus program) show the form; they and the system text are the same for every request, so the
batch engine computes that prefix once and keeps it cached. Whatever comes back is still checked
sentence by sentence (`analysis.verifier`).
"""

from __future__ import annotations

from core.domain import AnalysisKind, Verdict

from .feedback import Facts, error_text, kind_of
from .program import Construct, ProgramCensus, census

_MAX_CODE_LINES = 40  # longer programs: the first and last lines, numbered as in the program
_MAX_ROW_CHARS = 60

SYSTEM = (
    "You explain a beginner's Python program that prints a text pattern. Write one short sentence per "
    "line of code, starting with \"Line N\", saying only what that line does. Then write one sentence "
    "about the result. The facts were measured by running the program: never contradict them. Never "
    "invent code, names, numbers or output, and never show code."
)

_VERDICT_TEXT: dict[Verdict, str] = {
    Verdict.PASSED: "PASSED: it prints the right pattern for every size tested.",
    Verdict.WRONG_OUTPUT: "WRONG_OUTPUT: it runs, but some rows differ from the pattern.",
    Verdict.RUNTIME_ERROR: "RUNTIME_ERROR: it stopped with an error.",
    Verdict.SYNTAX_ERROR: "SYNTAX_ERROR: Python could not read it, so it did not run.",
    Verdict.TIMEOUT: "TIMEOUT: it ran past the time limit.",
    Verdict.REJECTED: "REJECTED: it uses something not allowed, so it did not run.",
}

# (program, facts lines, answer): the form the model copies. Hashes, x and letters, so that a
# star pattern's answer is never a copy of an example's.
_EXAMPLES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "n = int(input())\nfor i in range(1, n + 1):\n    print('#' * i)\n",
        ("Result: PASSED: it prints the right pattern for every size tested.",
         "Contains: 1 for loop, input(), string repetition. No function, no while loop, no nesting."),
        "Line 1 reads the size n with input().\n"
        "Line 2 repeats the loop for i from 1 to n.\n"
        "Line 3 prints a row of i hashes.\n"
        "Each row has one more hash than the row before, which is the pattern.",
    ),
    (
        "size = int(input())\nrow = 1\nwhile row < size:\n    print(' ' * (size - row) + 'x' * row)\n"
        "    row += 1\n",
        ("Result: WRONG_OUTPUT: it runs, but some rows differ from the pattern.",
         "First wrong row: at size 3, row 3 should be 'xxx', and the program printed no row.",
         "Contains: 1 while loop, input(), string repetition. No function, no for loop, no nesting."),
        "Line 1 reads the size with input().\n"
        "Line 2 sets row to 1.\n"
        "Line 3 repeats the loop while row is less than size.\n"
        "Line 4 prints size - row spaces and then row letters x.\n"
        "Line 5 adds 1 to row.\n"
        "The loop stops before row reaches size, so the last row is never printed.",
    ),
    (
        "def line(k):\n    return '@ ' * k\n\nfor k in range(4):\n    print(line(k))\n",
        ("Result: WRONG_OUTPUT: it runs, but some rows differ from the pattern.",
         "First wrong row: at size 3, row 1 should be '@', and the program printed ''.",
         "Contains: 1 function (line), 1 for loop, string repetition. No input(), no while loop, "
         "no nesting."),
        "Line 1 defines the function line, which takes k.\n"
        "Line 2 returns '@ ' repeated k times.\n"
        "Line 4 repeats the loop for k from 0 to 3.\n"
        "Line 5 prints the text that line(k) returns.\n"
        "The program never reads the size, and its first row is empty because k starts at 0.",
    ),
)


def build_messages(facts: Facts, kind: AnalysisKind | str = AnalysisKind.FULL) -> list[dict[str, str]]:
    """Chat messages: the system text, the worked examples, then this program and its facts.
    Every kind gets the same narrow job; `kind` is checked (an unknown one is an error)."""
    kind_of(kind)
    messages = [{"role": "system", "content": SYSTEM}]
    for code, example_facts, answer in _EXAMPLES:
        messages.append({"role": "user", "content": _request(code, list(example_facts))})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": _request(facts.code, fact_lines(facts))})
    return messages


def max_new_tokens_for(code: str, ceiling: int) -> int:
    """Room for a sentence per line of code and one on the result: a reply that runs on past
    that is rambling, and its tokens cost the other learners' batch time."""
    lines = sum(1 for line in code.splitlines() if line.strip())
    return max(24, min(ceiling, 22 * min(lines, _MAX_CODE_LINES) + 32))


def fact_lines(facts: Facts) -> list[str]:
    """The measured facts, one per line, as the prompt states them."""
    program = census(facts.code, facts.language)
    lines = [f"Pattern: {facts.pattern_name}."]
    if facts.verdict is None:
        lines.append("Result: not run; only the code is looked at.")
    else:
        lines.append(f"Result: {_VERDICT_TEXT[Verdict(facts.verdict)]}")
        if facts.error:
            lines.append(f"Error: {error_text(facts.error)}")
        if facts.mismatches:
            size, row, expected, actual = facts.mismatches[0]
            if expected is None:
                wrong = f"at size {size}, the program printed an extra row {row}, {_quote(actual)}."
            elif actual is None:
                wrong = f"at size {size}, row {row} should be {_quote(expected)}, and the program printed no row."
            else:
                wrong = (f"at size {size}, row {row} should be {_quote(expected)}, and the program printed "
                         f"{_quote(actual)}.")
            lines.append("First wrong row: " + wrong)
    lines.append("Contains: " + _contains(facts, program))
    return lines


def _contains(facts: Facts, program: ProgramCensus) -> str:
    has = program.constructs
    present: list[str] = []
    if program.functions:
        names = ", ".join(sorted(program.functions)[:3])
        present.append(f"{_count(len(program.functions), 'function')} ({names})")
    if Construct.RECURSION in has:
        present.append("recursion")
    for construct, word in ((Construct.FOR, "for loop"), (Construct.WHILE, "while loop")):
        if construct in has:
            present.append(_count(_statements(program, construct), word))
    if Construct.COMPREHENSION in has:
        present.append("a comprehension")
    if Construct.NESTED_LOOPS in has:
        present.append(f"loops nested {facts.max_nesting_depth} deep")
    for construct in (Construct.IF, Construct.INPUT, Construct.STRING_REPEAT, Construct.JOIN, Construct.FSTRING):
        if construct in has:
            present.append(construct.value)
    absent = [f"no {word}" for construct, word in (
        (Construct.FUNCTION, "function"), (Construct.WHILE, "while loop"), (Construct.FOR, "for loop"),
        (Construct.NESTED_LOOPS, "nesting"), (Construct.INPUT, "input()"),
    ) if construct not in has]
    text = ", ".join(present) + "." if present else "only straight-line statements."
    if absent:
        text += " " + ", ".join(absent).capitalize() + "."
    return text


def _statements(program: ProgramCensus, construct: Construct) -> int:
    return sum(construct in found for found in program.lines.values()) or 1


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _quote(row: str | None) -> str:
    if row is None:
        return "no row"
    if len(row) > _MAX_ROW_CHARS:
        row = row[:_MAX_ROW_CHARS] + "..."
    return f"'{row}'"  # quotes show the leading spaces, where most pattern mistakes hide


def _request(code: str, facts: list[str]) -> str:
    return "\n".join(["Program:", "```", *_numbered(code), "```", "", *facts, "", "Explain each line."])


def _numbered(code: str) -> list[str]:
    # A fence inside the code would end our block early.
    lines = code.replace("```", "'''").rstrip("\n").split("\n")
    numbered = [f"{n}: {line}" if line.strip() else f"{n}:" for n, line in enumerate(lines, start=1)]
    if len(numbered) > _MAX_CODE_LINES:
        head = _MAX_CODE_LINES * 2 // 3
        tail = _MAX_CODE_LINES - head
        numbered = [*numbered[:head], f"... ({len(lines) - head - tail} lines not shown) ...", *numbered[-tail:]]
    return numbered
