"""Domain vocabulary shared by every layer: one enum per state, and the limits that several
packages must agree on.

Each enum is a ``StrEnum`` whose values equal its names: the same strings are stored in the
database (CHECK constraints in ``sql/``) and shown in the GraphQL schema, so a value read from
a row converts with ``Enum(value)`` and compares equal to the plain string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .errors import Unauthenticated


class Verdict(StrEnum):
    """The judge's verdict on one submission."""

    PASSED = "PASSED"
    WRONG_OUTPUT = "WRONG_OUTPUT"
    RUNTIME_ERROR = "RUNTIME_ERROR"
    SYNTAX_ERROR = "SYNTAX_ERROR"
    TIMEOUT = "TIMEOUT"
    REJECTED = "REJECTED"


class AnalysisStatus(StrEnum):
    """Where an analysis job is: QUEUED → RUNNING → DONE | FAILED (RUNNING → QUEUED on release)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset({AnalysisStatus.DONE, AnalysisStatus.FAILED})


class AnalysisKind(StrEnum):
    """What an analysis produces: everything, or one part of it."""

    FULL = "FULL"
    COMPLEXITY = "COMPLEXITY"
    EXPLANATION = "EXPLANATION"
    FEEDBACK = "FEEDBACK"


class Language(StrEnum):
    """The language a program is written in (judge/languages/ has one module per language)."""

    PYTHON = "PYTHON"
    JAVASCRIPT = "JAVASCRIPT"


class Difficulty(StrEnum):
    EASY = "EASY"
    MEDIUM = "MEDIUM"
    HARD = "HARD"


class LeaderboardPeriod(StrEnum):
    ALL_TIME = "ALL_TIME"
    WEEK = "WEEK"


# Analyses not produced by a generative model say so in `modelUsed` / `model_key`.
RULE_BASED = "rule-based"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: `user_id` is the access token's `sub`, None when anonymous.
    `expires_at` (epoch seconds) is when the token stops being accepted: its `exp` plus the
    allowed clock skew; None without a token."""

    user_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    expires_at: float | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def display_name(self) -> str | None:
        metadata = self.claims.get("user_metadata") or {}
        for key in ("display_name", "full_name", "name", "user_name", "preferred_username"):
            value = metadata.get(key) if isinstance(metadata, dict) else None
            # Printable characters only: a name is shown to others (the leaderboard), and
            # PostgreSQL refuses NUL and lone surrogates.
            name = "".join(ch for ch in value if ch.isprintable()).strip() if isinstance(value, str) else ""
            if name:
                return name[:100]
        return None

    def require_user(self) -> str:
        if self.user_id is None:
            raise Unauthenticated()
        return self.user_id


ANONYMOUS = Caller()
