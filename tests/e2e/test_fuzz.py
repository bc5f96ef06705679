"""Schema-driven fuzzing of the whole GraphQL API (issue #10).

hypothesis-graphql writes queries and mutations from the schema the server serves: valid ones and
ones with exactly one schema violation (its NEGATIVE mode). It has no subscription strategy, so the
Subscription root's fields are offered to it as a query root and the operation is then turned into
a subscription, sent over a real WebSocket (both subprotocols). Arguments are literals or, as
clients write them, variables; IDs, Ints, Floats and Strings mix random values with real ids,
boundaries, cursors, slugs and programs. Hostile variable values (ints beyond Int32, NaN and
Infinity, NUL bytes, lone surrogates, wrong shapes) and hostile HTTP requests (broken JSON, JSON of
every type, wrong content types, random bytes, token soup, deep nesting, batches, GET) are generated
too. Every request goes over HTTP (httpx's ASGI transport) to the real app on a real PostgreSQL,
the real sandbox and tiny real models, with no token, a valid one or a bad one.

Properties of every response: never 5xx; the body is JSON; every error has `extensions.code` from
the client contract and it is never INTERNAL_SERVER_ERROR; no message leaks a traceback, SQL, file
paths, the driver's name or the JWT secret (unless the request itself contained that text: messages
may quote the caller's input).

Budget: FUZZ_EXAMPLES cases in all (default 2500, about two to three minutes on two cores), shared
among the tests below. Runs are derandomized (the same cases every run) unless FUZZ_SEED is set:
    FUZZ_EXAMPLES=20000 FUZZ_SEED=7 pytest -s tests/e2e/test_fuzz.py
The count of cases per outcome (data, or the error codes seen) is printed at the end of the module.

Each bug the fuzzer found is kept as a plain regression case (REGRESSIONS, below), with the
outcome it must have now that it is fixed.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import dataclasses
import json
import logging
import os
import random
import time
import traceback
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
import websockets
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from app.auth import mint_token
from core.settings import Settings
from resolvers.schema import schema as app_schema
from resolvers.types import encode_cursor
from tests.helpers import REPO_ROOT, TEST_SECRET, make_settings, token_for
from tests.live_server import live_server

pytestmark = pytest.mark.db

# --- Budget ------------------------------------------------------------------------------------

TOTAL_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 2500)
FUZZ_SEED = os.environ.get("FUZZ_SEED")
# Development: record violations and go on (one line each at the end) instead of stopping at the first.
KEEP_GOING = os.environ.get("FUZZ_KEEP_GOING") == "1"
SHARES = {
    "queries": 0.30,
    "queries_negative": 0.12,
    "mutations": 0.11,
    "mutations_negative": 0.08,
    "hostile_variables": 0.16,
    "raw_requests": 0.15,
    "subscriptions": 0.08,
}


def fuzz(name: str) -> Callable[[Any], Any]:
    """Hypothesis settings for one fuzz test: its share of the budget, reproducible."""
    examples = max(10, round(TOTAL_EXAMPLES * SHARES[name]))

    def decorate(test: Any) -> Any:
        test = hypothesis_settings(
            max_examples=examples,
            deadline=None,
            derandomize=FUZZ_SEED is None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            print_blob=True,
        )(test)
        return seed(int(FUZZ_SEED))(test) if FUZZ_SEED else test

    return decorate


# --- The contract's properties -----------------------------------------------------------------

CONTRACT_CODES = frozenset({
    "BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "RATE_LIMITED", "QUERY_TOO_COMPLEX",
    "SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR",
})
# Text that must never reach a caller unless the caller sent it (messages may quote input).
LEAK_MARKERS = ("Traceback", 'File "', "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "/site-packages/", '.py"',
                ".py:", "asyncpg", "psycopg", "pg_catalog", "postgresql://", TEST_SECRET)


def echo_text(*parts: Any) -> str:
    """Everything the caller sent, as text, lowercased: messages may quote it."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, bytes):
            out.append(value.decode("utf-8", "replace"))
        elif isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif value is not None:
            out.append(str(value))

    walk(parts)
    return "\n".join(out).lower()


def leaks(message: str, echo: str) -> list[str]:
    lowered = message.lower()
    return [m for m in LEAK_MARKERS if m.lower() in lowered and m.lower() not in echo]


def error_problems(errors: Any, echo: str) -> tuple[list[str], list[str]]:
    """(codes, problems) of a GraphQL `errors` list."""
    codes: list[str] = []
    problems: list[str] = []
    if errors is None:
        return codes, problems
    if not isinstance(errors, list) or not errors:
        return codes, [f"`errors` is not a non-empty list: {errors!r}"]
    for error in errors:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            problems.append(f"malformed error: {error!r}")
            continue
        extensions = error.get("extensions")
        code = extensions.get("code") if isinstance(extensions, dict) else None
        codes.append(str(code))
        if code not in CONTRACT_CODES:
            problems.append(f"error without a contract code: {error!r}")
        elif code == "INTERNAL_SERVER_ERROR":
            problems.append(f"INTERNAL_SERVER_ERROR: {error!r}")
        found = leaks(error["message"], echo) + leaks(json.dumps(extensions), echo)
        if found:
            problems.append(f"error leaks {found}: {error!r}")
    return codes, problems


def result_problems(payload: Any, echo: str) -> tuple[str, list[str]]:
    """(outcome label, problems) of one GraphQL result (or a batch of them)."""
    if isinstance(payload, list):
        labels, problems = [], []
        for item in payload:
            label, item_problems = result_problems(item, echo)
            labels.append(label)
            problems += item_problems
        return "batch[" + ",".join(sorted(set(labels))) + "]", problems
    if not isinstance(payload, dict) or not ({"data", "errors"} & payload.keys()):
        return "not-graphql", [f"not a GraphQL result: {payload!r}"[:500]]
    codes, problems = error_problems(payload.get("errors"), echo)
    return ("+".join(sorted(set(codes))) if codes else "data"), problems


