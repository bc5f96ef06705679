"""The facts about one submission and the rule-based feedback built from them alone.

The judge and the static analyser establish the facts: the verdict, the wrong rows, the metrics.
The explanation, suggestions and hints here come from rules over those facts, so every number and
verdict the API returns comes from measurement, never from model text. The model's prose comes on
top (`analysis.prompt`), checked sentence by sentence (`analysis.verifier`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.domain import AnalysisKind, Language, Verdict
from judge.languages import support
from judge.languages.base import Idioms

from .program import Construct, census

_MAX_ITEMS = 3

Mismatch = tuple[int, int, str | None, str | None]  # (size, row 1-based, expected, actual)


@dataclass(frozen=True)
class Facts:
    """What is known about one submission, from the judge and the static analyser."""

    pattern_name: str
    pattern_description: str
    expected_preview: list[str]
    code: str
    verdict: Verdict | None  # None: not run (a COMPLEXITY analysis)
    error: str | None  # learner-facing error message
    mismatches: list[Mismatch]  # first few wrong rows
    score: float | None  # share of right rows, 0..1
    cyclomatic: int
    max_nesting_depth: int
    loops: int
    conditions: int
    big_o: str
    complexity_level: str
    reads_input: bool
    sizes_tested: tuple[int, ...] = ()
    language: Language = Language.PYTHON

    @property
    def idioms(self) -> Idioms:
        """How this program's language says things (the hints quote code in it)."""
        return support(self.language).idioms


@dataclass(frozen=True)
class Feedback:
    explanation: str
    suggestions: list[str]
    hints: list[str]


# --------------------------------------------------------------------------- shared

_MAX_ROW_CHARS = 80


def _quote(row: str | None) -> str:
    if row is None:
        return "(no row)"
    if len(row) > _MAX_ROW_CHARS:
        row = row[:_MAX_ROW_CHARS] + "..."
    # Quotes make leading spaces visible, which is where most pattern mistakes hide.
    return f"'{row}'"


def _percent(score: float) -> str:
    return f"{round(score * 100)}%"


def kind_of(kind: AnalysisKind | str) -> AnalysisKind:
    try:
        return AnalysisKind(kind.upper())
    except ValueError:
        raise ValueError(
            f"unknown analysis kind {kind!r}; expected one of {', '.join(AnalysisKind)}"
        ) from None


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# --------------------------------------------------------------------------- rules

_EXCEPTION = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Interrupt|Exit|Iteration))\b")
_LINE = re.compile(r"\bline (\d+)\b", re.IGNORECASE)

def _string_tip(idioms: Idioms) -> str:
    return (f"{idioms.repeat_name} builds a run of characters in one step: {idioms.pad_and_repeat} replaces an "
            "inner loop that prints one character at a time.")


def _exception_name(error: str | None) -> str | None:
    if not error:
        return None
    found = _EXCEPTION.findall(error)
    return found[-1] if found else None  # the last one is the one that ended the program


def error_text(error: str) -> str:
    # A whole traceback, should one arrive, is summed up by its last line.
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 and lines[0].startswith("Traceback") else " ".join(lines)


def _article(word: str) -> str:
    return "an" if word[:1].upper() in "AEIOU" else "a"


def _as_sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else text + "."


def _line_number(error: str | None) -> int | None:
    if not error:
        return None
    # The judge puts the error's own location first ("SyntaxError on line 3, column 1: expected
    # an indented block after 'for' statement on line 2"): later mentions are context.
    found = _LINE.findall(error)
    return int(found[0]) if found else None


def _marks(row: str) -> str:
    """The row without its spaces: what is printed, not where."""
    return row.replace(" ", "")


def _leading(row: str) -> int:
    return len(row) - len(row.lstrip(" "))


def _describe_mismatch(mismatch: Mismatch) -> str:
    size, row, expected, actual = mismatch
    if expected is None:
        return (f"At size {size} your program printed an extra row {row}, {_quote(actual)}, "
                "that should not be there.")
    if actual is None:
        return f"At size {size} row {row} is missing: it should be {_quote(expected)}."
    return f"Row {row} at size {size} should be {_quote(expected)} but your program printed {_quote(actual)}."


