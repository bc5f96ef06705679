"""Supabase access tokens and the caller they identify.

Two kinds of signature are accepted, each only with its own kind of key:

- HS256, signed with the project's JWT secret (`SUPABASE_JWT_SECRET`, or the local development
  secret that `codepattern token` uses);
- ES256 and RS256, signed with one of the project's asymmetric keys, whose public halves come
  from a JWKS document (`JWT_JWKS_URL`, Supabase's `.../auth/v1/.well-known/jwks.json`, or
  `JWT_JWKS_FILE`). The key is chosen by the token's `kid` and must be of the token's algorithm.

Anything else (`none`, other algorithms, an HS256 token "signed" with a public key) is refused.
The JWKS is cached, refreshed when it is older than `JWT_JWKS_CACHE_SECONDS` and when a token
names an unknown `kid` (at most once per `JWKS_MIN_REFRESH_SECONDS`), and fetched in a thread so
the event loop never waits on the network.

Roles: `authenticated` is a learner (`sub`); `anon` (Supabase's anon key) is an anonymous caller;
any other role (`service_role`, ...) is refused with FORBIDDEN: this API serves learners, and a
server-side key must never reach past the rules that bind them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK, PyJWKClient, PyJWKSet
from pydantic import SecretStr

from core.domain import ANONYMOUS, Caller
from core.errors import Forbidden, ServiceUnavailable, Unauthenticated
from core.settings import Settings

log = logging.getLogger(__name__)

SECRET_ALGORITHM = "HS256"
# Each asymmetric algorithm with the JWK key type that carries it.
KEY_ALGORITHMS = {"ES256": "EC", "RS256": "RSA"}
LEARNER_ROLE = "authenticated"
ANONYMOUS_ROLE = "anon"
# An unknown `kid` refreshes the JWKS at most this often: random kids cannot make us hammer it.
JWKS_MIN_REFRESH_SECONDS = 30.0
# After a failed fetch, the next try waits this long (requests meanwhile fail at once).
JWKS_RETRY_SECONDS = 5.0
VERIFIED_TOKENS = 4096


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


def usable_keys(jwk_set: PyJWKSet) -> dict[str, PyJWK]:
    """The JWKS's public ES256/RS256 signing keys by `kid`; others are skipped."""
    keys: dict[str, PyJWK] = {}
    for key in jwk_set.keys:
        kid, algorithm = key.key_id, key.algorithm_name
        if not isinstance(kid, str) or not kid or key.public_key_use not in ("sig", None):
            continue
        if KEY_ALGORITHMS.get(algorithm) != key.key_type:
            continue  # HS256 ("oct") keys, other algorithms, an `alg` that does not fit the key
        if isinstance(key.key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):  # never published
            log.warning("JWKS: key %r is a private key; ignored", kid)
            continue
        keys[kid] = key
    return keys


class JwksKeys:
    """The JWKS's keys, cached; `load` (blocking: a fetch or a file read) runs in a thread.

    Refreshed when older than `cache_seconds`, or when a token names an unknown `kid` and the
    last try is `min_refresh_seconds` old. A failed refresh keeps the keys already known (a
    short outage of the JWKS signs nobody out); with no key for the token, it is our outage:
    SERVICE_UNAVAILABLE, not the caller's bad token.
    """

    def __init__(
        self,
        load: Callable[[], PyJWKSet],
        *,
        source: str,
        cache_seconds: float = 600.0,
        timeout_seconds: float = 5.0,
        min_refresh_seconds: float = JWKS_MIN_REFRESH_SECONDS,
        retry_seconds: float = JWKS_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.source = source
        self._cache_seconds = cache_seconds
        self._timeout = timeout_seconds
        self._min_refresh = min_refresh_seconds
        self._retry = retry_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._loaded_at: float | None = None  # last successful load
        self._tried_at: float | None = None  # last attempt, successful or not
        self._error: str | None = None  # why the last attempt failed; None after a success
        self._lock = asyncio.Lock()
        self.loads = 0  # attempts so far (for tests and operators)

    @classmethod
    def from_url(cls, url: str, *, timeout_seconds: float, **kwargs: Any) -> JwksKeys:
        # PyJWKClient's own cache is off: this class decides when to fetch. A User-Agent of our
        # own, since some CDNs refuse urllib's default one.
        client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout_seconds,
                             headers={"User-Agent": "codepatternmaster-jwks/1"})
        return cls(client.get_jwk_set, source=url, timeout_seconds=timeout_seconds, **kwargs)

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> JwksKeys:
        def load() -> PyJWKSet:
            return PyJWKSet.from_dict(json.loads(path.read_text()))

        return cls(load, source=str(path), **kwargs)

    def _stale(self, now: float) -> bool:
        return self._loaded_at is None or now - self._loaded_at >= self._cache_seconds

    def _may_try(self, now: float, unknown_kid: bool) -> bool:
        if self._tried_at is None:
            return True
        since = now - self._tried_at
        if self._error is not None and since < self._retry:
            return False
        if self._stale(now):
            return True
        return unknown_kid and since >= self._min_refresh

    async def key(self, kid: str) -> PyJWK:
        key = self._keys.get(kid)
        if key is not None and not self._stale(self._clock()):
            return key
        async with self._lock:  # one refresh at a time; the others then read its result
            key = self._keys.get(kid)
            if self._may_try(self._clock(), unknown_kid=key is None):
                await self._refresh()
                key = self._keys.get(kid)
        if key is not None:
            return key
        if self._error is not None:
            raise ServiceUnavailable("Access tokens cannot be checked right now (the signing keys are "
                                     "unavailable); try again shortly.")
        raise Unauthenticated("The access token is signed with an unknown key.")

    async def _refresh(self) -> None:
        self._tried_at = self._clock()
        self.loads += 1
        try:
            async with asyncio.timeout(self._timeout):
                keys = usable_keys(await asyncio.to_thread(self._load))
            if not keys:
                raise ValueError("no ES256/RS256 signing keys with a kid")
        except Exception as exc:  # any failure to load means "keep what we had"
            self._error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            log.warning("JWKS: could not load the signing keys from %s (%s); %s", self.source, self._error,
                        f"keeping the {len(self._keys)} known" if self._keys else "none known yet")
            return
        if set(keys) != set(self._keys):
            log.info("JWKS: %d signing keys from %s (%s)", len(keys), self.source, ", ".join(sorted(keys)))
        self._keys, self._loaded_at, self._error = keys, self._clock(), None