# --- Outcomes ----------------------------------------------------------------------------------

OUTCOMES: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
FAILURES: dict[str, str] = {}  # FUZZ_KEEP_GOING: the first full report of each kind of violation


@pytest.fixture(scope="module", autouse=True)
def outcome_report(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"fuzz: {sum(sum(c.values()) for c in OUTCOMES.values())} cases in {time.monotonic() - started:.1f} s"
             f" (FUZZ_EXAMPLES={TOTAL_EXAMPLES}, {'seed ' + FUZZ_SEED if FUZZ_SEED else 'derandomized'})"]
    for test, counter in OUTCOMES.items():
        lines.append(f"  {test}: {sum(counter.values())} cases")
        lines += [f"    {count:6d}  {label}" for label, count in counter.most_common()]
    lines += [f"\n{report}" for report in FAILURES.values()]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
        if reporter is not None:
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)
        else:  # pragma: no cover
            print("\n".join(lines))
    assert not FAILURES, f"{len(FAILURES)} kinds of fuzz property violations (FUZZ_KEEP_GOING): see above"


# --- Exceptions behind a response --------------------------------------------------------------


class ExceptionLog(logging.Handler):
    """Exceptions the server logged (masked errors) or raised out of the app, for failure messages
    (the signatures that name where each was raised)."""

    LOGGERS = ("resolvers", "app", "strawberry", "uvicorn.error", "starlette")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.exceptions: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.LOGGERS) and record.exc_info and record.exc_info[1] is not None:
            self.exceptions.append(record.exc_info[1])

    def take(self) -> list[str]:
        found, self.exceptions = self.exceptions, []
        return [signature(e) for e in found]


