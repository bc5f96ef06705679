"""Class groups in GraphQL: the Group type (roster, leaderboard, the owner's dashboard) and the
resolvers behind createGroup, joinGroup, leaveGroup and the owner's mutations. The rules are in
usecases/groups.py; what each caller may see is also enforced by the policies in
sql/011_groups.sql."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

import strawberry

from core.domain import LeaderboardPeriod
from core.errors import BadUserInput, Forbidden, NotFound
from db import groups
from db.groups import BoardKey
from usecases import groups as rules
from usecases.groups import MAX_GROUP_MEMBERS, NO_SUCH_GROUP, display_code

from .context import Info
from .types import LeaderboardEntry, PageInfo, Progress, decode_keyset_cursor, encode_keyset_cursor, iso
from .validation import check_first

MAX_GROUP_BOARD = 100
DASHBOARD_PAGE_DEFAULT = 10
DASHBOARD_PAGE_MAX = 10  # members a page: a page of progress grids stays within GRAPHQL_MAX_COST
MEMBER_CURSOR = "member"
# The most progress rows one member has: one per pattern tried, so the catalog's size (43 shipped,
# tests/unit/test_catalog.py keeps it under this). Counted by the cost rule for each member.
PATTERNS_BOUND = 50


@strawberry.enum(description="The caller's place in a group.")
class GroupRole(StrEnum):
    OWNER = "OWNER"
    MEMBER = "MEMBER"


@strawberry.type(description="A member as the group sees them: a name, no progress.")
class GroupMember:
    learner_id: strawberry.ID
    display_name: str | None
    joined_at: str


@strawberry.type(description="One member's totals and progress on each pattern they tried (the owner's view).")
class MemberProgress:
    learner_id: strawberry.ID
    display_name: str | None
    joined_at: str
    points: int
    completed_patterns: int
    attempts: int
    progress: list[Progress]


@strawberry.type
class MemberProgressEdge:
    cursor: str
    node: MemberProgress


@strawberry.type
class MemberProgressConnection:
    edges: list[MemberProgressEdge]
    page_info: PageInfo
    total_count: int


async def group_leaderboard(info: Info, group_id: uuid.UUID, first: int | None,
                            period: LeaderboardPeriod | None) -> list[LeaderboardEntry]:
    first = check_first(first, 10, MAX_GROUP_BOARD)
    key = BoardKey(group_id, period is LeaderboardPeriod.WEEK, first)
    return [LeaderboardEntry.from_row(r) for r in await info.context.loaders.group_leaderboard.load(key)]


@strawberry.type(description="A class or study group. Its owner and members see it; only the owner sees the "
                 "join code and the members' progress.")
class Group:
    id: strawberry.ID
    name: str
    role: GroupRole = strawberry.field(description="The caller's role: OWNER (also when they joined it too) or "
                                       "MEMBER.")
    owner_id: strawberry.ID
    owner_name: str | None
    join_code: str | None = strawberry.field(description="XXXX-XXXX-XXXX, for the owner to share; null for members.")
    member_count: int
    member_limit: int
    created_at: str
    db_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: Any) -> Group:
        return cls(
            id=strawberry.ID(str(row["id"])),
            name=row["name"],
            role=GroupRole.OWNER if row["is_owner"] else GroupRole.MEMBER,
            owner_id=strawberry.ID(row["owner_id"]),
            owner_name=row["owner_name"],
            join_code=display_code(row["join_code"]) if row["join_code"] else None,
            member_count=row["member_count"],
            member_limit=MAX_GROUP_MEMBERS,
            created_at=iso(row["created_at"]) or "",
            db_id=row["id"],
        )

    @strawberry.field(description="Everyone who joined, in joining order: names only.")
    async def members(self, info: Info) -> list[GroupMember]:
        rows = await info.context.loaders.members_by_group_id.load(self.db_id)
        return [GroupMember(learner_id=strawberry.ID(r["learner_id"]), display_name=r["display_name"],
                            joined_at=iso(r["joined_at"]) or "") for r in rows]

    @strawberry.field(description="The members ranked by points (every member, those without points too); "
                      "WEEK: the last 7 UTC days.")
    async def leaderboard(
        self, info: Info, first: int | None = 10, period: LeaderboardPeriod | None = LeaderboardPeriod.ALL_TIME
    ) -> list[LeaderboardEntry]:
        return await group_leaderboard(info, self.db_id, first, period)

    @strawberry.field(description="The teacher's dashboard: each member's totals and progress per pattern, in "
                      "joining order. The owner's only: FORBIDDEN for members.")
    async def dashboard(
        self, info: Info, first: int | None = DASHBOARD_PAGE_DEFAULT, after: str | None = strawberry.UNSET
    ) -> MemberProgressConnection:
        first = check_first(first, DASHBOARD_PAGE_DEFAULT, DASHBOARD_PAGE_MAX)
        keyset = decode_keyset_cursor(after, MEMBER_CURSOR, str) if after else None
        if self.role is not GroupRole.OWNER:
            raise Forbidden("Only the group's owner sees its members' progress.")
        page = await groups.dashboard(info.context.db, self.db_id, first,
                                      (keyset.created_at, keyset.id) if keyset else None)
        edges = [
            MemberProgressEdge(cursor=encode_keyset_cursor(MEMBER_CURSOR, member["joined_at"], member["learner_id"]),
                               node=_member_progress(member, rows))
            for member, rows in page.members
        ]
        return MemberProgressConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=edges[-1].cursor if edges else None),
            total_count=page.total_count,
        )


def _member_progress(member: Any, rows: list[Any]) -> MemberProgress:
    return MemberProgress(
        learner_id=strawberry.ID(member["learner_id"]),
        display_name=member["display_name"],
        joined_at=iso(member["joined_at"]) or "",
        points=member["points"],
        completed_patterns=member["completed_patterns"],
        attempts=member["attempts"],
        progress=[Progress.from_row({**dict(r), "attempts": r["pattern_attempts"]}) for r in rows],
    )


def group_id_or_404(value: strawberry.ID) -> uuid.UUID:
    group_id = rules.parse_group_id(value)
    if group_id is None:
        raise NotFound(NO_SUCH_GROUP)
    return group_id


async def load_group(info: Info, group_id: uuid.UUID) -> Group:
    row = await groups.by_id(info.context.db, group_id)
    if row is None:
        raise NotFound(NO_SUCH_GROUP)
    return Group.from_row(row)


async def group(info: Info, id: strawberry.ID) -> Group | None:
    info.context.user_id()
    group_id = rules.parse_group_id(id)
    row = await groups.by_id(info.context.db, group_id) if group_id is not None else None
    return Group.from_row(row) if row is not None else None


async def my_groups(info: Info, learner_id: str) -> list[Group]:
    return [Group.from_row(r) for r in await groups.mine(info.context.db, learner_id)]


async def create_group(info: Info, name: str) -> Group:
    context = info.context
    context.user_id()  # UNAUTHENTICATED before anything else
    group_id = await rules.create_group(context.db, context.caller, name)
    return await load_group(info, group_id)


async def join_group(info: Info, code: str) -> Group:
    context = info.context
    context.user_id()  # UNAUTHENTICATED before anything else
    group_id = await rules.join_group(context.db, context.caller, code)
    return await load_group(info, group_id)


async def leave_group(info: Info, group_id: strawberry.ID) -> bool:
    context = info.context
    context.user_id()  # UNAUTHENTICATED before anything else
    await rules.leave_group(context.db, context.caller, group_id_or_404(group_id))
    return True


async def remove_group_member(info: Info, group_id: strawberry.ID, learner_id: strawberry.ID) -> bool:
    context = info.context
    context.user_id()  # UNAUTHENTICATED before anything else
    text = str(learner_id)
    if not 1 <= len(text) <= 128:
        raise BadUserInput("learnerId is not a learner id.", argument="learnerId")
    await rules.remove_member(context.db, context.caller, group_id_or_404(group_id), text)
    return True


async def renew_group_join_code(info: Info, group_id: strawberry.ID) -> Group:
    context = info.context
    context.user_id()  # UNAUTHENTICATED before anything else
    gid = group_id_or_404(group_id)
    await rules.renew_code(context.db, context.caller, gid)
    return await load_group(info, gid)


async def delete_group(info: Info, group_id: strawberry.ID) -> bool:
    context = info.context
    context.user_id()  # UNAUTHENTICATED before anything else
    await rules.delete_group(context.db, context.caller, group_id_or_404(group_id))
    return True

