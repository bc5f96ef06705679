"""DataLoaders keep SQL round trips constant: a page of 50 costs what a page of 5 costs."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from core.settings import Settings
from db import progress
from db.progress import ProgressWrite
from db.scoped import DbRole, ScopedDatabase
from tests.helpers import make_settings, token_for


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No analysis workers: their idle polls would be counted with the request's statements. No
    # response cache: these count what executing a query costs, and a hit runs none.
    return make_settings(database_url, tmp_path, analysis_workers=0, response_cache=False)

QUERY = """
query($first: Int) {
  patterns(first: $first) {
    totalCount
    edges { node { id slug preview expectedOutput
      stats { attempts learners completions successRate averageTimeSpentSeconds perceivedDifficulty } } }
  }
}
"""
PROGRESS_QUERY = "{ progress { attempts pattern { slug stats { attempts } } } }"


async def add_patterns(services, count: int) -> None:
    """Enough extra patterns that a page of 50 is full."""
    await services.db.execute(
        """
        INSERT INTO patterns (slug, name, category, difficulty, description, default_size, min_size, max_size,
                              formula, loops, conditions, reference_solution, preview, position)
        SELECT 'extra-' || i, 'Extra ' || i, 'special', 'EASY', 'Synthetic pattern for tests.', 2, 1, 10,
               'n stars', 1, 0, 'n = int(input())' || chr(10) || 'print(''*'' * n)', ARRAY['**'], 1000 + i
        FROM generate_series(1, $1) AS i
        """,
        count,
    )
    await services.db.execute("INSERT INTO pattern_stats (pattern_id) SELECT id FROM patterns ON CONFLICT DO NOTHING")


class StatementCounter:
    def __init__(self, services) -> None:
        self.services = services
        self.statements: list[str] = []

    def __enter__(self) -> StatementCounter:
        self.services.db.query_observers.append(self.statements.append)
        return self

    def __exit__(self, *exc: object) -> None:
        self.services.db.query_observers.remove(self.statements.append)

    @property
    def queries(self) -> list[str]:
        """The statements that fetch data, without the framing that runs them as the caller
        (db/scoped.py: BEGIN and set_config in one, then COMMIT or ROLLBACK)."""
        return [s for s in self.statements if not is_framing(s)]

    def assert_one_read_session(self) -> None:
        """A query's statements share one read-only transaction as the caller: one BEGIN, then
        the queries, then the rollback that ends it (it wrote nothing)."""
        assert self.statements[0].startswith(BEGIN_READ_ONLY_AS_CALLER), self.statements
        assert self.statements[-1] == "ROLLBACK", self.statements
        assert [s for s in self.statements if is_framing(s)] == [self.statements[0], "ROLLBACK"], self.statements


BEGIN_READ_ONLY_AS_CALLER = "BEGIN READ ONLY; SELECT set_config('request.jwt.claims'"


def is_framing(statement: str) -> bool:
    return statement.startswith(("BEGIN; SELECT set_config(", "BEGIN READ ONLY; SELECT set_config(")) or statement in (
        "COMMIT", "ROLLBACK")


async def test_page_of_50_costs_the_same_round_trips_as_page_of_5(services, gql) -> None:
    await add_patterns(services, 40)
    await gql.data(QUERY, {"first": 5})  # warm the statement cache: type introspection is a one-off
    counts = {}
    for first in (5, 50):
        with StatementCounter(services) as counter:
            data = await gql.data(QUERY, {"first": first})
        assert len(data["patterns"]["edges"]) == first
        counter.assert_one_read_session()
        counts[first] = len(counter.queries)
    # The page query carries the counters; expectedOutput's references come in one batch, read
    # with the server's role (a caller's may not read them: sql/015).
    assert counts[5] == counts[50] == 2, counts


async def test_progress_list_resolves_patterns_and_stats_in_batches(services, gql) -> None:
    user = str(uuid.uuid4())
    ids = [r["id"] for r in await services.db.fetch("SELECT id FROM patterns ORDER BY position LIMIT 12")]
    for pid in ids:
        await progress.record(services.db, ProgressWrite(user, None, pid, 10, 1, False))
    await gql.data(PROGRESS_QUERY, token=token_for(user))  # warm the statement cache
    with StatementCounter(services) as counter:
        data = await gql.data(PROGRESS_QUERY, token=token_for(user))
    assert len(data["progress"]) == 12
    counter.assert_one_read_session()
    # progress with its patterns' columns in one statement, then one batch of stats
    assert len(counter.queries) == 2, counter.queries
    assert "JOIN patterns" in counter.queries[0] and "pattern_stats" in counter.queries[1], counter.queries


async def test_a_failed_statement_fails_its_field_only(services, gql) -> None:
    # A NUL cannot be stored or compared as text: that statement fails and aborts the session's
    # transaction, which is rolled back at once; the sibling field reads in a new one.
    body = await gql('query($s: String) { bad: pattern(slug: $s) { id } good: pattern(slug: "right-triangle") { slug } }',
                     {"s": "a\x00b"})
    assert body["data"] == {"bad": None, "good": {"slug": "right-triangle"}}, body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


async def test_a_read_session_cannot_write(services) -> None:
    scoped = ScopedDatabase(services.db, DbRole.AUTHENTICATED, {"role": "authenticated", "sub": "x"})
    async with scoped.read_session():
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await scoped.execute("UPDATE learners SET display_name = 'w' WHERE id = 'x'")
        assert await scoped.fetchval("SELECT current_user") == "authenticated"  # a new transaction, still the caller


SUMMARY_FIELDS = "id name slug category difficulty __typename"


@pytest.mark.parametrize(
    ("query", "variables", "summary"),
    [
        (f"{{ progress {{ attempts pattern {{ {SUMMARY_FIELDS} }} }} }}", None, True),
        ("{ progress { pattern { ...P } } } fragment P on Pattern { name label: slug }", None, True),
        ("{ progress { ... on Progress { pattern { ... on Pattern { slug } } } } }", None, True),
        ("{ progress { attempts } }", None, True),
        ("{ progress { pattern { name description preview rows formula } } }", None, False),
        ("{ progress { pattern { name } again: pattern { preview } } }", None, False),
        ("{ progress { ... on Progress { pattern { name stats { attempts } } } } }", None, False),
        ("query($x: Boolean!) { progress { pattern { name @include(if: $x) } } }", {"x": True}, False),
    ],
)
async def test_progress_reads_only_the_pattern_columns_its_selection_needs(services, gql, query, variables,
                                                                            summary) -> None:
    user = str(uuid.uuid4())
    ids = [r["id"] for r in await services.db.fetch("SELECT id FROM patterns ORDER BY position LIMIT 3")]
    for pid in ids:
        await progress.record(services.db, ProgressWrite(user, None, pid, 10, 1, False))
    with StatementCounter(services) as counter:
        data = await gql.data(query, variables, token=token_for(user))
    read = counter.queries[0]
    assert "JOIN patterns" in read, counter.queries
    assert ("p.description" not in read) is summary, read
    # Whatever was read, each answered pattern is one of the three, field for field.
    rows = await services.db.fetch("SELECT * FROM patterns WHERE id = ANY($1)", ids)
    known = [{"id": str(r["id"]), "name": r["name"], "slug": r["slug"], "label": r["slug"], "category": r["category"],
              "difficulty": r["difficulty"], "__typename": "Pattern", "description": r["description"],
              "preview": list(r["preview"]), "rows": r["default_size"], "formula": r["formula"]} for r in rows]
    assert len(data["progress"]) == 3
    answered = [item[key] for item in data["progress"] for key in ("pattern", "again") if key in item]
    for pattern in answered:
        fields = set(pattern) - {"stats"}
        assert {k: pattern[k] for k in fields} in [{k: row[k] for k in fields} for row in known], pattern
