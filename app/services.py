"""Long-lived parts of the server, created once at start-up and closed at shutdown."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from analysis.events import InProcessEventBus
from analysis.judge import Judge
from analysis.models import ModelService
from analysis.pipeline import AnalysisPipeline
from analysis.sandbox import Sandbox, SandboxLimits
from analysis.search import PatternSearch
from analysis.worker import AnalysisWorker
from db import seed
from db.database import Database
from db.migrate import migrate

from .auth import TokenVerifier, load_or_create_dev_secret
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    verifier: TokenVerifier
    sandbox: Sandbox
    judge: Judge
    models: ModelService
    bus: InProcessEventBus
    pipeline: AnalysisPipeline
    worker: AnalysisWorker
    search: PatternSearch
    started: bool = False

    @classmethod
    def create(cls, settings: Settings) -> Services:
        db = Database(settings)
        sandbox = Sandbox(SandboxLimits.from_settings(settings), workers=settings.sandbox_workers)
        judge = Judge(sandbox)
        models = ModelService(settings)
        bus = InProcessEventBus()
        pipeline = AnalysisPipeline(db, judge, models, settings.generation_max_new_tokens)
        return cls(
            settings=settings,
            db=db,
            verifier=TokenVerifier(load_or_create_dev_secret(settings), settings.jwt_audience),
            sandbox=sandbox,
            judge=judge,
            models=models,
            bus=bus,
            pipeline=pipeline,
            worker=AnalysisWorker(db, pipeline, bus, settings),
            search=PatternSearch(db, models),
        )

    async def start(self) -> None:
        await self.db.connect()
        assert self.db.pool is not None
        async with self.db.pool.acquire() as conn:
            await migrate(conn)
        if self.settings.seed_on_start and await seed.catalog_is_empty(self.db):
            await seed.seed_catalog(self.db)
        await self.sandbox.start()  # logs the isolation it achieved
        status = self.models.status()
        log.info(
            "models (loaded on first use): embedding %s, generation %s",
            status.get("embedding", {}).get("model"),
            status.get("generation", {}).get("model"),
        )
        await self.worker.start()
        self.started = True

    def readiness(self) -> dict[str, object]:
        """Extra facts for /readyz."""
        return {
            "sandbox": self.sandbox.isolation,
            "models": self.models.status(),
            "analysis": self.worker.readiness(),
        }

    async def close(self) -> None:
        self.started = False
        await self.worker.aclose()
        await self.models.aclose()
        await self.sandbox.aclose()
        await self.db.close()
