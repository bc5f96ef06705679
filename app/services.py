"""Long-lived parts of the server, created once at start-up and closed at shutdown."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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
    started: bool = False
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        secret = load_or_create_dev_secret(settings)
        return cls(settings=settings, db=Database(settings), verifier=TokenVerifier(secret, settings.jwt_audience))

    async def start(self) -> None:
        await self.db.connect()
        assert self.db.pool is not None
        async with self.db.pool.acquire() as conn:
            await migrate(conn)
        if self.settings.seed_on_start and await seed.catalog_is_empty(self.db):
            await seed.seed_catalog(self.db)
        self.started = True

    def readiness(self) -> dict[str, object]:
        """Extra facts for /readyz from the parts that have them."""
        report: dict[str, object] = {}
        for name, part in self.extras.items():
            describe = getattr(part, "readiness", None)
            if callable(describe):
                report[name] = describe()
        return report

    async def close(self) -> None:
        self.started = False
        await self.db.close()
