"""submitAttempt and requestAnalysis end to end: sandbox judge, records, durable analysis jobs."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.helpers import token_for

SUBMIT = """
mutation($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) {
    attempt { id verdict score sizesTested output expected error durationMs pattern { slug }
              mismatches { size row expected actual } }
    progress { attempts completed bestScore progressPercentage timeSpentSeconds }
    analysis { id status kind modelUsed }
  }
}
"""
REQUEST = """
mutation($input: RequestAnalysisInput!) {
  requestAnalysis(input: $input) { id status kind modelUsed aiConfidence createdAt completedAt }
}
"""
ANALYSIS = """
query($id: ID!) { analysis(id: $id) {
  id status kind modelUsed aiConfidence completedAt explanation suggestions hints pattern { slug }
  complexity { score level cyclomatic maxNestingDepth loops conditions bigO } } }
"""
RIGHT_TRIANGLE = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"


async def pattern_id(gql, slug: str) -> str:
    return (await gql.data("query($s: String) { pattern(slug: $s) { id } }", {"s": slug}))["pattern"]["id"]


async def wait_done(gql, analysis_id: str, token: str, limit_seconds: float = 30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while True:
        analysis = (await gql.data(ANALYSIS, {"id": analysis_id}, token=token))["analysis"]
        if analysis["status"] in ("DONE", "FAILED"):
            return analysis
        assert asyncio.get_running_loop().time() < deadline, analysis
        await asyncio.sleep(0.1)


async def test_passing_submission_records_everything_and_gets_analysed(gql, services) -> None:
    user = str(uuid.uuid4())
    token = token_for(user)
    pid = await pattern_id(gql, "right-triangle")
    data = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE, "timeSpentSeconds": 42}},
                           token=token))["submitAttempt"]
    attempt = data["attempt"]
    assert attempt["verdict"] == "PASSED" and attempt["score"] == 1.0
    assert attempt["output"] == attempt["expected"] == ["*", "**", "***", "****"]
    assert len(attempt["sizesTested"]) > 1 and 4 in attempt["sizesTested"]  # reads n: several sizes
    assert attempt["mismatches"] == [] and attempt["error"] is None
    assert attempt["pattern"] == {"slug": "right-triangle"}
    assert data["progress"] == {"attempts": 1, "completed": True, "bestScore": 1.0,
                                "progressPercentage": 100.0, "timeSpentSeconds": 42}
    assert data["analysis"]["status"] in ("QUEUED", "RUNNING", "DONE") and data["analysis"]["kind"] == "FULL"

    done = await wait_done(gql, data["analysis"]["id"], token)
    assert done["status"] == "DONE" and done["modelUsed"] == "rule-based" and done["aiConfidence"] == 0.0
    assert done["complexity"]["loops"] == 1 and done["complexity"]["bigO"] == "O(n^2)"
    assert done["explanation"] and done["pattern"] == {"slug": "right-triangle"}
    assert isinstance(done["suggestions"], list) and isinstance(done["hints"], list)

    me = (await gql.data("{ me { points completedPatterns } }", token=token))["me"]
    assert me == {"points": 10, "completedPatterns": 1}
    stats = (await gql.data('{ pattern(slug: "right-triangle") { stats { attempts learners completions } } }'))
    assert stats["pattern"]["stats"] == {"attempts": 1, "learners": 1, "completions": 1}
    stored = await services.db.fetchrow("SELECT verdict, code FROM attempts WHERE id = $1", int(attempt["id"]))
    assert stored["verdict"] == "PASSED" and stored["code"] == RIGHT_TRIANGLE


async def test_wrong_output_reports_rows_and_does_not_complete(gql) -> None:
    token = token_for()
    pid = await pattern_id(gql, "left-triangle")
    code = "n = int(input())\nfor i in range(1, n + 1):\n    print('*' * i)\n"  # not right-aligned
    data = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": code}}, token=token))["submitAttempt"]
    attempt = data["attempt"]
    assert attempt["verdict"] == "WRONG_OUTPUT" and 0 < attempt["score"] < 1
    first = attempt["mismatches"][0]
    assert first["row"] == 1 and first["expected"].strip() == "*" and first["actual"] == "*"
    assert data["progress"]["completed"] is False and data["progress"]["bestScore"] == attempt["score"]
    assert (await gql.data("{ me { points } }", token=token))["me"]["points"] == 0
    # The analysis of a submission rebuilds its facts from the stored attempt: this program
    # reads n, and no hint may say otherwise.
    done = await wait_done(gql, data["analysis"]["id"], token)
    assert done["status"] == "DONE" and done["hints"]
    assert not any("does not read the size" in h for h in done["hints"]), done["hints"]


async def test_errors_and_timeouts_are_verdicts_not_server_errors(gql) -> None:
    token = token_for()
    pid = await pattern_id(gql, "square-solid")
    cases = {
        "for i in range(4)\n    print('****')": "SYNTAX_ERROR",
        "print(undefined_name)": "RUNTIME_ERROR",
        "while True:\n    pass": "TIMEOUT",
    }
    for code, verdict in cases.items():
        attempt = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": code}}, token=token))["submitAttempt"]["attempt"]
        assert attempt["verdict"] == verdict, (code, attempt)
        assert attempt["error"] and "/tmp" not in attempt["error"]


async def test_submission_input_is_validated_and_nothing_is_recorded(gql, services) -> None:
    pid = await pattern_id(gql, "square-solid")
    token = token_for()
    assert await gql.error_codes(SUBMIT, {"input": {"patternId": pid, "code": "print(1)"}}) == ["UNAUTHENTICATED"]
    assert await gql.error_codes(SUBMIT, {"input": {"patternId": "424242", "code": "x"}}, token=token) == ["NOT_FOUND"]
    huge = "#" * (services.settings.max_code_chars + 1)
    assert await gql.error_codes(SUBMIT, {"input": {"patternId": pid, "code": huge}}, token=token) == ["BAD_USER_INPUT"]
    assert await gql.error_codes(SUBMIT, {"input": {"patternId": pid, "code": "x", "timeSpentSeconds": -1}},
                                 token=token) == ["BAD_USER_INPUT"]
    assert await services.db.fetchval("SELECT count(*) FROM attempts") == 0


async def test_complexity_analysis_and_reuse_of_identical_requests(gql, services) -> None:
    token = token_for()
    pid = await pattern_id(gql, "square-solid")
    code = "n = int(input())\nfor i in range(n):\n    for j in range(n):\n        print('*', end='')\n    print()\n"
    first = (await gql.data(REQUEST, {"input": {"patternId": pid, "code": code, "kind": "COMPLEXITY"}},
                            token=token))["requestAnalysis"]
    assert first["kind"] == "COMPLEXITY"
    done = await wait_done(gql, first["id"], token)
    assert done["complexity"]["maxNestingDepth"] == 2 and done["complexity"]["bigO"] == "O(n^2)"
    assert done["explanation"] is None and done["modelUsed"] == "rule-based"

    other = token_for()
    again = (await gql.data(REQUEST, {"input": {"patternId": pid, "code": code, "kind": "COMPLEXITY"}},
                            token=other))["requestAnalysis"]
    assert again["status"] == "DONE" and again["id"] != first["id"]  # reused at once, own row
    reused = await wait_done(gql, again["id"], other)
    assert reused["complexity"] == done["complexity"]
    assert await services.db.fetchval("SELECT count(*) FROM analyses WHERE timings ? 'reused'") == 1


async def test_only_the_owner_reads_an_analysis(gql) -> None:
    owner, stranger = token_for(), token_for()
    pid = await pattern_id(gql, "square-solid")
    created = (await gql.data(REQUEST, {"input": {"patternId": pid, "code": "print('****')"}}, token=owner))
    analysis_id = created["requestAnalysis"]["id"]
    assert (await gql.data(ANALYSIS, {"id": analysis_id}, token=stranger))["analysis"] is None
    assert (await gql.data(ANALYSIS, {"id": "not-a-uuid"}, token=owner))["analysis"] is None
    assert await gql.error_codes(ANALYSIS, {"id": analysis_id}) == ["UNAUTHENTICATED"]
    assert (await gql.data(ANALYSIS, {"id": analysis_id}, token=owner))["analysis"]["id"] == analysis_id


@pytest.fixture
def settings(database_url, tmp_path):
    from tests.helpers import make_settings

    # Short leases so a "crashed" job is reclaimed within the test.
    return make_settings(database_url, tmp_path, analysis_lease_seconds=1.0, analysis_poll_seconds=0.2)


async def abandoned_job(services, gql, job_attempts: int) -> tuple[str, object]:
    """A job as a worker that died mid-analysis leaves it: RUNNING, lease already over."""
    user = str(uuid.uuid4())
    pid = int(await pattern_id(gql, "square-solid"))
    await services.db.execute("INSERT INTO learners (id) VALUES ($1)", user)
    analysis_id = await services.db.fetchval(
        """
        INSERT INTO analyses (learner_id, pattern_id, kind, status, code, code_sha256, worker_id, lease_until,
                              job_attempts, started_at)
        VALUES ($1, $2, 'FULL', 'RUNNING', 'print(1)', repeat('a', 64), 'dead-host:1:x', now() - interval '1 s', $3, now())
        RETURNING id
        """,
        user, pid, job_attempts,
    )
    return user, analysis_id


async def test_a_job_left_running_by_a_dead_worker_is_picked_up_again(gql, services) -> None:
    user, analysis_id = await abandoned_job(services, gql, job_attempts=1)
    done = await wait_done(gql, str(analysis_id), token_for(user))
    assert done["status"] == "DONE"
    row = await services.db.fetchrow("SELECT job_attempts, worker_id FROM analyses WHERE id = $1", analysis_id)
    assert row["job_attempts"] == 2 and row["worker_id"] == services.worker.worker_id


async def test_a_job_interrupted_too_often_fails_instead_of_looping(gql, services) -> None:
    user, analysis_id = await abandoned_job(services, gql, job_attempts=3)
    done = await wait_done(gql, str(analysis_id), token_for(user))
    assert done["status"] == "FAILED"


async def queue_by_hand(services, gql) -> tuple[str, uuid.UUID]:
    """A queued job of a new learner (without models every analysis is DONE when stored, so a
    queued one is inserted by hand); nothing is woken."""
    user = str(uuid.uuid4())
    pid = int(await pattern_id(gql, "square-solid"))
    await services.db.execute("INSERT INTO learners (id) VALUES ($1)", user)
    analysis_id = await services.db.fetchval(
        """
        INSERT INTO analyses (learner_id, pattern_id, kind, code, code_sha256)
        VALUES ($1, $2, 'COMPLEXITY', 'print(1)', repeat('a', 64)) RETURNING id
        """,
        user, pid,
    )
    return user, analysis_id


async def test_worker_survives_a_failed_store_and_the_job_is_retried(gql, services) -> None:
    # A real fault in the database: the first attempt to store a finished analysis fails.
    await services.db.execute(
        """
        CREATE SEQUENCE store_calls;  -- sequences ignore rollbacks: it counts every try
        CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.status = 'DONE' AND nextval('store_calls') = 1 THEN
                RAISE EXCEPTION 'injected failure';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_once BEFORE UPDATE ON analyses FOR EACH ROW EXECUTE FUNCTION fail_once();
        """
    )
    user, analysis_id = await queue_by_hand(services, gql)
    services.worker.wake()
    done = await wait_done(gql, str(analysis_id), token_for(user))
    assert done["status"] == "DONE"
    assert await services.db.fetchval("SELECT last_value FROM store_calls") == 2  # failed once, then stored
    assert await services.db.fetchval("SELECT job_attempts FROM analyses WHERE id = $1", analysis_id) == 2
    assert services.worker.readiness()["workers"] == services.settings.analysis_workers


GROUNDED_SUBMIT = """
mutation($input: SubmitAttemptInput!) {
  submitAttempt(input: $input) {
    attempt { verdict }
    analysis { id status modelUsed explanation hints suggestions complexity { bigO loops } }
  }
}
"""
WRONG = "n = int(input())\nfor i in range(n):\n    print('*' * (i + 2))\n"


async def test_submission_returns_the_grounded_analysis_at_once(gql, services) -> None:
    """Without a model the analysis is complete when submitAttempt answers: nothing is queued."""
    token = token_for()
    pid = await pattern_id(gql, "right-triangle")
    data = (await gql.data(GROUNDED_SUBMIT, {"input": {"patternId": pid, "code": WRONG}}, token=token))["submitAttempt"]
    analysis = data["analysis"]
    assert data["attempt"]["verdict"] == "WRONG_OUTPUT"
    assert analysis["status"] == "DONE" and analysis["modelUsed"] == "rule-based"
    assert "row 1" in analysis["explanation"].lower() or "first row" in analysis["explanation"].lower()
    assert analysis["hints"] and analysis["complexity"] == {"bigO": "O(n^2)", "loops": 1}
    assert await services.db.fetchval("SELECT count(*) FROM analyses WHERE status = 'QUEUED'") == 0

