"""Submission history: a learner's attempts and analyses, newest first, paged by cursor, their own
only; and a page of 50 costs the round trips of a page of 5."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest

from core.settings import Settings
from tests.helpers import make_settings, token_for
from tests.integration.test_round_trips import StatementCounter
from tests.integration.test_submissions import REQUEST, RIGHT_TRIANGLE, SUBMIT, pattern_id

HISTORY = """
query($pattern: ID, $first: Int, $after: String) {
  me { attempts(patternId: $pattern, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id verdict code language createdAt pattern { slug } analysis { id status kind } } }
  } }
}
"""
ANALYSES = """
query($first: Int, $after: String) {
  me { analyses(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id kind pattern { slug } } }
  } }
}
"""
SQUARE_4 = "for _ in range(4):\n    print('****')\n"  # passes at the default size only (never reads n)
ONE = "query($id: ID!) { attempt(id: $id) { id code verdict language createdAt analysis { id } } }"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No analysis workers: their polls would be counted with the request's statements.
    # No response cache: these count what executing a query costs, and a hit runs none.
    return make_settings(database_url, tmp_path, analysis_workers=0, response_cache=False)


async def add_attempts(services, learner: str, pattern: int, count: int, *, verdict: str = "WRONG_OUTPUT") -> None:
    """`count` stored attempts (one transaction, so they share created_at: the id orders them)."""
    await services.db.execute("INSERT INTO learners (id) VALUES ($1) ON CONFLICT DO NOTHING", learner)
    await services.db.execute(
        """
        INSERT INTO attempts (learner_id, pattern_id, code, code_sha256, verdict, score, sizes_tested, output,
                              expected, duration_ms)
        SELECT $1, $2, 'print(' || g || ')', repeat('a', 64), $4, 0, '{4}', '{}', '{}', 1
        FROM generate_series(1, $3) g
        """,
        learner, pattern, count, verdict,
    )


async def test_history_lists_my_submissions_newest_first_with_their_code_and_analysis(gql) -> None:
    token = token_for(user := str(uuid.uuid4()))
    square, triangle = await pattern_id(gql, "square-solid"), await pattern_id(gql, "right-triangle")
    submitted = []
    for pid, code in [(square, SQUARE_4), (triangle, RIGHT_TRIANGLE), (square, "print('*')\n")]:
        data = await gql.data(SUBMIT, {"input": {"patternId": pid, "code": code}}, token=token)
        submitted.append(data["submitAttempt"])
    page = (await gql.data(HISTORY, token=token))["me"]["attempts"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is False
    nodes = [e["node"] for e in page["edges"]]
    assert [n["id"] for n in nodes] == [s["attempt"]["id"] for s in reversed(submitted)]
    assert [n["code"] for n in nodes] == ["print('*')\n", RIGHT_TRIANGLE, SQUARE_4]
    assert {n["language"] for n in nodes} == {"PYTHON"}
    assert [n["verdict"] for n in nodes] == ["WRONG_OUTPUT", "PASSED", "PASSED"]
    assert [n["createdAt"] for n in nodes] == sorted((n["createdAt"] for n in nodes), reverse=True)
    assert nodes[0]["createdAt"].endswith("+00:00")
    # Each submission's own analysis.
    assert [n["analysis"]["id"] for n in nodes] == [s["analysis"]["id"] for s in reversed(submitted)]
    assert {n["analysis"]["kind"] for n in nodes} == {"FULL"}
    # One pattern's submissions: the "Submissions" tab.
    only = (await gql.data(HISTORY, {"pattern": square}, token=token))["me"]["attempts"]
    assert only["totalCount"] == 2 and {e["node"]["pattern"]["slug"] for e in only["edges"]} == {"square-solid"}
    assert (await gql.data(HISTORY, {"pattern": "424242"}, token=token))["me"]["attempts"]["totalCount"] == 0
    # Reopening one by id, with its code.
    one = (await gql.data(ONE, {"id": nodes[1]["id"]}, token=token))["attempt"]
    assert one["code"] == RIGHT_TRIANGLE and one["verdict"] == "PASSED" and one["analysis"]["id"]
    assert user  # the token's learner


async def test_cursor_pages_walk_the_whole_history_without_gaps_or_repeats(gql, services) -> None:
    user = str(uuid.uuid4())
    token = token_for(user)
    square = int(await pattern_id(gql, "square-solid"))
    await add_attempts(services, user, square, 7)  # one created_at: ties broken by id
    await add_attempts(services, user, square, 5)  # a later transaction, a later created_at
    seen: list[str] = []
    after = None
    while True:
        page = (await gql.data(HISTORY, {"first": 5, "after": after}, token=token))["me"]["attempts"]
        assert page["totalCount"] == 12
        seen += [e["node"]["id"] for e in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    ids = await services.db.fetch("SELECT id FROM attempts WHERE learner_id = $1 ORDER BY created_at DESC, id DESC",
                                  user)
    assert seen == [str(r["id"]) for r in ids] and len(seen) == 12
    # A submission made while paging appears on top; the next page still follows on exactly.
    first = (await gql.data(HISTORY, {"first": 5}, token=token))["me"]["attempts"]
    await add_attempts(services, user, square, 1)
    second = (await gql.data(HISTORY, {"first": 5, "after": first["pageInfo"]["endCursor"]}, token=token))
    assert [e["node"]["id"] for e in second["me"]["attempts"]["edges"]] == seen[5:10]


async def test_analyses_list_is_mine_newest_first(gql) -> None:
    token = token_for()
    pid = await pattern_id(gql, "right-triangle")
    made = []
    for n in range(3):
        made.append((await gql.data(REQUEST, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE + f"# {n}\n"}},
                                    token=token))["requestAnalysis"]["id"])
    page = (await gql.data(ANALYSES, {"first": 2}, token=token))["me"]["analyses"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    rest = (await gql.data(ANALYSES, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=token))
    ids = [e["node"]["id"] for e in page["edges"]] + [e["node"]["id"] for e in rest["me"]["analyses"]["edges"]]
    assert ids == list(reversed(made))
    assert rest["me"]["analyses"]["pageInfo"]["hasNextPage"] is False


async def test_someone_elses_history_is_empty_and_their_attempt_null(gql) -> None:
    alice, bob = token_for(), token_for()
    pid = await pattern_id(gql, "right-triangle")
    mine = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE}}, token=alice))
    attempt_id = mine["submitAttempt"]["attempt"]["id"]
    assert (await gql.data(ONE, {"id": attempt_id}, token=bob))["attempt"] is None
    assert (await gql.data(ONE, {"id": attempt_id}, token=alice))["attempt"]["id"] == attempt_id
    assert (await gql.data(ONE, {"id": "not-a-number"}, token=alice))["attempt"] is None
    bobs = (await gql.data(HISTORY, token=bob))["me"]["attempts"]
    assert bobs["totalCount"] == 0 and bobs["edges"] == []
    assert (await gql.data(ANALYSES, token=bob))["me"]["analyses"]["totalCount"] == 0
    assert await gql.error_codes(ONE, {"id": attempt_id}) == ["UNAUTHENTICATED"]
    assert (await gql.data(HISTORY))["me"] is None  # anonymous: no learner, no history


async def test_bad_history_arguments_name_the_argument(gql) -> None:
    token = token_for()
    analyses_cursor = base64.urlsafe_b64encode(b"analysis:2026-01-01T00:00:00+00:00|" + str(uuid.uuid4()).encode())
    cases = [
        ({"first": 0}, "first"), ({"first": 101}, "first"), ({"after": "garbage"}, "after"),
        ({"after": base64.urlsafe_b64encode(b"pattern:3").decode()}, "after"),
        ({"after": analyses_cursor.decode()}, "after"),  # another list's cursor
        ({"after": base64.urlsafe_b64encode(b"attempt:2026-01-01T00:00:00|5").decode()}, "after"),  # no zone
        ({"pattern": "right-triangle"}, "patternId"),
    ]
    for variables, argument in cases:
        body = await gql(HISTORY, variables, token=token)
        [error] = body["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, (variables, error)
    body = await gql(ANALYSES, {"after": "x"}, token=token)
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "after"}


async def test_page_of_50_costs_the_same_round_trips_as_page_of_5(gql, services) -> None:
    user = str(uuid.uuid4())
    token = token_for(user)
    ids = [r["id"] for r in await services.db.fetch("SELECT id FROM patterns ORDER BY position LIMIT 10")]
    for pid in ids:
        await add_attempts(services, user, pid, 6)
    await services.db.execute(
        """INSERT INTO analyses (learner_id, pattern_id, attempt_id, kind, code, code_sha256)
           SELECT learner_id, pattern_id, id, 'FULL', code, code_sha256 FROM attempts WHERE learner_id = $1""", user)
    for first in (5, 50, 5, 50):  # warm each pooled connection's statement and type caches
        await gql.data(HISTORY, {"first": first}, token=token)
        await gql.data(ANALYSES, {"first": first}, token=token)
    counts = {}
    for first in (5, 50):
        with StatementCounter(services) as counter:
            data = await gql.data(HISTORY, {"first": first}, token=token)
        edges = data["me"]["attempts"]["edges"]
        assert len(edges) == first and all(e["node"]["analysis"] for e in edges)
        assert len({e["node"]["pattern"]["slug"] for e in edges}) == (1 if first == 5 else 9)
        counter.assert_one_read_session()
        counts[first] = len(counter.queries)
    # me, the page (with its total), one batch of patterns, one batch of analyses.
    assert counts[5] == counts[50] == 4, counts
    with StatementCounter(services) as counter:
        data = await gql.data(ANALYSES, {"first": 50}, token=token)
    assert len(data["me"]["analyses"]["edges"]) == 50 and len(counter.queries) == 3, counter.queries
