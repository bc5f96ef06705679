"""Tokens: Supabase-shaped JWTs, HS256 with the project's secret or ES256/RS256 with the keys of
a JWKS (a file, or a URL served here by a real HTTP server); bad ones are refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import SecretStr

from app.auth import VERIFIED_TOKENS, JwksKeys, TokenVerifier, load_or_create_dev_secret, mint_token
from core.domain import ANONYMOUS
from core.errors import AppError, ErrorCode, Forbidden, ServiceUnavailable, Unauthenticated
from resolvers.subscription import EXPIRED_MESSAGE, until_token_expires
from tests.helpers import TEST_SECRET, make_settings
from tests.live_server import free_port

AUD = "authenticated"
ISSUER = "https://project.supabase.co/auth/v1"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values: dict[str, Any] = {"sub": "u-1", "aud": AUD, "role": "authenticated", "iat": now, "exp": now + 600,
                              "iss": ISSUER}
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}  # None: leave the claim out


def hs256(payload: dict[str, Any], secret: str | bytes = TEST_SECRET, **headers: Any) -> str:
    """HS256 by hand: PyJWT itself refuses to use a PEM public key as an HMAC secret."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    key = secret.encode() if isinstance(secret, str) else secret
    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT", **headers}).encode()) + "." + b64(
        json.dumps(payload).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def verifier(**kwargs: Any) -> TokenVerifier:
    return TokenVerifier(SecretStr(TEST_SECRET), AUD, **kwargs)


async def refused(verifier: TokenVerifier, token: str, error: type[AppError] = Unauthenticated) -> AppError:
    with pytest.raises(error) as caught:
        await verifier.caller_from_header(f"Bearer {token}")
    assert type(caught.value) is error
    return caught.value


# --- HS256 with the project's secret ------------------------------------------------------------


async def test_valid_token_gives_the_subject() -> None:
    v = verifier()
    caller = await v.caller_from_header("Bearer " + mint_token(TEST_SECRET, user_id="u-1", display_name="Ada"))
    assert caller.user_id == "u-1" and caller.display_name == "Ada"
    assert (await v.caller_from_header(None)).user_id is None


async def test_expires_at_is_exp_plus_the_leeway() -> None:
    payload = claims()
    caller = await verifier(leeway_seconds=7).caller_from_token(hs256(payload))
    assert caller.expires_at == payload["exp"] + 7
    assert (await verifier().caller_from_header(None)).expires_at is None


def now() -> int:
    return int(time.time())


async def test_a_verified_token_is_remembered_until_it_expires() -> None:
    v = verifier(leeway_seconds=0)
    token = hs256(claims(exp=now() + 2))
    first = await v.caller_from_token(token)
    assert await v.caller_from_token(token) is first  # the remembered caller, not verified again
    await asyncio.sleep(max(first.expires_at - time.time(), 0) + 0.05)  # type: ignore[operator]
    await refused(v, token)  # expired: refused, as without the memory
    assert token not in v._verified


async def test_refused_tokens_are_not_remembered_and_the_memory_is_bounded() -> None:
    v = verifier()
    bad = hs256(claims(), "another-secret-another-secret-another")
    await refused(v, bad)
    assert bad not in v._verified
    for i in range(VERIFIED_TOKENS + 10):
        await v.caller_from_token(hs256(claims(sub=f"learner-{i}")))
    assert len(v._verified) == VERIFIED_TOKENS


