"""Waking the analysis workers: one notification wakes one idle worker (analysis/doorbell.py)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from app.services import Services
from core.settings import Settings
from db import analyses
from tests.helpers import make_settings, token_for
from tests.integration.test_submissions import queue_by_hand, wait_done


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Idle workers look again only every 30 s on their own: within the test, only wake-ups count.
    return make_settings(database_url, tmp_path, analysis_lease_seconds=60.0, analysis_poll_seconds=30.0)


async def test_a_new_job_wakes_one_idle_worker_not_all(gql, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every notification once woke every idle worker, and each ran a claim: 8 learners' jobs and
    # their subscribers' marks made 64 claims, on the cores the judge and the model need.
    worker = services.worker
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while worker._wake.waiting < services.settings.analysis_workers and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.02)  # the start-up claims come back empty, then everyone waits
    assert worker._wake.waiting == services.settings.analysis_workers >= 4

    claims: list[uuid.UUID | None] = []
    real_claim = analyses.claim

    async def counted_claim(*args, **kwargs):
        job = await real_claim(*args, **kwargs)
        claims.append(job.id if job else None)
        return job

    monkeypatch.setattr(analyses, "claim", counted_claim)
    user, analysis_id = await queue_by_hand(services, gql)
    await services.db.execute("SELECT pg_notify('analysis_jobs', '')")  # as any process's submission does
    done = await wait_done(gql, str(analysis_id), token_for(user))
    assert done["status"] == "DONE"
    await asyncio.sleep(0.3)  # any further wake-ups have run their claims by now
    # The woken worker took the job and woke one more to look for the next (nothing there), and
    # looked again itself once done. All eight would have claimed before.
    assert sorted(claims, key=lambda c: c is None) == [analysis_id, None, None]