def signature(exc: BaseException) -> str:
    """`Type at ours.py:function (raised in lib.py:function): message`, with our innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f.filename.startswith(str(REPO_ROOT)) and "/.venv/" not in f.filename]
    where = f"{Path(ours[-1].filename).relative_to(REPO_ROOT)}:{ours[-1].name}" if ours else "?"
    raised = f" (raised in {Path(frames[-1].filename).name}:{frames[-1].name})" if frames and frames[-1] not in ours else ""
    return f"{type(exc).__name__} at {where}{raised}: {str(exc)[:200]}"


class RecordingApp:
    """The ASGI app, recording what escapes it (httpx turns that into a 500 response)."""

    def __init__(self, app: Any, log: ExceptionLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.log.exceptions.append(exc)
            raise


# --- The app under test ------------------------------------------------------------------------

RIGHT_TRIANGLE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"
PROGRAMS = (
    RIGHT_TRIANGLE,
    "for i in range(1, 5):\n    print('*' * i)\n",
    "print('*')\n",
    "print(",
    "while True:\n    pass\n",
    "import os\nos.system('ls /')\n",
    "import socket\nsocket.socket().connect(('127.0.0.1', 5432))\n",
    "raise SystemExit(3)\n",
    "print(input() * 3)\n",
    "print('x' * 10**6)\n",
    "print('\\x00nul\\x00')\n",
    "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x00\\n')\n",
    "print('SELECT * FROM attempts; Traceback File \"/x.py\"')\n",
    "def f():\n    return f()\nf()\n",
    "x = [0] * 10**9\n",
    "print('\\N{GRINNING FACE}' * 3)\n",
    "# only a comment\n",
    "",
    "\t\n  \n",
    "n = int(input())\n" + "for i in range(n):\n    " * 30 + "print(i)\n",
    "𝕡𝕣𝕚𝕟𝕥('*')",
)
WEIRD_TEXT = (
    "", " ", "\x00", "a\x00b", "%", "_", "\\", "'", '"', "' OR 1=1 --", "'; DROP TABLE patterns; --",
    "SELECT 1", "${x}", "{{x}}", "../../etc/passwd", "\u202e", "\ufeff", "\U0010ffff", "\u0085", "\r\n",
    "star", "triangle", "diamond", "pyramid", "butterfly", "number", "stars", "TRIANGLE", "tri%", "x" * 501,
    "a" * 5000, "é" * 300,
)
WEIRD_IDS = (
    "", " ", "0", "-1", "00001", " 1 ", "1 ", "+1", "1e3", "1.0", "1_000", "0x1", "²", "¹²", "١", "１", "৩",
    "9" * 18, "9" * 19, "9" * 40, "NaN", "null", "true", "[]", "{}", "\x00", "1\x00", "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff", "urn:uuid:00000000-0000-0000-0000-000000000000", "{00000000-0000-0000-0000-000000000000}",
    "00000000000000000000000000000000", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "x" * 300,
)
MIN_INT, MAX_INT = -(2**31), 2**31 - 1


@dataclasses.dataclass
class World:
    """What the fuzzed requests may name: real ids, a learner with data, tokens."""

    owner_id: str
    owner_token: str
    pattern_ids: list[str]
    slugs: list[str]
    categories: list[str]
    analysis_ids: list[str]  # the owner's
    foreign_analysis_ids: list[str]  # someone else's
    attempt_ids: list[str]


@dataclasses.dataclass
class Harness:
    http: httpx.AsyncClient
    log: ExceptionLog
    world: World
    gschema: graphql.GraphQLSchema
    strategies: dict[Any, st.SearchStrategy[Any]] = dataclasses.field(default_factory=dict)


@pytest.fixture(scope="session")
def tiny_embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_models import build_tiny_embedding_model

    return build_tiny_embedding_model(tmp_path_factory.mktemp("fuzz-embedding"))


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tiny_generator: Path, tiny_embedder: Path) -> Settings:
    # Tiny real models (semantic search and analyses' prose run for real), the real sandbox with
    # short limits, and no rate limits (they would answer most cases with RATE_LIMITED).
    return make_settings(
        database_url, tmp_path,
        models_enabled=True, models_preload=False, model_device="cpu",
        embedding_model=str(tiny_embedder), generation_model=str(tiny_generator), generation_max_new_tokens=8,
        analysis_workers=2, sandbox_cpu_seconds=1.0, sandbox_wall_seconds=2.0,
        rate_limit_submit_per_minute=0, rate_limit_analysis_per_minute=0, rate_limit_search_per_minute=0,
    )


async def _post(http: httpx.AsyncClient, query: str, variables: dict | None = None, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def build_world(http: httpx.AsyncClient) -> World:
    catalog = await _post(http, "{ patterns(first: 100) { edges { node { id slug category } } } }")
    nodes_ = [e["node"] for e in catalog["patterns"]["edges"]]
    triangle = next(n["id"] for n in nodes_ if n["slug"] == "right-triangle")
    owner_id = str(uuid.uuid4())
    owner = token_for(owner_id, display_name="Fuzz Owner")
    submit = """mutation($i: SubmitAttemptInput!) { submitAttempt(input: $i) { attempt { id } analysis { id } } }"""
    request = "mutation($i: RequestAnalysisInput!) { requestAnalysis(input: $i) { id } }"
    submitted = (await _post(http, submit, {"i": {"patternId": triangle, "code": RIGHT_TRIANGLE}}, owner))["submitAttempt"]
    requested = (await _post(http, request, {"i": {"patternId": triangle, "code": "print('*')\n", "kind": "COMPLEXITY"}},
                             owner))["requestAnalysis"]
    await _post(http, f'mutation {{ saveProgress(input: {{patternId: "{nodes_[1]["id"]}", progressPercentage: 40}}) '
                '{ attempts } }', token=owner)
    foreign = (await _post(http, request, {"i": {"patternId": triangle, "code": "print('**')\n"}},
                           token_for()))["requestAnalysis"]
    analysis_ids = [submitted["analysis"]["id"], requested["id"]]
    # Let the analyses finish, so subscriptions to them end.
    deadline = time.monotonic() + 60
    for analysis_id in analysis_ids:
        while True:
            status = (await _post(http, "query($id: ID!) { analysis(id: $id) { status } }", {"id": analysis_id},
                                  owner))["analysis"]["status"]
            if status in ("DONE", "FAILED") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    return World(
        owner_id=owner_id,
        owner_token=owner,
        pattern_ids=[n["id"] for n in nodes_],
        slugs=[n["slug"] for n in nodes_],
        categories=sorted({n["category"] for n in nodes_}),
        analysis_ids=analysis_ids,
        foreign_analysis_ids=[foreign["id"]],
        attempt_ids=[submitted["attempt"]["id"]],
    )


@pytest.fixture
async def harness(services: Any) -> AsyncIterator[Harness]:
    from app.server import create_app

    log = ExceptionLog()
    logging.getLogger().addHandler(log)
    app = RecordingApp(create_app(services.settings, services), log)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
            world = await build_world(http)
            log.take()
            yield Harness(http=http, log=log, world=world, gschema=graphql.build_schema(app_schema.as_str()))
    finally:
        logging.getLogger().removeHandler(log)


# --- Value strategies --------------------------------------------------------------------------

# The alphabet hypothesis-graphql uses (NUL included); lone surrogates cannot be written in a
# document's string literal, they come through variables below.
TEXT = st.text(st.characters(codec="utf-8", max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=40)
INTS = st.one_of(
    st.integers(-3, 120),
    st.sampled_from([0, 1, -1, 20, 100, 101, 50, 51, 86400, 86401, MIN_INT, MAX_INT]),
    st.integers(MIN_INT, MAX_INT),
)
FLOATS = st.one_of(
    st.floats(-1, 101),
    st.sampled_from([0.0, 100.0, 100.0001, -0.0, -1e-300, 5e-324, 1.7976931348623157e308, -1e308]),
    st.floats(allow_nan=False, allow_infinity=False),
)


def scalar_strategies(world: World, analyses_first: bool = False) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Builtin scalars, biased towards values that reach deep into the resolvers (`analyses_first`:
    IDs are mostly the owner's analyses, for subscriptions)."""
    cursors = [encode_cursor(k) for k in (0, 1, 5, 42, 10**6, -1)] + [
        base64.urlsafe_b64encode(b"attempt:1").decode(), base64.urlsafe_b64encode(b"pattern:x").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(), "not base64!", "cGF0dGVybjox", "====",
    ]
    owned = st.sampled_from(world.analysis_ids).map(nodes.String)
    return {
        "ID": st.one_of(
            *([owned] * (4 if analyses_first else 0)),
            st.sampled_from(world.pattern_ids).map(nodes.String),
            st.sampled_from(world.analysis_ids + world.foreign_analysis_ids + world.attempt_ids).map(nodes.String),
            st.sampled_from([int(i) for i in world.pattern_ids[:5]] + [0, -1, MAX_INT]).map(nodes.Int),
            st.sampled_from(WEIRD_IDS).map(nodes.String),
            st.uuids().map(nodes.String),
            TEXT.map(nodes.String),
        ),
        "Int": INTS.map(nodes.Int),
        "Float": FLOATS.map(nodes.Float),
        "String": st.one_of(
            TEXT,
            st.sampled_from(WEIRD_TEXT),
            st.sampled_from(PROGRAMS),
            st.sampled_from(world.slugs + world.categories + cursors),
            st.builds(lambda a, b: f"{a}\x00{b}", TEXT, TEXT),
            st.text(max_size=600),
        ).map(nodes.String),
    }


def subscription_schema(gschema: graphql.GraphQLSchema) -> graphql.GraphQLSchema:
    """The Subscription root offered as a query root (hypothesis-graphql only writes queries and
    mutations); `as_subscription` turns the documents back."""
    assert gschema.subscription_type is not None
    return graphql.GraphQLSchema(query=gschema.subscription_type)


