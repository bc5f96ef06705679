"""The per-request context handed to every resolver: the components resolvers may call, the
request's DataLoaders and the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from strawberry.types import Info as StrawberryInfo

from analysis.events import EventBus
from core.domain import ANONYMOUS, Caller
from core.errors import AppError
from db.database import Database
from db.loaders import Loaders
from usecases.search import PatternSearch
from usecases.submissions import Submissions

Authenticate = Callable[[str | None], Caller]


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


@dataclass
class Context:
    components: Components
    loaders: Loaders
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

    @property
    def db(self) -> Database:
        return self.components.db

    @property
    def caller(self) -> Caller:
        if self.auth_error is not None:
            raise self.auth_error
        return self._caller

    def user_id(self) -> str:
        """The signed-in caller's id, or UNAUTHENTICATED."""
        return self.caller.require_user()

    def authenticate(self, authorization: str | None) -> None:
        try:
            self._caller, self.auth_error = self.authenticate_header(authorization), None
        except AppError as exc:
            self._caller, self.auth_error = ANONYMOUS, exc

    @classmethod
    def build(
        cls, components: Components, authenticate: Authenticate, authorization: str | None, request: Any = None
    ) -> Context:
        context = cls(components=components, loaders=Loaders(components.db), authenticate_header=authenticate,
                      request=request)
        context.authenticate(authorization)
        return context


Info = StrawberryInfo[Context, None]
