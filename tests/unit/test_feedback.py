"""The prompt for the generative model and the rule-based feedback, from facts alone."""

from __future__ import annotations

import dataclasses

import pytest

from analysis.feedback import Facts, rule_based_feedback, suggestions_and_hints
from analysis.prompt import build_messages, max_new_tokens_for
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


def test_prompt_carries_the_facts_the_numbered_code_and_a_narrow_job() -> None:
    messages = build_messages(facts(), "FULL")
    system, *examples, user = messages
    assert system["role"] == "system" and user["role"] == "user"
    assert "never contradict" in system["content"] and "invent" in system["content"]
    assert "Line N" in system["content"]
    # Worked examples show the form: user/assistant pairs whose answers go line by line.
    assert [m["role"] for m in examples] == ["user", "assistant"] * (len(examples) // 2) and examples
    assert all(m["content"].startswith("Line 1 ") for m in examples if m["role"] == "assistant")
    content = user["content"]
    assert "1: n = int(input())" in content and "2: for i in range(1, n):" in content
    assert "3:     print('*' * i)" in content
    assert "Result: WRONG_OUTPUT" in content
    assert "First wrong row: at size 4, row 3 should be '***', and the program printed '**'." in content
    assert "Contains: 1 for loop, input(), string repetition." in content
    assert "No function, no while loop, no nesting." in content


def test_prompt_names_functions_recursion_and_nesting_when_present() -> None:
    code = "def row(k):\n    return '*' * k\n\nn = int(input())\nfor i in range(n):\n    for j in range(i):\n" \
           "        print(row(j))\n"
    content = build_messages(facts(code=code, max_nesting_depth=2), "EXPLANATION")[-1]["content"]
    assert "1 function (row)" in content and "loops nested 2 deep" in content
    assert "2 for loops" in content and "No while loop." in content


def test_every_kind_shares_the_prompt_prefix_and_unknown_kinds_fail() -> None:
    prompts = [build_messages(facts(), kind) for kind in AnalysisKind]
    assert all(p[:-1] == prompts[0][:-1] for p in prompts)  # the cached prefix is the same
    with pytest.raises(ValueError):
        build_messages(facts(), "POEM")


def test_not_executed_code_is_described_as_such() -> None:
    content = build_messages(facts(verdict=None, error=None, mismatches=[], score=None), "COMPLEXITY")[-1]["content"]
    assert "not run" in content and "First wrong row" not in content


def test_long_code_keeps_its_line_numbers() -> None:
    code = "".join(f"print('row {i}')\n" for i in range(200))
    content = build_messages(facts(code=code), "FULL")[-1]["content"]
    assert "1: print('row 0')" in content and "200: print('row 199')" in content
    assert "lines not shown" in content
    assert content.count("print('row") <= 40


def test_code_fences_in_learner_code_cannot_close_the_block() -> None:
    content = build_messages(facts(code="print('```')\n"), "FULL")[-1]["content"]
    assert content.count("```") == 2


def test_reply_length_follows_the_program() -> None:
    assert max_new_tokens_for(CODE, 160) < max_new_tokens_for(CODE * 4, 160) <= 160
    assert max_new_tokens_for("", 160) >= 24


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
