"""Subscription root."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from app.errors import ServiceUnavailable

from .analysis_types import AnalysisEvent


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Analysis progress; ends after the event whose status is DONE or FAILED.")
    async def analysis_updates(self, info: Info, analysis_id: strawberry.ID) -> AsyncGenerator[AnalysisEvent, None]:
        info.context.user_id()
        raise ServiceUnavailable("Analysis updates are not available yet.")
        yield  # pragma: no cover
