"""The per-request context handed to every resolver: the components resolvers may call, the
request's DataLoaders and the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from analysis.events import EventBus
from core.domain import ANONYMOUS, Caller
from core.errors import AppError
from db.database import Database
from db.loaders import Loaders
from db.rate_limits import RateLimiter
from db.scoped import DbRole, ScopedDatabase
from usecases.search import PatternSearch
from usecases.solutions import Solutions, SolutionText
from usecases.submissions import Submissions

Authenticate = Callable[[str | None], Awaitable[Caller]]


class Components(Protocol):
    """What resolvers use of the server's long-lived parts (`app.services.Services` has them)."""

    @property
    def db(self) -> Database: ...
    @property
    def submissions(self) -> Submissions: ...
    @property
    def bus(self) -> EventBus: ...
    @property
    def search(self) -> PatternSearch: ...
    @property
    def rate_limiter(self) -> RateLimiter: ...
    @property
    def solutions(self) -> Solutions: ...


@dataclass
class Context:
    components: Components
    # Turns an Authorization header into a Caller, raising an AppError for a bad token.
    authenticate_header: Authenticate
    # A token that failed verification is kept, not raised, so public fields still answer;
    # anything that needs the caller raises it.
    _caller: Caller = ANONYMOUS
    auth_error: AppError | None = None
    request: Any = None
    response: Any = None
    # Set by Strawberry from a WebSocket's connection_init payload.
    connection_params: Any = field(default=None)
    # False once a field ran whose every call must count (a rate-limited one): the answer is
    # then never served again from the response cache (app/response_cache.py).
    cacheable: bool = True
    _scope: tuple[Caller, ScopedDatabase, Loaders] | None = field(default=None, repr=False)
    _solutions: tuple[Caller, DataLoader[int, SolutionText | None]] | None = field(default=None, repr=False)

    @property
    def db(self) -> ScopedDatabase:
        """The database as the caller (db/scoped.py): row level security decides what each
        statement sees. A bad token reads public data as `anon`; fields that need the caller
        raise its error through `caller`."""
        return self._scoped()[1]

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders, querying as the caller."""
        return self._scoped()[2]

    def solution_loader(self, learner_id: str) -> DataLoader[int, SolutionText | None]:
        """The signed-in caller's solutions by pattern id, batched for the request."""
        if self._solutions is None or self._solutions[0] is not self._caller:
            load = partial(self.components.solutions.for_learner, self.db, learner_id)
            self._solutions = (self._caller, DataLoader(load_fn=load))
        return self._solutions[1]

    def _scoped(self) -> tuple[Caller, ScopedDatabase, Loaders]:
        # Built on first use and again if the caller changes (a WebSocket authenticates after
        # the context exists).
        if self._scope is None or self._scope[0] is not self._caller:
            caller = self._caller
            if caller.user_id is None:
                scoped = ScopedDatabase(self.components.db, DbRole.ANON, {"role": DbRole.ANON.value})
            else:
                claims = {**caller.claims, "role": DbRole.AUTHENTICATED.value}
                scoped = ScopedDatabase(self.components.db, DbRole.AUTHENTICATED, claims)
            self._scope = (caller, scoped, Loaders(scoped, self.components.db))
        return self._scope

    @property
    def caller(self) -> Caller:
        if self.auth_error is not None:
            raise self.auth_error
        return self._caller

    def user_id(self) -> str:
        """The signed-in caller's id, or UNAUTHENTICATED."""
        return self.caller.require_user()

    async def authenticate(self, authorization: str | None) -> None:
        try:
            self._caller, self.auth_error = await self.authenticate_header(authorization), None
        except AppError as exc:
            self._caller, self.auth_error = ANONYMOUS, exc

    @classmethod
    async def build(
        cls, components: Components, authenticate: Authenticate, authorization: str | None, request: Any = None
    ) -> Context:
        context = cls(components=components, authenticate_header=authenticate, request=request)
        await context.authenticate(authorization)
        return context


Info = StrawberryInfo[Context, None]
