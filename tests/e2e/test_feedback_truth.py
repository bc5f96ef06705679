"""Every explanation a learner reads is true of the code and agrees with the judge: the whole
hand-labelled corpus (tests/feedback_corpus.py) through the product with the real packaged model.

Each program is submitted as its own learner through GraphQL; the server judges it in the
sandbox, computes the grounded part, and a worker has SmolLM2 write the prose, which the verifier
filters sentence by sentence. The independent checker (tests/feedback_checker.py, hand labels)
then reads what the learner would see, and fails the build on any contradiction. The model's raw
sentences (kept and dropped, stored for operators) are checked too, to show what the verifier
removed. About two minutes on two CPU cores; marked ``real_models``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from app.services import Services
from catalog import get_pattern
from core.settings import Settings
from judge.judge import Judge
from judge.metrics import analyze_code
from sandbox import Sandbox, SandboxLimits
from tests.feedback_checker import JudgedFacts, contradictions, split_sentences
from tests.feedback_corpus import PROGRAMS, Program
from tests.helpers import TEST_DATA_DIR, make_settings, token_for

pytestmark = pytest.mark.real_models

SUBMIT = """
mutation($input: SubmitAttemptInput!) { submitAttempt(input: $input) { analysis { id status } } }
"""
ANALYSIS = """
query($id: ID!) { analysis(id: $id) { status explanation modelUsed modelSentences { kept dropped } } }
"""


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The packaged SmolLM2 (the default), its converted weights cached where all tests share them.
    return make_settings(database_url, TEST_DATA_DIR, models_enabled=True)


@pytest.fixture(scope="module")
async def judge() -> AsyncIterator[Judge]:
    sandbox = Sandbox(SandboxLimits(cpu_seconds=1.0, wall_seconds=3.0), workers=2)
    await sandbox.start()
    yield Judge(sandbox)
    await sandbox.aclose()


async def analyse(gql, program: Program) -> tuple[str, str]:
    token = token_for()  # one learner each: nobody's submission supersedes another's
    pid = (await gql.data("query($s: String) { pattern(slug: $s) { id } }", {"s": program.slug}))["pattern"]["id"]
    data = await gql.data(SUBMIT, {"input": {"patternId": pid, "code": program.code}}, token=token)
    return data["submitAttempt"]["analysis"]["id"], token


async def wait_all_done(gql, ids: dict[str, tuple[str, str]], limit_seconds: float) -> dict[str, dict]:
    deadline = asyncio.get_running_loop().time() + limit_seconds
    done: dict[str, dict] = {}
    while len(done) < len(ids):
        for name, (analysis_id, token) in ids.items():
            if name not in done:
                analysis = (await gql.data(ANALYSIS, {"id": analysis_id}, token=token))["analysis"]
                if analysis["status"] in ("DONE", "FAILED"):
                    done[name] = analysis
        assert asyncio.get_running_loop().time() < deadline, f"{len(done)} of {len(ids)} done"
        await asyncio.sleep(1.0)
    return done


async def test_no_learner_ever_reads_a_contradiction(gql, services: Services, judge: Judge) -> None:
    assert services.pipeline.generation_on, "the packaged model must be on for this test"
    ids = dict(zip([p.name for p in PROGRAMS], await asyncio.gather(*(analyse(gql, p) for p in PROGRAMS)),
                   strict=True))
    analyses = await wait_all_done(gql, ids, limit_seconds=900)

    facts = {p.name: JudgedFacts.from_judgment(await judge.judge(get_pattern(p.slug), p.code), analyze_code(p.code))
             for p in PROGRAMS}
    seen: list[str] = []
    raw_sentences = raw_false = kept = dropped = 0
    for program in PROGRAMS:
        analysis = analyses[program.name]
        assert analysis["status"] == "DONE", (program.name, analysis)
        counts = analysis["modelSentences"]
        assert counts is not None, f"{program.name}: the model was not asked"
        kept, dropped = kept + counts["kept"], dropped + counts["dropped"]
        assert (analysis["modelUsed"] == "rule-based") == (counts["kept"] == 0), (program.name, analysis)
        # What the learner reads: the grounded part and the model's kept sentences.
        found = contradictions(program, analysis["explanation"], facts[program.name])
        seen += [f"{program.name}: {reason}" for reason in found]
        # What the model wrote, kept or not (dropped sentences are stored for operators only).
        result = await services.db.fetchval("SELECT result FROM analyses WHERE id = $1::uuid", ids[program.name][0])
        grounded = len(split_sentences(analysis["explanation"])) - counts["kept"]
        shown = split_sentences(analysis["explanation"])[grounded:]
        raw = shown + [d["sentence"] for d in result.get("model_dropped", [])]
        raw_sentences += len(raw)
        raw_false += sum(bool(contradictions(program, s, facts[program.name])) for s in raw)

    total = kept + dropped
    print(f"\ncorpus {len(PROGRAMS)} programs; model sentences {total}: kept {kept} ({kept / max(1, total):.0%}), "
          f"dropped {dropped}; raw sentences contradicting the checker {raw_false} of {raw_sentences}; "
          f"shown to learners contradicting it: {len(seen)}")
    assert seen == [], "\n".join(seen)
    assert total > 0 and dropped > 0, "the model wrote nothing the verifier had to judge"
    assert kept > 0, "no model sentence survived: the model adds nothing"
