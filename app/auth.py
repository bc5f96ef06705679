"""Supabase access tokens (HS256) and the caller they identify."""

from __future__ import annotations

import logging
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from pydantic import SecretStr

from core.domain import ANONYMOUS, Caller
from core.errors import Unauthenticated

log = logging.getLogger(__name__)

ALGORITHMS = ["HS256"]




def load_or_create_dev_secret(configured: SecretStr | None, path: Path) -> SecretStr:
    """The configured Supabase secret, or a local one kept in `path` for development."""
    if configured is not None and configured.get_secret_value():
        return configured
    if path.exists():
        return SecretStr(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Created with 0600 from the start: the secret must never be world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    log.warning("no SUPABASE_JWT_SECRET set: generated a development secret in %s", path)
    return SecretStr(secret)


class TokenVerifier:
    def __init__(self, secret: SecretStr, audience: str) -> None:
        self._secret = secret
        self._audience = audience

    def caller_from_header(self, authorization: str | None) -> Caller:
        """`Bearer <jwt>` to a Caller; no header is anonymous, a bad token is an error."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        return self.caller_from_token(token.strip())

    def caller_from_token(self, token: str) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self._secret.get_secret_value(),
                algorithms=ALGORITHMS,
                audience=self._audience,
                options={"require": ["exp", "sub"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The access token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The access token is not valid.") from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub or len(sub) > 128:
            raise Unauthenticated("The access token has no usable subject.")
        return Caller(user_id=sub, claims=claims)


def mint_token(
    secret: SecretStr | str,
    *,
    user_id: str | None = None,
    audience: str = "authenticated",
    ttl_seconds: int = 7 * 24 * 3600,
    display_name: str | None = None,
) -> str:
    """A token shaped like Supabase Auth's, for development and tests."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id or str(uuid.uuid4()),
        "aud": audience,
        "role": "authenticated",
        "iat": now,
        "exp": now + ttl_seconds,
        "iss": "codepattern-dev",
    }
    if display_name:
        claims["user_metadata"] = {"display_name": display_name}
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return jwt.encode(claims, key, algorithm="HS256")
