"""Prompts for the generative model and the rule-based feedback, from facts alone."""

from __future__ import annotations

import dataclasses
import re

import pytest

from analysis.feedback import (
    Facts,
    build_messages,
    rule_based_feedback,
    suggestions_and_hints,
    truncate_code,
)
from core.domain import AnalysisKind

CODE = "n = int(input())\nfor i in range(1, n):\n    print('*' * i)\n"


def facts(**changes: object) -> Facts:
    base = Facts(
        pattern_name="Right Triangle",
        pattern_description="A right-angled triangle of stars, one more star per row.",
        expected_preview=["*", "**", "***", "****", "*****"],
        code=CODE,
        verdict="WRONG_OUTPUT",
        error="Wrong output for n=4: row 3 differs",
        mismatches=[(4, 3, "***", "**"), (4, 4, "****", "***")],
        score=0.6,
        cyclomatic=2,
        max_nesting_depth=1,
        loops=1,
        conditions=0,
        big_o="O(n^2)",
        complexity_level="low",
        reads_input=True,
    )
    return dataclasses.replace(base, **changes)


def text_of(feedback: object) -> str:
    return " ".join([feedback.explanation, *feedback.suggestions, *feedback.hints])  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- prompt


def test_prompt_carries_the_facts_and_the_grounding_rules() -> None:
    system, user = build_messages(facts(), "FULL")
    assert system["role"] == "system" and user["role"] == "user"
    assert "FACTS" in system["content"] and "contradict" in system["content"]
    assert "invent" in system["content"]
    content = user["content"]
    assert "WRONG_OUTPUT" in content
    assert "Size 4, row 3: expected '***', the program printed '**'" in content
    assert "60%" in content
    assert "cyclomatic complexity 2" in content and "maximum nesting depth 1" in content
    assert "1 loop" in content and "O(n^2)" in content
    assert "Reads the size with input(): yes" in content
    assert CODE.rstrip("\n") in content
    assert "Right Triangle" in content and "'****'" in content
    assert "2 or 3 short hints" in content


def test_each_kind_asks_its_own_question() -> None:
    tasks = {kind: build_messages(facts(), kind)[1]["content"].rsplit("Task:", 1)[1] for kind in list(AnalysisKind)}
    assert len(set(tasks.values())) == len(list(AnalysisKind))
    assert "O(n^2)" in tasks["COMPLEXITY"]
    with pytest.raises(ValueError):
        build_messages(facts(), "POEM")


def test_not_executed_code_is_described_as_such() -> None:
    content = build_messages(facts(verdict=None, error=None, mismatches=[], score=None), "COMPLEXITY")[1]["content"]
    assert "not run" in content
    assert "Rows right" not in content and "Reads the size" not in content


def test_long_code_is_shortened_to_max_code_chars() -> None:
    code = "".join(f"print('row {i}')\n" for i in range(2000))
    content = build_messages(facts(code=code), "FULL", max_code_chars=500)[1]["content"]
    shown = re.search(r"```python\n(.*?)\n```", content, re.DOTALL)
    assert shown is not None
    assert len(shown.group(1)) <= 500
    assert "print('row 0')" in shown.group(1) and "print('row 1999')" in shown.group(1)
    assert "shortened" in shown.group(1)
    assert truncate_code(CODE, 500) == CODE
    assert len(truncate_code(code, 10)) <= 10


def test_code_fences_in_learner_code_cannot_close_the_block() -> None:
    content = build_messages(facts(code="print('```')\n"), "FULL")[1]["content"]
    assert content.count("```") == 2


# --------------------------------------------------------------------------- rules


def test_wrong_output_names_the_first_wrong_row_and_the_score() -> None:
    feedback = rule_based_feedback(facts(), "FEEDBACK")
    assert "Row 3 at size 4 should be '***' but your program printed '**'" in feedback.explanation
    assert "60% of the rows" in feedback.explanation
    assert any("one character too few" in hint and "off-by-one" in hint for hint in feedback.hints)


def test_missing_rows_point_at_the_range_bounds() -> None:
    feedback = rule_based_feedback(facts(mismatches=[(4, 4, "****", None)]), "FEEDBACK")
    assert "row 4 is missing" in feedback.explanation
    assert any("range(1, n + 1)" in hint for hint in feedback.hints)


def test_extra_rows_are_reported() -> None:
    feedback = rule_based_feedback(facts(mismatches=[(3, 4, None, "****")]), "FEEDBACK")
    assert "extra row 4" in feedback.explanation
    assert any("more rows" in hint for hint in feedback.hints)


def test_only_leading_spaces_differ_gives_an_alignment_hint() -> None:
    pyramid = facts(
        pattern_name="Pyramid",
        expected_preview=["   *", "  ***", " *****", "*******"],
        mismatches=[(4, 1, "   *", "*"), (4, 2, "  ***", "***")],
    )
    hints = rule_based_feedback(pyramid, "FULL").hints
    assert any("not aligned" in hint and "3 leading space" in hint for hint in hints)
    assert not any("off-by-one" in hint for hint in hints)


def test_spaces_between_characters_are_told_apart_from_alignment() -> None:
    spaced = facts(mismatches=[(3, 2, "* *", "**")])
    hints = rule_based_feedback(spaced, "FEEDBACK").hints
    assert any("spaces between them" in hint and "'* '" in hint for hint in hints)
    assert not any("not aligned" in hint or "off-by-one" in hint for hint in hints)


