"""The per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from db.loaders import Loaders

from .auth import ANONYMOUS, Caller
from .errors import AppError

if TYPE_CHECKING:
    from db.database import Database

    from .services import Services


@dataclass
class Context:
    services: Services
    loaders: Loaders
    # A token that failed verification is kept, not raised, so public fields still answer;
    # anything that needs the caller raises it.
    _caller: Caller = ANONYMOUS
    _auth_error: AppError | None = None
    request: Any = None
    response: Any = None
    # Set by Strawberry from a WebSocket's connection_init payload.
    connection_params: Any = None

    @property
    def db(self) -> Database:
        return self.services.db

    @property
    def caller(self) -> Caller:
        if self._auth_error is not None:
            raise self._auth_error
        return self._caller

    def user_id(self) -> str:
        """The signed-in caller's id, or UNAUTHENTICATED."""
        return self.caller.require_user()

    def authenticate(self, authorization: str | None) -> None:
        try:
            self._caller, self._auth_error = self.services.verifier.caller_from_header(authorization), None
        except AppError as exc:
            self._caller, self._auth_error = ANONYMOUS, exc

    @classmethod
    def build(cls, services: Services, authorization: str | None, request: Any = None) -> Context:
        context = cls(services=services, loaders=Loaders(services.db), request=request)
        context.authenticate(authorization)
        return context