def as_subscription(document: graphql.DocumentNode) -> graphql.DocumentNode:
    return graphql.DocumentNode(definitions=tuple(
        dataclasses.replace(d, operation=graphql.OperationType.SUBSCRIPTION)
        if isinstance(d, graphql.OperationDefinitionNode) else d
        for d in document.definitions
    ))


def type_node(type_: graphql.GraphQLInputType) -> graphql.TypeNode:
    if isinstance(type_, graphql.GraphQLNonNull):
        return graphql.NonNullTypeNode(type=type_node(type_.of_type))  # type: ignore[arg-type]
    if isinstance(type_, graphql.GraphQLList):
        return graphql.ListTypeNode(type=type_node(type_.of_type))
    return graphql.NamedTypeNode(name=graphql.NameNode(value=type_.name))  # type: ignore[union-attr]


def with_variables(
    gschema: graphql.GraphQLSchema, document: graphql.DocumentNode, choose: Callable[[], bool]
) -> tuple[graphql.DocumentNode, dict[str, Any]]:
    """Move the arguments `choose` picks into variables, declared with the argument's type."""
    type_info = graphql.TypeInfo(gschema)
    variables: dict[str, Any] = {}
    definitions: list[graphql.VariableDefinitionNode] = []

    class Parametrize(graphql.Visitor):
        def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
            argument = type_info.get_argument()
            if argument is None or isinstance(node.value, graphql.VariableNode) or not choose():
                return None
            name = f"v{len(variables)}"
            variables[name] = graphql.value_from_ast_untyped(node.value)
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            definitions.append(graphql.VariableDefinitionNode(variable=variable, type=type_node(argument.type)))
            return graphql.ArgumentNode(name=node.name, value=variable)

    edited = graphql.visit(document, graphql.TypeInfoVisitor(type_info, Parametrize()))
    if not definitions:
        return document, {}
    operations = [d for d in edited.definitions if isinstance(d, graphql.OperationDefinitionNode)]
    assert len(operations) == 1
    operation = dataclasses.replace(
        operations[0], variable_definitions=(*operations[0].variable_definitions, *definitions)
    )
    return graphql.DocumentNode(definitions=tuple(
        operation if d is operations[0] else d for d in edited.definitions
    )), variables


def bad_token(kind: str) -> str:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 600}

    def unsigned(header: dict, payload: dict) -> str:
        part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{part(header)}.{part(payload)}."

    return {
        "expired": lambda: token_for(ttl_seconds=-3600),
        "wrong-secret": lambda: mint_token("another-secret-another-secret-0123456789"),
        "wrong-audience": lambda: token_for(audience="anon"),
        "alg-none": lambda: unsigned({"alg": "none", "typ": "JWT"}, claims),
        "non-uuid-sub": lambda: token_for("not-a-uuid"),
        "long-sub": lambda: token_for("x" * 129),
        "sub-with-nul": lambda: token_for("a\x00b"),
        "truncated": lambda: token_for()[:-5],
    }[kind]()


