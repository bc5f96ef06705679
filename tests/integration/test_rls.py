"""Row level security in depth: a learner reaches only their own progress, attempts and
analyses, through the API and with the application's own checks taken away.

Requests run as `anon` / `authenticated` with the token's claims (db/scoped.py); these tests
show the policies in `sql/` hold on their own: the query modules are called as learner B on
learner A's rows with no resolver in between, and raw SQL is run as B.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from db import activity, analyses, attempts, learners, progress
from db.progress import ProgressWrite
from db.scoped import DbRole, RequestRolesUnavailable, ScopedDatabase, begin_as, dollar_quoted, require_request_roles
from tests.helpers import token_for
from tests.integration.test_submissions import ANALYSIS, REQUEST, RIGHT_TRIANGLE, SUBMIT, pattern_id
from tests.live_server import live_server, subscribe

MY_PROGRESS = "{ progress { attempts pattern { slug } } me { id } }"
SAVE = """mutation($input: SaveProgressInput!) { saveProgress(input: $input) { attempts } }"""
UPDATES = "subscription($id: ID!) { analysisUpdates(analysisId: $id) { status } }"


def as_learner(services, user: str) -> ScopedDatabase:
    return ScopedDatabase(services.db, DbRole.AUTHENTICATED, {"sub": user, "role": "authenticated"})


def as_anon(services) -> ScopedDatabase:
    return ScopedDatabase(services.db, DbRole.ANON, {"role": "anon"})


@pytest.fixture
async def alice_work(gql, services) -> dict:
    """Learner A's progress, attempt and analysis, made through the API."""
    alice = str(uuid.uuid4())
    token = token_for(alice)
    pid = await pattern_id(gql, "right-triangle")
    submitted = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE}}, token=token))
    requested = (await gql.data(REQUEST, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE + "# v2\n"}},
                                token=token))
    return {
        "id": alice,
        "token": token,
        "pattern": int(pid),
        "attempt": int(submitted["submitAttempt"]["attempt"]["id"]),
        "analyses": [submitted["submitAttempt"]["analysis"]["id"], requested["requestAnalysis"]["id"]],
    }


async def test_through_the_api_b_sees_nothing_of_a(gql, services, alice_work) -> None:
    bob = str(uuid.uuid4())
    bob_token = token_for(bob)
    mine = await gql.data(MY_PROGRESS, token=bob_token)
    assert mine["progress"] == [] and mine["me"]["id"] == bob
    for analysis_id in alice_work["analyses"]:
        assert (await gql.data(ANALYSIS, {"id": analysis_id}, token=bob_token))["analysis"] is None
        assert (await gql.data(ANALYSIS, {"id": analysis_id}, token=alice_work["token"]))["analysis"] is not None
    # Bob's own write goes to Bob, and leaves Alice's row as it was.
    await gql.data(SAVE, {"input": {"patternId": str(alice_work["pattern"]), "progressPercentage": 50}},
                   token=bob_token)
    rows = await services.db.fetch("SELECT learner_id, attempts FROM progress ORDER BY learner_id")
    assert {r["learner_id"]: r["attempts"] for r in rows} == {alice_work["id"]: 1, bob: 1}


async def test_a_subscription_to_someone_elses_analysis_is_not_found(services, alice_work) -> None:
    async with live_server(services) as address:
        messages = await subscribe(address, UPDATES, {"id": alice_work["analyses"][1]}, token_for(), 30)
    codes = [e["extensions"]["code"] for m in messages if m["type"] in ("next", "error")
             for e in (m["payload"]["errors"] if m["type"] == "next" else m["payload"])]
    assert codes == ["NOT_FOUND"], messages


