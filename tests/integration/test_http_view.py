"""The usual POST answered without Strawberry's dispatch (app/graphql_view.py
`_answer_plain_post`) answers exactly what Strawberry's whole way answers, and anything else
still goes that way."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from app.graphql_view import GraphQLApp
from tests.helpers import token_for

JSON = {"content-type": "application/json"}
CATALOG = "{ patterns(first: 3) { edges { node { id slug name difficulty preview stats { attempts } } } } }"
TWO_OPERATIONS = "query A { __typename } query B { patterns(first: 1) { totalCount } }"
USER = "00000000-0000-4000-8000-00000000abcd"

# (what it is, headers, body, whether the plain answer takes it)
REQUESTS: list[tuple[str, dict[str, str], bytes, bool]] = [
    ("catalog", JSON, json.dumps({"query": CATALOG}).encode(), True),
    ("signed in", {**JSON, "authorization": f"Bearer {token_for(USER)}"},
     json.dumps({"query": "{ me { id points } progress { attempts pattern { name } } }"}).encode(), True),
    ("charset", {"content-type": "application/json; charset=utf-8"}, json.dumps({"query": "{ __typename }"}).encode(),
     True),
    ("type in capitals", {"content-type": "Application/JSON"}, json.dumps({"query": "{ __typename }"}).encode(), False),
    ("operation name", JSON, json.dumps({"query": TWO_OPERATIONS, "operationName": "B"}).encode(), True),
    ("no operation name", JSON, json.dumps({"query": TWO_OPERATIONS}).encode(), True),
    ("variables", JSON, json.dumps({"query": "query($f: Int) { patterns(first: $f) { totalCount } }",
                                    "variables": {"f": 2}}).encode(), True),
    ("validation error", JSON, json.dumps({"query": "{ nope }"}).encode(), True),
    ("syntax error", JSON, json.dumps({"query": "{ patterns("}).encode(), True),
    ("bad token", {**JSON, "authorization": "Bearer not-a-token"}, json.dumps({"query": "{ me { id } }"}).encode(),
     True),
    ("mutation, anonymous", JSON, json.dumps({"query": 'mutation { createGroup(name: "x") { id } }'}).encode(), True),
    ("subscription over POST", JSON,
     json.dumps({"query": 'subscription { analysisUpdates(analysisId: "1") { stage } }'}).encode(), True),
    ("no query", JSON, json.dumps({"variables": {}}).encode(), True),
    ("persisted query unknown", JSON, json.dumps({"extensions": {"persistedQuery": {
        "version": 1, "sha256Hash": hashlib.sha256(b"{ __typename }").hexdigest()}}}).encode(), True),
    ("not JSON", JSON, b"{nope", True),
    ("JSON null", JSON, b"null", False),
    ("a batch", JSON, json.dumps([{"query": "{ __typename }"}, {"query": "{ __typename }"}]).encode(), False),
    ("query not a string", JSON, json.dumps({"query": 42}).encode(), False),
    ("variables not an object", JSON, json.dumps({"query": "{ __typename }", "variables": [1]}).encode(), False),
    ("other content type", {"content-type": "text/plain"}, json.dumps({"query": "{ __typename }"}).encode(), False),
    ("streaming asked for", {**JSON, "accept": "multipart/mixed"},
     json.dumps({"query": "{ __typename }"}).encode(), False),
]


async def answer(client: httpx.AsyncClient, headers: dict[str, str], body: bytes) -> tuple[int, str, Any]:
    response = await client.post("/graphql", headers=headers, content=body)
    media = response.headers.get("content-type", "")
    return response.status_code, media, response.json() if media.startswith("application/json") else response.text


@pytest.mark.parametrize(("headers", "body", "plain"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS])
async def test_the_plain_answer_is_strawberrys_answer(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
                                                       headers: dict[str, str], body: bytes, plain: bool) -> None:
    taken: list[bool] = []
    answer_plain_post = GraphQLApp._answer_plain_post

    async def watched(self: GraphQLApp, request: Any) -> Any:
        response = None
        try:
            response = await answer_plain_post(self, request)
        except Exception:
            response = "raised"  # the view's own HTTPException (a 400), raised on the plain way
            raise
        finally:
            taken.append(response is not None)
        return response

    monkeypatch.setattr(GraphQLApp, "_answer_plain_post", watched)
    got = await answer(client, headers, body)
    assert taken == [plain]

    async def never(self: GraphQLApp, request: Any) -> None:
        return None

    monkeypatch.setattr(GraphQLApp, "_answer_plain_post", never)
    assert got == await answer(client, headers, body)
