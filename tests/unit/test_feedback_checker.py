"""The contradiction checker flags false sentences and lets true ones through; the corpus is sound.

No sandbox here: the facts of a run are written by hand (``JudgedFacts``), the way the judge
would report them. tests/integration/test_feedback_corpus.py runs the real judge.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import Counter

import pytest

from catalog import PATTERNS, get_pattern
from judge.judge import Judgment, RowMismatch
from judge.metrics import analyze_code
from tests.feedback_checker import JudgedFacts, contradictions, split_sentences
from tests.feedback_corpus import BY_NAME, CATEGORIES, CONSTRUCTS, PROGRAMS, Program

# --------------------------------------------------------------------------- facts by hand

LOOP = BY_NAME["right-triangle-multiply"]  # n = int(input()); for i in range(1, n + 1): print('*' * i)
NESTED = BY_NAME["right-triangle-nested"]
OFF_BY_ONE = BY_NAME["off-by-one-missing-row"]
NAME_ERROR = BY_NAME["name-error-n"]
BY_HAND = BY_NAME["prints-the-square"]
RECURSION = BY_NAME["right-triangle-recursion"]
MISSING_COLON = BY_NAME["for-missing-colon"]
INDENTATION = BY_NAME["body-not-indented"]


def facts_for(program: Program, verdict: str | None = None, **changes: object) -> JudgedFacts:
    """Plausible facts for a program: its labelled verdict and its real static metrics."""
    metrics = analyze_code(program.code)
    verdict = verdict or program.verdict
    base = JudgedFacts(
        verdict=verdict,
        score=1.0 if verdict == "PASSED" else 0.0,
        sizes_tested=(1, 4, 5, 7),
        loops=metrics.loops,
        max_nesting_depth=metrics.max_nesting_depth,
        cyclomatic=metrics.cyclomatic,
        conditions=metrics.conditions,
        big_o=metrics.big_o,
        lines=metrics.lines,
        expected=("*", "**", "***", "****"),
        output=("*", "**", "***", "****") if verdict == "PASSED" else (),
    )
    return dataclasses.replace(base, **changes)


PASSED_LOOP = facts_for(LOOP)
WRONG = facts_for(OFF_BY_ONE, score=0.7647, output=("*", "**", "***"),
                  error="Wrong output for n=1: row 1 differs (and at 3 other sizes)",
                  mismatches=((1, 1, "*", None), (4, 4, "****", None), (5, 5, "*****", None)))
CRASHED = facts_for(NAME_ERROR, error="NameError: name 'n' is not defined (line 2)", sizes_tested=(4,))
SYNTAX = facts_for(MISSING_COLON, error="SyntaxError on line 2, column 25: expected ':'", sizes_tested=())


def flagged(program: Program, text: str, facts: JudgedFacts) -> list[str]:
    return contradictions(program, text, facts)


# --------------------------------------------------------------------------- the sentences


def test_recursion_claimed_for_a_plain_for_loop() -> None:
    reasons = flagged(LOOP, "This is a classic example of a recursive function.", PASSED_LOOP)
    assert any("recursion" in r for r in reasons), reasons
    assert any("function" in r for r in reasons), reasons


def test_a_number_from_nowhere() -> None:
    reasons = flagged(LOOP, "The loop forms a cyclic cycle of length 8.", PASSED_LOOP)
    assert any("'8'" in r for r in reasons), reasons


def test_an_invented_code_block() -> None:
    text = ("Here is how your program works:\n```python\ndef build_pyramid(rows=None, max_rows=None):\n"
            "    for i in range(rows):\n        print('*' * i)\n```\nIt prints one row per line.")
    reasons = flagged(LOOP, text, PASSED_LOOP)
    assert any("code block" in r and "build_pyramid" in r for r in reasons), reasons


def test_invented_names_in_prose_and_backticks() -> None:
    assert flagged(LOOP, "The helper draw_row(i) prints each row.", PASSED_LOOP)
    assert flagged(LOOP, "Each row comes from `build_pyramid(rows=None)`.", PASSED_LOOP)
    assert flagged(LOOP, "It keeps the width in maxRows.", PASSED_LOOP)


def test_praise_for_a_wrong_program() -> None:
    for sentence in ("Your program prints the triangle correctly.", "Well done, there are no errors.",
                     "It works as expected for every size."):
        assert any("praises" in r for r in flagged(OFF_BY_ONE, sentence, WRONG)), sentence
    assert any("praises" in r for r in flagged(NAME_ERROR, "Great job, it runs successfully!", CRASHED))


def test_characters_the_program_does_not_print() -> None:
    assert any("prints no '#'" in r for r in flagged(LOOP, "Line 3 prints a row of i hashes.", PASSED_LOOP))
    assert flagged(LOOP, "Line 3 prints a row of i stars.", PASSED_LOOP) == []
    assert flagged(LOOP, "Line 3 prints asterisks, not hashes.", PASSED_LOOP) == []


def test_blame_for_a_passing_program() -> None:
    for sentence in ("There is an off-by-one mistake in the range.", "The last row is wrong.",
                     "You need to fix the loop bound, it does not match the pattern."):
        assert any("blames" in r for r in flagged(LOOP, sentence, PASSED_LOOP)), sentence


def test_denying_loops_of_a_loop_program() -> None:
    reasons = flagged(LOOP, "Your program has no loops, so every row is written out by hand.", PASSED_LOOP)
    assert any("denies a loop" in r for r in reasons), reasons
    assert any("hard-coded" in r for r in reasons), reasons


def test_a_wrong_exception_name() -> None:
    reasons = flagged(NAME_ERROR, "Your program stopped with a TypeError at line 2.", CRASHED)
    assert any("TypeError" in r and "NameError" in r for r in reasons), reasons


# --------------------------------------------------------------------------- true sentences pass


def test_a_correct_description_of_nested_loops() -> None:
    text = ("Well done: your program prints the Right Triangle correctly for every size tested. "
            "It reads n with input() and uses two nested for loops: the outer loop goes over the rows, "
            "and the inner loop prints one star at a time with print(\"*\", end=\"\"). "
            "After each row, print() ends the line. It uses 2 loops, nested 2 deep. "
            "Its running time grows like O(n^2) in the size n (cyclomatic complexity 3, nesting depth 2).")
    assert flagged(NESTED, text, facts_for(NESTED)) == []


def test_quoting_the_learners_own_code() -> None:
    text = ("Each row is printed by `print('*' * i)`, which repeats the star i times. "
            "The loop `for i in range(1, n + 1)` runs n times, e.g. 4 times for n = 4.")
    assert flagged(LOOP, text, PASSED_LOOP) == []
    assert flagged(LOOP, 'The line "print(\'*\' * i)" repeats the star i times.', PASSED_LOOP) == []


def test_negation_is_understood() -> None:
    assert flagged(BY_HAND, "Your program has no loops, so every row is written out by hand.",
                   facts_for(BY_HAND, sizes_tested=(4,))) == []
    assert flagged(LOOP, "It uses 1 loop without nesting, building each row in one step.", PASSED_LOOP) == []
    assert flagged(LOOP, "It does not use recursion, a while loop or a function.", PASSED_LOOP) == []
    assert flagged(LOOP, "There are no errors in your program.", PASSED_LOOP) == []
    assert flagged(OFF_BY_ONE, "Your program does not print the right number of rows yet.", WRONG) == []
    # ...and a denial of what the program has is a contradiction
    reasons = flagged(NESTED, "It uses 2 loops without nesting.", facts_for(NESTED))
    assert any("denies nested loops" in r for r in reasons), reasons
    reasons = flagged(LOOP, "Your program doesn't use input(), so it always prints the same size.", PASSED_LOOP)
    assert any("denies reading the size" in r for r in reasons), reasons


def test_advice_and_general_statements_claim_nothing() -> None:
    for sentence in (
        "For practice, you could write it with a while loop or with recursion.",
        "Try a list comprehension with ' '.join(...) next time.",
        "String multiplication builds a run of characters in one step.",
        "A NameError means a name is used before it is defined.",
        "If you used a dictionary, the code would be longer.",
    ):
        assert flagged(LOOP, sentence, PASSED_LOOP) == [], sentence


def test_constructs_the_program_lacks() -> None:
    cases = {
        "The while loop counts the rows down.": "a while loop",
        "It uses a list comprehension to build the rows.": "a comprehension",
        "Your Triangle class keeps the size.": "a class",
        "The dictionary maps each row to its stars.": "a dictionary",
        "A try/except block guards the input.": "exception handling",
        "The if statement decides when to print a space.": "an if statement",
        "The rows are joined with join before printing.": "join",
        "Each row is an f-string.": "an f-string",
        "Your program imports the math module.": "an import",
        "The outer loop goes over the rows and the inner loop prints the stars.": "nested loops",
    }
    for sentence, what in cases.items():
        reasons = flagged(LOOP, sentence, PASSED_LOOP)
        assert any(f"claims {what}" in r for r in reasons), (sentence, reasons)


def test_built_in_functions_and_methods_are_not_a_function_definition() -> None:
    text = ("It calls the print function once per row and uses the built-in range function. "
            "The rjust method is not used.")
    assert flagged(LOOP, text, PASSED_LOOP) == []


# --------------------------------------------------------------------------- verdict and errors


def test_crashes_and_syntax_errors_that_did_not_happen() -> None:
    assert any("crashed" in r for r in flagged(LOOP, "Your program crashed on the last row.", PASSED_LOOP))
    assert any("syntax error" in r for r in flagged(OFF_BY_ONE, "There is a syntax error on line 2.", WRONG))
    assert any("names IndexError" in r for r in flagged(OFF_BY_ONE, "The loop raised an IndexError.", WRONG))
    assert flagged(OFF_BY_ONE, "Your program runs without crashing, but row 4 is missing at size 4.", WRONG) == []


def test_error_sentences_of_the_right_kind_pass() -> None:
    assert flagged(NAME_ERROR, "Your program stopped with a NameError at line 2. The message was: "
                   "NameError: name 'n' is not defined (line 2).", CRASHED) == []
    assert flagged(MISSING_COLON, "Python could not read your program: there is a syntax error at line 2, "
                   "so nothing ran. The message was: SyntaxError on line 2, column 25: expected ':'.", SYNTAX) == []
    indentation = facts_for(INDENTATION, error="IndentationError on line 3, column 1: expected an indented block "
                            "after 'for' statement on line 2")
    assert flagged(INDENTATION, "Python stopped with a SyntaxError: the body of the for loop at line 3 "
                   "is not indented.", indentation) == []  # IndentationError is a SyntaxError
    assert any("IndentationError" in r for r in flagged(MISSING_COLON, "It is an IndentationError.", SYNTAX))
    assert any("ran or printed" in r for r in flagged(MISSING_COLON, "Your program printed three rows.", SYNTAX))


# --------------------------------------------------------------------------- numbers


def test_numbers_must_come_from_the_facts() -> None:
    assert flagged(OFF_BY_ONE, "Row 4 at size 4 should be '****' but is missing. 76% of the rows were right.",
                   WRONG) == []
    assert any("'50%'" in r for r in flagged(OFF_BY_ONE, "Only 50% of the rows were right.", WRONG))
    assert any("'13'" in r for r in flagged(LOOP, "It prints 13 rows.", PASSED_LOOP))
    assert any("'nine'" in r for r in flagged(LOOP, "There are nine stars in the last row.", PASSED_LOOP))
    assert flagged(LOOP, "The program has 3 lines; line 3 prints a row.", PASSED_LOOP) == []
    assert flagged(LOOP, "The score is 1.0, i.e. 100%.", PASSED_LOOP) == []


def test_counts_must_match_the_metrics() -> None:
    reasons = flagged(LOOP, "It uses 3 loops, nested 3 deep.", PASSED_LOOP)
    assert any("'3 loops'" in r for r in reasons) and any("nested loops (depth 3)" in r for r in reasons), reasons
    assert any("cyclomatic" in r for r in flagged(LOOP, "Its cyclomatic complexity is 7.", PASSED_LOOP))


def test_running_time_must_match_the_metrics() -> None:
    assert flagged(LOOP, "It runs in O(n^2) time, or O(n²) if you prefer.", PASSED_LOOP) == []
    reasons = flagged(LOOP, "It runs in O(n^3) time.", PASSED_LOOP)
    assert any("O(n^3)" in r and "O(n^2)" in r for r in reasons), reasons
    assert any("linear time" in r for r in flagged(LOOP, "The program takes linear time.", PASSED_LOOP))


def test_hard_coded_and_constant_time_claims() -> None:
    recursion = facts_for(RECURSION)
    assert any("hard-coded" in r for r in flagged(RECURSION, "Every row is hard-coded.", recursion))
    assert any("constant time" in r for r in flagged(LOOP, "It runs in O(1) time.", PASSED_LOOP))
    by_hand = facts_for(BY_HAND, sizes_tested=(4,))
    assert flagged(BY_HAND, "Every row is hard-coded, so it runs in constant time.", by_hand) == []


# --------------------------------------------------------------------------- sentences


def test_sentence_splitting() -> None:
    text = ("Use range(1, n + 1). Then print ' ' * (n - i), e.g. 3 spaces for row 1. The score was 0.75.\n"
            "- A hint.\n2. Another one! Is it 'done. really'?")
    assert split_sentences(text) == [
        "Use range(1, n + 1).",
        "Then print ' ' * (n - i), e.g. 3 spaces for row 1.",
        "The score was 0.75.",
        "A hint.",
        "Another one!",
        "Is it 'done. really'?",
    ]


def test_from_judgment() -> None:
    judgment = Judgment(verdict="WRONG_OUTPUT", score=0.5, sizes_tested=[1, 4], output=["*"],  # type: ignore[arg-type]
                        expected=["*", "**"], mismatches=[RowMismatch(4, 2, "**", None)], error="Wrong output",
                        duration_ms=3, reads_input=True)
    metrics = analyze_code(LOOP.code)
    facts = JudgedFacts.from_judgment(judgment, metrics)
    assert facts.verdict == "WRONG_OUTPUT" and facts.score == 0.5 and facts.sizes_tested == (1, 4)
    assert facts.mismatches == ((4, 2, "**", None),)
    assert (facts.loops, facts.max_nesting_depth, facts.big_o) == (metrics.loops, metrics.max_nesting_depth,
                                                                  metrics.big_o)


# --------------------------------------------------------------------------- the corpus


def test_corpus_size_names_and_patterns() -> None:
    assert len(PROGRAMS) >= 66
    assert len(BY_NAME) == len(PROGRAMS), "program names must be unique"
    slugs = {p.slug for p in PROGRAMS}
    assert len(slugs) >= 12
    assert slugs <= {p.slug for p in PATTERNS}
    for p in PROGRAMS:
        get_pattern(p.slug)
        assert p.code == p.code.lstrip(" ") and 3 <= len(p.code.splitlines()) <= 12, p.name
        assert p.constructs <= CONSTRUCTS


def test_corpus_mix_of_categories() -> None:
    counts = Counter(p.category for p in PROGRAMS)
    assert set(counts) == set(CATEGORIES)
    share = {c: counts[c] / len(PROGRAMS) for c in CATEGORIES}
    assert 0.25 <= share["passing"] <= 0.36, share
    assert 0.25 <= share["wrong"] <= 0.36, share
    assert 0.09 <= share["hard_coded"] <= 0.16, share
    assert 0.12 <= share["runtime_error"] <= 0.19, share
    assert 0.06 <= share["syntax_error"] <= 0.11, share
    verdicts = Counter(p.verdict for p in PROGRAMS)
    assert verdicts["TIMEOUT"] <= 1
    for p in PROGRAMS:
        expected = {"passing": {"PASSED"}, "wrong": {"WRONG_OUTPUT"}, "hard_coded": {"PASSED", "WRONG_OUTPUT"},
                    "runtime_error": {"RUNTIME_ERROR"}, "syntax_error": {"SYNTAX_ERROR"}}[p.category]
        assert p.verdict in expected, p.name


def test_corpus_mix_of_constructs() -> None:
    counts = Counter(c for p in PROGRAMS for c in p.constructs)
    assert counts["function"] >= 8 and counts["while"] >= 8, counts
    assert counts["comprehension"] >= 5 and counts["recursion"] >= 3, counts
    assert counts["nested_loops"] >= 5 and counts["join"] >= 5 and counts["fstring"] >= 3, counts
    plain_single_loops = [p for p in PROGRAMS if p.constructs & {"for", "while"} and not p.constructs
                          & {"nested_loops", "function", "comprehension"}]
    assert len(plain_single_loops) >= 20
    beginner = [p for p in PROGRAMS if not p.constructs & {"function", "class", "lambda", "comprehension"}]
    assert len(beginner) >= len(PROGRAMS) * 0.6, "mostly beginner style"


# An AST census of what each label means (tests only: the checker itself reads the labels).
_LOOP_NODES = (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _stringy(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr | ast.Subscript):
        return True
    if isinstance(node, ast.BinOp):
        return _stringy(node.left) or _stringy(node.right)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("str", "chr")


def _nested(node: ast.AST, depth: int = 0) -> bool:
    if isinstance(node, _LOOP_NODES):
        depth += 1 if isinstance(node, ast.For | ast.While) else len(node.generators)
        if depth >= 2:
            return True
    return any(_nested(child, depth) for child in ast.iter_child_nodes(node))


def census(code: str) -> frozenset[str]:
    tree = ast.parse(code)
    nodes = list(ast.walk(tree))
    found = set()
    kinds = {
        "for": ast.For, "while": ast.While, "function": ast.FunctionDef, "class": ast.ClassDef,
        "comprehension": (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp),
        "dict": (ast.Dict, ast.DictComp), "list": (ast.List, ast.ListComp), "lambda": ast.Lambda,
        "import": (ast.Import, ast.ImportFrom), "try": ast.Try, "if": (ast.If, ast.IfExp), "fstring": ast.JoinedStr,
    }
    found |= {label for label, kind in kinds.items() if any(isinstance(n, kind) for n in nodes)}
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    if any(isinstance(c.func, ast.Name) and c.func.id == "input" for c in calls):
        found.add("input")
    if any(isinstance(c.func, ast.Attribute) and c.func.attr == "join" for c in calls):
        found.add("join")
    if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult) and (_stringy(n.left) or _stringy(n.right))
           for n in nodes):
        found.add("string_multiplication")
    if _nested(tree):
        found.add("nested_loops")
    for function in (n for n in nodes if isinstance(n, ast.FunctionDef)):
        if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == function.name
               for c in ast.walk(function)):
            found.add("recursion")
    return frozenset(found)


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_hand_labels_agree_with_the_code(program: Program) -> None:
    if program.category == "syntax_error":
        with pytest.raises(SyntaxError):
            compile(program.code, "main.py", "exec")
        return
    assert program.constructs == census(program.code)