async def test_query_modules_as_b_cannot_reach_a_without_the_resolvers_checks(services, alice_work) -> None:
    bob = str(uuid.uuid4())
    as_bob = as_learner(services, bob)
    alice = alice_work["id"]
    # Reads: the resolvers compare learner ids; here nobody does, and still nothing comes back.
    assert await progress.for_learner_with_patterns(as_bob, alice) == []
    assert await progress.by_learner_and_patterns(as_bob, [(alice, alice_work["pattern"])]) == [None]
    assert await attempts.by_id(as_bob, alice_work["attempt"]) is None
    for analysis_id in alice_work["analyses"]:
        assert await analyses.by_id(as_bob, uuid.UUID(analysis_id)) is None
    # Her history, asked for by her id.
    for pattern in (None, alice_work["pattern"]):
        page = await attempts.page_for_learner(as_bob, alice, pattern, 20, None)
        assert (page.rows, page.total_count) == ([], 0)
    assert (await analyses.page_for_learner(as_bob, alice, 20, None)).total_count == 0
    assert await analyses.by_attempt_ids(as_bob, [alice_work["attempt"]]) == [None]
    # As Alice, the same calls find her rows: the policy, not a broken query, hid them.
    as_alice = as_learner(services, alice)
    assert len(await progress.for_learner_with_patterns(as_alice, alice)) == 1
    assert await attempts.by_id(as_alice, alice_work["attempt"]) is not None
    assert (await attempts.page_for_learner(as_alice, alice, None, 20, None)).total_count == 1
    assert (await analyses.page_for_learner(as_alice, alice, 20, None)).total_count == 2
    assert await analyses.by_attempt_ids(as_alice, [alice_work["attempt"]]) != [None]
    # Writes: Bob can neither record progress for Alice nor touch her analyses.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await progress.record(as_bob, ProgressWrite(alice, None, alice_work["pattern"], 100, 1, True))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_bob.transaction() as conn:
            await learners.ensure(conn, alice, "Mallory")
    await analyses.mark_watched(as_bob, uuid.UUID(alice_work["analyses"][1]))
    watched = await services.db.fetchval("SELECT watched_at FROM analyses WHERE id = $1::uuid",
                                         alice_work["analyses"][1])
    assert watched is None
    row = await services.db.fetchrow("SELECT attempts, completed FROM progress WHERE learner_id = $1", alice)
    assert (row["attempts"], row["completed"]) == (1, True)  # her passing attempt, unchanged