@pytest.mark.parametrize(
    ("case", "make_token", "error", "message"),
    [
        ("wrong secret", lambda: hs256(claims(), "another-secret-another-secret-another"), Unauthenticated, "not valid"),
        ("expired", lambda: hs256(claims(exp=now() - 3600)), Unauthenticated, "expired"),
        ("nbf in the future", lambda: hs256(claims(nbf=now() + 3600)), Unauthenticated, "not valid yet"),
        ("iat in the future", lambda: hs256(claims(iat=now() + 3600)), Unauthenticated, "not valid yet"),
        ("no exp", lambda: hs256(claims(exp=None)), Unauthenticated, "not valid"),
        ("wrong aud", lambda: hs256(claims(aud="someone-else")), Unauthenticated, "aud"),
        ("no aud", lambda: hs256(claims(aud=None)), Unauthenticated, "aud"),
        ("wrong iss", lambda: hs256(claims(iss="https://other.supabase.co/auth/v1")), Unauthenticated, "iss"),
        ("no sub", lambda: hs256(claims(sub=None)), Unauthenticated, "subject"),
        ("no role", lambda: hs256(claims(role=None)), Unauthenticated, "role"),
        ("role service_role", lambda: hs256(claims(role="service_role", sub=None, aud=None)), Forbidden, "service_role"),
        ("role supabase_admin", lambda: hs256(claims(role="supabase_admin")), Forbidden, "supabase_admin"),
        ("alg none", lambda: jwt.encode(claims(), "", algorithm="none"), Unauthenticated, "algorithm"),
        ("alg HS384", lambda: jwt.encode(claims(), TEST_SECRET * 2, algorithm="HS384"), Unauthenticated, "algorithm"),
        ("not a JWT", lambda: "garbage", Unauthenticated, "not valid"),
        ("RS256 without a JWKS", lambda: jwt.encode(claims(), rsa.generate_private_key(65537, 2048),
                                                    algorithm="RS256", headers={"kid": "k"}), Unauthenticated, "algorithm"),
    ],
)
async def test_hs256_matrix_refusals(case: str, make_token: Callable[[], str], error: type[AppError],
                                     message: str) -> None:
    # Tokens are made when the test runs: a long session must not expire them first.
    caught = await refused(verifier(issuer=ISSUER), make_token(), error)
    assert message in caught.message, (case, caught.message)


async def test_hs256_good_token_with_issuer_checked() -> None:
    caller = await verifier(issuer=ISSUER).caller_from_token(hs256(claims(sub="learner-7")))
    assert caller.user_id == "learner-7" and caller.claims["iss"] == ISSUER


async def test_supabase_anon_key_is_an_anonymous_caller() -> None:
    # Shaped like Supabase's legacy anon key: no aud, no sub, its own iss; grants nothing.
    anon_key = hs256({"iss": "supabase", "ref": "project", "role": "anon", "iat": now(), "exp": now() + 10 * 365 * 86400})
    assert await verifier(issuer=ISSUER).caller_from_token(anon_key) is ANONYMOUS
    # ... but it is still a token: signature and expiry hold.
    await refused(verifier(), hs256(claims(role="anon"), "another-secret-another-secret-another"))
    await refused(verifier(), hs256(claims(role="anon", exp=now() - 3600)))


async def test_leeway_comes_from_the_setting() -> None:
    token = hs256(claims(exp=int(time.time()) - 10))
    assert (await verifier(leeway_seconds=30).caller_from_token(token)).user_id == "u-1"
    await refused(verifier(leeway_seconds=0), token)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
async def test_bad_authorization_headers_are_refused(header: str) -> None:
    with pytest.raises(Unauthenticated):
        await verifier().caller_from_header(header)


def test_dev_secret_is_created_once_and_private(tmp_path) -> None:
    settings = make_settings("postgresql://unused", tmp_path, supabase_jwt_secret=None)
    first = load_or_create_dev_secret(None, settings.jwt_secret_file)
    again = load_or_create_dev_secret(None, settings.jwt_secret_file)
    assert again.get_secret_value() == first.get_secret_value() and len(first.get_secret_value()) >= 32
    assert TEST_SECRET not in repr(settings) and "**" in repr(make_settings("postgresql://unused", tmp_path))
    assert settings.jwt_secret_file.stat().st_mode & 0o077 == 0


def test_verifier_is_built_from_the_settings(tmp_path: Path) -> None:
    base = {"jwt_issuer": ISSUER, "jwt_leeway_seconds": 5.0}
    plain = TokenVerifier.from_settings(make_settings("postgresql://unused", tmp_path, **base), SecretStr("s"))
    assert plain.jwks is None
    url = TokenVerifier.from_settings(
        make_settings("postgresql://unused", tmp_path, jwt_jwks_url="https://p.supabase.co/auth/v1/.well-known/jwks.json",
                      **base), SecretStr("s"))
    assert url.jwks is not None and url.jwks.source.endswith("jwks.json")
    with pytest.raises(ValueError, match="not both"):
        TokenVerifier.from_settings(make_settings("postgresql://unused", tmp_path, jwt_jwks_url="https://x/jwks",
                                                  jwt_jwks_file=tmp_path / "jwks.json"), SecretStr("s"))