@st.composite
def auth_headers(draw: st.DrawFn, world: World, signed_in: bool = False) -> dict[str, str]:
    """No token, the owner's or a new learner's, or a bad one; `signed_in`: mostly valid ones."""
    kinds = ("owner", "owner", "owner", "fresh", "fresh", "none", "garbage", "bad", "header") if signed_in else (
        "none", "owner", "owner", "fresh", "garbage", "bad", "header")
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return {}
    if kind == "owner":
        return {"Authorization": f"Bearer {world.owner_token}"}
    if kind == "fresh":
        return {"Authorization": f"Bearer {token_for()}"}
    if kind == "bad":
        kinds = ("expired", "wrong-secret", "wrong-audience", "alg-none", "non-uuid-sub", "long-sub", "sub-with-nul",
                 "truncated")
        return {"Authorization": f"Bearer {bad_token(draw(st.sampled_from(kinds)))}"}
    printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
    if kind == "garbage":
        return {"Authorization": f"Bearer {draw(printable)}"}
    return {"Authorization": draw(st.sampled_from(["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "bearer  x.y.z", "Token x"])
                                  | printable)}


# --- Sending and checking ----------------------------------------------------------------------


@dataclasses.dataclass
class Request:
    body: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    method: str = "POST"
    params: dict[str, str] | None = None
    content_type: str | None = "application/json"
    echo: str = ""

    def describe(self) -> str:
        shown = self.body.decode("utf-8", "replace")[:3000] if self.body is not None else ""
        return (f"{self.method} /graphql params={self.params!r} content-type={self.content_type!r} "
                f"headers={self.headers!r}\nbody: {shown}")


@dataclasses.dataclass(frozen=True)
class RawJSON:
    """JSON text put into a body as it is: nesting deeper than this process's json could write."""

    text: str

    def __str__(self) -> str:
        return self.text[:100]


def dumps(payload: Any) -> str:
    """json.dumps, with RawJSON values spliced in; NaN and Infinity are written as such (not JSON,
    but what many clients send), lone surrogates are escaped."""
    raws: list[str] = []

    def default(value: Any) -> Any:
        if isinstance(value, RawJSON):
            raws.append(value.text)
            return f"\x01raw{len(raws) - 1}\x01"
        raise TypeError(type(value).__name__)

    text = json.dumps(payload, default=default)
    for index, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x01raw{index}\x01"), raw)
    return text


def graphql_request(query: str, variables: dict | None, headers: dict[str, str], **extra: Any) -> Request:
    payload: dict[str, Any] = {"query": query, **extra}
    if variables is not None:
        payload["variables"] = variables
    return Request(body=dumps(payload).encode(), headers=headers, echo=echo_text(payload, headers))


async def check(harness: Harness, test: str | None, request: Request) -> str:
    """Send `request` and assert the properties; returns the outcome label, counted under `test`."""
    harness.log.take()
    headers = dict(request.headers)
    if request.content_type is not None:
        headers["Content-Type"] = request.content_type
    headers.setdefault("Accept", "application/json")
    if request.method == "GET":
        response = await harness.http.get("/graphql", params=request.params, headers=headers)
    else:
        response = await harness.http.request(request.method, "/graphql", content=request.body, headers=headers)
    signatures = harness.log.take()
    problems: list[str] = []
    label = f"http {response.status_code}"
    if response.status_code >= 500:
        problems.append(f"HTTP {response.status_code}")
    try:
        payload = response.json()
    except ValueError:
        problems.append(f"the body is not JSON ({response.headers.get('content-type')}): {response.text[:300]!r}")
        payload = None
    if payload is not None:
        result_label, result_problems_ = result_problems(payload, request.echo)
        label = result_label if response.status_code == 200 else f"{label} {result_label}"
        problems += result_problems_
    if problems:
        label = violation(test, problems, signatures, [
            "request:", request.describe(), f"response {response.status_code}: {response.text[:2000]}",
        ])
    if test is not None:
        OUTCOMES[test][label] += 1
    return label


def violation(test: str | None, problems: list[str], signatures: list[str], details: list[str]) -> str:
    """The outcome label of a case that broke a property under FUZZ_KEEP_GOING (a failure reported
    at the end); otherwise the test fails here."""
    message = "\n".join(["fuzz property violated:", *problems, *details, "server exceptions:",
                         *(signatures or ["none logged"])])
    if not KEEP_GOING or test is None:
        if test is not None:
            OUTCOMES[test]["FAILED"] += 1
        raise AssertionError(message)
    label = f"FAILED {problems[0][:100]!r} {signatures[0][:160] if signatures else ''}"
    FAILURES.setdefault(label, message)
    return label


@st.composite
def operation_requests(draw: st.DrawFn, harness: Harness, strategy: st.SearchStrategy[graphql.DocumentNode],
                       signed_in: bool = False) -> Request:
    """A generated document, its arguments as literals or (some or all) variables, a token."""
    document = draw(strategy)
    style = draw(st.sampled_from(("literals", "variables", "mixed")))
    rnd = draw(st.randoms(use_true_random=False))
    choose = {"literals": lambda: False, "variables": lambda: True, "mixed": lambda: rnd.random() < 0.5}[style]
    document, variables = with_variables(harness.gschema, document, choose)
    named = draw(st.booleans())
    extra: dict[str, Any] = {}
    if named:
        operation = next(d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode))
        document = graphql.DocumentNode(definitions=tuple(
            dataclasses.replace(d, name=graphql.NameNode(value="Fuzz")) if d is operation else d
            for d in document.definitions
        ))
        extra["operationName"] = "Fuzz"
    headers = draw(auth_headers(harness.world, signed_in))
    return graphql_request(graphql.print_ast(document), variables or None, headers, **extra)


def documents(harness: Harness, kind: str, mode: Mode) -> st.SearchStrategy[graphql.DocumentNode]:
    """hypothesis-graphql's documents (AST, not text) for the `query`, `mutation` or
    `subscription` root; built once per harness."""
    key = (kind, mode)
    if key not in harness.strategies:
        custom = scalar_strategies(harness.world, analyses_first=kind == "subscription")
        if kind == "subscription":
            strategy = queries(subscription_schema(harness.gschema), custom_scalars=custom, print_ast=lambda d: d,
                               mode=mode).map(as_subscription)
        else:
            make = queries if kind == "query" else mutations
            strategy = make(harness.gschema, custom_scalars=custom, print_ast=lambda d: d, mode=mode)
        harness.strategies[key] = strategy
    return harness.strategies[key]


# --- Fuzz tests: generated operations ----------------------------------------------------------


@fuzz("queries")
@given(data=st.data())
async def test_fuzz_queries(harness: Harness, data: st.DataObject) -> None:
    strategy = documents(harness, "query", Mode.POSITIVE)
    await check(harness, "queries", data.draw(operation_requests(harness, strategy)))


@fuzz("queries_negative")
@given(data=st.data())
async def test_fuzz_queries_with_a_schema_violation(harness: Harness, data: st.DataObject) -> None:
    strategy = documents(harness, "query", Mode.NEGATIVE)
    await check(harness, "queries (negative)", data.draw(operation_requests(harness, strategy)))


@fuzz("mutations")
@given(data=st.data())
async def test_fuzz_mutations(harness: Harness, data: st.DataObject) -> None:
    strategy = documents(harness, "mutation", Mode.POSITIVE)
    await check(harness, "mutations", data.draw(operation_requests(harness, strategy, signed_in=True)))


@fuzz("mutations_negative")
@given(data=st.data())
async def test_fuzz_mutations_with_a_schema_violation(harness: Harness, data: st.DataObject) -> None:
    strategy = documents(harness, "mutation", Mode.NEGATIVE)
    await check(harness, "mutations (negative)", data.draw(operation_requests(harness, strategy)))


# --- Fuzz tests: hostile variable values -------------------------------------------------------

LONE_SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\ud83db", "\udc00\ud800", "ok\ud800"])
HOSTILE_VALUES = st.one_of(
    st.integers(min_value=MAX_INT + 1) | st.integers(max_value=MIN_INT - 1),
    st.sampled_from([2**31, -(2**31) - 1, 2**53 + 1, 2**63, 2**64, 10**400, -(10**400)]),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 1.5, 0.1]),
    st.sampled_from(["\x00", "a\x00b", "\x00" * 100, "1\x00"]),
    LONE_SURROGATES,
    st.sampled_from(["", "12", "1.5", "true", "null", "NaN", "Infinity", "PYTHON", "python", "FULL ", "²"]),
    st.booleans(),
    st.none(),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | TEXT | LONE_SURROGATES,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
        max_leaves=8,
    ),
    st.integers(1, 20_000).map(lambda depth: RawJSON("[" * depth + "]" * depth)),
    st.integers(1, 20_000).map(lambda depth: RawJSON('{"a":' * depth + "1" + "}" * depth)),
    st.text(max_size=30).map(lambda s: s + "\ud800"),
)


