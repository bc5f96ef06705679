"""Static metrics: complexity, nesting, loops, conditions and the big-O estimate."""

from __future__ import annotations

import textwrap

import pytest

from judge.metrics import CodeMetrics, analyze_code


def metrics(code: str) -> CodeMetrics:
    return analyze_code(textwrap.dedent(code).lstrip("\n"))


NESTED = """
    n = int(input())
    for i in range(1, n + 1):
        for j in range(i):
            print("*", end="")
        print()
    """

TRIPLE = """
    n = int(input())
    for i in range(n):
        for j in range(n):
            for k in range(n):
                print(i, j, k)
    """

HOLLOW = """
    n = int(input())
    for i in range(n):
        row = ""
        for j in range(n):
            if i == 0 or i == n - 1 or j == 0 or j == n - 1:
                row += "*"
            else:
                row += " "
        print(row)
    """


def test_nested_loops_are_quadratic() -> None:
    m = metrics(NESTED)
    assert (m.big_o, m.max_nesting_depth, m.loops) == ("O(n^2)", 2, 2)
    assert m.syntax_error is None


def test_triple_nesting_is_cubic() -> None:
    m = metrics(TRIPLE)
    assert (m.big_o, m.max_nesting_depth, m.loops) == ("O(n^3)", 3, 3)
    assert m.level == "complex"


def test_single_loop_with_string_multiplication_is_quadratic() -> None:
    m = metrics("n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n")
    assert (m.big_o, m.max_nesting_depth, m.loops) == ("O(n^2)", 1, 1)


def test_a_method_costs_what_its_body_costs() -> None:
    code = ("class Triangle:\n    def __init__(self, size):\n        self.size = size\n\n    def show(self):\n"
            "        for i in range(1, self.size + 1):\n            print('*' * i)\n\nTriangle(int(input())).show()\n")
    assert analyze_code(code).big_o == "O(n^2)"


def test_straight_line_prints_are_constant() -> None:
    m = metrics("print('*')\nprint('**')\nprint('***')\n")
    assert (m.big_o, m.loops, m.conditions, m.cyclomatic, m.lines) == ("O(1)", 0, 0, 1, 3)
    assert m.level == "simple"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("for i in range(3):\n    print('*' * 3)\n", "O(1)"),  # constant bounds
        ("n = 5\nprint('*' * n)\n", "O(n)"),
        ("n = 5\nprint('\\n'.join(' ' * (n - i) + '*' * i for i in range(n)))\n", "O(n^2)"),
        ("n = 5\nfor i in range(n):\n    print(('*' * i).rjust(n))\n", "O(n^2)"),
        ("n = 5\ni = 0\nwhile i < n:\n    print(i)\n    i += 1\n", "O(n)"),
        ("n = 5\nfor i in range(n):\n    print(2 * i)\n", "O(n)"),  # arithmetic, not repetition
    ],
)
def test_big_o_estimates(code: str, expected: str) -> None:
    assert analyze_code(code).big_o == expected


def test_recursion_is_noted() -> None:
    linear = metrics("""
        def draw(i, n):
            if i > n:
                return
            print("*" * i)
            draw(i + 1, n)

        draw(1, int(input()))
        """)
    assert linear.recursive
    assert linear.big_o == "O(n^2)"  # n calls, O(n) output each
    branching = metrics("def f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\nprint(f(10))\n")
    assert branching.recursive and branching.big_o == "O(2^n)"
    assert not metrics(NESTED).recursive


def test_cyclomatic_counts_decisions_on_a_known_snippet() -> None:
    # 1 + for + for + if + three `or` operands beyond the first = 7.
    assert metrics(HOLLOW).cyclomatic == 7
    # 1 + for + if + elif + ternary = 5, with a function adding its own decision (if) = 6.
    code = """
        def sign(x):
            if x < 0:
                return -1
            return 1

        for i in range(3):
            if i == 0:
                print("zero")
            elif i == 1:
                print("one" if sign(i) > 0 else "minus")
        """
    m = metrics(code)
    assert m.cyclomatic == 6
    assert m.conditions == 4  # if, if, elif, ternary
    assert m.loops == 1


def test_conditions_count_comprehension_filters_and_match() -> None:
    code = """
        n = 3
        stars = [i for i in range(n) if i % 2]
        match n:
            case 1:
                print(1)
            case _:
                print(stars)
        """
    m = metrics(code)
    assert m.conditions == 3  # one filter + two cases
    assert m.loops == 1 and m.max_nesting_depth == 1


def test_syntax_error_is_reported_not_raised() -> None:
    m = analyze_code("for i in range(3)\n    print(i)\n")
    assert m.syntax_error == "SyntaxError on line 1, column 18: expected ':'"
    assert (m.score, m.cyclomatic, m.loops, m.lines, m.big_o) == (0.0, 0, 0, 0, "O(1)")
    assert analyze_code("print('a')\x00").syntax_error is not None
    assert analyze_code("return 5\n").syntax_error is not None  # only compile() sees this one


def test_score_orders_programs_by_complexity() -> None:
    simple = metrics("print('****')\n")
    nested = metrics(NESTED)
    hollow = metrics(HOLLOW)
    triple = metrics(TRIPLE)
    assert 0 <= simple.score < nested.score < hollow.score < triple.score <= 10
    assert (simple.level, nested.level, hollow.level) == ("simple", "moderate", "moderate")


def test_lines_ignore_blanks_and_comments() -> None:
    assert metrics("# header\n\nprint(1)\n\n# end\nprint(2)\n").lines == 2


def test_adversarially_deep_code_does_not_raise() -> None:
    deep = "n = 1\nx = " + "n + " * 2_000 + "1\n"
    m = analyze_code(deep)  # compiles fine, too deep for recursive visitors
    assert m.syntax_error is not None and "RecursionError" in m.syntax_error
    assert analyze_code("x = " + "(" * 300 + ")" * 300).syntax_error is not None
