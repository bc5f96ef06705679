"""Subscription root."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from . import analysis as analysis_resolvers
from .analysis_types import AnalysisEvent
from .context import Info


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Analysis progress; ends after the event whose status is DONE or FAILED.")
    async def analysis_updates(self, info: Info, analysis_id: strawberry.ID) -> AsyncGenerator[AnalysisEvent, None]:
        async for event in analysis_resolvers.analysis_updates(info, analysis_id):
            yield event
