"""Runs untrusted learner programs in confined processes.

`client.py` is the asyncio API the server uses; `child.py` is the confinement itself, one
stdlib-only file run as a separate interpreter (the fork server), kept small enough to audit.
"""

from .client import LanguageUnavailable, RunResult, Sandbox, SandboxError, SandboxLimits

__all__ = ["LanguageUnavailable", "RunResult", "Sandbox", "SandboxError", "SandboxLimits"]
