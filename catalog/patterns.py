"""The catalog itself, in catalog order: easy patterns first, then medium, then hard.

Each reference is a complete program that reads the size with ``n = int(input())`` and prints
the pattern. Trailing spaces in references are harmless: the judge strips them.
"""

from __future__ import annotations

import textwrap

from .model import PatternDef


def _program(source: str) -> str:
    """Dedent a reference written inline, so the data below stays readable."""
    return textwrap.dedent(source).strip() + "\n"


PATTERNS: tuple[PatternDef, ...] = (
    # ---------------------------------------------------------------- EASY
    PatternDef(
        slug="square-solid",
        name="Solid Square",
        category="basic-star",
        difficulty="EASY",
        description=(
            "An n by n block of stars. The starting point for every pattern: "
            "an outer loop for the rows and an inner loop for the columns."
        ),
        rows=4,
        formula="n rows of n stars",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for _ in range(n):
                print("*" * n)
            """
        ),
    ),
    PatternDef(
        slug="right-triangle",
        name="Right Triangle",
        category="basic-star",
        difficulty="EASY",
        description=(
            "A left-aligned triangle that grows by one star per row. "
            "The inner loop's length depends on the row number."
        ),
        rows=4,
        formula="row i (1..n): i stars",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print("*" * i)
            """
        ),
    ),
    PatternDef(
        slug="inverted-right-triangle",
        name="Inverted Right Triangle",
        category="basic-star",
        difficulty="EASY",
        description=(
            "The right triangle upside down: n stars on the first row, one fewer on each next row. "
            "Count the outer loop down instead of up."
        ),
        rows=4,
        formula="row i (1..n): n-i+1 stars",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(n, 0, -1):
                print("*" * i)
            """
        ),
    ),
    PatternDef(
        slug="left-triangle",
        name="Left Triangle",
        category="basic-star",
        difficulty="EASY",
        description=(
            "A right triangle pushed against the right edge. "
            "Each row starts with spaces: the fewer stars, the more spaces."
        ),
        rows=4,
        formula="row i (1..n): n-i spaces + i stars",
        loops=3,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print(" " * (n - i) + "*" * i)
            """
        ),
    ),
    PatternDef(
        slug="inverted-left-triangle",
        name="Inverted Left Triangle",
        category="basic-star",
        difficulty="EASY",
        description=(
            "The left triangle upside down: right-aligned rows that shrink by one star. "
            "The leading spaces grow as the stars shrink."
        ),
        rows=4,
        formula="row i (1..n): i-1 spaces + n-i+1 stars",
        loops=3,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(n, 0, -1):
                print(" " * (n - i) + "*" * i)
            """
        ),
    ),
    PatternDef(
        slug="rhombus",
        name="Rhombus",
        category="basic-star",
        difficulty="EASY",
        description=(
            "A square leaning to the right: every row has n stars, shifted one column left of the row above. "
            "Only the spaces depend on the row."
        ),
        rows=4,
        formula="row i (1..n): n-i spaces + n stars",
        loops=3,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print(" " * (n - i) + "*" * n)
            """
        ),
    ),
    PatternDef(
        slug="isosceles-triangle",
        name="Pyramid (Isosceles Triangle)",
        category="pyramid",
        difficulty="EASY",
        description=(
            "A centred pyramid of n rows. Each row has two more stars than the one above "
            "and one space less in front."
        ),
        rows=3,
        formula="row i (1..n): n-i spaces + 2i-1 stars",
        loops=3,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print(" " * (n - i) + "*" * (2 * i - 1))
            """
        ),
    ),
    PatternDef(
        slug="inverted-pyramid",
        name="Inverted Pyramid",
        category="pyramid",
        difficulty="EASY",
        description=(
            "The pyramid upside down: 2n-1 stars on top, one star at the bottom. "
            "Reuse the pyramid's row formula with the loop counting down."
        ),
        rows=4,
        formula="row i (1..n): i-1 spaces + 2(n-i)+1 stars",
        loops=3,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(n, 0, -1):
                print(" " * (n - i) + "*" * (2 * i - 1))
            """
        ),
    ),
    PatternDef(
        slug="half-diamond",
        name="Half Diamond",
        category="diamond",
        difficulty="EASY",
        description=(
            "A right triangle that grows to n stars and shrinks back, 2n-1 rows in all. "
            "Two loops: one growing, one shrinking, sharing the widest row."
        ),
        rows=3,
        formula="rows 1..n: i stars, then rows n-1..1: i stars",
        loops=4,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print("*" * i)
            for i in range(n - 1, 0, -1):
                print("*" * i)
            """
        ),
    ),
    PatternDef(
        slug="number-triangle",
        name="Number Triangle",
        category="number",
        difficulty="EASY",
        description=(
            "A right triangle of counting numbers: row i reads 1 2 ... i written together. "
            "Print the inner loop's variable instead of a star."
        ),
        rows=4,
        formula="row i (1..n): the numbers 1..i, no separator",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print("".join(str(j) for j in range(1, i + 1)))
            """
        ),
    ),
    PatternDef(
        slug="repeated-number-triangle",
        name="Repeated Number Triangle",
        category="number",
        difficulty="EASY",
        description=(
            "A right triangle where row i repeats the digit i, i times: 1, 22, 333. "
            "Print the outer loop's variable. Sizes stop at 9 so every entry is one digit."
        ),
        rows=4,
        formula="row i (1..n): the digit i, i times",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print(str(i) * i)
            """
        ),
        max_size=9,
    ),
    PatternDef(
        slug="inverted-number-triangle",
        name="Inverted Number Triangle",
        category="number",
        difficulty="EASY",
        description=(
            "The number triangle upside down: the first row counts 1..n, each next row stops one earlier."
        ),
        rows=4,
        formula="row i (1..n): the numbers 1..n-i+1, no separator",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(n, 0, -1):
                print("".join(str(j) for j in range(1, i + 1)))
            """
        ),
    ),
    PatternDef(
        slug="alphabet-triangle",
        name="Alphabet Triangle",
        category="alphabet",
        difficulty="EASY",
        description=(
            "A right triangle of letters: A, AB, ABC... Turn a column number into a letter with "
            "chr(ord('A') + j). At most 26 rows, one per letter."
        ),
        rows=4,
        formula="row i (1..n): the first i letters A..",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print("".join(chr(ord("A") + j) for j in range(i)))
            """
        ),
        max_size=26,
    ),
    PatternDef(
        slug="character-triangle",
        name="Character Triangle",
        category="alphabet",
        difficulty="EASY",
        description=(
            "A right triangle where row i repeats the i-th letter i times: A, BB, CCC. "
            "The letter depends on the row, not the column. At most 26 rows."
        ),
        rows=4,
        formula="row i (1..n): the i-th letter, i times",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print(chr(ord("A") + i - 1) * i)
            """
        ),
        max_size=26,
    ),
    PatternDef(
        slug="plus-cross",
        name="Plus Sign",
        category="special",
        difficulty="EASY",
        description=(
            "A plus sign whose arms are n stars long counting the centre, so it spans 2n-1 rows and columns. "
            "A cell is a star when it is on the middle row or the middle column."
        ),
        rows=3,
        formula="(2n-1)x(2n-1) grid: star where row = n or column = n",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            size = 2 * n - 1
            for i in range(size):
                if i == n - 1:
                    print("*" * size)
                else:
                    print(" " * (n - 1) + "*")
            """
        ),
    ),
    PatternDef(
        slug="hollow-square",
        name="Hollow Square",
        category="hollow",
        difficulty="EASY",
        description=(
            "The outline of an n by n square. A cell is a star when it lies on the first or last row "
            "or on the first or last column; everything inside is a space."
        ),
        rows=4,
        formula="n x n grid: star on the border, space inside",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(n):
                if i == 0 or i == n - 1:
                    print("*" * n)
                else:
                    print("*" + " " * (n - 2) + "*")
            """
        ),
    ),
    PatternDef(
        slug="hollow-rectangle",
        name="Hollow Rectangle",
        category="hollow",
        difficulty="EASY",
        description=(
            "The outline of a rectangle with n rows and n+2 columns. Same border test as the hollow square, "
            "with a width that differs from the height."
        ),
        rows=4,
        formula="n rows x (n+2) columns: star on the border, space inside",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            width = n + 2
            for i in range(n):
                if i == 0 or i == n - 1:
                    print("*" * width)
                else:
                    print("*" + " " * (width - 2) + "*")
            """
        ),
    ),
    # ---------------------------------------------------------------- MEDIUM
    PatternDef(
        slug="hollow-right-triangle",
        name="Hollow Right Triangle",
        category="hollow",
        difficulty="MEDIUM",
        description=(
            "The outline of the right triangle: a star at both ends of each row and a full last row. "
            "Rows 1 and 2 are too short to have a gap."
        ),
        rows=4,
        formula="row i (1..n): star at columns 1 and i, all i stars on row n",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                if i <= 2 or i == n:
                    print("*" * i)
                else:
                    print("*" + " " * (i - 2) + "*")
            """
        ),
    ),
    PatternDef(
        slug="hollow-inverted-right-triangle",
        name="Hollow Inverted Right Triangle",
        category="hollow",
        difficulty="MEDIUM",
        description=(
            "The outline of the inverted right triangle: a full first row, then a star at both ends "
            "of each shrinking row."
        ),
        rows=4,
        formula="row i (1..n): n-i+1 columns, full on row 1, else star at both ends",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(n, 0, -1):
                if i == n or i <= 2:
                    print("*" * i)
                else:
                    print("*" + " " * (i - 2) + "*")
            """
        ),
    ),
    PatternDef(
        slug="hollow-pyramid",
        name="Hollow Pyramid",
        category="hollow",
        difficulty="MEDIUM",
        description=(
            "The outline of the pyramid: each row has a star at its left and right edge, "
            "the last row is full. The tip is a single star."
        ),
        rows=4,
        formula="row i: n-i spaces + star + 2i-3 spaces + star; row 1 one star, row n 2n-1 stars",
        loops=3,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                if i == 1:
                    print(" " * (n - 1) + "*")
                elif i == n:
                    print("*" * (2 * n - 1))
                else:
                    print(" " * (n - i) + "*" + " " * (2 * i - 3) + "*")
            """
        ),
    ),
    PatternDef(
        slug="hollow-inverted-pyramid",
        name="Hollow Inverted Pyramid",
        category="hollow",
        difficulty="MEDIUM",
        description=(
            "The outline of the inverted pyramid: a full first row of 2n-1 stars, "
            "then two stars per row closing in to a single star."
        ),
        rows=4,
        formula="row 1: 2n-1 stars; row i: i-1 spaces + star + 2(n-i)-1 spaces + star; row n: one star",
        loops=3,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(n, 0, -1):
                if i == n:
                    print("*" * (2 * n - 1))
                elif i == 1:
                    print(" " * (n - 1) + "*")
                else:
                    print(" " * (n - i) + "*" + " " * (2 * i - 3) + "*")
            """
        ),
    ),
    PatternDef(
        slug="hollow-rhombus",
        name="Hollow Rhombus",
        category="hollow",
        difficulty="MEDIUM",
        description=(
            "The outline of the rhombus: full first and last rows of n stars, "
            "a star at both ends of the rows between, each row shifted one column left."
        ),
        rows=4,
        formula="row i: n-i spaces + (n stars on rows 1 and n, else star + n-2 spaces + star)",
        loops=3,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                if i == 1 or i == n:
                    print(" " * (n - i) + "*" * n)
                else:
                    print(" " * (n - i) + "*" + " " * (n - 2) + "*")
            """
        ),
    ),
    PatternDef(
        slug="spaced-pyramid",
        name="Spaced Star Pyramid",
        category="pyramid",
        difficulty="MEDIUM",
        description=(
            'A pyramid built from "* " pairs, so stars sit in a staggered grid. '
            "Row i has i stars and n-i spaces in front."
        ),
        rows=4,
        formula='row i (1..n): n-i spaces + i times "* "',
        loops=3,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print(" " * (n - i) + "* " * i)
            """
        ),
    ),
    PatternDef(
        slug="hourglass",
        name="Hourglass",
        category="pyramid",
        difficulty="MEDIUM",
        description=(
            "An inverted pyramid on top of a pyramid, sharing the single star in the middle: 2n-1 rows. "
            "Watch that the middle row is printed only once."
        ),
        rows=3,
        formula="rows for i = n..1 then 2..n: n-i spaces + 2i-1 stars",
        loops=6,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(n, 0, -1):
                print(" " * (n - i) + "*" * (2 * i - 1))
            for i in range(2, n + 1):
                print(" " * (n - i) + "*" * (2 * i - 1))
            """
        ),
    ),
    PatternDef(
        slug="sandglass",
        name="Sandglass",
        category="pyramid",
        difficulty="MEDIUM",
        description=(
            'The hourglass drawn with "* " pairs: a spaced inverted pyramid over a spaced pyramid, '
            "2n-1 rows sharing the one-star middle row."
        ),
        rows=4,
        formula='rows for i = n..1 then 2..n: n-i spaces + i times "* "',
        loops=6,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(n, 0, -1):
                print(" " * (n - i) + "* " * i)
            for i in range(2, n + 1):
                print(" " * (n - i) + "* " * i)
            """
        ),
    ),
    PatternDef(
        slug="diamond-solid",
        name="Diamond",
        category="diamond",
        difficulty="MEDIUM",
        description=(
            "A pyramid of n rows followed by an inverted pyramid of n-1 rows: 2n-1 rows, "
            "widest (2n-1 stars) in the middle. n is the half-height."
        ),
        rows=3,
        formula="rows for i = 1..n then n-1..1: n-i spaces + 2i-1 stars",
        loops=6,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print(" " * (n - i) + "*" * (2 * i - 1))
            for i in range(n - 1, 0, -1):
                print(" " * (n - i) + "*" * (2 * i - 1))
            """
        ),
    ),
    PatternDef(
        slug="hollow-diamond",
        name="Hollow Diamond",
        category="diamond",
        difficulty="MEDIUM",
        description=(
            "The outline of the diamond (n is the half-height, 2n-1 rows): "
            "one star at the top and bottom tips, two stars on every other row."
        ),
        rows=3,
        formula="rows for i = 1..n then n-1..1: n-i spaces + star + 2i-3 spaces + star (one star when i=1)",
        loops=6,
        conditions=2,
        reference=_program(
            """
            n = int(input())
            # The half-width grows to n and shrinks back: one loop over that sequence.
            for i in [*range(1, n + 1), *range(n - 1, 0, -1)]:
                if i == 1:
                    print(" " * (n - 1) + "*")
                else:
                    print(" " * (n - i) + "*" + " " * (2 * i - 3) + "*")
            """
        ),
    ),
    PatternDef(
        slug="diamond-window",
        name="Diamond Window",
        category="diamond",
        difficulty="MEDIUM",
        description=(
            "A 2n by 2n block of stars with a diamond cut out of it. "
            "Each half-row has n-i stars and the gap between the halves grows by two per row, then shrinks."
        ),
        rows=3,
        formula="rows for i = 0..n-1 then n-1..0: n-i stars + 2i spaces + n-i stars",
        loops=6,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in [*range(n), *range(n - 1, -1, -1)]:
                print("*" * (n - i) + " " * (2 * i) + "*" * (n - i))
            """
        ),
    ),
    PatternDef(
        slug="floyds-triangle",
        name="Floyd's Triangle",
        category="number",
        difficulty="MEDIUM",
        description=(
            "Consecutive numbers 1, 2, 3... filling a right triangle, separated by spaces. "
            "The counter lives outside the loops and keeps going from row to row."
        ),
        rows=4,
        formula="row i (1..n): the next i numbers of 1, 2, 3..., space-separated",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            number = 1
            for i in range(1, n + 1):
                print(" ".join(str(number + j) for j in range(i)))
                number += i
            """
        ),
    ),
    PatternDef(
        slug="binary-triangle",
        name="Binary (0-1) Triangle",
        category="number",
        difficulty="MEDIUM",
        description=(
            "A right triangle of alternating 1s and 0s that starts every odd row with 1 and every "
            "even row with 0. The digit depends on whether row + column is even."
        ),
        rows=4,
        formula="row i, column j (1-based, j <= i): 1 if i+j is even else 0",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                print("".join("1" if (i + j) % 2 == 0 else "0" for j in range(1, i + 1)))
            """
        ),
    ),
    PatternDef(
        slug="number-pyramid",
        name="Palindrome Number Pyramid",
        category="number",
        difficulty="MEDIUM",
        description=(
            "A centred pyramid whose rows count up and back down: 1, 121, 12321. "
            "Two inner loops per row, one ascending and one descending. Sizes stop at 9 to keep single digits."
        ),
        rows=4,
        formula="row i: n-i spaces + 1..i + i-1..1",
        loops=4,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                up = "".join(str(j) for j in range(1, i + 1))
                down = "".join(str(j) for j in range(i - 1, 0, -1))
                print(" " * (n - i) + up + down)
            """
        ),
        max_size=9,
    ),
    PatternDef(
        slug="alphabet-pyramid",
        name="Palindrome Alphabet Pyramid",
        category="alphabet",
        difficulty="MEDIUM",
        description=(
            "The palindrome pyramid with letters: A, ABA, ABCBA. "
            "Same two inner loops as the number pyramid, mapping each number to a letter. At most 26 rows."
        ),
        rows=4,
        formula="row i: n-i spaces + letters 1..i + letters i-1..1",
        loops=4,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(1, n + 1):
                up = "".join(chr(ord("A") + j) for j in range(i))
                down = "".join(chr(ord("A") + j) for j in range(i - 2, -1, -1))
                print(" " * (n - i) + up + down)
            """
        ),
        max_size=26,
    ),
    PatternDef(
        slug="multiplication-table",
        name="Multiplication Table",
        category="number",
        difficulty="MEDIUM",
        description=(
            "The n by n times table, each product right-aligned to the width of n*n so the columns line up. "
            "Think about formatting as well as looping."
        ),
        rows=5,
        formula="row i, column j: i*j right-aligned to len(str(n*n)), space-separated",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            width = len(str(n * n))
            for i in range(1, n + 1):
                print(" ".join(str(i * j).rjust(width) for j in range(1, n + 1)))
            """
        ),
    ),
    PatternDef(
        slug="butterfly",
        name="Butterfly",
        category="special",
        difficulty="MEDIUM",
        description=(
            "Two mirrored half-diamonds facing each other, 2n-1 rows and 2n columns, "
            "touching in a full middle row. The gap between the wings is 2(n-i) spaces."
        ),
        rows=3,
        formula="rows for i = 1..n then n-1..1: i stars + 2(n-i) spaces + i stars",
        loops=8,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            # The wing width grows to n and shrinks back: one loop over that sequence.
            for i in [*range(1, n + 1), *range(n - 1, 0, -1)]:
                print("*" * i + " " * (2 * (n - i)) + "*" * i)
            """
        ),
    ),
    PatternDef(
        slug="x-pattern",
        name="X Pattern",
        category="special",
        difficulty="MEDIUM",
        description=(
            "Both diagonals of an n by n grid. For odd n they share the centre star; "
            "for even n they cross between two middle rows."
        ),
        rows=5,
        formula="n x n grid: star where column = row or column = n-1-row (0-based)",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(n):
                print("".join("*" if j == i or j == n - 1 - i else " " for j in range(n)))
            """
        ),
    ),
    PatternDef(
        slug="checkerboard",
        name="Checkerboard",
        category="special",
        difficulty="MEDIUM",
        description=(
            "An n by n board where stars and spaces alternate like the squares of a chessboard. "
            "A cell is a star when row + column is even."
        ),
        rows=5,
        formula="n x n grid: star where row + column is even",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in range(n):
                print("".join("*" if (i + j) % 2 == 0 else " " for j in range(n)))
            """
        ),
    ),
    PatternDef(
        slug="zigzag",
        name="Zigzag",
        category="special",
        difficulty="MEDIUM",
        description=(
            "A three-row wave with n peaks, 4n+1 columns wide. Each column holds one star; "
            "its row repeats every four columns: bottom, middle, top, middle."
        ),
        rows=3,
        formula="3 rows x (4n+1) columns: star in row r of column c when |c mod 4 - 2| = r",
        loops=2,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for row in range(3):
                print("".join("*" if abs(col % 4 - 2) == row else " " for col in range(4 * n + 1)))
            """
        ),
    ),
    # ---------------------------------------------------------------- HARD
    PatternDef(
        slug="pascal-triangle",
        name="Pascal's Triangle",
        category="number",
        difficulty="HARD",
        description=(
            "Binomial coefficients in a centred triangle: every number is the sum of the two above it. "
            "Compute each row's entries from the previous entry with C(i, k+1) = C(i, k) * (i-k) / (k+1)."
        ),
        rows=5,
        formula="row i (0..n-1): n-1-i spaces + C(i,0) .. C(i,i), space-separated",
        loops=3,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for i in range(n):
                value = 1
                row = []
                for k in range(i + 1):
                    row.append(str(value))
                    value = value * (i - k) // (k + 1)
                print(" " * (n - 1 - i) + " ".join(row))
            """
        ),
        max_size=20,
    ),
    PatternDef(
        slug="concentric-number-square",
        name="Concentric Number Square",
        category="number",
        difficulty="HARD",
        description=(
            "A (2n-1) by (2n-1) square of nested rings: n on the outer ring, down to 1 in the centre. "
            "A cell's value is n minus its distance to the nearest edge. Sizes stop at 9 to keep single digits."
        ),
        rows=3,
        formula="cell (i, j) of a (2n-1)-square: n - min(i, j, 2n-2-i, 2n-2-j)",
        loops=2,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            size = 2 * n - 1
            for i in range(size):
                print("".join(str(n - min(i, j, size - 1 - i, size - 1 - j)) for j in range(size)))
            """
        ),
        max_size=9,
    ),
    PatternDef(
        slug="spiral-number-square",
        name="Spiral Number Square",
        category="number",
        difficulty="HARD",
        description=(
            "The numbers 1..n*n written in an n by n grid along a clockwise spiral from the top-left corner, "
            "right-aligned. Walk the grid and turn right whenever the next cell is off the grid or taken."
        ),
        rows=4,
        formula="fill an n x n grid clockwise from the top-left; print rows right-aligned to len(str(n*n))",
        loops=3,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            grid = [[0] * n for _ in range(n)]
            row, col = 0, 0
            d_row, d_col = 0, 1  # start by moving right
            for k in range(1, n * n + 1):
                grid[row][col] = k
                r, c = row + d_row, col + d_col
                if not (0 <= r < n and 0 <= c < n) or grid[r][c]:
                    d_row, d_col = d_col, -d_row  # turn clockwise
                row, col = row + d_row, col + d_col
            width = len(str(n * n))
            for line in grid:
                print(" ".join(str(value).rjust(width) for value in line))
            """
        ),
        max_size=20,
    ),
    PatternDef(
        slug="hollow-butterfly",
        name="Hollow Butterfly",
        category="special",
        difficulty="HARD",
        description=(
            "The outline of the butterfly: 2n-1 rows and 2n columns, each wing drawn as a hollow "
            "half-diamond. Build one wing string per row and print it twice around the gap."
        ),
        rows=4,
        formula="rows for i = 1..n then n-1..1: wing + 2(n-i) spaces + wing; wing = star + i-2 spaces + star",
        loops=8,
        conditions=1,
        reference=_program(
            """
            n = int(input())
            for i in [*range(1, n + 1), *range(n - 1, 0, -1)]:
                wing = "*" if i == 1 else "*" + " " * (i - 2) + "*"
                print(wing + " " * (2 * (n - i)) + wing)
            """
        ),
    ),
    PatternDef(
        slug="christmas-tree",
        name="Christmas Tree",
        category="pyramid",
        difficulty="HARD",
        description=(
            "n stacked tiers of three pyramid rows, each tier starting one step wider than the last, "
            "on a one-star trunk of n//2+1 rows. Everything is centred on the widest row, 2n+3 stars."
        ),
        rows=3,
        formula="tier t (1..n), rows k = t..t+2: n+2-k spaces + 2k-1 stars; trunk: n+1 spaces + star",
        loops=5,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            for tier in range(1, n + 1):
                for k in range(tier, tier + 3):
                    print(" " * (n + 2 - k) + "*" * (2 * k - 1))
            for _ in range(n // 2 + 1):
                print(" " * (n + 1) + "*")
            """
        ),
    ),
    PatternDef(
        slug="heart",
        name="Heart",
        category="special",
        difficulty="HARD",
        description=(
            "Two rounded lobes side by side over an inverted pyramid of 2n rows, 4n-1 columns wide. "
            "Each lobe is the top half of a diamond whose rows start halfway up, so the top looks round."
        ),
        rows=3,
        formula=(
            "lobe rows i = n//2+1..n: (n-i spaces + 2i-1 stars + n-i spaces) twice, one space between; "
            "then rows i = 2n..1: 2n-i spaces + 2i-1 stars"
        ),
        loops=5,
        conditions=0,
        reference=_program(
            """
            n = int(input())
            # Two lobes, each 2n-1 columns wide, separated by one space.
            for i in range(n // 2 + 1, n + 1):
                lobe = " " * (n - i) + "*" * (2 * i - 1) + " " * (n - i)
                print(lobe + " " + lobe)
            # The point: an inverted pyramid as wide as the whole heart.
            for i in range(2 * n, 0, -1):
                print(" " * (2 * n - i) + "*" * (2 * i - 1))
            """
        ),
    ),
)
