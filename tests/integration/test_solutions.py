"""Pattern solutions: null until the caller's judged PASS, then the reference code and its
explanation, produced once per pattern and model and stored; batched over a catalog page."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from app.cli import seed_with_solutions
from core.settings import Settings
from db import progress
from db.progress import ProgressWrite
from tests.helpers import make_settings, token_for
from tests.integration.test_rls import as_anon, as_learner
from tests.integration.test_round_trips import StatementCounter, add_patterns
from tests.integration.test_submissions import RIGHT_TRIANGLE, SUBMIT, pattern_id

SOLUTION = 'query($slug: String) { pattern(slug: $slug) { solution { language code explanation modelUsed } } }'
PAGE = "query($first: Int) { patterns(first: $first) { edges { node { slug solution { code explanation } } } } }"
SAVE = "mutation($input: SaveProgressInput!) { saveProgress(input: $input) { completed } }"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # No analysis workers: their idle polls would be counted with the request's statements.
    # No response cache: these count what executing a query costs, and a hit runs none.
    return make_settings(database_url, tmp_path, analysis_workers=0, response_cache=False)


async def solution(gql, token: str | None, slug: str = "right-triangle") -> dict | None:
    return (await gql.data(SOLUTION, {"slug": slug}, token=token))["pattern"]["solution"]


async def test_a_solution_appears_only_after_a_judged_pass(gql, services) -> None:
    token = token_for()
    pid = await pattern_id(gql, "right-triangle")
    assert await solution(gql, None) is None  # anonymous
    assert await solution(gql, token) is None  # nothing submitted
    wrong = "n = int(input())\nfor i in range(1, n):\n    print('*' * i)\n"
    await gql.data(SUBMIT, {"input": {"patternId": pid, "code": wrong}}, token=token)
    assert await solution(gql, token) is None  # tried, not passed
    # Saying "completed" is not passing.
    await gql.data(SAVE, {"input": {"patternId": pid, "progressPercentage": 100, "completed": True}}, token=token)
    assert await solution(gql, token) is None
    await gql.data(SUBMIT, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE}}, token=token)
    shown = await solution(gql, token)
    reference = await services.db.fetchval("SELECT reference_solution FROM patterns WHERE slug = 'right-triangle'")
    assert shown["code"] == reference and shown["language"] == "PYTHON" and shown["modelUsed"] == "rule-based"
    explanation = shown["explanation"]
    assert explanation.startswith("This is the reference solution for the Right Triangle")
    assert "reads the size n with input()" in explanation and "row i (1..n): i stars" in explanation
    assert "Your program" not in explanation and "Well done" not in explanation
    # Other patterns stay closed.
    assert await solution(gql, token, "square-solid") is None


async def test_an_explanation_is_made_once_and_shared(gql, services) -> None:
    pid = int(await pattern_id(gql, "right-triangle"))
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for learner in (first, second):
        await progress.record(services.db, ProgressWrite(learner, None, pid, 100, 5, True, 1.0, True))
    text = (await solution(gql, token_for(first)))["explanation"]
    stored = await services.db.fetch("SELECT status, model_key, created_at, explanation FROM pattern_solutions")
    assert [(r["status"], r["model_key"], r["explanation"]) for r in stored] == [("DONE", "rule-based", text)]
    assert (await solution(gql, token_for(second)))["explanation"] == text
    again = await services.db.fetchval("SELECT created_at FROM pattern_solutions")
    assert again == stored[0]["created_at"]  # read, not written again
    # A changed reference is explained anew.
    await services.db.execute("UPDATE patterns SET reference_solution = reference_solution || '# v2' || chr(10) "
                              "WHERE id = $1", pid)
    changed = await solution(gql, token_for(second))
    assert changed["code"].endswith("# v2\n")
    assert await services.db.fetchval("SELECT created_at FROM pattern_solutions") > again


async def test_a_catalog_page_of_solutions_costs_the_same_round_trips_for_50_as_for_5(gql, services) -> None:
    await add_patterns(services, 40)
    learner = str(uuid.uuid4())
    token = token_for(learner)
    for pid in [r["id"] for r in await services.db.fetch("SELECT id FROM patterns ORDER BY position LIMIT 50")]:
        await progress.record(services.db, ProgressWrite(learner, None, pid, 100, 5, True, 1.0, True))
    with StatementCounter(services) as counter:
        page = (await gql.data(PAGE, {"first": 50}, token=token))["patterns"]["edges"]
    assert [e["node"]["slug"] for e in page if not e["node"]["solution"]] == []
    writes = [s for s in counter.statements if "INSERT INTO pattern_solutions" in s]
    assert len(writes) == 1  # the 50 new solutions in one batch
    for first in (5, 50, 5, 50):  # warm every pooled connection's statement cache
        await gql.data(PAGE, {"first": first}, token=token)
    counts = {}
    for first in (5, 50):
        with StatementCounter(services) as counter:
            page = (await gql.data(PAGE, {"first": first}, token=token))["patterns"]["edges"]
        assert len(page) == first and all(e["node"]["solution"] for e in page)
        counter.assert_one_read_session()
        counts[first] = len(counter.queries)
    assert counts[5] == counts[50] == 2, counts  # the page, then one batch of solutions


async def test_only_learners_who_passed_read_a_solution_in_sql(gql, services) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    pid = int(await pattern_id(gql, "right-triangle"))
    await progress.record(services.db, ProgressWrite(alice, None, pid, 100, 5, True, 1.0, True))
    await progress.record(services.db, ProgressWrite(bob, None, pid, 100, 5, True))  # self-reported only
    await solution(gql, token_for(alice))  # stores it
    async with as_learner(services, alice).transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pattern_solutions") == 1
    async with as_learner(services, bob).transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pattern_solutions") == 0
    for statement in ("SELECT worker_id FROM pattern_solutions",
                      "UPDATE pattern_solutions SET explanation = 'pwned'",
                      "DELETE FROM pattern_solutions",
                      "INSERT INTO pattern_solutions (pattern_id, language, model_key, reference_sha256, status, "
                      "explanation) VALUES (1, 'PYTHON', 'x', repeat('a', 64), 'QUEUED', 'x')"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_learner(services, alice).fetch(statement)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await as_anon(services).fetch("SELECT explanation FROM pattern_solutions")


async def test_seed_precomputes_every_solution_once(services, settings) -> None:
    written = await seed_with_solutions(settings)
    count = await services.db.fetchval("SELECT count(*) FROM patterns")
    assert written == count
    rows = await services.db.fetch("SELECT status, model_used, explanation FROM pattern_solutions")
    assert len(rows) == count and {(r["status"], r["model_used"]) for r in rows} == {("DONE", "rule-based")}
    assert all(r["explanation"].startswith("This is the reference solution") for r in rows)
    assert await seed_with_solutions(settings) == 0  # done already


async def test_with_a_model_the_grounded_text_comes_at_once_and_verified_prose_follows(
    database_url: str, tmp_path: Path, tiny_tutor: Path
) -> None:
    """The tiny tutor says three true sentences of the right triangle's reference; the worker
    appends the ones the verifier keeps to the stored grounded text, durably."""
    from app.services import Services
    from tests.tiny_models import TUTOR_REPLY

    settings = make_settings(database_url, tmp_path, models_enabled=True, generation_model=str(tiny_tutor),
                             models_preload=False, generation_batch_wait_ms=0.0, analysis_workers=1)
    services = Services.create(settings)
    await services.start()
    try:
        await services.worker.aclose()  # first: nothing runs, so we see what the learner gets at once
        learner = str(uuid.uuid4())
        pid = await services.db.fetchval("SELECT id FROM patterns WHERE slug = 'right-triangle'")
        await progress.record(services.db, ProgressWrite(learner, None, pid, 100, 5, True, 1.0, True))
        at_once = (await services.solutions.for_learner(services.db, learner, [pid]))[0]
        assert at_once is not None and at_once.model_used == "rule-based"
        assert at_once.explanation.startswith("This is the reference solution")
        row = await services.db.fetchrow("SELECT status, model_key FROM pattern_solutions")
        assert row["status"] == "QUEUED" and row["model_key"] == str(tiny_tutor)
        await services.worker.start()
        for _ in range(300):
            row = await services.db.fetchrow("SELECT status, explanation, model_used, result FROM pattern_solutions")
            if row["status"] == "DONE":
                break
            await asyncio.sleep(0.1)
        assert row["status"] == "DONE" and row["model_used"] == str(tiny_tutor), row
        assert row["explanation"].startswith(at_once.explanation)
        kept = row["result"]["model_sentences"]["kept"]
        assert kept >= 1 and all(line in TUTOR_REPLY for line in row["explanation"][len(at_once.explanation):]
                                 .strip().splitlines())
        later = (await services.solutions.for_learner(services.db, learner, [pid]))[0]
        assert later is not None and later.explanation == row["explanation"]
    finally:
        await services.close()