async def test_raw_sql_as_b_on_every_learner_table(services, alice_work) -> None:
    bob = str(uuid.uuid4())
    alice = alice_work["id"]
    async with as_learner(services, bob).transaction() as conn:
        assert await conn.fetchval("SELECT current_user") == "authenticated"
        for table in ("progress", "attempts", "analyses"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    for statement, args in [
        ("UPDATE attempts SET score = 1 WHERE learner_id = $1", (alice,)),
        ("UPDATE analyses SET status = 'FAILED', completed_at = now() WHERE learner_id = $1", (alice,)),
        ("UPDATE learners SET display_name = 'Mallory' WHERE id = $1", (alice,)),
    ]:
        async with as_learner(services, bob).transaction() as conn:
            assert await conn.execute(statement, *args) == "UPDATE 0", statement
    for statement, args in [
        ("DELETE FROM attempts", ()),
        ("DELETE FROM analyses", ()),
        ("UPDATE progress SET completed = true WHERE learner_id = $1", (alice,)),
        ("INSERT INTO attempts (learner_id, pattern_id, language, code, code_sha256, verdict, score)"
         " VALUES ($1, $2, 'PYTHON', 'x', repeat('a', 64), 'PASSED', 1)", (alice, alice_work["pattern"])),
        ("INSERT INTO analyses (learner_id, pattern_id, kind, code, code_sha256)"
         " VALUES ($1, $2, 'FULL', 'x', repeat('a', 64))", (alice, alice_work["pattern"])),
        ("UPDATE pattern_stats SET attempts = 0", ()),
        ("UPDATE learners SET points = 1000 WHERE id = $1", (bob,)),
        ("SELECT * FROM record_progress_unchecked($1, null, $2, 100, 1, true, 1, true)",
         (alice, alice_work["pattern"])),
    ]:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with as_learner(services, bob).transaction() as conn:
                await conn.execute(statement, *args)
    # Everything of Alice's is still there, as it was.
    counts = await services.db.fetchrow(
        """SELECT (SELECT count(*) FROM attempts WHERE learner_id = $1) AS attempts,
                  (SELECT count(*) FROM analyses WHERE learner_id = $1 AND status <> 'FAILED') AS analyses,
                  (SELECT display_name FROM learners WHERE id = $1) AS name""", alice)
    assert (counts["attempts"], counts["analyses"], counts["name"]) == (1, 2, None)


async def test_days_and_streaks_are_each_learners_own(services, alice_work) -> None:
    alice, bob = alice_work["id"], str(uuid.uuid4())
    as_bob = as_learner(services, bob)
    assert [r["attempts"] for r in await activity.daily(as_bob, alice, 3)] == [0, 0, 0]
    assert await activity.streak(as_bob, alice) is None
    as_alice = as_learner(services, alice)
    assert [r["attempts"] for r in await activity.daily(as_alice, alice, 1)] == [1]
    assert (await activity.streak(as_alice, alice))["current"] == 1
    async with as_bob.transaction() as conn:
        for table in ("learner_activity_daily", "learner_streaks"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    for scoped in (as_bob, as_anon(services)):
        for statement in ("SELECT * FROM learner_streaks_recount", "UPDATE learner_streaks SET longest_days = 99",
                          "INSERT INTO learner_activity_daily (learner_id, day, points) VALUES ('x', now(), 5)"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await scoped.fetch(statement)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_anon(services).fetch("SELECT * FROM learner_activity_daily")
    # The WEEK leaderboard still ranks everyone, for anyone, and shows only the ranking.
    await services.db.execute("UPDATE learner_activity_daily SET points = 10 WHERE learner_id = $1", alice)
    board = await learners.leaderboard_week(as_anon(services), 10)
    assert [(r["learner_id"], r["points"]) for r in board] == [(alice, 10)]
    assert list(board[0].keys()) == ["rank", "learner_id", "display_name", "points", "completed_patterns", "attempts"]


async def test_anonymous_reads_the_catalog_and_nothing_private(services, alice_work) -> None:
    anon = as_anon(services)
    assert await anon.fetchval("SELECT count(*) FROM patterns") > 0
    assert await anon.fetchval("SELECT count(*) FROM pattern_stats") > 0
    assert await anon.fetchval("SELECT count(*) FROM learners") >= 1  # the leaderboard is public
    for table in ("progress", "attempts", "analyses"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await anon.fetch(f"SELECT * FROM {table}")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await anon.fetch("SELECT * FROM record_progress($1, null, $2, 100, 1, true, 1, true)",
                         alice_work["id"], alice_work["pattern"])


async def test_reference_programs_are_for_those_who_passed_only(services, alice_work) -> None:
    """The reference is the solution: no request role reads it from the table (Supabase's REST API
    would serve it to anyone); `passed_references` gives a learner those they passed, and only
    their own. Alice passed right-triangle in alice_work; Bob passed nothing."""
    bob = str(uuid.uuid4())
    everyone = ("*", "reference_solution", "id, reference_solution")
    for role in (as_anon(services), as_learner(services, alice_work["id"]), as_learner(services, bob)):
        assert await role.fetchval("SELECT count(slug) FROM patterns") == 43  # the rest stays public
        for columns in everyone:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await role.fetch(f"SELECT {columns} FROM patterns")
    other = await services.db.fetchval("SELECT id FROM patterns WHERE slug = 'diamond-solid'")
    ids = [alice_work["pattern"], other]
    mine = await as_learner(services, alice_work["id"]).fetch(
        "SELECT pattern_id, reference_solution FROM passed_references($1, $2::bigint[])", alice_work["id"], ids)
    assert [r["pattern_id"] for r in mine] == [alice_work["pattern"]] and "print" in mine[0]["reference_solution"]
    assert await as_learner(services, bob).fetch("SELECT * FROM passed_references($1, $2::bigint[])", bob, ids) == []
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # Bob asking as Alice
        await as_learner(services, bob).fetch("SELECT * FROM passed_references($1, $2::bigint[])",
                                              alice_work["id"], ids)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_anon(services).fetch("SELECT * FROM passed_references($1, $2::bigint[])", alice_work["id"], ids)


async def test_the_shared_analysis_cache_returns_results_only(services, alice_work) -> None:
    """Identical code reuses a finished analysis across learners without showing whose it was."""
    async with as_learner(services, str(uuid.uuid4())).transaction() as conn:
        statement = await conn.prepare("SELECT * FROM reusable_analysis($1, $2, $3, $4, $5)")
        done = await services.db.fetchrow(
            "SELECT kind, model_key, code_sha256, language FROM analyses WHERE learner_id = $1 AND status = 'DONE' "
            "LIMIT 1", alice_work["id"])
        rows = await statement.fetch(alice_work["pattern"], done["kind"], done["model_key"], done["code_sha256"],
                                     done["language"])
        other_language = await statement.fetch(alice_work["pattern"], done["kind"], done["model_key"],
                                               done["code_sha256"], "JAVASCRIPT")
        columns = [a.name for a in statement.get_attributes()]
    assert columns == ["result", "model_used", "ai_confidence"]
    assert len(rows) == 1 and rows[0]["result"]  # Alice's result, readable by anyone with the same code
    assert done["language"] == "PYTHON" and other_language == []  # ...in the same language only


def test_claims_are_quoted_as_data() -> None:
    """A hostile claim value cannot end the quoted literal and run SQL of its own."""
    hostile = {"sub": "x'); DROP TABLE progress; --", "role": "authenticated", "n": "$c$ $c1$"}
    begin = begin_as(DbRole.AUTHENTICATED, hostile)
    literal = begin.split("set_config('request.jwt.claims', ", 1)[1]
    assert literal.startswith("$c2$")  # $c$ and $c1$ occur in the claims
    body = literal.split("$c2$")[1]
    assert "DROP TABLE" in body and json.loads(body) == hostile
    assert begin.endswith("set_config('role', 'authenticated', true)")


@pytest.mark.parametrize("text", ["", "x", "x$c", "$c", "$c$", "a$c$b$c1", "$c1$$c$", "$", "$$", "x$c1"])
def test_adollar_quoted_literal_ends_where_its_text_does(text: str) -> None:
    # The literal's end is the first occurrence of its tag after the opening one (PostgreSQL's
    # rule): a text that ends with "$c" must not close "$c$" one character early.
    literal = dollar_quoted(text)
    tag = literal[:literal.index("$", 1) + 1]
    assert literal.startswith(tag) and literal.endswith(tag)
    assert literal.find(tag, len(tag)) == len(tag) + len(text)


@pytest.mark.parametrize("hostile", ["x'); DROP TABLE progress; -- $$ $c$", "$c$ $c1$ $c2", "x$c"])
async def test_hostile_claims_round_trip_as_data(services, hostile: str) -> None:
    scoped = ScopedDatabase(services.db, DbRole.AUTHENTICATED, {"sub": hostile, "role": "authenticated"})
    assert await scoped.fetchval("SELECT auth.jwt() ->> 'sub'") == hostile
    async with scoped.read_session():
        assert await scoped.fetchval("SELECT auth.jwt() ->> 'sub'") == hostile
    assert await services.db.fetchval("SELECT to_regclass('public.progress') IS NOT NULL")


async def test_the_server_refuses_a_login_role_that_cannot_become_the_caller(services, database_url) -> None:
    role = f"cpm_login_{uuid.uuid4().hex[:8]}"
    await services.db.execute(f"CREATE ROLE {role} LOGIN")
    try:
        conn = await asyncpg.connect(database_url, user=role)
        try:
            with pytest.raises(RequestRolesUnavailable, match=f"GRANT anon, authenticated TO {role}"):
                await require_request_roles(conn)
            await services.db.execute(f"GRANT anon, authenticated TO {role}")
            await require_request_roles(conn)
        finally:
            await conn.close()
    finally:
        await services.db.execute(f"DROP ROLE {role}")
