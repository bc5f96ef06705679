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

Fields whose value is an object go the same way when nothing can differ: a resolver-less field
(an edge's `node`), or a resolver declared with `direct(read)` whose `read(parent)` returns the
object the resolver would (a pattern's `stats` when the page joined them), or None when the
resolver must run. The object's own selection is then executed here, and so is each object item
of a list, without graphql-core's per-value dispatch. Types with an `is_type_of` check, deferred
fragments and non-null fields whose read found nothing go the general way.
"""

from __future__ import annotations

import math
import operator
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLBoolean,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    is_leaf_type,
)
from graphql.execution.collect_fields import CollectedFields, collect_subfields
from graphql.language import (
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    Visitor,
    visit,
)
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# How to complete a field quickly, or None when it must go the general way; per object type and
# field name (GraphQLField is not hashable). Schemas live as long as the process (resolvers.schema
# keeps a few), so this stays small.
LeafShortcut = Callable[[Any], Any]
_NOT_PLAIN = object()  # a shortcut's answer when the general path must decide
# The metadata key of `direct`: how to read a resolver field's object off its parent.
DIRECT_READ = "codepattern.direct_read"


def direct(read: Callable[[Any], Any]) -> dict[str, Any]:
    """Field metadata (`strawberry.field(metadata=direct(read))`): `read(parent)` returns what the
    resolver would, an object, without awaiting anything; or None, and then the resolver runs."""
    return {DIRECT_READ: read}


class ObjectShortcut:
    """A field whose object comes straight off its parent: the type to execute its selection on.
    `none_is_null`: a None read is the field's null (an attribute), not "ask the resolver"."""

    __slots__ = ("non_null", "none_is_null", "object_type", "read")

    def __init__(self, read: Callable[[Any], Any], object_type: GraphQLObjectType, non_null: bool,
                 *, none_is_null: bool) -> None:
        self.read, self.object_type, self.non_null, self.none_is_null = read, object_type, non_null, none_is_null


Shortcut = LeafShortcut | ObjectShortcut
# One field of a selection as execute_fields sees it: response name, field name, its field
# details, its shortcut (None: the general way) and whether that is an ObjectShortcut.
PlannedField = tuple[str, str, Any, Shortcut | None, bool]
PureCompletion = Callable[[Any], Any]  # a parent value -> its selection's dict, or _NOT_PLAIN
_UNPLANNED = object()
_shortcuts: dict[GraphQLObjectType, dict[str, Shortcut | None]] = {}


def _leaf_of(type_: GraphQLOutputType) -> tuple[GraphQLLeafType, bool] | None:
    """(the leaf type, whether it is non-null) for `Leaf` / `Leaf!`."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if non_null else type_
    return (inner, non_null) if is_leaf_type(inner) else None  # type: ignore[return-value]


def _object_of(type_: GraphQLOutputType) -> tuple[GraphQLObjectType, bool] | None:
    """(the object type, whether it is non-null) for `Object` / `Object!` with no `is_type_of`."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner = type_.of_type if non_null else type_
    if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None:
        return inner, non_null
    return None


# graphql-core's built-in scalars: the Python type each outputs unchanged, and the range check
# its coercion makes of such a value.
_ANY, _INT32, _FINITE = 0, 1, 2
_OWN_OUTPUT: dict[GraphQLLeafType, tuple[type, int]] = {
    GraphQLString: (str, _ANY),
    GraphQLID: (str, _ANY),
    GraphQLBoolean: (bool, _ANY),
    GraphQLInt: (int, _INT32),
    GraphQLFloat: (float, _FINITE),
}
# Set on a leaf shortcut of a built-in scalar: (read, own type, range check), so a pure
# completion (Executor._build_pure) answers such a value without calling the shortcut.
PLAIN_READ = "plain_read"


def _own(value: Any, own_type: type | None, check: int) -> bool:
    """Whether a built-in scalar answers `value` as it is (see _OWN_OUTPUT). Written out again
    in Executor._build_pure's loop, where a call per cell would cost more than the check."""
    return type(value) is own_type and (check == _ANY or (
        GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT if check == _INT32 else math.isfinite(value)))


def _shortcut_for(field: GraphQLField) -> Shortcut | None:
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField) or field.args or field.subscribe is not None:
        return None
    type_ = field.type
    declared = (definition.metadata or {}).get(DIRECT_READ)
    if declared is not None:
        target = _object_of(type_)
        if target is None or definition.extensions or definition.permission_classes:
            return None
        return ObjectShortcut(declared, *target, none_is_null=False)
    # Strawberry gives basic fields (no resolver, extensions or handlers) this marked resolver.
    if not getattr(field.resolve, "_is_default", False):
        return None
    read = definition.default_resolver
    name = definition.python_name
    target = _object_of(type_)
    if target is not None:
        return ObjectShortcut(lambda source: read(source, name), *target, none_is_null=True)
    leaf = _leaf_of(type_)
    if leaf is not None:
        coerce, non_null = leaf[0].coerce_output_value, leaf[1]
        # The built-in scalars give back a value of their own Python type as it is (an int in
        # 32 bits, a finite float): answered without the coercion's checks and conversions.
        own_type, check = _OWN_OUTPUT.get(leaf[0], (None, _ANY))
        get = operator.attrgetter(name) if read is getattr else (lambda source: read(source, name))

        def complete_leaf(source: Any) -> Any:
            value = get(source)
            if _own(value, own_type, check):
                return value
            if value is None:
                return None if not non_null else _NOT_PLAIN
            coerced = coerce(value)
            return _NOT_PLAIN if coerced is None or coerced is Undefined else coerced

        if own_type is not None:
            setattr(complete_leaf, PLAIN_READ, (get, own_type, check))
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


class SharedSelections:
    """What executing one document works out from the document alone, kept for the operations
    that run it again: the fields each selection collects (graphql-core memoizes them for one
    operation only) and the plans and pure completions made of them. A signed-in page spent
    about a tenth of its CPU working these out anew for every request.

    Keyed by the field nodes' identities: nodes of the document, which lives as long as this
    (see `share_selections`), so no id is reused while an entry holds it."""

    __slots__ = ("plans", "subfields")

    def __init__(self) -> None:
        self.subfields: dict[tuple[Any, ...], CollectedFields] = {}
        # (type, id(selection)) of the selections collected here -> [selection, plan, pure] or None
        # until planned; only these selections' plans are shared.
        self.plans: dict[tuple[GraphQLObjectType, int], list[Any] | None] = {}


# By the operation's identity (AST nodes hash and compare by content, which costs a walk of the
# whole document), each entry going with its operation.
_shared_by_operation: dict[int, tuple[weakref.ref[OperationDefinitionNode], SharedSelections]] = {}


def _shared_of(operation: OperationDefinitionNode) -> SharedSelections | None:
    entry = _shared_by_operation.get(id(operation))
    return entry[1] if entry is not None and entry[0]() is operation else None


class _VariesWithVariables(Visitor):
    """Finds what makes field collection depend on an operation's variables: directives
    (@skip, @include, @defer, @stream and any other) and fragment arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> Any:
        self.found = True
        return self.BREAK

    def enter_fragment_definition(self, node: FragmentDefinitionNode, *_args: Any) -> Any:
        if node.variable_definitions:
            self.found = True
            return self.BREAK
        return None

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_args: Any) -> Any:
        if getattr(node, "arguments", None):
            self.found = True
            return self.BREAK
        return None


def share_selections(document: DocumentNode) -> bool:
    """Let every later execution of `document`'s operations share what one works out (see
    `SharedSelections`), when its fields are collected alike whatever the variables; the caller
    keeps the document (and so the shared part) alive. Returns whether it is shared."""
    finder = _VariesWithVariables()
    visit(document, finder)
    if finder.found:
        return False
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and _shared_of(definition) is None:
            key = id(definition)

            def forget(dead: weakref.ref[OperationDefinitionNode], key: int = key) -> None:
                if (entry := _shared_by_operation.get(key)) is not None and entry[0] is dead:
                    del _shared_by_operation[key]

            _shared_by_operation[key] = (weakref.ref(definition, forget), SharedSelections())
    return True


class Executor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shared = _shared_of(self.operation)

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: Any) -> CollectedFields:
        shared = self._shared
        if shared is None:
            return super().collect_subfields(return_type, field_details_list)
        # graphql-core's memo for this operation first (a list's items ask with the same list).
        memo, key = self._relevant_sub_fields, (return_type, id(field_details_list))
        cached = memo.get(key)
        if cached is not None:
            return cached[1]
        nodes = (return_type, *[id(details.node) for details in field_details_list])
        found = shared.subfields.get(nodes)
        if found is None:
            found = shared.subfields[nodes] = collect_subfields(
                self.schema, self.fragments, self.variable_values, self.operation, return_type, field_details_list,
                self.hide_suggestions)
            shared.plans[(return_type, id(found.grouped_field_set))] = None
        memo[key] = (field_details_list, found)
        return found

    def _object_field(self, parent_type: GraphQLObjectType, name: str, shortcut: ObjectShortcut, source: Any,
                      path: Path | None, response_name: str, field_details_list: Any,
                      position_context: Any) -> Any:
        return self._complete_object(shortcut, parent_type.fields[name].type, source,
                                     Path(path, response_name, parent_type.name), field_details_list,
                                     position_context)

    def _complete_object(self, shortcut: ObjectShortcut, field_type: GraphQLOutputType, source: Any,
                         path: Path, field_details_list: Any, position_context: Any) -> Any:
        """An object field's value, completed as graphql-core's execute_field would; _NOT_PLAIN
        when the general path must run it (nothing has been run or recorded then)."""
        if position_context is not None:  # inside deferred work: graphql-core tracks delivery groups
            return _NOT_PLAIN
        try:
            value = shortcut.read(source)
        except Exception:
            return _NOT_PLAIN  # the general path raises it again, located and reported
        if value is None:
            return None if shortcut.none_is_null and not shortcut.non_null else _NOT_PLAIN
        if self.is_awaitable(value):
            return _NOT_PLAIN
        grouped_field_set, new_defer_usages, _forbidden = self.collect_subfields(shortcut.object_type,
                                                                                  field_details_list)
        if new_defer_usages:
            return _NOT_PLAIN
        return self._execute_object(shortcut.object_type, field_type, value, path, field_details_list,
                                    grouped_field_set)

    def _execute_object(self, object_type: GraphQLObjectType, field_type: GraphQLOutputType, value: Any,
                        path: Path, field_details_list: Any, grouped_field_set: Any) -> Any:
        # graphql-core's error handling around a field's completion: a field error becomes a null
        # here unless the field is non-null, when it travels to the nearest nullable parent.
        try:
            completed = self.execute_fields(object_type, value, path, grouped_field_set, None)
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_type, field_details_list, path)
            return None
        if type(completed) is not dict and self.is_awaitable(completed):
            return self._awaited_field(completed, field_type, field_details_list, path)
        return completed

    async def _awaited_field(self, completed: Awaitable[Any], field_type: GraphQLOutputType,
                             field_details_list: Any, path: Path) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, field_type, field_details_list, path)
            return None

    def complete_list_item_value(self, item: Any, complete_results: list[Any], item_type: GraphQLOutputType,
                                 field_details_list: Any, info: Any, item_path: Path,
                                 position_context: Any) -> bool:
        """An object item is executed here (no per-item dispatch through complete_value); anything
        else, and any item under deferred work, goes graphql-core's way."""
        target = _object_of(item_type) if item is not None and position_context is None else None
        if target is not None and not self.is_awaitable(item):
            grouped_field_set, new_defer_usages, _forbidden = self.collect_subfields(target[0], field_details_list)
            if not new_defer_usages:
                pure = self._pure_of(target[0], grouped_field_set)
                if pure is not None and (completed := pure(item)) is not _NOT_PLAIN:
                    complete_results.append(completed)
                    return False
                completed = self._execute_object(target[0], item_type, item, item_path, field_details_list,
                                                 grouped_field_set)
                complete_results.append(completed)
                return type(completed) is not dict and completed is not None and self.is_awaitable(completed)
        return super().complete_list_item_value(item, complete_results, item_type, field_details_list, info,
                                                item_path, position_context)

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        executor.__dict__.pop("_plans", None)  # an event's selections are its own (see _planned)
        return executor

    def _planned(self, parent_type: GraphQLObjectType, grouped_field_set: dict[str, Any]) -> list[Any]:
        """[the selection, its plan, its pure completion (_UNPLANNED until asked)]. The plan is
        what execute_fields decides per field that does not depend on the parent value, made
        once per selection and operation: a list of 42 progress rows asks it once, not 42 times.
        Keyed by the selection's identity, which graphql-core's own memo (collect_subfields)
        keeps stable during one operation; the entry holds the selection, so its id is not reused.
        A selection collected for later operations too (SharedSelections) keeps its plan there."""
        key = (parent_type, id(grouped_field_set))
        shared = self._shared
        plans: dict[tuple[GraphQLObjectType, int], Any] = (
            shared.plans if shared is not None and key in shared.plans else self.__dict__.setdefault("_plans", {}))
        found = plans.get(key)
        if found is not None:
            return found
        by_name = _shortcuts.get(parent_type)
        if by_name is None:
            by_name = _shortcuts[parent_type] = {}
        plan: list[PlannedField] = []
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            name = node.name.value
            try:
                shortcut = by_name[name]
            except KeyError:
                field = parent_type.fields.get(name)
                shortcut = by_name[name] = _shortcut_for(field) if field is not None else None
            if node.arguments or len(field_details_list) != 1:
                shortcut = None
            plan.append((response_name, name, field_details_list, shortcut, isinstance(shortcut, ObjectShortcut)))
        found = plans[key] = [grouped_field_set, plan, _UNPLANNED]
        return found

    def _pure_of(self, parent_type: GraphQLObjectType, grouped_field_set: dict[str, Any]) -> PureCompletion | None:
        """The selection completed as one function of the parent value, when every field of it
        (and of its objects' selections) is a shortcut: reads without side effects, so the
        function can simply give up (_NOT_PLAIN) at the first value that is not plain and let
        the general path run the whole selection again, errors and all. A list of 42 progress
        rows is then 42 calls of it, without a path, a field-set lookup or an awaitable check
        per field. None when some field must go the general way."""
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return None  # every field must pass through the middleware (tracing)
        planned = self._planned(parent_type, grouped_field_set)
        if planned[2] is _UNPLANNED:
            planned[2] = None  # while it is being built (a selection does not contain itself)
            planned[2] = self._build_pure(planned[1])
        return planned[2]

    def _build_pure(self, plan: list[PlannedField]) -> PureCompletion | None:
        # Per field: (response name, read, own type, range check, shortcut, sub-completion). A
        # built-in scalar's value of its own type is answered here (most of a list's cells);
        # other leaves call their shortcut, objects their selection's own completion.
        steps: list[tuple[str, Any, Any, int, Any, PureCompletion | None]] = []
        for response_name, _name, field_details_list, shortcut, is_object in plan:
            if shortcut is None:
                return None
            if is_object:
                assert isinstance(shortcut, ObjectShortcut)
                sub_fields, new_defer_usages, _forbidden = self.collect_subfields(shortcut.object_type,
                                                                                  field_details_list)
                sub = None if new_defer_usages else self._pure_of(shortcut.object_type, sub_fields)
                if sub is None:
                    return None
                steps.append((response_name, None, None, _ANY, shortcut, sub))
            else:
                read, own_type, check = getattr(shortcut, PLAIN_READ, (None, None, _ANY))
                steps.append((response_name, read, own_type, check, shortcut, None))
        is_awaitable = self.is_awaitable

        def complete(source: Any) -> Any:
            out: dict[str, Any] = {}
            try:
                for response_name, read, own_type, check, shortcut, sub in steps:
                    if read is not None:
                        value = read(source)
                        if not (type(value) is own_type and (check == _ANY or (  # _own(value, ...)
                                GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT if check == _INT32
                                else math.isfinite(value)))):
                            value = shortcut(source)  # None, or a value to coerce: the leaf's own rules
                            if value is _NOT_PLAIN:
                                return _NOT_PLAIN
                    elif sub is None:
                        value = shortcut(source)
                        if value is _NOT_PLAIN:
                            return _NOT_PLAIN
                    else:
                        value = shortcut.read(source)
                        if value is None:
                            if shortcut.non_null or not shortcut.none_is_null:
                                return _NOT_PLAIN
                        elif is_awaitable(value):
                            return _NOT_PLAIN
                        else:
                            value = sub(value)
                            if value is _NOT_PLAIN:
                                return _NOT_PLAIN
                    out[response_name] = value
            except Exception:
                return _NOT_PLAIN  # the general path raises it again, located and reported
            return out

        return complete

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
        if position_context is None:
            pure = self._pure_of(parent_type, grouped_field_set)
            if pure is not None and (completed := pure(source_value)) is not _NOT_PLAIN:
                return completed
        done: dict[str, Any] = {}
        rest: dict[str, Any] | None = None
        pending: list[str] | None = None  # object fields whose completion is an awaitable
        plan: list[PlannedField] = self._planned(parent_type, grouped_field_set)[1]
        for response_name, name, field_details_list, shortcut, is_object in plan:
            value = _NOT_PLAIN
            if shortcut is None:
                pass
            elif is_object:
                # Only before any field that goes the general way: run ahead of such a field, an
                # object's error could win over the one graphql-core would report first.
                if rest is None:
                    value = self._object_field(parent_type, name, shortcut, source_value, path,  # type: ignore[arg-type]
                                               response_name, field_details_list, position_context)
                    if type(value) is not dict and value is not _NOT_PLAIN and value is not None \
                            and self.is_awaitable(value):
                        pending = [*(pending or ()), response_name]
            else:
                try:
                    value = shortcut(source_value)  # type: ignore[operator]
                except Exception:
                    value = _NOT_PLAIN  # the general path raises it again, located and reported
            if value is _NOT_PLAIN:
                if rest is None:
                    rest = {}
                rest[response_name] = field_details_list
            else:
                done[response_name] = value
        others = super().execute_fields(parent_type, source_value, path, rest,
                                        position_context) if rest is not None else {}
        if pending is None and isinstance(others, dict):
            return _in_order(grouped_field_set, done, others)
        return self._merged(grouped_field_set, done, pending or [], others)

    async def _merged(self, grouped_field_set: dict[str, Any], done: dict[str, Any], pending: list[str],
                      others: Any) -> dict[str, Any]:
        # All at once, as graphql-core gathers a selection's awaitables: loaders batch across them.
        awaitables = [done[name] for name in pending]
        if not isinstance(others, dict):
            awaitables.append(others)
        results = await gather_with_cancel(*awaitables)
        for name, value in zip(pending, results, strict=False):
            done[name] = value
        return _in_order(grouped_field_set, done, others if isinstance(others, dict) else results[-1])


def _in_order(grouped_field_set: dict[str, Any], done: dict[str, Any], others: dict[str, Any]) -> dict[str, Any]:
    if not done:
        return others
    # graphql-core leaves out fields it found no definition for (Undefined): so does this.
    return {name: done[name] if name in done else others[name]
            for name in grouped_field_set if name in done or name in others}
