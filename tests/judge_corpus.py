"""Learner-style submissions with the verdict each must get (used by tests/test_judge.py and the bench).

Styles covered: nested loops, string multiplication, while, ''.join, str.center/rjust, recursion,
f-strings, sys.stdin, hard-coded prints. Typical mistakes: off-by-one, wrong alignment, spaces
between characters, hard-coding the default size while reading n, missing newline, wrong
character, blank lines, prompts, syntax errors, runtime errors, endless loops, floods, memory
bombs, shell commands and file reads.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # named in a hostile case: it must not be readable


@dataclass(frozen=True)
class Case:
    name: str
    slug: str
    code: str
    verdict: str
    min_score: float = 0.0
    max_score: float = 1.0
    error_contains: str | None = None
    reads_input: bool | None = None


def case(name: str, slug: str, code: str, verdict: str, **extra: object) -> Case:
    return Case(name, slug, textwrap.dedent(code).lstrip("\n"), verdict, **extra)  # type: ignore[arg-type]


def _passed(name: str, slug: str, code: str, **extra: object) -> Case:
    return case(name, slug, code, "PASSED", min_score=1.0, **extra)


PASSED_CASES = [
    _passed("nested-loops", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            for j in range(i):
                print("*", end="")
            print()
        """, reads_input=True),
    _passed("string-multiplication", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i)
        """, reads_input=True),
    _passed("while-loop", "right-triangle", """
        n = int(input())
        i = 1
        while i <= n:
            print("*" * i)
            i += 1
        """),
    _passed("join-list", "square-solid", """
        n = int(input())
        for _ in range(n):
            print("".join(["*"] * n))
        """),
    _passed("rjust", "left-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print(("*" * i).rjust(n))
        """),
    _passed("center", "isosceles-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print(("*" * (2 * i - 1)).center(2 * n - 1))
        """),
    _passed("f-string", "isosceles-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print(f"{' ' * (n - i)}{'*' * (2 * i - 1)}")
        """),
    _passed("recursion", "right-triangle", """
        def draw(i, n):
            if i > n:
                return
            print("*" * i)
            draw(i + 1, n)

        draw(1, int(input()))
        """),
    _passed("diamond-two-loops", "diamond-solid", """
        n = int(input())
        for i in range(1, n + 1):
            print(" " * (n - i) + "*" * (2 * i - 1))
        for i in range(n - 1, 0, -1):
            print(" " * (n - i) + "*" * (2 * i - 1))
        """),
    _passed("hollow-square-conditions", "hollow-square", """
        n = int(input())
        for i in range(n):
            row = ""
            for j in range(n):
                if i == 0 or i == n - 1 or j == 0 or j == n - 1:
                    row += "*"
                else:
                    row += " "
            print(row)
        """),
    _passed("hollow-rectangle", "hollow-rectangle", """
        n = int(input())
        width = n + 2
        for i in range(n):
            if i in (0, n - 1):
                print("*" * width)
            else:
                print("*" + " " * (width - 2) + "*")
        """),
    _passed("hollow-right-triangle", "hollow-right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            for j in range(1, i + 1):
                if j == 1 or j == i or i == n:
                    print("*", end="")
                else:
                    print(" ", end="")
            print()
        """),
    _passed("hollow-diamond", "hollow-diamond", """
        n = int(input())
        for i in range(1, 2 * n):
            k = i if i <= n else 2 * n - i
            line = " " * (n - k) + "*"
            if k > 1:
                line += " " * (2 * k - 3) + "*"
            print(line)
        """),
    _passed("number-triangle-join", "number-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("".join(str(j) for j in range(1, i + 1)))
        """),
    _passed("floyd-trailing-spaces", "floyds-triangle", """
        n = int(input())
        k = 1
        for i in range(1, n + 1):
            for j in range(i):
                print(k, end=" ")
                k += 1
            print()
        """),
    _passed("butterfly", "butterfly", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i + " " * (2 * (n - i)) + "*" * i)
        for i in range(n - 1, 0, -1):
            print("*" * i + " " * (2 * (n - i)) + "*" * i)
        """),
    _passed("x-pattern-nested", "x-pattern", """
        n = int(input())
        for i in range(n):
            for j in range(n):
                if j == i or j == n - 1 - i:
                    print("*", end="")
                else:
                    print(" ", end="")
            print()
        """),
    _passed("inverted-range-step", "inverted-right-triangle", """
        n = int(input())
        for i in range(n, 0, -1):
            print("*" * i)
        """),
    _passed("hard-coded-no-input", "square-solid", """
        print("****")
        print("****")
        print("****")
        print("****")
        """, reads_input=False),
    _passed("hard-coded-diamond", "diamond-solid", """
        print("  *")
        print(" ***")
        print("*****")
        print(" ***")
        print("  *")
        """, reads_input=False),
    _passed("extra-blank-line-at-end", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i)
        print()
        print()
        """),
    _passed("trailing-spaces", "left-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print(" " * (n - i) + "*" * i + "   ")
        """),
    _passed("sys-stdin", "right-triangle", """
        import sys
        n = int(sys.stdin.readline())
        for i in range(1, n + 1):
            sys.stdout.write("*" * i + "\\n")
        """, reads_input=True),
    _passed("print-star-args", "number-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print(*range(1, i + 1), sep="")
        """),
    _passed("one-print-newlines", "square-solid", """
        n = int(input())
        print(("*" * n + "\\n") * n, end="")
        """),
    _passed("calls-exit-at-the-end", "inverted-right-triangle", """
        n = int(input())
        for i in range(n, 0, -1):
            print("*" * i)
        exit()
        """),
    _passed("crlf-line-endings", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i, end="\\r\\n")
        """),
    _passed("join-generator-one-print", "isosceles-triangle", """
        n = int(input())
        print("\\n".join(" " * (n - i) + "*" * (2 * i - 1) for i in range(1, n + 1)))
        """),
]

WRONG_OUTPUT_CASES = [
    case("off-by-one-missing-row", "right-triangle", """
        n = int(input())
        for i in range(1, n):
            print("*" * i)
        """, "WRONG_OUTPUT", min_score=0.5, max_score=0.9),
    case("off-by-one-leading-empty-row", "right-triangle", """
        n = int(input())
        for i in range(n + 1):
            print("*" * i)
        """, "WRONG_OUTPUT", max_score=0.0),
    case("wrong-alignment", "left-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i)
        """, "WRONG_OUTPUT", min_score=0.1, max_score=0.6),
    case("spaces-between-stars", "square-solid", """
        n = int(input())
        for _ in range(n):
            print("* " * n)
        """, "WRONG_OUTPUT", min_score=0.0, max_score=0.2),
    case("hard-coded-size-but-reads-n", "right-triangle", """
        n = int(input())
        for i in range(1, 5):
            print("*" * i)
        """, "WRONG_OUTPUT", min_score=0.3, max_score=0.9, reads_input=True),
    case("missing-newline", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i, end="")
        """, "WRONG_OUTPUT", max_score=0.3),
    case("wrong-character", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("#" * i)
        """, "WRONG_OUTPUT", max_score=0.0),
    case("extra-blank-line-at-start", "right-triangle", """
        n = int(input())
        print()
        for i in range(1, n + 1):
            print("*" * i)
        """, "WRONG_OUTPUT", max_score=0.0),
    case("pyramid-too-wide", "isosceles-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print(" " * (n - i) + "*" * (2 * i + 1))
        """, "WRONG_OUTPUT", max_score=0.0),
    case("forgot-hollow", "hollow-square", """
        n = int(input())
        for i in range(n):
            print("*" * n)
        """, "WRONG_OUTPUT", min_score=0.3, max_score=0.95),
    case("floyd-without-spaces", "floyds-triangle", """
        n = int(input())
        k = 1
        for i in range(1, n + 1):
            row = ""
            for j in range(i):
                row += str(k)
                k += 1
            print(row)
        """, "WRONG_OUTPUT", min_score=0.1, max_score=0.6),
    case("number-triangle-prints-i", "number-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print(str(i) * i)
        """, "WRONG_OUTPUT", min_score=0.1, max_score=0.5),
    case("diamond-upper-half-only", "diamond-solid", """
        n = int(input())
        for i in range(1, n + 1):
            print(" " * (n - i) + "*" * (2 * i - 1))
        """, "WRONG_OUTPUT", min_score=0.4, max_score=0.8),
    case("butterfly-gap-off-by-one", "butterfly", """
        n = int(input())
        for i in [*range(1, n + 1), *range(n - 1, 0, -1)]:
            print("*" * i + " " * (2 * (n - i) + 1) + "*" * i)
        """, "WRONG_OUTPUT", max_score=0.0),
    case("empty-program", "right-triangle", "", "WRONG_OUTPUT", max_score=0.0, reads_input=False),
    case("comments-only", "square-solid", """
        # TODO: print the square
        """, "WRONG_OUTPUT", max_score=0.0),
    case("input-with-prompt", "right-triangle", """
        n = int(input("Enter the number of rows: "))
        for i in range(1, n + 1):
            print("*" * i)
        """, "WRONG_OUTPUT", min_score=0.3, max_score=0.95, error_contains="prompt"),
    # The sandbox's root holds no shell: os.system runs nothing, so only the pattern is printed.
    case("os-system-echo", "square-solid", """
        import os
        os.system("echo hacked")
        for _ in range(4):
            print("****")
        """, "PASSED", min_score=1.0),
    case("x-pattern-hard-coded-5-reads-n", "x-pattern", """
        n = int(input())
        for i in range(5):
            print("".join("*" if j in (i, 4 - i) else " " for j in range(5)))
        """, "WRONG_OUTPUT", min_score=0.1, max_score=0.9),
]

