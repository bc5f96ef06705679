"""resolvers/execution.py's executor answers exactly what Strawberry's own does: the same data, in
the same order, and the same errors at the same paths, for fields it shortcuts (plain attribute
leaves and lists of them) and fields it does not. Compared on a schema built to hold every case
the shortcut must hand back (nulls in non-null fields, values a scalar refuses, failing
properties, arguments, aliases of one field, directives, fragments, async siblings), over
documents written by hand and documents hypothesis-graphql writes from the schema."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gc
import math
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from graphql import execute, parse
from hypothesis import HealthCheck, given, settings
from hypothesis_graphql import queries
from strawberry.utils.await_maybe import await_maybe

import resolvers.execution
from resolvers.execution import Executor, direct, share_selections


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Part:
    label: str
    size: int
    broken_size: int  # holds a string the Int scalar refuses

    @strawberry.field
    def failing(self) -> str:  # non-null: its error nulls the nearest nullable parent
        raise ValueError("this part always fails")

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.label * 2


def part(i: int) -> Part:
    return Part(label=f"part{i}", size=i, broken_size="nope")  # type: ignore[arg-type]


def part_at_hand(item: Item) -> Part | None:
    """Items with an even count hold their part; the others make the resolver fetch it."""
    return part(item.count) if item.count % 2 == 0 else None


@strawberry.type
class Item:
    name: str
    count: int
    ratio: float | None
    color: Color
    tags: list[str]
    maybe_tags: list[str] | None
    # Wrong on purpose, as a bug would make them: the general path's errors must come out.
    broken_count: int  # holds a string the Int scalar refuses
    missing: str  # holds None
    bad_tags: list[str]  # holds a None item
    # Values of the scalar's own Python type that it still refuses or converts.
    wide: int  # beyond 32 bits for odd counts
    endless: float | None  # infinite for odd counts
    flag: int  # holds a bool (Int answers 1 or 0)
    # Objects read straight off the item, and one through a resolver declared `direct`.
    main: Part
    spare: Part | None  # holds None for odd counts
    lost: Part  # holds None: the general path's non-null error must come out

    @strawberry.field(metadata=direct(part_at_hand))
    def fetched(self) -> Part:
        at_hand = part_at_hand(self)
        if at_hand is not None:
            return at_hand

        async def load() -> Part:
            await asyncio.sleep(0)
            return part(self.count + 100)

        return load()  # type: ignore[return-value]

    @strawberry.field(metadata=direct(part_at_hand))
    def maybe_fetched(self) -> Part | None:
        # Nullable and direct: a None read means "ask me", never null (odd counts fetch one).
        return part_at_hand(self) or part(self.count + 200)

    @strawberry.field
    def loud(self) -> str:
        return self.name.upper()

    @strawberry.field
    def shifted(self, by: int = 1) -> int:
        return self.count + by

    @strawberry.field
    async def later(self) -> int:
        await asyncio.sleep(0)
        return self.count * 2

    @property
    def _hidden(self) -> str:  # not a field
        return "x"


@strawberry.type
class Box:
    label: str
    items: list[Item]
    maybe_items: list[Item | None]  # holds a None item

    @strawberry.field
    def failing(self) -> str:
        raise ValueError("this field always fails")


def item(i: int) -> Item:
    return Item(name=f"item{i}", count=i, ratio=None if i % 2 else i / 3, color=Color.RED if i % 2 else Color.BLUE,
                tags=[f"t{i}", "x"], maybe_tags=None if i % 3 else ["m"], broken_count="nope",  # type: ignore[arg-type]
                missing=None, bad_tags=["ok", None],  # type: ignore[arg-type, list-item]
                wide=2**31 if i % 2 else i, endless=math.inf if i % 2 else i / 7, flag=i % 2 == 0,  # type: ignore[arg-type]
                main=part(i), spare=None if i % 2 else part(i + 10), lost=None)  # type: ignore[arg-type]


@strawberry.type
class Query:
    @strawberry.field
    def box(self) -> Box:
        return Box(label="the box", items=[item(i) for i in range(4)], maybe_items=[item(5), None, item(6)])

    @strawberry.field
    async def boxes(self) -> list[Box | None]:
        return [Box(label="a", items=[item(1)], maybe_items=[None]), None]

    @strawberry.field
    def number(self) -> int:
        return 7


SHORTCUT = strawberry.Schema(Query, execution_context_class=Executor)
PLAIN = strawberry.Schema(Query)

DOCUMENTS = [
    "{ box { label items { name count ratio color tags maybeTags } } }",
    "{ box { items { name brokenCount } } }",
    "{ box { items { count missing name } } }",
    "{ box { items { badTags name } } }",
    "{ box { label failing items { loud shifted later } } }",
    "{ box { items { a: count b: count c: shifted(by: 5) name __typename } } }",
    "{ box { items { name name count } } }",
    "query($no: Boolean!) { box { items { name @skip(if: $no) count @include(if: $no) } } }",
    "{ box { ...B } } fragment B on Box { label items { ...I } } fragment I on Item { name tags color }",
    "{ boxes { label items { name later missing } } number }",
    "{ box { items { ... on Item { name } count } } }",
    "{ box { items { name main { label size } spare { label } fetched { label size } } } }",
    "{ box { items { main { brokenSize label } spare { brokenSize } } } }",
    "{ box { items { name lost { label } } } }",
    "{ box { maybeItems { name main { failing label } } } }",
    "{ box { items { main { later label } fetched { later } spare { later } } } }",
    "{ box { maybeItems { name fetched { label later } } items { a: main { size } b: main { label } } } }",
    "{ boxes { maybeItems { main { label } } items { fetched { label failing } } } }",
    "{ box { items { main { label } main { size } } } }",
    "{ box { items { count maybeFetched { label size } } } }",
    "{ box { items { name wide } } }",
    "{ box { maybeItems { endless flag count } } }",
]


async def results(document: str, variables: dict[str, Any] | None = None) -> tuple[Any, Any]:
    shortcut = await SHORTCUT.execute(document, variable_values=variables)
    plain = await PLAIN.execute(document, variable_values=variables)
    return shortcut, plain


def comparable(result: Any) -> tuple[Any, Any]:
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


async def shared_runs(document: str, variables: dict[str, Any] | None = None, times: int = 2) -> list[Any]:
    """`document` parsed once and executed `times` times, sharing its selections when it may
    (as resolvers.schema does for a query it has seen)."""
    parsed = parse(document)
    share_selections(parsed)
    return [await await_maybe(execute(SHORTCUT._schema, parsed, variable_values=variables,
                                      executor_class=Executor)) for _ in range(times)]


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_hand_written_documents_get_the_same_answer(document: str) -> None:
    for variables in ({"no": True}, {"no": False}) if "$no" in document else (None,):
        shortcut, plain = await results(document, variables)
        assert comparable(shortcut) == comparable(plain)
        # Same key order too: the JSON a client reads is the same text.
        assert repr(shortcut.data) == repr(plain.data)
        # And again when the document's next executions share what the first worked out.
        for run in await shared_runs(document, variables):
            assert comparable(run) == comparable(plain)
            assert repr(run.data) == repr(plain.data)


async def test_later_executions_of_a_document_collect_and_plan_nothing_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    collected, built = [0], [0]
    original_collect, original_build = resolvers.execution.collect_subfields, Executor._build_pure

    def counting_collect(*args: Any) -> Any:
        collected[0] += 1
        return original_collect(*args)

    def counting_build(self: Executor, *args: Any) -> Any:
        built[0] += 1
        return original_build(self, *args)

    monkeypatch.setattr(resolvers.execution, "collect_subfields", counting_collect)
    monkeypatch.setattr(Executor, "_build_pure", counting_build)
    parsed = parse("{ box { label items { name count main { label size } } } }")
    assert share_selections(parsed)
    counts = []
    for _ in range(3):
        result = await await_maybe(execute(SHORTCUT._schema, parsed, executor_class=Executor))
        assert result.errors is None and [i["main"]["size"] for i in result.data["box"]["items"]] == [0, 1, 2, 3]
        counts.append((collected[0], built[0]))
        collected[0] = built[0] = 0
    # Collected: box, items, main; planned: those and the root, which graphql-core collects anew
    # for each operation (it has resolvers: planning it stops at the first field).
    assert counts[0] == (3, 4)
    assert counts[1:] == [(0, 1), (0, 1)]


async def test_what_a_document_shares_goes_with_it() -> None:
    parsed = parse("{ box { label items { name main { label } } } }")
    share_selections(parsed)
    assert (await await_maybe(execute(SHORTCUT._schema, parsed, executor_class=Executor))).errors is None
    operation = weakref.ref(parsed.definitions[0])
    key = id(operation())
    assert key in resolvers.execution._shared_by_operation
    del parsed
    gc.collect()
    assert operation() is None  # nothing shared keeps the document alive
    assert key not in resolvers.execution._shared_by_operation  # and its entry went with it


def test_documents_whose_fields_depend_on_variables_are_not_shared() -> None:
    assert share_selections(parse("{ box { items { name } } }"))
    assert not share_selections(parse("query($no: Boolean!) { box { items { name @skip(if: $no) } } }"))
    assert not share_selections(parse("{ box { ... @include(if: true) { label } } }"))
    assert not share_selections(parse("{ box { ...B } } fragment B on Box @deprecated { label }"))


async def test_a_document_with_skip_answers_each_variable_on_its_own() -> None:
    document = "query($no: Boolean!) { box { items { name @skip(if: $no) count } } }"
    parsed = parse(document)
    share_selections(parsed)
    for no in (True, False, True):
        run = await await_maybe(execute(SHORTCUT._schema, parsed, variable_values={"no": no},
                                        executor_class=Executor))
        assert ("name" in run.data["box"]["items"][0]) is (not no)


async def test_the_shortcut_is_taken_and_the_errors_still_come() -> None:
    shortcut, _ = await results("{ box { items { name brokenCount } } }")
    assert shortcut.data is None or all(i is None for i in shortcut.data["box"]["items"])
    messages = {e.message for e in shortcut.errors}
    assert any("Int cannot represent" in m for m in messages), messages


@contextlib.contextmanager
def counted(cls: type, method: str) -> Iterator[list[int]]:
    """Counts the calls of `cls.method` inside the block (calls[0]); the method still runs."""
    calls = [0]
    original = getattr(cls, method)

    def counting(self: Any, *args: Any) -> Any:
        calls[0] += 1
        return original(self, *args)

    setattr(cls, method, counting)
    try:
        yield calls
    finally:
        setattr(cls, method, original)


async def test_object_fields_and_list_items_take_the_shortcut() -> None:
    # Only the general path builds a resolve info: with every object field, list item and leaf
    # on the shortcut, the page below builds one per resolver that must run (box, fetched x2).
    with counted(Executor, "build_resolve_info") as calls:
        result = await SHORTCUT.execute("{ box { items { main { label } spare { label } fetched { size } } } }")
    built = calls[0]
    assert result.errors is None
    assert [i["fetched"]["size"] for i in result.data["box"]["items"]] == [0, 101, 2, 103]
    assert built == 1 + 2 + 1  # box, the two fetched parts not at hand, and `items` itself
    # A direct read that finds nothing asks the resolver, even where null would be allowed.
    nullable = await SHORTCUT.execute("{ box { items { maybeFetched { size } } } }")
    assert [i["maybeFetched"]["size"] for i in nullable.data["box"]["items"]] == [0, 201, 2, 203]


async def test_a_selection_of_shortcuts_only_is_completed_by_one_function_per_item() -> None:
    # Every field of the items' selection (and of `main`'s) is a shortcut: each item is one call
    # of the selection's pure completion, not an object execution with a path and field dispatch.
    with counted(Executor, "_execute_object") as calls:
        pure = await SHORTCUT.execute("{ box { items { name count main { label size } } } }")
    executed_pure = calls[0]
    with counted(Executor, "_execute_object") as calls:
        # One field with a resolver (`later`) in `main`: the items go the general way again.
        mixed = await SHORTCUT.execute("{ box { items { name count main { label later } } } }")
    executed = calls[0]
    assert pure.errors is None and mixed.errors is None
    assert [i["main"]["size"] for i in pure.data["box"]["items"]] == [0, 1, 2, 3]
    assert executed_pure == 0
    assert executed == 2 * len(mixed.data["box"]["items"])  # each item and its `main`


# When a null propagates past siblings that are still awaitables, graphql-core drops them unawaited
# (its own executor warns "coroutine ... get_results was never awaited" on these documents too).
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=queries(PLAIN.as_str()))
def test_generated_documents_get_the_same_answer(document: str) -> None:
    shortcut, plain = asyncio.run(results(document))
    assert comparable(shortcut) == comparable(plain), document
    assert repr(shortcut.data) == repr(plain.data), document
    for run in asyncio.run(shared_runs(document)):
        assert comparable(run) == comparable(plain), document
        assert repr(run.data) == repr(plain.data), document