def corrupt(value: Any, rnd: random.Random, hostile: Any) -> Any:
    """`value` with one leaf (or the whole value), one key or one list item changed."""
    if isinstance(value, dict) and value and rnd.random() < 0.8:
        key = rnd.choice(sorted(value))
        action = rnd.random()
        if action < 0.15:
            return {k: v for k, v in value.items() if k != key}  # a required field may go missing
        if action < 0.25:
            return {**value, rnd.choice(["unknownField", "__proto__", "", "patternid"]): hostile}
        return {**value, key: corrupt(value[key], rnd, hostile)}
    if isinstance(value, list) and value and rnd.random() < 0.8:
        index = rnd.randrange(len(value))
        return [corrupt(v, rnd, hostile) if i == index else v for i, v in enumerate(value)]
    return hostile


@fuzz("hostile_variables")
@given(data=st.data())
async def test_fuzz_hostile_variable_values(harness: Harness, data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(("query", "query", "mutation")))
    document = data.draw(documents(harness, kind, Mode.POSITIVE))
    document, variables = with_variables(harness.gschema, document, lambda: True)
    rnd = data.draw(st.randoms(use_true_random=False))
    if variables:
        for _ in range(data.draw(st.integers(1, 2))):
            name = rnd.choice(sorted(variables))
            variables[name] = corrupt(variables[name], rnd, data.draw(HOSTILE_VALUES))
    else:
        variables = {"unused": data.draw(HOSTILE_VALUES)}
    if data.draw(st.booleans()):
        variables[data.draw(st.sampled_from(["extra", "v99", "", "\x00", "\ud800"]))] = data.draw(HOSTILE_VALUES)
    headers = data.draw(auth_headers(harness.world, signed_in=True))
    await check(harness, "hostile variables", graphql_request(graphql.print_ast(document), variables, headers))


# --- Fuzz tests: hostile HTTP requests ---------------------------------------------------------


def soup_tokens(gschema: graphql.GraphQLSchema) -> list[str]:
    names = set()
    for type_ in gschema.type_map.values():
        names.add(type_.name)
        for field_name in getattr(type_, "fields", {}) or {}:
            names.add(field_name)
            for arg in getattr(type_.fields[field_name], "args", {}) or {}:  # type: ignore[union-attr]
                names.add(arg)
        names.update(getattr(type_, "values", {}) or {})
    punctuation = ["{", "}", "(", ")", "[", "]", ":", "$", "!", "=", "@", "|", "&", "...", ",", "#", '"', '"""', "\\",
                   "\n"]
    words = ["query", "mutation", "subscription", "fragment", "on", "null", "true", "false", "$v", "Int", "String!",
             "@include(if: true)", "@skip(if: $v)", "@defer", "@stream", "__typename", "__schema", "__type(name: \"Pattern\")",
             '"x"', '"\\u0000"', '"\\ud800"', '"\\uD83D\\uDE00"', "1", "-0", "1e999", "-1e999", "0x10", "99999999999999999999",
             "1.5", "NaN", "Infinity", "\ufeff", "\x00", "é"]
    return sorted(names) + punctuation + words


def valid_documents(world: World) -> list[str]:
    return [
        "{ patterns { totalCount edges { cursor node { id slug stats { attempts } } } pageInfo { hasNextPage } } }",
        "query Q($n: Int) { leaderboard(first: $n) { rank learnerId } }",
        f'{{ pattern(id: "{world.pattern_ids[0]}") {{ expectedOutput(size: 3) }} }}',
        "{ me { id points } progress { attempts pattern { slug } } }",
        f'mutation {{ saveProgress(input: {{patternId: "{world.pattern_ids[2]}", progressPercentage: 10}}) {{ attempts }} }}',
        f'subscription {{ analysisUpdates(analysisId: "{world.analysis_ids[0]}") {{ stage }} }}',
        "query A { me { id } } query B { progress { attempts } }",
        "{ __schema { queryType { name } } }",
        '{ searchPatterns(text: "stars") { score pattern { slug } } }',
    ]