def _mismatch_hints(mismatches: Sequence[Mismatch], idioms: Idioms) -> list[str]:
    """What the wrong rows have in common, as hints, most telling first."""
    pairs = [(e, a) for _, _, e, a in mismatches if e is not None and a is not None]
    hints: list[str] = []
    if any(a is None for *_, a in mismatches):
        hints.append(f"Some rows are missing: your loop stops too early. {idioms.short_row_loop}")
    if any(e is None for *_, e, _ in mismatches):
        hints.append(
            "Your program prints more rows than the pattern has: check that the row loop runs exactly n "
            f"times ({idioms.exact_row_loops})."
        )
    if not pairs:
        return hints
    alignment = [(e, a) for e, a in pairs if e.lstrip(" ") == a.lstrip(" ")]
    if alignment and len(alignment) == len(pairs):
        e, a = alignment[0]
        hints.append(
            f"The characters are right but the rows are not aligned: a row needs {_leading(e)} leading "
            f"space(s) where yours has {_leading(a)}. Print the spaces before the characters, e.g. "
            f"{idioms.spaces_for_row} for row i."
        )
    spacing = [
        (e, a) for e, a in pairs
        if e.replace(" ", "") == a.replace(" ", "") and e.lstrip(" ") != a.lstrip(" ")
    ]
    if spacing:
        e, _ = spacing[0]
        inner = " " in e.strip(" ")
        hints.append(
            "The right characters are there but the spaces between them differ. "
            + (f"The pattern puts a space between characters: {idioms.spaced_join}."
               if inner else f"The pattern has no spaces between characters: {idioms.no_newline}.")
        )
    if any(e.lower() == a.lower() and e != a for e, a in pairs):
        hints.append("Upper and lower case differ: check whether the pattern uses capital letters.")
    # Same characters, one more or one fewer of them in every wrong row: a loop bound is off by one.
    lengths = {
        len(_marks(a)) - len(_marks(e)) for e, a in pairs if _marks(a) and set(_marks(a)) <= set(_marks(e))
    }
    if len(lengths) == 1 and (diff := lengths.pop()) in (-1, 1) and not alignment:
        hints.append(
            f"Each wrong row has one character too {'many' if diff > 0 else 'few'}: this is an off-by-one "
            f"mistake. Check the bounds of the inner loop ({idioms.inner_bounds})."
        )
    expected_chars = {c for e, _ in pairs for c in e if not c.isspace()}
    actual_chars = {c for _, a in pairs for c in a if not c.isspace()}
    if actual_chars and expected_chars and not (actual_chars & expected_chars):
        hints.append(
            f"Your rows use {', '.join(sorted(actual_chars)[:4])} where the pattern uses "
            f"{', '.join(sorted(expected_chars)[:4])}: check which character or number each row prints."
        )
    by_size: dict[int, list[Mismatch]] = {}
    for mismatch in mismatches:
        by_size.setdefault(mismatch[0], []).append(mismatch)
    for rows in by_size.values():
        expected_rows = {m[2] for m in rows if m[2] is not None}
        if len(rows) >= 2 and all(m[3] in expected_rows and m[3] != m[2] for m in rows):
            hints.append(
                "Your rows are right but in a different order: the pattern may need to count down "
                f"({idioms.count_down}) instead of up, or the other way round."
            )
            break
    return hints


def _verdict_hints(facts: Facts) -> list[str]:
    verdict = facts.verdict
    idioms = facts.idioms
    hints: list[str] = []
    if verdict == Verdict.WRONG_OUTPUT:
        hints += _mismatch_hints(facts.mismatches, idioms)
        if not facts.reads_input:
            hints.append(
                f"Your program does not read the size with {idioms.read_call}, so it always prints the same "
                f"size. The judge tries several sizes: start with {idioms.read_size}."
            )
        if not hints:
            hints.append(
                "Work out on paper how many spaces and characters row i has, as a formula in i and n, "
                "and compare with what your loops print."
            )
    elif verdict == Verdict.RUNTIME_ERROR:
        name = _exception_name(facts.error)
        line = _line_number(facts.error)
        if name and name in idioms.exception_hints:
            hints.append(idioms.exception_hints[name])
        elif name:
            hints.append(f"Look up what a {name} means and find the value that causes it.")
        if line is not None:
            hints.append(f"The error happened at line {line}: print the variables used there to see "
                         "their values.")
        else:
            hints.append("Read the error message from the bottom: it names the problem and the line where "
                         "it happened.")
    elif verdict == Verdict.SYNTAX_ERROR:
        line = _line_number(facts.error)
        name = _exception_name(facts.error)
        where = f"line {line}" if line is not None else "the line the error names"
        if name in ("IndentationError", "TabError"):
            hints.append(f"Check the indentation at {where}: the body of a for or if is indented by the same "
                         "4 spaces everywhere, and tabs and spaces are not mixed.")
        else:
            hints.append(f"Check {where} and the line just before it: {idioms.syntax_usual_causes} are the "
                         "usual causes.")
        hints += idioms.syntax_hints
    elif verdict == Verdict.TIMEOUT:
        hints.append("Look for a while loop whose condition never becomes false, e.g. a counter that is "
                     "never increased.")
        hints.append(idioms.timeout_input_hint)
    elif verdict == Verdict.REJECTED:
        error = (facts.error or "").lower()
        if "output limit" in error:
            hints.append("Your program printed far more than the pattern has: check that every loop stops, "
                         "and that the row loop runs n times.")
        elif "memory" in error:
            hints.append(idioms.exception_hints.get(
                "MemoryError", "The program built something huge and ran out of memory: check loops that keep "
                "adding to a string or list, and that every loop stops."))
        elif "too long" in error or "nested" in error:
            hints.append("Pattern programs are short: a loop over the rows with one print per row is enough.")
        else:
            hints.append(idioms.rejected_hint)
    if facts.error and "prompt" in facts.error.lower() and idioms.prompt_call in facts.error:
        hints.insert(0, idioms.prompt_hint)
    return hints


