"""Mutation root."""

from __future__ import annotations

import strawberry

from db.rate_limits import Bucket
from usecases.progress import save_progress

from . import analysis as analysis_resolvers
from . import groups as group_resolvers
from .analysis_types import (
    Analysis,
    RequestAnalysisInput,
    SaveProgressInput,
    SubmitAttemptInput,
    SubmitAttemptPayload,
)
from .context import Info
from .groups import Group
from .rate_limit import RateLimit
from .types import Progress, parse_pattern_id
from .validation import check_time_spent


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Judge code against a pattern, record the attempt, queue an analysis.",
                         extensions=[RateLimit(Bucket.SUBMIT, signed_in_only=True)])
    async def submit_attempt(self, info: Info, input: SubmitAttemptInput) -> SubmitAttemptPayload:
        return await analysis_resolvers.submit_attempt(info, input)

    @strawberry.mutation(description="Queue an analysis of code; follow it with analysisUpdates.",
                         extensions=[RateLimit(Bucket.ANALYSIS, signed_in_only=True)])
    async def request_analysis(self, info: Info, input: RequestAnalysisInput) -> Analysis:
        return await analysis_resolvers.request_analysis(info, input)

    @strawberry.mutation(
        description="Record progress on a pattern: adds one attempt and the time spent; "
        "percentage and completion never go backwards."
    )
    async def save_progress(self, info: Info, input: SaveProgressInput) -> Progress:
        context = info.context
        context.caller.require_user()
        row = await save_progress(
            context.db,
            context.caller,
            pattern_id=parse_pattern_id(input.pattern_id),
            percentage=input.progress_percentage,
            time_spent_seconds=check_time_spent(input.time_spent_seconds),
            completed=bool(input.completed),
        )
        return Progress.from_row(row)

    @strawberry.mutation(description="Create a group owned by the caller; share its joinCode with the class.")
    async def create_group(self, info: Info, name: str) -> Group:
        return await group_resolvers.create_group(info, name)

    @strawberry.mutation(description="Join the group whose join code this is (XXXX-XXXX-XXXX, any case).",
                         extensions=[RateLimit(Bucket.JOIN, signed_in_only=True)])
    async def join_group(self, info: Info, code: str) -> Group:
        return await group_resolvers.join_group(info, code)

    @strawberry.mutation(description="Leave a group the caller joined.")
    async def leave_group(self, info: Info, group_id: strawberry.ID) -> bool:
        return await group_resolvers.leave_group(info, group_id)

    @strawberry.mutation(description="The owner removes a member from their group.")
    async def remove_group_member(self, info: Info, group_id: strawberry.ID, learner_id: strawberry.ID) -> bool:
        return await group_resolvers.remove_group_member(info, group_id, learner_id)

    @strawberry.mutation(description="The owner replaces the join code (the old one stops working).")
    async def renew_group_join_code(self, info: Info, group_id: strawberry.ID) -> Group:
        return await group_resolvers.renew_group_join_code(info, group_id)

    @strawberry.mutation(description="The owner deletes their group (memberships go with it; nobody's progress does).")
    async def delete_group(self, info: Info, group_id: strawberry.ID) -> bool:
        return await group_resolvers.delete_group(info, group_id)