@st.composite
def raw_requests(draw: st.DrawFn, harness: Harness) -> Request:
    world = harness.world
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
        max_leaves=10,
    )
    soup = st.lists(st.sampled_from(soup_tokens(harness.gschema)), max_size=60).map(" ".join)
    deep = st.tuples(st.sampled_from(["{ me ", "{ patterns(first: ", "[", "{ a: me ", "... on Query { "]),
                     st.integers(1, 6000)).map(lambda t: "{" + t[0] * t[1] + "}" * t[1])
    documents_ = st.one_of(st.sampled_from(valid_documents(world)), soup, TEXT, st.text(max_size=300), deep)
    kind = draw(st.sampled_from(("bytes", "truncated", "json", "request", "request", "batch", "content-type", "get")))
    headers = draw(auth_headers(world))
    content_type: str | None = "application/json"
    if kind == "bytes":
        body = draw(st.binary(max_size=400))
    elif kind == "truncated":
        full = json.dumps({"query": draw(st.sampled_from(valid_documents(world))), "variables": {"n": 1}}).encode()
        body = full[: draw(st.integers(0, len(full) - 1))]
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
    elif kind == "request":
        payload: dict[str, Any] = {"query": draw(documents_ | json_values)}
        for key in ("variables", "operationName", "extensions"):
            if draw(st.booleans()):
                payload[key] = draw(json_values | st.sampled_from(["A", "B", "Fuzz", ""]))
        body = json.dumps(payload).encode()
    elif kind == "batch":
        items = draw(st.lists(st.builds(lambda q: {"query": q}, documents_) | json_values, max_size=12))
        body = json.dumps(items).encode()
    elif kind == "content-type":
        content_type = draw(st.sampled_from([
            "text/plain", "application/graphql", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
            "multipart/form-data", "application/json; charset=latin-1", "application/json; charset=utf-16",
            "application/graphql-response+json", "", None,
        ]))
        query = draw(documents_)
        body = draw(st.sampled_from([
            json.dumps({"query": query}).encode(), query.encode("utf-8", "surrogatepass"),
            urllib.parse.urlencode({"query": query}).encode(),
            b'--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query": "{ me { id } }"}\r\n--x--\r\n',
            b'--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{bad\r\n--x\r\nContent-Disposition: '
            b'form-data; name="map"\r\n\r\n{"0": ["variables.file"]}\r\n--x--\r\n',
            json.dumps({"query": query}).encode("utf-16"),
        ]))
    else:  # GET
        params: dict[str, str] = {"query": draw(documents_)[:8000]}  # URLs have their own limits
        if draw(st.booleans()):
            params["variables"] = draw(st.sampled_from(['{"n": 1}', "{bad", "[]", "null", '"x"', "1e999"]) | TEXT)
        if draw(st.booleans()):
            params["operationName"] = draw(st.sampled_from(["A", "Fuzz"]) | TEXT)
        return Request(method="GET", params=params, headers=headers, content_type=None,
                       echo=echo_text(params, headers))
    return Request(body=body, headers=headers, content_type=content_type, echo=echo_text(body, headers))


@fuzz("raw_requests")
@given(data=st.data())
async def test_fuzz_hostile_http_requests(harness: Harness, data: st.DataObject) -> None:
    await check(harness, "hostile HTTP requests", data.draw(raw_requests(harness)))


# --- Fuzz test: subscriptions over a real WebSocket ---------------------------------------------


