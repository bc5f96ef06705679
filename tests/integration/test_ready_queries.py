"""A query whose text this schema parsed and validated before runs without Strawberry's
per-operation pipeline (resolvers/schema.py `_execute_ready`): the same bytes as the first time,
data and errors alike, errors coded and masked, in one read session as the caller, counted by
the metrics; mutations and unknown texts take the whole way."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from core.settings import Settings
from resolvers.schema import Schema
from tests.helpers import make_settings, token_for
from tests.integration.test_round_trips import StatementCounter

LEARNER_PAGE = """
query Page { me { id displayName points completedPatterns }
  progress { pattern { name slug } progressPercentage timeSpentSeconds attempts completed bestScore } }
"""
CATALOG = "query($first: Int) { patterns(first: $first) { totalCount edges { node { slug name stats { attempts } } } } }"
TWO_OPERATIONS = "query A { __typename } query B { patterns(first: 1) { totalCount } }"
SUBMIT = """
mutation($input: SubmitAttemptInput!) { submitAttempt(input: $input) { attempt { verdict } } }
"""


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No response cache: every request here executes; no workers: their polls are not statements.
    return make_settings(database_url, tmp_path, response_cache=False, analysis_workers=0)


@contextmanager
def ready_runs() -> Iterator[list[int]]:
    """Counts the operations that took the ready path inside the block (runs[0])."""
    runs = [0]
    original = Schema._execute_ready

    async def counting(self: Schema, *args: object) -> object:
        runs[0] += 1
        return await original(self, *args)  # type: ignore[arg-type]

    Schema._execute_ready = counting  # type: ignore[method-assign]
    try:
        yield runs
    finally:
        Schema._execute_ready = original  # type: ignore[method-assign]


async def post(client, body: dict, token: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


async def test_the_second_run_is_the_ready_way_and_answers_the_same_bytes(client, services) -> None:
    learner = str(uuid.uuid4())
    token = token_for(learner)
    await services.db.execute("INSERT INTO learners (id, display_name, points) VALUES ($1, 'Ada', 7)", learner)
    await services.db.execute(
        "INSERT INTO progress (learner_id, pattern_id, progress_percentage, attempts) "
        "SELECT $1, id, 50, 2 FROM patterns ORDER BY id LIMIT 3", learner)
    cases = [
        ({"query": LEARNER_PAGE}, token),
        ({"query": LEARNER_PAGE, "operationName": "Page"}, token),  # another key: the name as sent
        ({"query": CATALOG, "variables": {"first": 3}}, None),
        ({"query": CATALOG, "variables": {"first": "three"}}, None),  # coercion error, coded
        ({"query": LEARNER_PAGE}, None),  # anonymous: UNAUTHENTICATED
        # Strawberry runs the first of several operations when none is named: the ready way too.
        ({"query": TWO_OPERATIONS}, None),
        ({"query": TWO_OPERATIONS, "operationName": "B"}, None),
    ]
    answers = []
    for body, caller in cases:
        with ready_runs() as runs:
            first = await post(client, body, caller)
            second = await post(client, body, caller)
            third = await post(client, body, caller)
        assert first == second == third, body
        assert runs[0] >= 2, body  # the second and third (the first too, when an earlier case taught it)
        answers.append(json.loads(first))
    page, named, catalog, coerced, anonymous, first_of_two, second_of_two = answers
    assert page == named and page["data"]["me"]["displayName"] == "Ada" and len(page["data"]["progress"]) == 3
    assert len(catalog["data"]["patterns"]["edges"]) == 3
    assert [e["extensions"]["code"] for e in coerced["errors"]] == ["BAD_USER_INPUT"]
    assert "UNAUTHENTICATED" in {e["extensions"]["code"] for e in anonymous["errors"]}
    assert first_of_two == {"data": {"__typename": "Query"}}
    assert set(second_of_two["data"]["patterns"]) == {"totalCount"}


async def test_odd_operation_names_take_the_whole_way(client, services) -> None:
    # Found by tests/fuzz: `"operationName": []` reached the ready queries' lookup (unhashable: a 500).
    await post(client, {"query": CATALOG})  # taught, under the name None
    for name in ([], {}, 7):
        with ready_runs() as runs:
            response = await client.post("/graphql", json={"query": CATALOG, "operationName": name})
        assert runs[0] == 0 and response.status_code < 500, (name, response.text)


async def test_an_internal_error_on_the_ready_way_is_masked_and_coded(client, services) -> None:
    learner = str(uuid.uuid4())
    token = token_for(learner)
    await services.db.execute("INSERT INTO learners (id) VALUES ($1)", learner)
    await post(client, {"query": LEARNER_PAGE}, token)  # taught
    await services.db.execute("ALTER TABLE learners RENAME COLUMN points TO points_renamed")
    with ready_runs() as runs:
        body = await post(client, {"query": LEARNER_PAGE}, token)
    assert runs[0] == 1
    answer = json.loads(body)
    assert [(e["message"], e["extensions"]) for e in answer["errors"]] == [
        ("Internal server error.", {"code": "INTERNAL_SERVER_ERROR"})]
    assert answer["data"] is None or answer["data"].get("me") is None


async def test_the_ready_way_reads_in_one_session_as_the_caller(client, services) -> None:
    learner = str(uuid.uuid4())
    token = token_for(learner)
    await services.db.execute("INSERT INTO learners (id) VALUES ($1)", learner)
    await post(client, {"query": LEARNER_PAGE}, token)
    with ready_runs() as runs, StatementCounter(services) as counter:
        await post(client, {"query": LEARNER_PAGE}, token)
    assert runs[0] == 1
    # Opened as the caller (the claims and the role, read only), two statements, rolled back.
    assert counter.statements[0].startswith("BEGIN READ ONLY;") and "authenticated" in counter.statements[0]
    assert counter.statements[-1] == "ROLLBACK" and len(counter.statements) == 4


async def test_mutations_and_new_texts_take_the_whole_way(client, services) -> None:
    token = token_for()
    found = json.loads(await post(client, {"query": '{ pattern(slug: "right-triangle") { id } }'}))
    submit = {"query": SUBMIT, "variables": {"input": {"patternId": found["data"]["pattern"]["id"], "code": "print(1)"}}}
    with ready_runs() as runs:
        await post(client, submit, token)
        await post(client, submit, token)
        await post(client, {"query": "{ patterns(first: 1) { totalCount } }"})
    assert runs[0] == 0


def operations(name: str) -> float:
    return REGISTRY.get_sample_value("codepattern_graphql_operations_total",
                                     {"operation_name": name, "operation_type": "query"}) or 0.0


def errors(code: str) -> float:
    return REGISTRY.get_sample_value("codepattern_graphql_errors_total",
                                     {"code": code, "operation_type": "query"}) or 0.0


async def test_the_ready_way_is_counted_by_the_metrics(client, services) -> None:
    body = {"query": LEARNER_PAGE}
    await post(client, body)  # taught (anonymous: one UNAUTHENTICATED error)
    count, coded = operations("Page"), errors("UNAUTHENTICATED")
    with ready_runs() as runs:
        await post(client, body)
    assert runs[0] == 1
    assert operations("Page") == count + 1 and errors("UNAUTHENTICATED") == coded + 1
