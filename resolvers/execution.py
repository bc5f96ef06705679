"""The GraphQL executor: Strawberry's, with a shortcut for fields that only read an attribute.

Most of a response is leaves that a resolver-less field reads off its parent: a catalog page of
20 patterns with their statistics is ~240 such fields out of ~260. graphql-core executes each of
them the general way: build a resolve info, call Strawberry's resolver wrapper, check for an
awaitable, then complete the value through the non-null, list and leaf branches. For a field
that Strawberry itself marks as "basic" (no resolver, no field extension, no exception handler)
and whose type is a scalar or enum, or a list of them, none of that can change the answer: this
executor reads the attribute and coerces it with the type's own `coerce_output_value`, exactly
as `complete_leaf_value` does.

Anything off that path (a null, a value the type refuses, an exception, any argument) goes the
general way, which then produces the same data and the same error as it always did. The tests
(tests/unit/test_execution.py) compare both executors on the catalog, fuzzed documents and the
error cases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# How to complete a field quickly, or None when it must go the general way; per object type and
# field name (GraphQLField is not hashable). Schemas live as long as the process (resolvers.schema
# keeps a few), so this stays small.
Shortcut = Callable[[Any], Any]
_NOT_PLAIN = object()  # a shortcut's answer when the general path must decide
_shortcuts: dict[GraphQLObjectType, dict[str, Shortcut | None]] = {}


def _leaf_of(type_: GraphQLOutputType) -> tuple[GraphQLLeafType, bool] | None:
    """(the leaf type, whether it is non-null) for `Leaf` / `Leaf!`."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if non_null else type_
    return (inner, non_null) if is_leaf_type(inner) else None  # type: ignore[return-value]


def _shortcut_for(field: GraphQLField) -> Shortcut | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or field.args:
        return None
    # Strawberry gives basic fields (no resolver, extensions or handlers) this marked resolver.
    if not getattr(field.resolve, "_is_default", False) or field.subscribe is not None:
        return None
    read = definition.default_resolver
    name = definition.python_name
    type_ = field.type
    leaf = _leaf_of(type_)
    if leaf is not None:
        coerce, non_null = leaf[0].coerce_output_value, leaf[1]

        def complete_leaf(source: Any) -> Any:
            value = read(source, name)
            if value is None:
                return None if not non_null else _NOT_PLAIN
            coerced = coerce(value)
            return _NOT_PLAIN if coerced is None or coerced is Undefined else coerced

        return complete_leaf

    # [Leaf!] / [Leaf!]!: lists of non-null leaves (a pattern's preview rows).
    list_non_null = isinstance(type_, GraphQLNonNull)
    list_type = type_.of_type if list_non_null else type_
    if isinstance(list_type, GraphQLList):
        item = _leaf_of(list_type.of_type)
        if item is not None and item[1]:
            coerce_item = item[0].coerce_output_value

            def complete_list(source: Any) -> Any:
                value = read(source, name)
                if value is None:
                    return None if not list_non_null else _NOT_PLAIN
                if not isinstance(value, (list, tuple)):
                    return _NOT_PLAIN  # other iterables: the general path's rules
                out = []
                for entry in value:
                    coerced = None if entry is None else coerce_item(entry)
                    if coerced is None or coerced is Undefined:
                        return _NOT_PLAIN
                    out.append(coerced)
                return out

            return complete_list
    return None


class Executor(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        """The shortcut fields are completed here, in order; the others by graphql-core as a
        smaller set, and the two merged back in the selection's order."""
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        by_name = _shortcuts.get(parent_type)
        if by_name is None:
            by_name = _shortcuts[parent_type] = {}
        done: dict[str, Any] = {}
        rest: dict[str, Any] | None = None
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            name = node.name.value
            try:
                shortcut = by_name[name]
            except KeyError:
                field = parent_type.fields.get(name)
                shortcut = by_name[name] = _shortcut_for(field) if field is not None else None
            value = _NOT_PLAIN
            if shortcut is not None and not node.arguments and len(field_details_list) == 1:
                try:
                    value = shortcut(source_value)
                except Exception:
                    value = _NOT_PLAIN  # the general path raises it again, located and reported
            if value is _NOT_PLAIN:
                if rest is None:
                    rest = {}
                rest[response_name] = field_details_list
            else:
                done[response_name] = value
        if rest is None:
            return done
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if isinstance(others, dict):
            return _in_order(grouped_field_set, done, others)

        async def merged() -> dict[str, Any]:
            return _in_order(grouped_field_set, done, await others)

        return merged()


def _in_order(grouped_field_set: dict[str, Any], done: dict[str, Any], others: dict[str, Any]) -> dict[str, Any]:
    if not done:
        return others
    # graphql-core leaves out fields it found no definition for (Undefined): so does this.
    return {name: done[name] if name in done else others[name]
            for name in grouped_field_set if name in done or name in others}