async def ws_exchange(address: str, protocol: str, init: Any, subscribe: str,
                      limit_seconds: float = 30.0) -> tuple[list[dict], int | None, str]:
    """Messages after connection_init until complete/error/close; the close code and reason."""
    messages: list[dict] = []
    start = "subscribe" if protocol == "graphql-transport-ws" else "start"
    try:
        async with asyncio.timeout(limit_seconds), websockets.connect(
            f"ws://{address}/graphql", subprotocols=[protocol]  # type: ignore[list-item]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", **({"payload": init} if init is not ...  else {})}))
            ack = json.loads(await ws.recv())
            messages.append(ack)
            if ack.get("type") != "connection_ack":
                return messages, ws.close_code, ws.close_reason or ""
            await ws.send(f'{{"id": "1", "type": "{start}", "payload": {subscribe}}}')
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "ka":
                    continue
                messages.append(message)
                if message.get("type") in ("complete", "error"):
                    return messages, None, ""
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
        reason = closed.rcvd.reason if closed.rcvd is not None else ""
        return messages, code, reason
    except TimeoutError:
        return messages, -1, "timed out"


@pytest.fixture
async def ws_address(services: Any, harness: Harness) -> AsyncIterator[str]:
    async with live_server(services) as address:
        yield address


@fuzz("subscriptions")
@given(data=st.data())
async def test_fuzz_subscriptions(harness: Harness, ws_address: str, data: st.DataObject) -> None:
    world = harness.world
    mode = data.draw(st.sampled_from((Mode.POSITIVE, Mode.POSITIVE, Mode.NEGATIVE)))
    document = data.draw(documents(harness, "subscription", mode))
    style = data.draw(st.sampled_from(("literals", "variables")))
    document, variables = with_variables(harness.gschema, document, lambda: style == "variables")
    if variables and data.draw(st.integers(0, 4)) == 0:
        name = sorted(variables)[0]
        variables[name] = data.draw(HOSTILE_VALUES)
    token = data.draw(st.sampled_from(("owner", "owner", "none", "fresh", "garbage", "bad")))
    value = {"owner": world.owner_token, "fresh": token_for(), "none": None, "garbage": "garbage.token.x",
             "bad": bad_token("expired")}[token]
    init = data.draw(st.sampled_from(("Authorization", "authToken", "raw", "odd")))
    payload: Any
    if value is None:
        payload = data.draw(st.sampled_from([{}, ..., None]))
    elif init == "Authorization":
        payload = {"Authorization": f"Bearer {value}"}
    elif init == "authToken":
        payload = {"authToken": value}
    elif init == "raw":
        payload = {"authorization": value}
    else:
        payload = data.draw(st.sampled_from([[value], value, {"Authorization": [value]}, {"Authorization": 5}]))
    protocol = data.draw(st.sampled_from(("graphql-transport-ws", "graphql-transport-ws", "graphql-ws")))
    subscribe = {"query": graphql.print_ast(document), "variables": variables}
    echo = echo_text(subscribe, payload if payload is not ... else None)

    harness.log.take()
    messages, close_code, reason = await ws_exchange(ws_address, protocol, payload, dumps(subscribe))
    signatures = harness.log.take()
    problems: list[str] = []
    labels: list[str] = []
    if close_code is not None:
        labels.append(f"closed {close_code}")
        if close_code in (-1, 1006, 1011) or close_code >= 4500 or (1000 < close_code < 4000):
            problems.append(f"closed with {close_code} {reason!r}")
        problems += [f"close reason leaks {found}" for found in [leaks(reason, echo)] if found]
    for message in messages:
        kind = message.get("type")
        if kind in ("next", "data"):
            label, found = result_problems(message.get("payload"), echo)
            labels.append(f"{kind}:{label}")
            problems += found
        elif kind == "error":
            errors = message.get("payload")
            errors = errors if isinstance(errors, list) else [errors]
            codes, found = error_problems(errors, echo)
            labels.append("error:" + "+".join(sorted(set(codes))))
            problems += found
        elif kind == "connection_error":
            labels.append("connection_error")
            problems += [f"connection_error leaks {found}" for found in [leaks(json.dumps(message), echo)] if found]
    outcome = " ".join(dict.fromkeys(labels)) or "nothing"
    if problems:
        outcome = violation("subscriptions", problems, signatures, [
            f"protocol {protocol}", f"connection_init payload: {payload!r}", f"subscribe: {subscribe!r}",
            f"messages: {messages!r}"[:3000], f"close: {close_code} {reason!r}",
        ])
    OUTCOMES["subscriptions"][outcome] += 1


# --- Regressions: each bug the fuzzer found, as a plain case -----------------------------------


@dataclasses.dataclass(frozen=True)
class Regression:
    id: str
    query: str = ""  # a GraphQL request (query and variables) ...
    variables: dict[str, Any] | None = None
    raw: bytes | None = None  # ... or a raw HTTP body
    token: str = "none"  # none | owner | nul-sub
    expect: str = dataclasses.field(kw_only=True)  # the outcome label wanted, on top of the properties


SUBMIT = "mutation($i: SubmitAttemptInput!) { submitAttempt(input: $i) { attempt { verdict output } } }"
REQUEST = "mutation($i: RequestAnalysisInput!) { requestAnalysis(input: $i) { id } }"
SAVE = "mutation($i: SaveProgressInput!) { saveProgress(input: $i) { attempts } }"
REGRESSIONS = [
    # resolvers/errors.py: text PostgreSQL cannot store is the caller's, never INTERNAL.
    Regression("nul-in-search", '{ patterns(search: "a\\u0000b") { totalCount } }', expect="BAD_USER_INPUT"),
    Regression("nul-in-slug", "query($s: String) { pattern(slug: $s) { id } }", {"s": "\x00"},
               expect="BAD_USER_INPUT"),
    Regression("lone-surrogate-in-category", "query($c: String) { patterns(category: $c) { totalCount } }",
               {"c": "a\ud800b"}, expect="BAD_USER_INPUT"),
    Regression("lone-surrogate-in-code", REQUEST, {"i": {"patternId": "1", "code": "print(1)\ud800"}}, token="owner",
               expect="BAD_USER_INPUT"),
    # resolvers/types.py: pattern ids are ASCII digits ("²".isdigit() is true, int("²") fails).
    Regression("superscript-pattern-id", SAVE, {"i": {"patternId": "²", "progressPercentage": 1}}, token="owner",
               expect="NOT_FOUND"),
    Regression("superscript-pattern-id-submit", SUBMIT, {"i": {"patternId": "¹²", "code": "print(1)"}},
               token="owner", expect="NOT_FOUND"),
    Regression("arabic-indic-pattern-id", SAVE, {"i": {"patternId": "\u0661", "progressPercentage": 1}},
               token="owner", expect="NOT_FOUND"),
    # resolvers/query.py: Query.pattern reads ids the same way; one that names no pattern is null.
    Regression("superscript-id-in-pattern-query", '{ pattern(id: "²") { id } }', expect="data"),
    # app/server.py: Strawberry's view read `.get` on any JSON body, and let json.loads' other
    # failures (not UTF-8, read as UTF-32, nested past the recursion limit) escape: all were 500s.
    Regression("json-null-body", raw=b"null", expect="http 400 BAD_USER_INPUT"),
    Regression("json-string-body", raw=b'"{ me { id } }"', expect="http 400 BAD_USER_INPUT"),
    Regression("json-number-body", raw=b"1.5", expect="http 400 BAD_USER_INPUT"),
    Regression("json-batch-of-non-objects", raw=b"[1, 2]", expect="http 400 BAD_USER_INPUT"),
    Regression("empty-batch", raw=b"[]", expect="http 400 BAD_USER_INPUT"),
    Regression("invalid-utf8-body", raw=b'{"query": "\xff"}', expect="http 400 BAD_USER_INPUT"),
    Regression("nul-bytes-body", raw=b"\x00\x00\x00\x00\x00", expect="http 400 BAD_USER_INPUT"),
    Regression("deeply-nested-variables",
               raw=b'{"query": "{ me { id } }", "variables": {"v": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
               expect="http 400 BAD_USER_INPUT"),
    # resolvers/schema.py: a subscription POSTed without multipart used to run as a query: INTERNAL.
    Regression("subscription-over-post", 'subscription { analysisUpdates(analysisId: "x") { stage } }',
               expect="http 400 BAD_USER_INPUT"),
    # sandbox/client.py: a NUL in a program's output is shown as U+FFFD; the submission is judged.
    Regression("program-prints-nul", SUBMIT, {"i": {"patternId": "1", "code": "print('\\x00')"}}, token="owner",
               expect="data"),
    Regression("program-prints-nul-analysis", REQUEST, {"i": {"patternId": "1", "code": "print('\\x00')"}},
               token="owner", expect="data"),
    # app/auth.py: a signed token whose `sub` holds a NUL (or any unprintable character) is refused.
    Regression("nul-in-token-subject", "{ me { id } }", token="nul-sub", expect="UNAUTHENTICATED"),
]


@pytest.mark.parametrize("case", [pytest.param(r, id=r.id) for r in REGRESSIONS])
async def test_regression(harness: Harness, case: Regression) -> None:
    token = {"none": None, "owner": harness.world.owner_token, "nul-sub": token_for("a\x00b")}[case.token]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if case.raw is not None:
        request = Request(body=case.raw, headers=headers, echo=echo_text(case.raw))
    else:
        request = graphql_request(case.query, case.variables, headers)
    label = await check(harness, None, request)
    assert label == case.expect, f"{case.id}: got {label}, wanted {case.expect}"
