"""Tokens: Supabase-shaped HS256 JWTs; bad ones are refused with UNAUTHENTICATED."""

from __future__ import annotations

import time

import jwt
import pytest
from pydantic import SecretStr

from app.auth import TokenVerifier, load_or_create_dev_secret, mint_token
from core.errors import Unauthenticated
from tests.helpers import TEST_SECRET, make_settings


def test_valid_token_gives_the_subject() -> None:
    verifier = TokenVerifier(SecretStr(TEST_SECRET), "authenticated")
    caller = verifier.caller_from_header("Bearer " + mint_token(TEST_SECRET, user_id="u-1", display_name="Ada"))
    assert caller.user_id == "u-1" and caller.display_name == "Ada"
    assert verifier.caller_from_header(None).user_id is None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer " + mint_token("another-secret-another-secret-another", user_id="u"),
        "Bearer " + mint_token(TEST_SECRET, user_id="u", audience="someone-else"),
        "Bearer " + mint_token(TEST_SECRET, user_id="u", ttl_seconds=-3600),
        "Bearer " + jwt.encode({"sub": "u", "aud": "authenticated", "exp": int(time.time()) + 60}, "",
                               algorithm="none"),
        "Bearer " + jwt.encode({"aud": "authenticated", "exp": int(time.time()) + 60}, TEST_SECRET),
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_bad_tokens_are_refused(header: str) -> None:
    with pytest.raises(Unauthenticated):
        TokenVerifier(SecretStr(TEST_SECRET), "authenticated").caller_from_header(header)


def test_dev_secret_is_created_once_and_private(tmp_path) -> None:
    settings = make_settings("postgresql://unused", tmp_path, supabase_jwt_secret=None)
    first = load_or_create_dev_secret(None, settings.jwt_secret_file)
    again = load_or_create_dev_secret(None, settings.jwt_secret_file)
    assert again.get_secret_value() == first.get_secret_value() and len(first.get_secret_value()) >= 32
    assert TEST_SECRET not in repr(settings) and "**" in repr(make_settings("postgresql://unused", tmp_path))
    assert settings.jwt_secret_file.stat().st_mode & 0o077 == 0


async def test_bad_token_on_public_query_still_answers_but_me_refuses(gql) -> None:
    body = await gql('{ pattern(slug: "right-triangle") { slug } me { id } }', token="garbage")
    assert body["data"]["pattern"] == {"slug": "right-triangle"}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