# --- ES256 / RS256 with the keys of a JWKS ------------------------------------------------------


class Keys:
    """Key pairs generated here, and the JWKS that publishes their public halves."""

    def __init__(self) -> None:
        self.private: dict[str, Any] = {}
        self.published: list[dict[str, Any]] = []

    def add(self, algorithm: str) -> str:
        kid = f"{algorithm.lower()}-{uuid.uuid4().hex[:8]}"
        if algorithm == "ES256":
            key: Any = ec.generate_private_key(ec.SECP256R1())
            jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        else:
            key = rsa.generate_private_key(65537, 2048)
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.private[kid] = key
        self.published.append({**jwk, "kid": kid, "use": "sig", "alg": algorithm})
        return kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self.published)}

    def sign(self, kid: str, payload: dict[str, Any] | None = None, algorithm: str | None = None) -> str:
        algorithm = algorithm or kid.split("-")[0].upper()
        return jwt.encode(payload or claims(), self.private[kid], algorithm=algorithm, headers={"kid": kid})

    def public_pem(self, kid: str) -> bytes:
        return self.private[kid].public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class JwksServer:
    """A real HTTP server in a thread, serving `keys.jwks()`; counts hits; can fail or stall."""

    def __init__(self, keys: Keys) -> None:
        self.keys, self.hits, self.status, self.delay = keys, 0, 200, 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                time.sleep(server.delay)
                body = json.dumps(server.keys.jwks()).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/auth/v1/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def server(keys: Keys) -> Iterator[JwksServer]:
    server = JwksServer(keys)
    yield server
    server.close()


def url_verifier(url: str, clock: Clock | None = None, **kwargs: Any) -> TokenVerifier:
    options: dict[str, Any] = {"timeout_seconds": 2.0, "cache_seconds": 600.0, **kwargs}
    if clock is not None:
        options["clock"] = clock
    return verifier(issuer=ISSUER, jwks=JwksKeys.from_url(url, **options))


def file_verifier(path: Path, keys: Keys, clock: Clock | None = None) -> TokenVerifier:
    path.write_text(json.dumps(keys.jwks()))
    return verifier(issuer=ISSUER, jwks=JwksKeys.from_file(path, clock=clock or time.monotonic))


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
async def test_jwks_file_accepts_es256_and_rs256(tmp_path: Path, keys: Keys, algorithm: str) -> None:
    kid = keys.add(algorithm)
    v = file_verifier(tmp_path / "jwks.json", keys)
    caller = await v.caller_from_token(keys.sign(kid, claims(sub="learner-es")))
    assert caller.user_id == "learner-es"
    # The same checks as HS256 tokens.
    await refused(v, keys.sign(kid, claims(exp=now() - 3600)))
    await refused(v, keys.sign(kid, claims(aud="other")))
    await refused(v, keys.sign(kid, claims(role="service_role")), Forbidden)
    assert await v.caller_from_token(keys.sign(kid, claims(role="anon", sub=None, aud=None))) is ANONYMOUS


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
async def test_jwks_url_accepts_es256_and_rs256_and_caches(server: JwksServer, keys: Keys, algorithm: str) -> None:
    kid = keys.add(algorithm)
    v = url_verifier(server.url)
    for _ in range(3):
        assert (await v.caller_from_token(keys.sign(kid))).user_id == "u-1"
    assert server.hits == 1  # fetched once, then cached


async def test_concurrent_first_tokens_fetch_the_jwks_once(server: JwksServer, keys: Keys) -> None:
    kid = keys.add("ES256")
    server.delay = 0.2
    v = url_verifier(server.url)
    callers = await asyncio.gather(*(v.caller_from_token(keys.sign(kid)) for _ in range(10)))
    assert {c.user_id for c in callers} == {"u-1"} and server.hits == 1


