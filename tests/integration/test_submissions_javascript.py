"""submitAttempt and requestAnalysis with `language: JAVASCRIPT`, end to end over GraphQL: judged
by Node.js in the sandbox, stored with its language, analysed in JavaScript's terms."""

from __future__ import annotations

import re
import uuid

from tests.helpers import token_for
from tests.integration.test_submissions import ANALYSIS, REQUEST, SUBMIT, pattern_id, wait_done

RIGHT_TRIANGLE_JS = ("const n = parseInt(require('fs').readFileSync(0, 'utf8'));\n"
                     "for (let i = 1; i <= n; i++) {\n  console.log('*'.repeat(i));\n}\n")
PYTHON_IDIOMS = re.compile(r"range\(|print\(|'\*' \* |' ' \* |end=''|\bPython\b")


async def test_a_javascript_submission_is_judged_stored_and_analysed(gql, services) -> None:
    token = token_for(str(uuid.uuid4()))
    pid = await pattern_id(gql, "right-triangle")
    data = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE_JS, "language": "JAVASCRIPT",
                                              "timeSpentSeconds": 30}}, token=token))["submitAttempt"]
    attempt = data["attempt"]
    assert attempt["verdict"] == "PASSED" and attempt["score"] == 1.0
    assert attempt["output"] == attempt["expected"] == ["*", "**", "***", "****"]
    assert attempt["sizesTested"] == [1, 4, 5, 7]  # reads n with readFileSync(0): several sizes
    assert data["progress"]["completed"] is True

    done = await wait_done(gql, data["analysis"]["id"], token)
    assert done["status"] == "DONE" and done["modelUsed"] == "rule-based"
    assert done["complexity"]["loops"] == 1 and done["complexity"]["bigO"] == "O(n^2)"
    assert done["complexity"]["cyclomatic"] == 2 and done["complexity"]["maxNestingDepth"] == 1
    prose = " ".join([done["explanation"], *done["suggestions"], *done["hints"]])
    assert not PYTHON_IDIOMS.search(prose), prose

    stored = await services.db.fetchrow(
        "SELECT a.language, a.code, n.language AS analysis_language FROM attempts a "
        "JOIN analyses n ON n.attempt_id = a.id WHERE a.id = $1", int(attempt["id"]))
    assert (stored["language"], stored["analysis_language"], stored["code"]) == (
        "JAVASCRIPT", "JAVASCRIPT", RIGHT_TRIANGLE_JS)


async def test_wrong_javascript_gets_javascript_hints(gql) -> None:
    token = token_for(str(uuid.uuid4()))
    pid = await pattern_id(gql, "left-triangle")
    code = "const n = parseInt(require('fs').readFileSync(0, 'utf8'));\nfor (let i = 1; i <= n; i++) console.log('*'.repeat(i));\n"
    data = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": code, "language": "JAVASCRIPT"}},
                           token=token))["submitAttempt"]
    assert data["attempt"]["verdict"] == "WRONG_OUTPUT"
    done = await wait_done(gql, data["analysis"]["id"], token)
    assert any("' '.repeat(n - i)" in hint for hint in done["hints"]), done["hints"]


async def test_a_javascript_syntax_error_has_v8s_line_and_column(gql) -> None:
    token = token_for(str(uuid.uuid4()))
    pid = await pattern_id(gql, "square-solid")
    code = "for (let i = 0; i < 4; i++ {\n  console.log('****');\n}\n"
    attempt = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": code, "language": "JAVASCRIPT"}},
                              token=token))["submitAttempt"]["attempt"]
    assert attempt["verdict"] == "SYNTAX_ERROR" and attempt["sizesTested"] == []
    assert attempt["error"] == "SyntaxError on line 1, column 28: Unexpected token '{'"


async def test_the_same_text_in_two_languages_is_never_one_analysis(gql) -> None:
    """Identical code is reused across learners, but only in the same language: console.log
    passes in JavaScript and is a NameError in Python."""
    pid = await pattern_id(gql, "square-solid")
    code = "console.log('****')\nconsole.log('****')\nconsole.log('****')\nconsole.log('****')\n"
    verdicts = {}
    for language in ("JAVASCRIPT", "PYTHON", "JAVASCRIPT"):
        token = token_for(str(uuid.uuid4()))
        data = (await gql.data(SUBMIT, {"input": {"patternId": pid, "code": code, "language": language}},
                               token=token))["submitAttempt"]
        done = await wait_done(gql, data["analysis"]["id"], token)
        verdicts.setdefault(language, []).append((data["attempt"]["verdict"], done["explanation"]))
    assert [v for v, _ in verdicts["JAVASCRIPT"]] == ["PASSED", "PASSED"]
    assert verdicts["PYTHON"][0][0] == "RUNTIME_ERROR" and "NameError" in verdicts["PYTHON"][0][1]
    assert verdicts["JAVASCRIPT"][0][1] == verdicts["JAVASCRIPT"][1][1]


async def test_request_analysis_takes_a_language(gql) -> None:
    token = token_for(str(uuid.uuid4()))
    pid = await pattern_id(gql, "right-triangle")
    nested = ("const n = 4;\nfor (let i = 1; i <= n; i++) {\n  let row = '';\n"
              "  for (let j = 0; j < i; j++) row += '*';\n  console.log(row);\n}\n")
    analysis = (await gql.data(REQUEST, {"input": {"patternId": pid, "code": nested, "kind": "COMPLEXITY",
                                                   "language": "JAVASCRIPT"}}, token=token))["requestAnalysis"]
    done = (await gql.data(ANALYSIS, {"id": analysis["id"]}, token=token))["analysis"]
    assert done["complexity"]["loops"] == 2 and done["complexity"]["maxNestingDepth"] == 2
    assert done["complexity"]["bigO"] == "O(n^2)"
    full = (await gql.data(REQUEST, {"input": {"patternId": pid, "code": nested, "language": "JAVASCRIPT"}},
                           token=token))["requestAnalysis"]
    finished = await wait_done(gql, full["id"], token)
    # It never reads n, so it is judged at the default size only, where it is right.
    assert finished["status"] == "DONE" and finished["explanation"].startswith("Well done"), finished
    assert "nested 2 deep" in finished["explanation"]
