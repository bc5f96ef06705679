"""A GraphQL query reads in one transaction: the extension that opens the caller's read session
(db/scoped.py `ReadSession`) around a query's execution. Mutations write in the transactions
their use cases open; subscriptions live too long to hold one."""

from __future__ import annotations

from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from .context import Context


class QueryReadSession(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:  # pyright: ignore[reportIncompatibleMethodOverride]
        context = self.execution_context.context
        if self.execution_context.operation_type is not OperationType.QUERY or not isinstance(context, Context):
            yield
            return
        async with context.db.read_session():
            yield