def test_rows_in_reverse_order_are_spotted() -> None:
    upside_down = facts(mismatches=[(3, 1, "*", "***"), (3, 3, "***", "*")])
    assert any("different order" in hint for hint in rule_based_feedback(upside_down, "FEEDBACK").hints)


def test_hard_coded_size_is_pointed_out() -> None:
    hints = rule_based_feedback(facts(reads_input=False), "FEEDBACK").hints
    assert any("n = int(input())" in hint for hint in hints)


def test_prompt_in_input_is_pointed_out() -> None:
    error = "Wrong output for n=4: row 1 differs; note that the prompt given to input() is printed too"
    hints = rule_based_feedback(facts(error=error, mismatches=[(4, 1, "*", "Enter n: *")]), "FULL").hints
    assert "without a prompt" in hints[0]


def test_runtime_error_names_the_exception_and_line() -> None:
    crashed = facts(verdict="RUNTIME_ERROR", error="TypeError: can only concatenate str (not \"int\") to str (line 3)",
                    mismatches=[], score=0.0)
    feedback = rule_based_feedback(crashed, "FULL")
    assert "TypeError" in feedback.explanation and "line 3" in feedback.explanation
    assert any("TypeError" in hint and "int()" in hint for hint in feedback.hints)
    assert any("line 3" in hint for hint in feedback.hints)


def test_runtime_error_from_a_whole_traceback_uses_its_last_line() -> None:
    traceback = 'Traceback (most recent call last):\n  File "main.py", line 2, in <module>\nNameError: name \'m\' is not defined'
    feedback = rule_based_feedback(facts(verdict="RUNTIME_ERROR", error=traceback, mismatches=[]), "FEEDBACK")
    assert "NameError" in feedback.explanation and "Traceback" not in feedback.explanation
    assert any("NameError" in hint for hint in feedback.hints)


def test_syntax_error_points_at_the_line() -> None:
    broken = facts(verdict="SYNTAX_ERROR", error="SyntaxError on line 2, column 22: expected ':'", mismatches=[],
                   score=0.0)
    feedback = rule_based_feedback(broken, "FULL")
    assert "line 2" in feedback.explanation and "nothing ran" in feedback.explanation
    assert any("line 2" in hint and "':'" in hint for hint in feedback.hints)
    indented = facts(verdict="SYNTAX_ERROR", error="IndentationError on line 3: expected an indented block",
                     mismatches=[])
    assert any("indentation" in hint for hint in rule_based_feedback(indented, "FEEDBACK").hints)


def test_timeout_and_rejection_have_their_own_advice() -> None:
    timeout = rule_based_feedback(facts(verdict="TIMEOUT", error="Time limit exceeded", mismatches=[]), "FULL")
    assert "time limit" in timeout.explanation and any("while loop" in h for h in timeout.hints)
    flood = facts(verdict="REJECTED", error="Output limit exceeded: printed more than 64000 bytes", mismatches=[])
    assert any("every loop stops" in h for h in rule_based_feedback(flood, "FULL").hints)
    imports = facts(verdict="REJECTED", error="import of os is not allowed", mismatches=[])
    feedback = rule_based_feedback(imports, "FULL")
    assert "not run" in feedback.explanation and any("imports" in h for h in feedback.hints)


def test_passed_is_praised_and_nothing_is_called_wrong() -> None:
    passed = facts(verdict="PASSED", error=None, mismatches=[], score=1.0)
    feedback = rule_based_feedback(passed, "FULL")
    assert "correctly" in feedback.explanation
    assert "wrong" not in text_of(feedback).lower() and "error" not in text_of(feedback).lower()
    assert feedback.suggestions and feedback.hints


def test_complexity_suggestions_follow_the_metrics() -> None:
    nested = facts(verdict="PASSED", mismatches=[], score=1.0, max_nesting_depth=3, loops=3, big_o="O(n^3)",
                   cyclomatic=4, complexity_level="medium")
    suggestions, _ = suggestions_and_hints(nested)
    assert any("O(n^3)" in s for s in suggestions)
    assert any("nested 3 levels" in s and "' ' * (n - i)" in s for s in suggestions)
    branchy = facts(conditions=5, cyclomatic=11)
    assert any("5 conditions" in s for s in suggestions_and_hints(branchy)[0])
    two_loops = facts(loops=2, max_nesting_depth=2)
    assert any("String multiplication" in s for s in suggestions_and_hints(two_loops)[0])


def test_complexity_kind_explains_the_metrics() -> None:
    feedback = rule_based_feedback(facts(verdict=None, error=None, mismatches=[], score=None, loops=2,
                                         max_nesting_depth=2), "COMPLEXITY")
    assert "O(n^2)" in feedback.explanation and "nested 2 deep" in feedback.explanation
    assert "cyclomatic complexity 2" in feedback.explanation


@pytest.mark.parametrize("verdict", ["PASSED", "WRONG_OUTPUT", "RUNTIME_ERROR", "SYNTAX_ERROR", "TIMEOUT",
                                     "REJECTED", None])
@pytest.mark.parametrize("kind", list(AnalysisKind))
def test_every_combination_gives_bounded_non_empty_feedback(verdict: str | None, kind: str) -> None:
    case = facts(verdict=verdict, mismatches=[] if verdict != "WRONG_OUTPUT" else facts().mismatches)
    feedback = rule_based_feedback(case, kind)
    assert feedback.explanation.strip()
    assert 1 <= len(feedback.hints) <= 3 and len(feedback.suggestions) <= 3
    assert feedback == rule_based_feedback(case, kind)  # deterministic
    assert (feedback.suggestions, feedback.hints) == suggestions_and_hints(case)