def _complexity_suggestions(facts: Facts) -> list[str]:
    suggestions: list[str] = []
    power = _big_o_power(facts.big_o)
    if power is not None and power >= 3:
        suggestions.append(
            f"Your program does about {facts.big_o} steps, but a pattern of n rows has about n^2 characters, "
            "so O(n^2) is enough: look for a loop that repeats work another loop already does."
        )
    if facts.max_nesting_depth >= 3:
        suggestions.append(
            f"Your code is nested {facts.max_nesting_depth} levels deep. Building each row with "
            f"{facts.idioms.repeat_name.lower()}, e.g. {facts.idioms.pyramid_row}, removes the inner loops."
        )
    elif facts.loops >= 2 and facts.max_nesting_depth == 2:
        suggestions.append(_string_tip(facts.idioms))
    if facts.conditions >= 4 or facts.cyclomatic >= 10:
        suggestions.append(
            f"{_count(facts.conditions, 'condition')} (cyclomatic complexity {facts.cyclomatic}) make the "
            "program hard to follow: a formula for the number of spaces and characters in row i usually "
            "replaces the if/else branches."
        )
    return suggestions


def _big_o_power(big_o: str) -> int | None:
    text = big_o.replace(" ", "").lower()
    if "n^" in text:
        match = re.search(r"n\^(\d+)", text)
        return int(match.group(1)) if match else None
    if "n²" in text:
        return 2
    if "n³" in text:
        return 3
    if re.fullmatch(r"o\((n\*?logn|n)\)", text):
        return 1
    if text == "o(1)":
        return 0
    return None


def suggestions_and_hints(facts: Facts) -> tuple[list[str], list[str]]:
    """Grounded suggestions (how to improve the code) and hints (how to fix the result)."""
    suggestions = _complexity_suggestions(facts)
    if facts.verdict == Verdict.PASSED:
        if not suggestions:
            suggestions.append(
                "Clean solution. For practice, try the hollow or upside-down version of this pattern, or "
                "write it with a while loop."
            )
    elif not suggestions and facts.verdict is not None:
        suggestions.append(
            "Write the expected rows for n = 3 on paper and count the spaces and characters in each: "
            "a formula in the row number makes the loops simple."
        )
    hints = _verdict_hints(facts)
    if not hints:
        if facts.verdict == Verdict.PASSED:
            hints.append("Try your program with n = 1 and with a large n: both ends of the range should "
                         "look right.")
        else:
            hints.append(_string_tip(facts.idioms) if facts.loops >= 2 else
                         "Name your loop variables after what they count (row, col) to keep the pattern "
                         "readable.")
    return _unique(suggestions)[:_MAX_ITEMS], _unique(hints)[:_MAX_ITEMS]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# --------------------------------------------------------------------------- explanation