class TokenVerifier:
    def __init__(
        self,
        secret: SecretStr,
        audience: str,
        *,
        issuer: str | None = None,
        leeway_seconds: float = 30.0,
        jwks: JwksKeys | None = None,
    ) -> None:
        self._secret = secret
        self._audience = audience
        self._issuer = issuer
        self._leeway = leeway_seconds
        self.jwks = jwks
        # Tokens already verified, with the caller they name: a client sends the same token on
        # every request until it refreshes it, and checking a signature costs more than the rest
        # of a small request's setup. Kept until the token expires (the only thing about it that
        # changes with time once it has verified), at most VERIFIED_TOKENS of them.
        self._verified: OrderedDict[str, Caller] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, secret: SecretStr) -> TokenVerifier:
        if settings.jwt_jwks_url and settings.jwt_jwks_file:
            raise ValueError("set JWT_JWKS_URL or JWT_JWKS_FILE, not both")
        options: dict[str, Any] = {"cache_seconds": settings.jwt_jwks_cache_seconds,
                                   "timeout_seconds": settings.jwt_jwks_timeout_seconds}
        jwks = None
        if settings.jwt_jwks_url:
            jwks = JwksKeys.from_url(settings.jwt_jwks_url, **options)
        elif settings.jwt_jwks_file:
            jwks = JwksKeys.from_file(settings.jwt_jwks_file, **options)
        return cls(secret, settings.jwt_audience, issuer=settings.jwt_issuer or None,
                   leeway_seconds=settings.jwt_leeway_seconds, jwks=jwks)

    async def caller_from_header(self, authorization: str | None) -> Caller:
        """`Bearer <jwt>` to a Caller; no header is anonymous, a bad token is an error."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <token>'.")
        return await self.caller_from_token(token.strip())

    async def caller_from_token(self, token: str) -> Caller:
        known = self._verified.get(token)
        if known is not None:
            if known.expires_at is not None and known.expires_at > time.time():
                self._verified.move_to_end(token)
                return known
            del self._verified[token]
        caller = await self._verify(token)
        if caller.expires_at is not None:
            self._verified[token] = caller
            if len(self._verified) > VERIFIED_TOKENS:
                self._verified.popitem(last=False)
        return caller

    async def _verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The access token is not valid.") from exc
        algorithm = header.get("alg")
        key: PyJWK | str
        if algorithm == SECRET_ALGORITHM:
            key = self._secret.get_secret_value()
        elif algorithm in KEY_ALGORITHMS and self.jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise Unauthenticated("The access token names no signing key (kid).")
            key = await self.jwks.key(kid)
            if key.algorithm_name != algorithm:
                raise Unauthenticated("The access token's algorithm does not match its key.")
        else:
            raise Unauthenticated("The access token's signing algorithm is not accepted.")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                # aud and iss depend on the role: checked below.
                options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The access token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthenticated("The access token is not valid yet.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("The access token is not valid.") from exc
        return self._caller_of(claims)

    def _caller_of(self, claims: dict[str, Any]) -> Caller:
        role = claims.get("role")
        if role == ANONYMOUS_ROLE:
            # Supabase's anon key (no aud, no sub): grants nothing more than no token at all.
            return ANONYMOUS
        if role != LEARNER_ROLE:
            if isinstance(role, str) and role:
                log.warning("refused an access token of role %r", role[:40])
                raise Forbidden(f"Access tokens of role '{role[:40]}' are not accepted here; "
                                "sign in as a learner.")
            raise Unauthenticated("The access token has no role.")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if self._audience not in audiences:
            raise Unauthenticated("The access token is not meant for this API (aud).")
        if self._issuer is not None and claims.get("iss") != self._issuer:
            raise Unauthenticated("The access token is from another issuer (iss).")
        sub = claims.get("sub")
        # Printable text only: the subject is stored as the learner's id (PostgreSQL refuses NUL
        # and lone surrogates) and logged; Supabase's are UUIDs.
        if not isinstance(sub, str) or not sub or len(sub) > 128 or not sub.isprintable():
            raise Unauthenticated("The access token has no usable subject.")
        return Caller(user_id=sub, claims=claims, expires_at=float(claims["exp"]) + self._leeway)


def mint_token(
    secret: SecretStr | str,
    *,
    user_id: str | None = None,
    audience: str = "authenticated",
    ttl_seconds: float = 7 * 24 * 3600,
    display_name: str | None = None,
) -> str:
    """A token shaped like Supabase Auth's, for development and tests."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id or str(uuid.uuid4()),
        "aud": audience,
        "role": "authenticated",
        "iat": now,
        "exp": int(now + ttl_seconds),
        "iss": "codepattern-dev",
    }
    if display_name:
        claims["user_metadata"] = {"display_name": display_name}
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return jwt.encode(claims, key, algorithm="HS256")
