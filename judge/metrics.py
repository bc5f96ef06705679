"""Static complexity metrics of a learner's program, the same definitions in every language.
Never runs the code; each language measures with its own parser (``judge/languages/``).

Definitions (what each ``CodeMetrics`` field counts):

* ``cyclomatic``: McCabe complexity of the whole program: 1 + decision points (if/elif,
  conditional expressions, loops, boolean operators, except/catch clauses, comprehension filters,
  switch cases...), module-level code included, each function adding its own decision points.
  Python: radon's; JavaScript: what ESLint's ``complexity`` rule counts.
* ``max_nesting_depth``: deepest syntactic nesting of loops (``for``, ``while``, comprehension
  ``for`` clauses; in JavaScript also ``do``, ``for...of`` and array-iteration callbacks such as
  ``forEach``/``map``); ``if`` blocks do not add depth.
* ``loops``: those loops, counted.
* ``conditions``: ``if``/``elif``/``else if`` branches + conditional expressions + comprehension
  ``if`` filters + ``match``/``switch`` cases. The test of a ``while`` is not counted: the
  ``while`` already counts as a loop.
* ``big_o``: estimated running time in the pattern size n. Each loop whose bounds depend on a
  variable contributes a factor n (loops over constant ranges or literals contribute nothing; a
  JavaScript ``for`` loop's own counter is not a bound); a string/list repetition (``'*' * i``,
  ``'*'.repeat(i)``, ``new Array(n)``) or padding call (``center``/``ljust``/``rjust``,
  ``padStart``/``padEnd``) with a variable width is an extra factor n of output work; nested
  factors multiply (powers add). A call to one of the program's functions or methods costs what
  its body costs (a class call, its ``__init__``); a self-recursive function adds a factor n for
  its depth (``recursive`` is set), two or more self-calls on one path make it ``O(2^n)``.
* ``lines``: source lines of code (not blank, not only a comment).
* ``score``: 0..10, higher = more complex:
  0.4 * (cyclomatic - 1) + 1.0 * max_nesting_depth + 0.75 * (power of n) + lines / 20, capped at 10.
  ``level``: "simple" below 3.5, "moderate" below 6.5, else "complex". A nested-loop triangle
  scores ~4.5 (moderate), a hollow square with its conditions ~6.4 (moderate), triple nesting
  ~6.7 (complex), a few straight prints ~0.2 (simple).

On a syntax error every number is zero, ``big_o`` is "O(1)" and ``syntax_error`` holds the message.
"""

from __future__ import annotations

from core.domain import Language

from .languages import support
from .languages.base import EXPONENTIAL, CodeMetrics, big_o_label

__all__ = ["EXPONENTIAL", "CodeMetrics", "analyze_code", "big_o_label"]


def analyze_code(code: str, language: Language = Language.PYTHON) -> CodeMetrics:
    """Metrics for ``code``; a syntax error is reported in the result, never raised."""
    return support(language).metrics(code)