RUNTIME_ERROR_CASES = [
    case("name-error", "right-triangle", """
        for i in range(1, n + 1):
            print("*" * i)
        """, "RUNTIME_ERROR", max_score=0.0, error_contains="NameError: name 'n' is not defined (line 1)",
        reads_input=False),
    case("zero-division", "square-solid", """
        n = int(input())
        print(n / 0)
        """, "RUNTIME_ERROR", error_contains="ZeroDivisionError: division by zero (line 2)"),
    case("range-of-str", "right-triangle", """
        n = input()
        for i in range(n):
            print("*" * i)
        """, "RUNTIME_ERROR", error_contains="TypeError"),
    case("reads-two-numbers", "hollow-rectangle", """
        rows = int(input())
        cols = int(input())
        print(rows, cols)
        """, "RUNTIME_ERROR", error_contains="EOFError"),
    case("reads-relative-server-file", "square-solid", """
        print(open("pyproject.toml").read())
        """, "RUNTIME_ERROR", error_contains="FileNotFoundError"),
    case("reads-absolute-server-file", "square-solid", f"""
        print(open({str(REPO_ROOT / 'pyproject.toml')!r}).read())
        """, "RUNTIME_ERROR", error_contains="FileNotFoundError"),
    case("right-output-then-exit-3", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
            print("*" * i)
        raise SystemExit(3)
        """, "RUNTIME_ERROR", min_score=0.99, max_score=0.99, error_contains="exited with status 3"),
    case("endless-recursion", "right-triangle", """
        def width(i):
            return width(i + 1) + 1

        print("*" * width(1))
        """, "RUNTIME_ERROR", error_contains="RecursionError"),
    case("index-error", "number-triangle", """
        digits = "123"
        n = int(input())
        for i in range(1, n + 1):
            print(digits[:i] + digits[i])
        """, "RUNTIME_ERROR", error_contains="IndexError"),
]

SYNTAX_ERROR_CASES = [
    case("missing-colon", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1)
            print("*" * i)
        """, "SYNTAX_ERROR", max_score=0.0, error_contains="SyntaxError on line 2, column 25"),
    case("bad-indentation", "right-triangle", """
        n = int(input())
        for i in range(1, n + 1):
        print("*" * i)
        """, "SYNTAX_ERROR", max_score=0.0, error_contains="IndentationError on line 3"),
    case("unclosed-parenthesis", "square-solid", """
        print("****"
        """, "SYNTAX_ERROR", max_score=0.0, error_contains="line 1"),
    case("python2-print", "square-solid", """
        print "****"
        """, "SYNTAX_ERROR", max_score=0.0, error_contains="Missing parentheses"),
]

