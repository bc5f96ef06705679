"""Output normalisation and in-process execution of the (trusted) reference programs."""

from __future__ import annotations

import builtins
import io
import sys
from typing import Any


def normalize_output(text: str) -> list[str]:
    """The judging normalisation, shared with the judge.

    Lines are split on "\\n"; each line loses its trailing whitespace (which also removes the
    "\\r" of "\\r\\n" endings) and trailing blank lines are dropped. Leading spaces and leading
    blank lines are kept: they are part of the pattern's shape.
    """
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_reference(source: str, n: int, *, name: str = "reference") -> list[str]:
    """Run a reference program with ``n`` as its input and return its normalised output.

    Reference programs are our own code, so they run in-process. Each call gets its own
    namespace whose ``input`` and ``print`` are bound to this call: no global redirection of
    stdout, so concurrent calls from several threads do not mix their output.
    """
    buffer = io.StringIO()
    answer = str(n)

    def _input(prompt: object = "") -> str:
        # References never prompt; a prompt would only pollute the pattern, so it is ignored.
        return answer

    def _print(
        *args: object, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
    ) -> None:
        # Standard output is this call's buffer; an explicit other stream (stderr) is honoured.
        target = buffer if file is None or file is sys.stdout else file
        builtins.print(*args, sep=sep, end=end, file=target, flush=flush)

    namespace: dict[str, Any] = {
        "__builtins__": builtins,
        "__name__": "__main__",
        "input": _input,
        "print": _print,
    }
    exec(compile(source, f"<reference {name}>", "exec"), namespace)
    return normalize_output(buffer.getvalue())
