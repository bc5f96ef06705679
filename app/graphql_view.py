"""The GraphQL endpoint: Strawberry's ASGI view with what this API adds around it.

- the usual request, a POST of one JSON operation, answered without Strawberry's dispatch
  around its hooks (`_answer_plain_post`);
- JSON with orjson both ways, and bodies Strawberry's view would answer with a 500 (`null`, a
  bare number, text that is not UTF-8, JSON nested past the recursion limit, an empty batch)
  answered with a 400 instead;
- automatic persisted queries (app/persisted_queries.py);
- the response cache (app/response_cache.py): a hit is sent before Strawberry sees the request;
  a cacheable miss is stored once answered; a mutation drops this process's entries at once;
- HTTP caching for GET: a cacheable answer says `Cache-Control: public, max-age=...` with an
  ETag (`If-None-Match` gets a 304); every other GET answer `no-store`;
- GraphiQL from the package's own assets (app/graphiql.py), never a CDN;
- the request context (resolvers/context.py), and the WebSocket's token from `connection_init`.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult

from resolvers.context import Context
from resolvers.metrics import count_cached
from resolvers.schema import Schema

from .graphiql import GraphiQLAssets
from .persisted_queries import PersistedQueries
from .response_cache import Entry, cache_key, chosen_operation, etag_of
from .services import Services

NOT_AN_OPERATION = "The request body must be a JSON object, or a non-empty array of them for a batch."


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, services: Services, schema: Schema, graphiql: GraphiQLAssets | None = None) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql is not None else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
        )
        self.services = services
        self.graphiql = graphiql
        self.cache = services.response_cache
        self.persisted_queries = PersistedQueries(services.settings.persisted_queries_max)
        self._max_age = math.floor(self.cache.config.max_age_seconds)
        self._metrics = services.settings.metrics

    async def render_graphql_ide(self, request: Request) -> Response:
        # Our page and assets from the package (app/graphiql.py), not Strawberry's CDN page.
        assert self.graphiql is not None  # the view asks only when graphql_ide is set
        return self.graphiql.page(request.url.path)

    # --- HTTP: the cache in front of Strawberry ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        raw_key = await self._raw_key(request) if self.cache.enabled else None
        if raw_key is not None and (entry := self.cache.lookup(raw_key)) is not None:
            started = time.perf_counter()
            await self._cached_response(request, entry)(scope, receive, send)
            if self._metrics:
                count_cached(entry.operation_name, time.perf_counter() - started)
            return
        # What execute_single reads, and where it leaves the cache key of a cacheable answer. The
        # epoch is taken now: a change heard while this runs means its answer is not stored.
        request.state.cacheable = raw_key is not None
        request.state.cache_epoch = self.cache.epoch
        request.state.cache_key = request.state.cache_operation = None
        try:
            response = await self._answer_plain_post(request) or await self.run(request)
        except HTTPException as exc:
            response = PlainTextResponse(exc.reason, status_code=exc.status_code)
        stored = None
        if raw_key is not None and request.state.cache_key is not None and response.status_code == 200:
            stored = self.cache.store(raw_key, request.state.cache_key, bytes(response.body), request.state.cache_epoch,
                                      request.state.cache_operation)
        if request.method == "GET" and response.media_type == "application/json":
            self._http_cache_headers(request, response, stored)
        await response(scope, receive, send)

    async def _answer_plain_post(self, request: Request) -> Response | None:
        """The usual request, a POST of one JSON operation, answered through the view's own hooks
        (root value, sub-response, context, `execute_single`, `process_result`, `create_response`)
        without Strawberry's dispatch around them: its content-type parse through `email.message`,
        its checks for GET, GraphiQL, batches, streams and uploads, and a runtime `Protocol`
        isinstance on the result cost about 5% of a signed-in page's CPU (bench/bench_inprocess.py).
        None for any other request, or a body whose fields are not of the expected types: then
        Strawberry's `run` answers it (Starlette keeps the body read here)."""
        headers = request.headers
        accept = ",".join(headers.getlist("accept"))
        if (request.method != "POST" or "multipart" in accept or "event-stream" in accept
                # As the view reads it: its parse keeps the type's case, and so refuses `Application/JSON`.
                or headers.get("content-type", "").partition(";")[0].strip() != "application/json"):
            return None
        body = self.parse_json(await request.body())  # a 400 for text that is not JSON, as the view
        if not isinstance(body, dict):
            return None  # a batch, or no object: the view's own answers
        query, variables, extensions = body.get("query"), body.get("variables"), body.get("extensions")
        if not (isinstance(query, str | None) and isinstance(variables, dict | None)
                and isinstance(extensions, dict | None)):
            return None  # the view's 400s say which field is wrong
        request_data = GraphQLRequestData(query=query, variables=variables, operation_name=body.get("operationName"),
                                          extensions=extensions, protocol="http")
        root_value = await self.get_root_value(request)
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        result = await self.execute_single(request, self.request_adapter_class(request), sub_response, context,
                                           root_value, request_data)
        response_data = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    async def _raw_key(self, request: Request) -> bytes | None:
        """What identifies an anonymous request before anything parses it; None when it can
        never be served from the cache."""
        headers = request.headers
        if "authorization" in headers or "multipart" in headers.get("accept", ""):
            return None
        if request.method == "POST":
            if not headers.get("content-type", "").startswith("application/json"):
                return None
            return b"P" + await request.body()
        if request.method == "GET" and ("query" in request.query_params or "extensions" in request.query_params):
            return b"G" + request.scope.get("query_string", b"")
        return None

    def _cached_response(self, request: Request, entry: Entry) -> Response:
        if request.method == "GET":
            headers = self._public_headers(entry.etag)
            if request.headers.get("if-none-match") == entry.etag:
                return Response(status_code=304, headers=headers)
            return Response(entry.body, media_type="application/json", headers=headers)
        return Response(entry.body, media_type="application/json")

    def _public_headers(self, etag: str) -> dict[str, str]:
        return {"Cache-Control": f"public, max-age={self._max_age}", "ETag": etag, "Vary": "Authorization"}

    def _http_cache_headers(self, request: Request, response: Response, stored: Entry | None) -> None:
        if stored is not None:
            response.headers.update(self._public_headers(stored.etag))
        elif response.status_code == 200 and request.state.cache_key is not None:
            # Public, though not kept here (public data changed meanwhile, or it is large).
            response.headers.update(self._public_headers(etag_of(bytes(response.body))))
        else:
            response.headers["Cache-Control"] = "no-store"

    # --- per operation: persisted queries, cacheability, invalidation ---

    async def execute_operation(self, request: Any, request_adapter: Any, request_data: Any, context: Any,
                                root_value: Any, sub_response: Any) -> Any:
        if isinstance(request_data, list) and isinstance(request, Request):
            request.state.cacheable = False  # a batch's answer is not one operation's
        return await super().execute_operation(request, request_adapter, request_data, context, root_value,
                                               sub_response)

    async def execute_single(self, request: Any, request_adapter: Any, sub_response: Any, context: Any,
                             root_value: Any, request_data: GraphQLRequestData) -> ExecutionResult:
        request_data, error = self.persisted_queries.resolve(request_data)
        if error is not None:
            return ExecutionResult(data=None, errors=[error])
        result = await super().execute_single(request, request_adapter, sub_response, context, root_value,
                                              request_data)
        operation = chosen_operation(request_data.query, request_data.operation_name)
        # graphql-core's OperationType (what chosen_operation parses), not Strawberry's own enum.
        if operation is not None and operation[1] is OperationType.MUTATION:
            self.cache.invalidate()  # this process's readers see its own writes at once
        elif (operation is not None and isinstance(request, Request) and getattr(request.state, "cacheable", False)
              and not result.errors and context.cacheable):
            request.state.cache_key = cache_key(request_data.query, request_data.variables,
                                                request_data.operation_name)
            request.state.cache_operation = operation[0]  # the name the metrics count it under
        return result

    # --- JSON ---

    def encode_json(self, data: object) -> str:
        # Text, not bytes: WebSocket messages go out as what this returns, and graphql-ws clients
        # (Apollo, urql, gql) refuse binary frames.
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            # What orjson refuses and json writes: a lone surrogate quoted back from the caller's
            # input, an integer beyond 64 bits.
            return json.dumps(data, separators=(",", ":"))

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json decides: it also reads lone surrogates (refused later, coded) and says why not
        try:
            return json.loads(data)
        except (ValueError, RecursionError) as exc:
            # Strawberry turns only JSONDecodeError into a 400; a body that is not UTF-8 (a
            # UnicodeDecodeError, also a ValueError) or nests deeper than the interpreter's
            # recursion limit would escape as a 500.
            raise HTTPException(400, "Unable to parse request body as JSON") from exc

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> Any:
        try:
            data = await super().parse_http_body(request)
        except AttributeError as exc:
            # The view reads `.get` on the body (or each item of a batch) without checking that it
            # is an object: `null`, `1.5` or `"query"` would be a 500.
            raise HTTPException(400, NOT_AN_OPERATION) from exc
        if isinstance(data, list) and not data:
            raise HTTPException(400, NOT_AN_OPERATION)  # an empty batch asks nothing
        return data

    # --- context and WebSocket authentication ---

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        authorization = request.headers.get("authorization") if isinstance(request, Request) else None
        context = await Context.build(self.services, self.services.verifier.caller_from_header, authorization,
                                      request=request)
        context.response = response
        return context

    async def on_ws_connect(self, context: Context) -> None:
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        token = params.get("Authorization") or params.get("authorization") or params.get("authToken")
        if isinstance(token, str) and token and not token.lower().startswith("bearer "):
            token = f"Bearer {token}"
        await context.authenticate(token if isinstance(token, str) else None)
        if context.auth_error is not None:
            # A token was sent and it is bad: refuse the connection (4403) so the client refreshes it.
            raise ConnectionRejectionError({"code": context.auth_error.code.value,
                                            "message": context.auth_error.message})
