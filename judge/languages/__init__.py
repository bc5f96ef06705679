"""The languages learners write in: one module each, behind one interface (``base.LanguageSupport``).

A new language is a new module here (its syntax check, input scan, error output, metrics, census
and idioms) plus its runtime in ``sandbox/runtimes.py``; the judge, the metrics, the feedback and
the API take it from ``support(language)``.
"""

from __future__ import annotations

from core.domain import Language

from .base import LanguageSupport
from .javascript import JavaScript
from .python import Python

_SUPPORT: dict[Language, LanguageSupport] = {Language.PYTHON: Python(), Language.JAVASCRIPT: JavaScript()}


def support(language: Language | str = Language.PYTHON) -> LanguageSupport:
    """The module for ``language`` (a Language or its name, as stored)."""
    return _SUPPORT[Language(language)]


__all__ = ["LanguageSupport", "support"]
