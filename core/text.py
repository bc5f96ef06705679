"""Text helpers with no domain knowledge, shared by the prompt builder and the model service."""

from __future__ import annotations


def keep_ends(text: str, max_chars: int, marker: str) -> str:
    """``text`` when it fits in ``max_chars``; else two thirds of the room from its beginning and
    one third from its end around ``marker``. For a program the end matters: that is usually
    where the printing happens."""
    if len(text) <= max_chars:
        return text
    room = max_chars - len(marker)
    if room <= 0:
        return text[:max_chars]
    head = (room * 2) // 3
    tail = room - head
    return text[:head] + marker + (text[-tail:] if tail else "")
