"""Rate limits on the expensive fields, as a field extension: it runs before the resolver, so a
caller over their budget gets RATE_LIMITED and none of the field's work is done.

The budget is the signed-in learner's (their token's `sub`), or the client IP's for anonymous
callers: `request.client` as uvicorn reports it. `X-Forwarded-For` is not read here, because any
client can write it; uvicorn applies it only for connections from `FORWARDED_ALLOW_IPS` (default
loopback), which a deployment behind a proxy on another host sets to the proxy's address. The
counts live in PostgreSQL (`db/rate_limits.py`), so every API process and replica shares them.
"""

from __future__ import annotations

import math
from typing import Any, cast

from starlette.responses import Response
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info as StrawberryInfo

from core.errors import AppError, ErrorCode
from db.rate_limits import Bucket

from .context import Context

UNKNOWN_CLIENT = "unknown"


class RateLimitExceeded(AppError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after: float) -> None:
        # Whole milliseconds, rounded up: waiting exactly this long is enough.
        seconds = max(math.ceil(retry_after * 1000) / 1000, 0.001)
        super().__init__(f"Too many requests: try again in {math.ceil(seconds)} s.", retryAfter=seconds)
        self.retry_after = seconds


def client_key(context: Context) -> str:
    """Whose budget a request spends: `user:<id>` or `ip:<address>`. Reading the caller first
    raises UNAUTHENTICATED for a bad token, so a broken token is never counted as anonymous."""
    user_id = context.caller.user_id
    if user_id is not None:
        return f"user:{user_id}"
    client = getattr(context.request, "client", None)
    host = getattr(client, "host", None)
    return f"ip:{host or UNKNOWN_CLIENT}"


class RateLimit(FieldExtension):
    """`extensions=[RateLimit(Bucket.SUBMIT, signed_in_only=True)]` on a field.

    signed_in_only: the field refuses anonymous callers itself (UNAUTHENTICATED), so they spend
    nothing and cost no database round trip.
    """

    def __init__(self, bucket: Bucket, *, signed_in_only: bool = False) -> None:
        self.bucket = bucket
        self.signed_in_only = signed_in_only

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: StrawberryInfo, **kwargs: Any
    ) -> Any:
        context = cast(Context, info.context)
        limiter = context.components.rate_limiter
        if limiter.enabled(self.bucket):
            context.cacheable = False  # served from a cache, a call would spend nothing
            key = client_key(context)  # a bad token raises here: UNAUTHENTICATED, nothing spent
            if not (self.signed_in_only and context.caller.user_id is None):
                decision = await limiter.hit(self.bucket, key)
                if not decision.allowed:
                    error = RateLimitExceeded(decision.retry_after)
                    set_retry_after_header(context, error.retry_after)
                    raise error
        return await next_(source, info, **kwargs)


def set_retry_after_header(context: Context, seconds: float) -> None:
    """HTTP responses also carry `Retry-After` (whole seconds); the status stays 200, as GraphQL
    over HTTP wants for a field error. A WebSocket has no response headers."""
    response = context.response
    if isinstance(response, Response):
        current = response.headers.get("retry-after")
        wait = max(math.ceil(seconds), int(current) if current and current.isdigit() else 0)
        response.headers["Retry-After"] = str(wait)