def _verdict_sentences(facts: Facts) -> list[str]:
    verdict = facts.verdict
    name = facts.pattern_name
    if verdict is None:
        return []
    if verdict == Verdict.PASSED:
        return [f"Well done: your program prints the {name} correctly for every size tested."]
    if verdict == Verdict.WRONG_OUTPUT:
        sentences = [f"Your program runs, but its output does not match the {name} yet."]
        if facts.mismatches:
            sentences.append(_describe_mismatch(facts.mismatches[0]))
        if facts.score is not None:
            sentences.append(f"{_percent(facts.score)} of the rows were right over all sizes tested.")
        return sentences
    if verdict == Verdict.RUNTIME_ERROR:
        exc = _exception_name(facts.error)
        first = f"Your program stopped with {_article(exc)} {exc}" if exc else "Your program crashed while running"
        line = _line_number(facts.error)
        first += f" at line {line}." if line is not None else "."
        sentences = [first]
        if facts.error:
            sentences.append(_as_sentence(f"The message was: {error_text(facts.error)}"))
        return sentences
    if verdict == Verdict.SYNTAX_ERROR:
        line = _line_number(facts.error)
        where = f" at line {line}" if line is not None else ""
        sentences = [f"{facts.idioms.name} could not read your program: there is a syntax error{where}, so "
                     "nothing ran."]
        if facts.error:
            sentences.append(_as_sentence(f"The message was: {error_text(facts.error)}"))
        return sentences
    if verdict == Verdict.TIMEOUT:
        return ["Your program ran past the time limit, so it was stopped before it finished printing.",
                "This usually means a loop that never ends or a program waiting for more input."]
    if verdict == Verdict.REJECTED:
        sentences = ["Your program was not run because it uses something that is not allowed here."]
        if facts.error:
            sentences.append(_as_sentence(f"The reason: {error_text(facts.error)}"))
        return sentences
    return [f"Result: {verdict}."]


def _structure_sentences(facts: Facts, subject: str = "Your program") -> list[str]:
    if facts.verdict == Verdict.SYNTAX_ERROR:
        return []
    functions = census(facts.code, facts.language)
    if facts.loops == 0 and Construct.RECURSION in functions.constructs:
        names = " and ".join(sorted(functions.functions)[:2])
        structure = (f"{subject} has no for or while loop: {names} calls itself, once for each row, "
                     "which is recursion.")
    elif facts.loops == 0:
        structure = (f"{subject} has no loops, so every row is written out by hand and it cannot grow "
                     "with n.")
    elif facts.max_nesting_depth >= 2:
        structure = (f"It uses {_count(facts.loops, 'loop')}, nested {facts.max_nesting_depth} deep: the "
                     "outer loop goes over the rows and the inner loops print the spaces and characters of "
                     "each row.")
    else:
        structure = (f"It uses {_count(facts.loops, 'loop')} without nesting, building each row in one step, "
                     "which is the simplest shape for a pattern.")
    return [structure]


def _complexity_sentences(facts: Facts) -> list[str]:
    return [
        f"Its running time grows like {facts.big_o} in the size n, and its overall complexity is "
        f"{facts.complexity_level} (cyclomatic complexity {facts.cyclomatic}, "
        f"{_count(facts.conditions, 'condition')}, nesting depth {facts.max_nesting_depth}).",
    ]


def rule_based_feedback(facts: Facts, kind: AnalysisKind | str) -> Feedback:
    """A deterministic explanation from the facts alone (used when no model answers)."""
    kind = kind_of(kind)
    if kind is AnalysisKind.COMPLEXITY:
        sentences = _structure_sentences(facts) + _complexity_sentences(facts)
    elif kind is AnalysisKind.EXPLANATION:
        sentences = _structure_sentences(facts) + _verdict_sentences(facts)
    elif kind is AnalysisKind.FEEDBACK:
        sentences = _verdict_sentences(facts)
    else:  # FULL
        sentences = _verdict_sentences(facts) + _structure_sentences(facts) + _complexity_sentences(facts)
    if not sentences:
        sentences = _structure_sentences(facts) + _complexity_sentences(facts)
    suggestions, hints = suggestions_and_hints(facts)
    return Feedback(explanation=" ".join(sentences), suggestions=suggestions, hints=hints)


def solution_explanation(facts: Facts, formula: str) -> str:
    """The grounded explanation of a pattern's reference solution (the program the judge takes the
    expected output from, so it passes by definition), from the same facts as a learner's."""
    sentences = [f"This is the reference solution for the {facts.pattern_name}: the judge compares every "
                 "submission with what it prints."]
    if facts.reads_input:
        sentences.append("It reads the size n with input(), so it prints the pattern at any size.")
    sentences.append(_as_sentence(f"Row by row: {formula}"))
    sentences += _structure_sentences(facts, "The solution") + _complexity_sentences(facts)
    return " ".join(sentences)