LIMIT_CASES = [
    case("while-true-pass", "square-solid", """
        while True:
            pass
        """, "TIMEOUT", max_score=0.0, error_contains="Time limit exceeded"),
    case("sleeps", "square-solid", """
        import time
        time.sleep(60)
        """, "TIMEOUT", max_score=0.0, error_contains="still running"),
    case("forgot-increment-floods", "right-triangle", """
        n = int(input())
        i = 1
        while i <= n:
            print("*" * i)
        """, "REJECTED", max_score=0.0, error_contains="Output limit"),
    case("huge-output", "square-solid", """
        print("*" * 10_000_000)
        """, "REJECTED", max_score=0.0, error_contains="Output limit"),
    case("memory-bomb-string", "square-solid", """
        x = "a" * 10**10
        """, "REJECTED", max_score=0.0, error_contains="Memory limit"),
    case("memory-bomb-list", "square-solid", """
        rows = []
        while True:
            rows.append("*" * 100_000)
        """, "REJECTED", max_score=0.0, error_contains="Memory limit"),
    case("writes-big-file", "square-solid", """
        with open("out.txt", "w") as f:
            f.write("*" * 5_000_000)
        """, "REJECTED", max_score=0.0, error_contains="File size"),
    case("program-too-long", "square-solid", "x = 1\n" * 10_000, "REJECTED", max_score=0.0,
         error_contains="too long"),
]

CASES: list[Case] = [
    *PASSED_CASES, *WRONG_OUTPUT_CASES, *RUNTIME_ERROR_CASES, *SYNTAX_ERROR_CASES, *LIMIT_CASES,
]