async def test_signature_kid_and_algorithm_must_all_fit(tmp_path: Path, keys: Keys) -> None:
    es, rs = keys.add("ES256"), keys.add("RS256")
    v = file_verifier(tmp_path / "jwks.json", keys)
    # Signed by a key we do not know, under a kid we do.
    stranger = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": es})
    assert "not valid" in (await refused(v, stranger)).message
    # A kid naming a key of another algorithm.
    mismatched = jwt.encode(claims(), keys.private[es], algorithm="ES256", headers={"kid": rs})
    assert "does not match" in (await refused(v, mismatched)).message
    # No kid at all.
    no_kid = jwt.encode(claims(), keys.private[es], algorithm="ES256")
    assert "kid" in (await refused(v, no_kid)).message


async def test_algorithm_confusion_is_refused(tmp_path: Path, keys: Keys) -> None:
    """HS256 "signed" with the RSA (or EC) public key as the HMAC secret: the classic attack on
    verifiers that take the algorithm from the token. HS256 is only ever checked with our secret."""
    rs, es = keys.add("RS256"), keys.add("ES256")
    v = file_verifier(tmp_path / "jwks.json", keys)
    for kid in (rs, es):
        pem = keys.public_pem(kid)
        for token in (hs256(claims(), pem, kid=kid), hs256(claims(), pem)):
            assert "not valid" in (await refused(v, token)).message
    # Nor does a symmetric ("oct") key published in a JWKS ever verify anything.
    secret = b"published-hmac-key-published-hmac-key"
    keys.published.append({"kty": "oct", "kid": "oct-1", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode(),
                           "alg": "HS256"})
    v = file_verifier(tmp_path / "jwks2.json", keys)
    await refused(v, hs256(claims(), secret, kid="oct-1"))


async def test_unknown_kid_refreshes_once_then_is_rate_limited(server: JwksServer, keys: Keys) -> None:
    kid = keys.add("ES256")
    clock = Clock()
    v = url_verifier(server.url, clock)
    await v.caller_from_token(keys.sign(kid))
    assert server.hits == 1
    stranger = ec.generate_private_key(ec.SECP256R1())

    def random_kid_token() -> str:
        return jwt.encode(claims(), stranger, algorithm="ES256", headers={"kid": uuid.uuid4().hex})

    clock.now += 31  # past the 30 s between refreshes
    assert "unknown key" in (await refused(v, random_kid_token())).message
    assert server.hits == 2  # one refresh for the unknown kid
    for _ in range(20):  # an attacker's random kids: no more fetches
        await refused(v, random_kid_token())
    clock.now += 29
    await refused(v, random_kid_token())
    assert server.hits == 2
    clock.now += 2
    await refused(v, random_kid_token())
    assert server.hits == 3


async def test_rotation_a_new_key_is_picked_up(server: JwksServer, keys: Keys) -> None:
    old = keys.add("ES256")
    clock = Clock()
    v = url_verifier(server.url, clock)
    await v.caller_from_token(keys.sign(old))
    new = keys.add("RS256")  # published after start, then used to sign
    clock.now += 31
    assert (await v.caller_from_token(keys.sign(new, claims(sub="after-rotation")))).user_id == "after-rotation"
    assert server.hits == 2
    assert (await v.caller_from_token(keys.sign(old))).user_id == "u-1"  # both keys are known
    # The old key is withdrawn: once the cache expires, its tokens are refused.
    keys.published = [k for k in keys.published if k["kid"] != old]
    clock.now += 601
    await refused(v, keys.sign(old))
    assert server.hits == 3
    assert (await v.caller_from_token(keys.sign(new))).user_id == "u-1"


async def test_rotation_in_a_jwks_file(tmp_path: Path, keys: Keys) -> None:
    old = keys.add("ES256")
    clock = Clock()
    path = tmp_path / "jwks.json"
    v = file_verifier(path, keys, clock)
    await v.caller_from_token(keys.sign(old))
    new = keys.add("ES256")
    path.write_text(json.dumps(keys.jwks()))
    await refused(v, keys.sign(new))  # within 30 s of the last read: not read again
    clock.now += 31
    assert (await v.caller_from_token(keys.sign(new))).user_id == "u-1"


async def test_expired_cache_is_refetched(server: JwksServer, keys: Keys) -> None:
    kid = keys.add("ES256")
    clock = Clock()
    v = url_verifier(server.url, clock, cache_seconds=60)
    await v.caller_from_token(keys.sign(kid))
    clock.now += 59
    await v.caller_from_token(keys.sign(kid))
    assert server.hits == 1
    clock.now += 2
    await v.caller_from_token(keys.sign(kid))
    assert server.hits == 2


