"""What a learner's program contains: the ground truth the model's prose is held to.

`census(code, language)` lists the constructs (loops, nesting, functions, recursion,
comprehensions...), the names, the literals and, line by line, what each line does (reads input,
prints, loops, defines a function...), read by the language's own parser (`ast` for Python,
tree-sitter for JavaScript: `judge/languages/`). The prompt states it (`analysis.prompt`), the
rule-based text describes it (`analysis.feedback`), and the sentence verifier (`analysis.verifier`)
drops every model sentence that claims something this census lacks.

A program that does not parse still gets a census (Python: from its tokens and keywords;
JavaScript: from tree-sitter's error-tolerant tree): less exact, but a claim such as "it defines
a function" can still be checked against a source with no function.
"""

from __future__ import annotations

import functools

from core.domain import Language
from judge.languages import support
from judge.languages.base import Construct, ProgramCensus
from judge.languages.python import BUILTIN_NAMES

__all__ = ["BUILTIN_NAMES", "Construct", "ProgramCensus", "census"]


@functools.lru_cache(maxsize=256)
def census(code: str, language: Language = Language.PYTHON) -> ProgramCensus:
    """Cached: the rule-based text, the prompt and the verifier each ask about the same program."""
    return support(language).census(code)
