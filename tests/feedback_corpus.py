"""Hand-labelled learner programs: the yardstick for explanations shown to learners.

Every program carries the verdict the judge must give it, a category and the constructs it
contains, labelled by hand (never computed from the code): ``tests/feedback_checker.py`` holds an
explanation against these labels, independently of the product's own analysis.

Construct labels (what each one means when present):

* ``for`` / ``while``: a ``for`` / ``while`` statement (a comprehension's ``for`` is not one).
* ``nested_loops``: a loop inside a loop, a comprehension inside a loop included.
* ``function``: a ``def`` (methods included); ``recursion``: a function that calls itself.
* ``comprehension``: a list/set/dict comprehension or a generator expression.
* ``class``, ``dict``, ``lambda``, ``import``, ``try``: the statement or literal of that name.
* ``list``: a list literal, ``list(...)`` or a list comprehension.
* ``if``: an ``if``/``elif`` statement or a conditional expression (``a if c else b``).
* ``input``: reads the size (``input()``).
* ``string_multiplication``: a string repeated with ``*`` (``"*" * i``).
* ``join``: a ``str.join`` call; ``fstring``: an f-string.

Categories: ``passing`` (right for every size), ``wrong`` (a real attempt with a mistake:
off-by-one, alignment, wrong character, spacing...), ``hard_coded`` (prints fixed rows instead of
computing them from n: it passes when it does not read n and matches the default size, the judge
trying a single size then), ``runtime_error`` and ``syntax_error``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

VERDICTS = frozenset({"PASSED", "WRONG_OUTPUT", "RUNTIME_ERROR", "SYNTAX_ERROR", "TIMEOUT", "REJECTED"})
CATEGORIES = ("passing", "wrong", "hard_coded", "runtime_error", "syntax_error")
CONSTRUCTS = frozenset({
    "for", "while", "nested_loops", "function", "recursion", "comprehension", "class", "dict", "list",
    "lambda", "import", "try", "if", "input", "string_multiplication", "join", "fstring",
})


@dataclass(frozen=True)
class Program:
    name: str
    slug: str
    code: str
    verdict: str
    category: str
    constructs: frozenset[str]

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"{self.name}: unknown verdict {self.verdict!r}")
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.name}: unknown category {self.category!r}")
        unknown = self.constructs - CONSTRUCTS
        if unknown:
            raise ValueError(f"{self.name}: unknown constructs {sorted(unknown)}")


def program(name: str, slug: str, verdict: str, category: str, constructs: str, code: str) -> Program:
    """``constructs`` is a space-separated list of labels; ``code`` is dedented."""
    return Program(name, slug, textwrap.dedent(code).strip("\n") + "\n", verdict, category,
                   frozenset(constructs.split()))


def _passing(name: str, slug: str, constructs: str, code: str) -> Program:
    return program(name, slug, "PASSED", "passing", constructs, code)


def _wrong(name: str, slug: str, constructs: str, code: str) -> Program:
    return program(name, slug, "WRONG_OUTPUT", "wrong", constructs, code)


def _fixed(name: str, slug: str, verdict: str, constructs: str, code: str) -> Program:
    return program(name, slug, verdict, "hard_coded", constructs, code)


def _crash(name: str, slug: str, constructs: str, code: str) -> Program:
    return program(name, slug, "RUNTIME_ERROR", "runtime_error", constructs, code)


def _syntax(name: str, slug: str, constructs: str, code: str) -> Program:
    return program(name, slug, "SYNTAX_ERROR", "syntax_error", constructs, code)


PASSING = [
    _passing("right-triangle-multiply", "right-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print('*' * i)
        """),
    _passing("right-triangle-nested", "right-triangle", "for nested_loops input", """
        n = int(input())
        for i in range(1, n + 1):
            for j in range(i):
                print("*", end="")
            print()
        """),
    _passing("square-while", "square-solid", "while input string_multiplication", """
        n = int(input())
        row = 0
        while row < n:
            print("*" * n)
            row += 1
        """),
    _passing("left-triangle-rjust", "left-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print(("*" * i).rjust(n))
        """),
    _passing("pyramid-fstring", "isosceles-triangle", "for input fstring string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print(f"{' ' * (n - i)}{'*' * (2 * i - 1)}")
        """),
    _passing("pyramid-function", "isosceles-triangle", "function for input string_multiplication", """
        def pyramid(n):
            for i in range(1, n + 1):
                print(" " * (n - i) + "*" * (2 * i - 1))

        pyramid(int(input()))
        """),
    _passing("right-triangle-recursion", "right-triangle",
             "function recursion if input string_multiplication", """
        def draw(i, n):
            if i > n:
                return
            print("*" * i)
            draw(i + 1, n)

        draw(1, int(input()))
        """),
    _passing("inverted-triangle-recursion", "inverted-right-triangle",
             "function recursion if input string_multiplication", """
        def stars(k):
            if k == 0:
                return
            print("*" * k)
            stars(k - 1)

        stars(int(input()))
        """),
    _passing("number-triangle-join", "number-triangle", "for nested_loops comprehension join input", """
        n = int(input())
        for i in range(1, n + 1):
            print("".join(str(j) for j in range(1, i + 1)))
        """),
    _passing("floyd-while-list", "floyds-triangle", "while for nested_loops list join input", """
        n = int(input())
        k = 1
        i = 1
        while i <= n:
            row = []
            for j in range(i):
                row.append(str(k))
                k += 1
            print(" ".join(row))
            i += 1
        """),
    _passing("hollow-square-if", "hollow-square", "for if input string_multiplication", """
        n = int(input())
        for i in range(n):
            if i == 0 or i == n - 1:
                print("*" * n)
            else:
                print("*" + " " * (n - 2) + "*")
        """),
    _passing("diamond-two-loops", "diamond-solid", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print(" " * (n - i) + "*" * (2 * i - 1))
        for i in range(n - 1, 0, -1):
            print(" " * (n - i) + "*" * (2 * i - 1))
        """),
    _passing("half-diamond-two-whiles", "half-diamond", "while input string_multiplication", """
        n = int(input())
        i = 1
        while i <= n:
            print("*" * i)
            i += 1
        i = n - 1
        while i > 0:
            print("*" * i)
            i -= 1
        """),
    _passing("alphabet-list-comprehension", "alphabet-triangle",
             "for nested_loops comprehension list join input", """
        n = int(input())
        for i in range(1, n + 1):
            print("".join([chr(65 + j) for j in range(i)]))
        """),
    _passing("x-pattern-nested-if", "x-pattern", "for nested_loops if input", """
        n = int(input())
        for i in range(n):
            for j in range(n):
                if j == i or j == n - 1 - i:
                    print("*", end="")
                else:
                    print(" ", end="")
            print()
        """),
    _passing("checkerboard-function", "checkerboard",
             "function if for nested_loops comprehension join input", """
        def cell(i, j):
            return "*" if (i + j) % 2 == 0 else " "

        n = int(input())
        for i in range(n):
            print("".join(cell(i, j) for j in range(n)))
        """),
    _passing("inverted-pyramid-while", "inverted-pyramid", "while input string_multiplication", """
        n = int(input())
        i = n
        while i >= 1:
            print(" " * (n - i) + "*" * (2 * i - 1))
            i -= 1
        """),
    _passing("repeated-number-fstring", "repeated-number-triangle", "for input fstring string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print(f"{i}" * i)
        """),
    _passing("butterfly-function", "butterfly", "function for input string_multiplication", """
        def wing(i, n):
            return "*" * i + " " * (2 * (n - i)) + "*" * i

        n = int(input())
        for i in range(1, n + 1):
            print(wing(i, n))
        for i in range(n - 1, 0, -1):
            print(wing(i, n))
        """),
    _passing("rhombus-list-join", "rhombus", "for list join input string_multiplication", """
        n = int(input())
        rows = []
        for i in range(1, n + 1):
            rows.append(" " * (n - i) + "*" * n)
        print("\\n".join(rows))
        """),
    _passing("spaced-pyramid-one-line", "spaced-pyramid", "comprehension join input string_multiplication", """
        n = int(input())
        rows = (" " * (n - i) + "* " * i for i in range(1, n + 1))
        print("\\n".join(rows))
        """),
    _passing("right-triangle-try-input", "right-triangle", "try input for string_multiplication", """
        try:
            n = int(input())
        except ValueError:
            n = 4
        for i in range(1, n + 1):
            print("*" * i)
        """),
    _passing("left-triangle-lambda", "left-triangle", "lambda for input string_multiplication", """
        n = int(input())
        row = lambda i: " " * (n - i) + "*" * i
        for i in range(1, n + 1):
            print(row(i))
        """),
    _passing("right-triangle-class", "right-triangle", "class function for input string_multiplication", """
        class Triangle:
            def __init__(self, size):
                self.size = size

            def show(self):
                for i in range(1, self.size + 1):
                    print("*" * i)

        Triangle(int(input())).show()
        """),
    _passing("right-triangle-sys-write", "right-triangle", "import input for string_multiplication", """
        import sys

        n = int(input())
        for i in range(1, n + 1):
            sys.stdout.write("*" * i + "\\n")
        """),
    _passing("hollow-pyramid-elif", "hollow-pyramid", "for if input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            if i == 1:
                print(" " * (n - 1) + "*")
            elif i == n:
                print("*" * (2 * n - 1))
            else:
                print(" " * (n - i) + "*" + " " * (2 * i - 3) + "*")
        """),
]

WRONG = [
    _wrong("off-by-one-missing-row", "right-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n):
            print("*" * i)
        """),
    _wrong("off-by-one-empty-first-row", "right-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(n + 1):
            print("*" * i)
        """),
    _wrong("left-triangle-not-aligned", "left-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i)
        """),
    _wrong("square-spaces-between-stars", "square-solid", "for input string_multiplication", """
        n = int(input())
        for _ in range(n):
            print("* " * n)
        """),
    _wrong("wrong-character-hash", "right-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print("#" * i)
        """),
    _wrong("pyramid-too-wide", "isosceles-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print(" " * (n - i) + "*" * (2 * i + 1))
        """),
    _wrong("hollow-square-filled", "hollow-square", "for input string_multiplication", """
        n = int(input())
        for i in range(n):
            print("*" * n)
        """),
    _wrong("floyd-no-spaces", "floyds-triangle", "for nested_loops input", """
        n = int(input())
        k = 1
        for i in range(1, n + 1):
            row = ""
            for j in range(i):
                row += str(k)
                k += 1
            print(row)
        """),
    _wrong("number-triangle-repeats-i", "number-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print(str(i) * i)
        """),
    _wrong("diamond-top-half-only", "diamond-solid", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print(" " * (n - i) + "*" * (2 * i - 1))
        """),
    _wrong("while-stops-early", "right-triangle", "while input string_multiplication", """
        n = int(input())
        i = 1
        while i < n:
            print("*" * i)
            i += 1
        """),
    _wrong("while-pyramid-no-spaces", "isosceles-triangle", "while input string_multiplication", """
        n = int(input())
        i = 1
        while i <= n:
            print("*" * (2 * i - 1))
            i = i + 1
        """),
    _wrong("inverted-counts-up", "inverted-right-triangle", "function for input string_multiplication", """
        def triangle(n):
            for i in range(1, n + 1):
                print("*" * i)

        n = int(input())
        triangle(n)
        """),
    _wrong("nested-inner-range-short", "right-triangle", "for nested_loops input", """
        n = int(input())
        for i in range(1, n + 1):
            for j in range(1, i):
                print("*", end="")
            print()
        """),
    _wrong("number-triangle-spaced-join", "number-triangle", "for nested_loops comprehension join input", """
        n = int(input())
        for i in range(1, n + 1):
            print(" ".join(str(j) for j in range(1, i + 1)))
        """),
    _wrong("left-triangle-fstring-one-short", "left-triangle", "for fstring input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
            print(f"{' ' * (n - i - 1)}{'*' * i}")
        """),
    _wrong("hollow-rectangle-too-narrow", "hollow-rectangle", "for if input string_multiplication", """
        n = int(input())
        for i in range(n):
            if i == 0 or i == n - 1:
                print("*" * n)
            else:
                print("*" + " " * (n - 2) + "*")
        """),
    _wrong("recursion-upside-down", "right-triangle", "function recursion if input string_multiplication", """
        def draw(i):
            if i > 0:
                print("*" * i)
                draw(i - 1)

        draw(int(input()))
        """),
    _wrong("checkerboard-same-rows", "checkerboard", "while input string_multiplication", """
        n = int(input())
        i = 0
        while i < n:
            print("* " * ((n + 1) // 2))
            i += 1
        """),
    _wrong("x-pattern-one-diagonal", "x-pattern", "for nested_loops if input", """
        n = int(input())
        for i in range(n):
            for j in range(n):
                if j == i:
                    print("*", end="")
                else:
                    print(" ", end="")
            print()
        """),
    _wrong("pyramid-list-not-centred", "isosceles-triangle",
           "comprehension list for input string_multiplication", """
        n = int(input())
        rows = ["*" * (2 * i - 1) for i in range(1, n + 1)]
        for row in rows:
            print(row)
        """),
    _wrong("input-with-prompt", "right-triangle", "for input string_multiplication", """
        n = int(input("Enter rows: "))
        for i in range(1, n + 1):
            print("*" * i)
        """),
    _wrong("square-helper-one-short", "square-solid", "function while for input", """
        def line(n):
            s = ""
            k = 0
            while k < n - 1:
                s += "*"
                k += 1
            return s

        n = int(input())
        for _ in range(n):
            print(line(n))
        """),
]

HARD_CODED = [
    _fixed("prints-the-square", "square-solid", "PASSED", "", """
        print("****")
        print("****")
        print("****")
        print("****")
        """),
    _fixed("prints-the-diamond", "diamond-solid", "PASSED", "", """
        print("  *")
        print(" ***")
        print("*****")
        print(" ***")
        print("  *")
        """),
    _fixed("number-rows-in-a-list", "number-triangle", "PASSED", "list for", """
        rows = ["1", "12", "123", "1234"]
        for r in rows:
            print(r)
        """),
    _fixed("reads-n-prints-fixed-rows", "right-triangle", "WRONG_OUTPUT", "input", """
        n = int(input())
        print("*")
        print("**")
        print("***")
        print("****")
        """),
    _fixed("reads-n-loops-to-five", "right-triangle", "WRONG_OUTPUT", "for input string_multiplication", """
        n = int(input())
        for i in range(1, 5):
            print("*" * i)
        """),
    _fixed("pyramid-wrong-default-size", "isosceles-triangle", "WRONG_OUTPUT", "", """
        print("   *")
        print("  ***")
        print(" *****")
        print("*******")
        """),
    _fixed("x-pattern-fixed-five", "x-pattern", "WRONG_OUTPUT", "input for nested_loops comprehension join if", """
        n = int(input())
        for i in range(5):
            print("".join("*" if j in (i, 4 - i) else " " for j in range(5)))
        """),
    _fixed("hollow-square-prints-reads-n", "hollow-square", "WRONG_OUTPUT", "input", """
        n = int(input())
        print("****")
        print("*  *")
        print("*  *")
        print("****")
        """),
    _fixed("while-from-four", "inverted-right-triangle", "WRONG_OUTPUT", "input while string_multiplication", """
        n = int(input())
        i = 4
        while i > 0:
            print("*" * i)
            i -= 1
        """),
]

RUNTIME_ERRORS = [
    _crash("name-error-n", "right-triangle", "for string_multiplication", """
        rows = 4
        for i in range(1, n + 1):
            print("*" * i)
        """),
    _crash("zero-division-first-row", "square-solid", "for input string_multiplication", """
        n = int(input())
        for i in range(n):
            print("*" * (n // i))
        """),
    _crash("range-of-a-string", "right-triangle", "input for string_multiplication", """
        n = input()
        for i in range(n):
            print("*" * i)
        """),
    _crash("adds-int-to-str", "right-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(n):
            print("*" * i + 1)
        """),
    _crash("index-past-digits", "number-triangle", "input for", """
        digits = "123"
        n = int(input())
        for i in range(1, n + 1):
            print(digits[:i] + digits[i])
        """),
    _crash("endless-recursion", "right-triangle", "function recursion string_multiplication", """
        def width(i):
            return width(i + 1) + 1

        print("*" * width(1))
        """),
    _crash("misspelled-function", "square-solid", "function for input string_multiplication", """
        def draw(n):
            for _ in range(n):
                print("*" * n)

        n = int(input())
        drew(n)
        """),
    _crash("list-index-while", "hollow-square", "list input while", """
        rows = ["****", "*  *", "*  *", "****"]
        n = int(input())
        i = 0
        while i <= n:
            print(rows[i])
            i += 1
        """),
    _crash("reads-two-numbers", "hollow-rectangle", "input for string_multiplication", """
        rows = int(input())
        cols = int(input())
        for i in range(rows):
            print("*" * cols)
        """),
    _crash("string-repeat-method", "right-triangle", "for input", """
        n = int(input())
        for i in range(1, n + 1):
            print("*".repeat(i))
        """),
    _crash("unbound-local-in-function", "right-triangle", "function for input", """
        def triangle(n):
            for i in range(1, n + 1):
                line = line + "*"
                print(line)

        triangle(int(input()))
        """),
    _crash("dict-missing-key", "character-triangle", "dict for input string_multiplication", """
        letters = {1: "A", 2: "B", 3: "C"}
        n = int(input())
        for i in range(1, n + 1):
            print(letters[i] * i)
        """),
]

SYNTAX_ERRORS = [
    _syntax("for-missing-colon", "right-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1)
            print("*" * i)
        """),
    _syntax("body-not-indented", "right-triangle", "for input string_multiplication", """
        n = int(input())
        for i in range(1, n + 1):
        print("*" * i)
        """),
    _syntax("unclosed-print", "square-solid", "for input string_multiplication", """
        n = int(input())
        for i in range(n):
            print("*" * n
        """),
    _syntax("python2-print", "square-solid", "", """
        print "****"
        print "****"
        print "****"
        print "****"
        """),
    _syntax("while-missing-colon", "inverted-right-triangle", "while input string_multiplication", """
        n = int(input())
        while n > 0
            print("*" * n)
            n -= 1
        """),
    _syntax("def-without-parentheses", "isosceles-triangle", "function for input string_multiplication", """
        def pyramid n:
            for i in range(1, n + 1):
                print(" " * (n - i) + "*" * (2 * i - 1))

        pyramid(int(input()))
        """),
    _syntax("assignment-in-if", "hollow-square", "for if input string_multiplication", """
        n = int(input())
        for i in range(n):
            if i = 0:
                print("*" * n)
        """),
]

PROGRAMS: list[Program] = [*PASSING, *WRONG, *HARD_CODED, *RUNTIME_ERRORS, *SYNTAX_ERRORS]
BY_NAME: dict[str, Program] = {p.name: p for p in PROGRAMS}