async def test_jwks_down_is_service_unavailable_and_logged(keys: Keys, caplog: pytest.LogCaptureFixture) -> None:
    kid = keys.add("ES256")
    down = f"http://127.0.0.1:{free_port()}/jwks.json"  # nothing listens there
    v = url_verifier(down)
    with caplog.at_level(logging.WARNING, logger="app.auth"):
        caught = await refused(v, keys.sign(kid), ServiceUnavailable)
    assert caught.code is ErrorCode.SERVICE_UNAVAILABLE and "try again" in caught.message
    assert any("could not load the signing keys" in r.getMessage() and down in r.getMessage() for r in caplog.records)
    # HS256 tokens do not need the JWKS: they still work.
    assert (await v.caller_from_token(hs256(claims()))).user_id == "u-1"


async def test_jwks_errors_and_retry(server: JwksServer, keys: Keys) -> None:
    kid = keys.add("ES256")
    clock = Clock()
    server.status = 503
    v = url_verifier(server.url, clock)
    await refused(v, keys.sign(kid), ServiceUnavailable)
    await refused(v, keys.sign(kid), ServiceUnavailable)
    assert server.hits == 1  # failures are retried after a pause, not on every request
    server.status = 200
    clock.now += 6
    assert (await v.caller_from_token(keys.sign(kid))).user_id == "u-1"
    assert server.hits == 2
    # Once known, the keys outlive an outage: a stale cache whose refresh fails still serves.
    server.status = 500
    clock.now += 601
    assert (await v.caller_from_token(keys.sign(kid))).user_id == "u-1"
    assert server.hits == 3
    # ... while a kid it never knew, during the outage, is our outage rather than a bad token.
    other = keys.add("ES256")
    clock.now += 31
    await refused(v, keys.sign(other), ServiceUnavailable)


async def test_slow_jwks_times_out_without_blocking_the_event_loop(server: JwksServer, keys: Keys) -> None:
    kid = keys.add("ES256")
    server.delay = 1.5
    v = url_verifier(server.url, timeout_seconds=0.5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    try:
        await refused(v, keys.sign(kid), ServiceUnavailable)
    finally:
        task.cancel()
    elapsed = time.perf_counter() - started
    assert elapsed < 1.2, elapsed  # the timeout, not the server's 1.5 s
    assert ticks >= 10, ticks  # the loop kept running while the fetch waited in a thread


async def test_bad_token_on_public_query_still_answers_but_me_refuses(gql) -> None:
    body = await gql('{ pattern(slug: "right-triangle") { slug } me { id } }', token="garbage")
    assert body["data"]["pattern"] == {"slug": "right-triangle"}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_service_role_token_is_forbidden_over_http(gql) -> None:
    token = hs256(claims(role="service_role", sub=None, aud=None, iss="supabase"))
    body = await gql('{ pattern(slug: "right-triangle") { slug } me { id } }', token=token)
    assert body["data"]["pattern"] == {"slug": "right-triangle"}  # read as anyone would
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


# --- a subscription ends when its token does ----------------------------------------------------


async def test_events_stop_with_unauthenticated_at_the_expiry() -> None:
    closed = asyncio.Event()

    async def events():
        try:
            yield 1
            await asyncio.sleep(3600)
            yield 2
        finally:
            closed.set()

    got = []
    started = time.monotonic()
    with pytest.raises(Unauthenticated) as caught:
        async for event in until_token_expires(events(), time.time() + 0.3):
            got.append(event)
    assert got == [1] and caught.value.message == EXPIRED_MESSAGE and closed.is_set()
    assert 0.2 < time.monotonic() - started < 2


async def test_events_pass_through_without_expiry_or_before_it() -> None:
    async def events():
        for n in range(3):
            yield n

    assert [e async for e in until_token_expires(events(), None)] == [0, 1, 2]
    assert [e async for e in until_token_expires(events(), time.time() + 60)] == [0, 1, 2]
    with pytest.raises(Unauthenticated):
        [e async for e in until_token_expires(events(), time.time() - 1)]
