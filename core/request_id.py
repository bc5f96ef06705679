"""The request id: one id per API request, carried by everything done for it.

Set by the HTTP layer (`app/request_id.py`: the caller's X-Request-ID, or a new one) for the
request's task, stored with an analysis it queues, and set again by the worker that runs it, so
the log lines of a submission and of its analysis, in whatever process, share one id.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# What we accept from a caller: enough for UUIDs, trace ids and most proxies' ids; nothing that
# could break a log line or a header.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str | None:
    """The caller's id when it is a sane one, else None (the server then makes one)."""
    return value if value is not None and _ACCEPTED.fullmatch(value) else None
