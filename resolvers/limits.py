"""What one GraphQL document may ask for, checked in validation, so before anything executes.

`GraphQLLimits` is the small typed config (app/ builds it from the settings). The checks:

- **tokens**: Strawberry's `MaxTokensLimiter` stops the parser itself (parsing is linear in the
  tokens, about 10 µs each; the body size limit in app/ bounds the rest);
- **depth, aliases, fields, cost**: one validation rule (`limits_rule`) that measures the whole
  document once, each fragment once (memoised, so a fragment spread many times, or a chain of
  fragments each spreading the next twice, costs the checker one pass, not 2ⁿ), and skips
  fragment cycles (graphql-core's own `NoFragmentCyclesRule` rejects them). Strawberry's
  `QueryDepthLimiter` and `MaxAliasesLimiter` expand every spread anew (22 doubling fragments
  take them seconds) and the depth one raises `KeyError` on an unknown fragment, so they are
  not used;
- **introspection**: graphql-core's `NoSchemaIntrospectionCustomRule` (what Strawberry's
  `DisableIntrospection` adds), restated to give its error a code and report it once per
  document rather than once for every field selected.

Each refusal is a validation error with `extensions.code` (QUERY_TOO_COMPLEX, or FORBIDDEN for
introspection), which `errors.classify` keeps.

Cost: every field costs 1, times the page sizes of the list fields above it; a list field's page
size is its `first` argument (the schema's default when absent or null, the field's maximum
when it is a variable, capped at that maximum, which the resolver enforces anyway), and a list
field without such an argument counts as its fixed bound. The page size multiplies everything
selected inside the field (for `patterns` that includes `pageInfo` and `totalCount`: a slight
over-count that keeps the rule simple). Introspection fields (`__schema`, `__type`) count as
fields and cost, but not toward depth (its type references nest 9 deep), as in Strawberry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    SKIP,
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgumentMap,
    GraphQLError,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    VisitorAction,
    get_named_type,
    is_interface_type,
    is_introspection_type,
    is_object_type,
)

from core.errors import ErrorCode
from judge.judge import MISMATCHES_PER_SIZE, SIZES_TARGET
from usecases.groups import MAX_GROUP_MEMBERS, MAX_JOINED_GROUPS, MAX_OWNED_GROUPS

from .analysis import MAX_SEARCH_RESULTS
from .groups import DASHBOARD_PAGE_MAX, MAX_GROUP_BOARD, PATTERNS_BOUND
from .learner import ACTIVITY_DAYS_MAX, HISTORY_PAGE_MAX
from .query import MAX_LEADERBOARD, MAX_PAGE_SIZE

TOKENS_PER_FIELD = 20  # the default token limit: generous for `alias: field(arg: $v)` selections


@dataclass(frozen=True, slots=True)
class GraphQLLimits:
    """Per-document limits (GRAPHQL_MAX_* settings). Hashable: one schema is built per value."""

    max_depth: int = 12
    max_aliases: int = 30
    max_fields: int = 300  # field selections, fragments expanded
    max_cost: int = 5000
    max_tokens: int = 300 * TOKENS_PER_FIELD
    introspection: bool = True
    max_batch: int = 10  # operations in one batched HTTP request (a JSON array body); 0: no batching


@dataclass(frozen=True, slots=True)
class ListSize:
    """How many items a list field returns at most: its `argument` (the schema's default when
    absent), capped at `maximum`; without an argument, `maximum` itself."""

    maximum: int
    argument: str | None = None


# Every field that returns a page or a list of objects, by "Type.field": what it multiplies the
# cost of the selections inside it by. tests/integration/test_limits.py checks that none is missing.
LIST_SIZES: dict[str, ListSize] = {
    "Query.patterns": ListSize(MAX_PAGE_SIZE, "first"),
    "Query.searchPatterns": ListSize(MAX_SEARCH_RESULTS, "first"),
    "Query.leaderboard": ListSize(MAX_LEADERBOARD, "first"),
    # One row per pattern the learner tried: the catalog's size (well under a page) at most.
    "Query.progress": ListSize(MAX_PAGE_SIZE),
    "Attempt.mismatches": ListSize(MISMATCHES_PER_SIZE * SIZES_TARGET),
    "Learner.attempts": ListSize(HISTORY_PAGE_MAX, "first"),
    "Learner.analyses": ListSize(HISTORY_PAGE_MAX, "first"),
    "Learner.activity": ListSize(ACTIVITY_DAYS_MAX, "days"),
    "Learner.groups": ListSize(MAX_OWNED_GROUPS + MAX_JOINED_GROUPS),
    "Group.members": ListSize(MAX_GROUP_MEMBERS),
    "Group.leaderboard": ListSize(MAX_GROUP_BOARD, "first"),
    "Group.dashboard": ListSize(DASHBOARD_PAGE_MAX, "first"),
    # A member's progress rows: one per pattern tried.
    "MemberProgress.progress": ListSize(PATTERNS_BOUND),
}
# Lists whose size is already counted above them: `patterns(first)` is the size of its edges.
SIZED_BY_PARENT = frozenset({"PatternConnection.edges", "AttemptConnection.edges", "AnalysisConnection.edges",
                             "MemberProgressConnection.edges"})


@dataclass(slots=True)
class Measure:
    """What a selection set asks for; `cost` is at page size 1 (it scales with the pages above)."""

    depth: int = 0
    aliases: int = 0
    fields: int = 0
    cost: int = 0

    def add(self, other: Measure, times: int = 1) -> None:
        """`other` beside this one (`times`: the page size of the list it is inside of)."""
        self.depth = max(self.depth, other.depth)
        self.aliases += other.aliases
        self.fields += other.fields
        self.cost += other.cost * times


def too_complex(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value})


class DocumentMeasure:
    """Measures one document: each fragment once, in dependency order, so neither recursion depth
    nor time grows with how often or how deeply fragments spread each other."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        self.done: dict[str, Measure] = {}

    def total(self) -> Measure:
        """Depth: the deepest operation. Aliases, fields and cost: all operations together."""
        self._measure_fragments()
        total = Measure()
        for operation in self.operations:
            total.add(self._selections(operation.selection_set, self.schema.get_root_type(operation.operation)))
        return total

    def _measure_fragments(self) -> None:
        # Iterative depth-first post-order over the spread graph: a fragment is measured after
        # every fragment it spreads. A spread back into the path (a cycle) is skipped.
        on_path: set[str] = set()
        for start in self.fragments:
            if start in self.done:
                continue
            stack: list[tuple[str, list[str]]] = [(start, self._spreads(self.fragments[start]))]
            on_path.add(start)
            while stack:
                name, pending = stack[-1]
                while pending and (pending[-1] in self.done or pending[-1] in on_path
                                   or pending[-1] not in self.fragments):
                    pending.pop()
                if pending:
                    child = pending.pop()
                    on_path.add(child)
                    stack.append((child, self._spreads(self.fragments[child])))
                    continue
                stack.pop()
                on_path.discard(name)
                fragment = self.fragments[name]
                # A cycle's spreads are not measured yet: they count as nothing (the document is
                # refused by NoFragmentCyclesRule anyway).
                self.done[name] = self._selections(fragment.selection_set,
                                                   self.schema.get_type(fragment.type_condition.name.value))

    def _spreads(self, fragment: FragmentDefinitionNode) -> list[str]:
        names: list[str] = []
        stack: list[SelectionSetNode] = [fragment.selection_set]
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, FragmentSpreadNode):
                    names.append(selection.name.value)
                elif isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
                    stack.append(selection.selection_set)
        return names

    def _selections(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> Measure:
        measure = Measure()
        if selection_set is None:
            return measure
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                measure.add(self._field(selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                measure.add(self._selections(selection.selection_set, inner))
            elif isinstance(selection, FragmentSpreadNode):
                measure.add(self.done.get(selection.name.value, Measure()))
        return measure

    def _field(self, node: FieldNode, parent: GraphQLNamedType | None) -> Measure:
        name = node.name.value
        field_type: GraphQLNamedType | None = None
        times = 1
        if name == "__schema":
            field_type = self.schema.get_type("__Schema")
        elif name == "__type":
            field_type = self.schema.get_type("__Type")
        elif parent is not None and (is_object_type(parent) or is_interface_type(parent)):
            definition = parent.fields.get(name)
            if definition is not None:
                field_type = get_named_type(definition.type)
                size = LIST_SIZES.get(f"{parent.name}.{name}")
                if size is not None:
                    times = page_size(node, size, definition.args)
        inner = self._selections(node.selection_set, field_type)
        own = Measure(aliases=1 if node.alias else 0, fields=1, cost=1)
        own.add(inner, times)
        # Depth as Strawberry's limiter counts it: levels below the root fields, none inside
        # introspection (type references nest 9 deep).
        own.depth = 1 + inner.depth if node.selection_set is not None and not name.startswith("__") else 0
        return own


def page_size(node: FieldNode, size: ListSize, args: GraphQLArgumentMap) -> int:
    if size.argument is None:
        return size.maximum
    value = next((a.value for a in node.arguments or () if a.name.value == size.argument), None)
    if isinstance(value, VariableNode):
        return size.maximum  # unknown until execution: the most the resolver would return
    if isinstance(value, IntValueNode):
        return max(1, min(int(value.value), size.maximum))
    default = args[size.argument].default_value if size.argument in args else None
    if value is None or isinstance(value, NullValueNode):
        return max(1, min(default, size.maximum)) if isinstance(default, int) else size.maximum
    return size.maximum  # any other literal is refused by validation


def limits_rule(limits: GraphQLLimits) -> type[ValidationRule]:
    """One rule class per limits value; build it once (the validation cache keys on the class)."""

    class QueryLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            total = DocumentMeasure(context.schema, context.document).total()
            for error in limit_errors(total, limits):
                context.report_error(error)

    return QueryLimits


def limit_errors(total: Measure, limits: GraphQLLimits) -> Iterable[GraphQLError]:
    if total.depth > limits.max_depth:
        yield too_complex(f"The query is {total.depth} levels deep; the limit is {limits.max_depth}.")
    if total.aliases > limits.max_aliases:
        yield too_complex(f"The query uses {total.aliases} aliases; the limit is {limits.max_aliases}.")
    if total.fields > limits.max_fields:
        yield too_complex(f"The query selects {total.fields} fields (fragments expanded); "
                          f"the limit is {limits.max_fields}.")
    if total.cost > limits.max_cost:
        yield too_complex(f"The query costs {total.cost} (each field 1, times the page sizes of the lists "
                          f"above it); the limit is {limits.max_cost}.")


class NoIntrospection(ValidationRule):
    """graphql-core's `NoSchemaIntrospectionCustomRule` (what Strawberry's `DisableIntrospection`
    adds), with a code, and one error per document rather than one for every field selected."""

    reported = False

    def enter_field(self, node: FieldNode, *_args: Any) -> VisitorAction:
        named = get_named_type(self.context.get_type())
        if named is None or not is_introspection_type(named):
            return None
        if not self.reported:
            self.reported = True
            self.report_error(GraphQLError("Introspection is disabled on this server; clients use schema.graphql.",
                                           node, extensions={"code": ErrorCode.FORBIDDEN.value}))
        return SKIP


def validation_rules(limits: GraphQLLimits) -> list[type[ASTValidationRule]]:
    """The rule classes for these limits (build once per schema)."""
    rules: list[type[ASTValidationRule]] = [limits_rule(limits)]
    if not limits.introspection:
        rules.append(NoIntrospection)
    return rules
