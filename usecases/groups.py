"""Class groups: the rules of creating, joining, leaving and running a group.

Names are 1 to 80 printable characters. A learner owns at most 20 groups and belongs to at most
50; a group holds at most 200 members (sql/011_groups.sql `group_limits`, checked there under a
lock). Join codes are 12 characters of Crockford's base32 (60 random bits, drawn in SQL so that
no caller picks one), shown as XXXX-XXXX-XXXX and accepted in any case, with or without dashes
and spaces; joins are rate limited per learner (`RATE_LIMIT_JOIN_PER_MINUTE`), so codes cannot
be guessed. Only the owner
sees the code, renews it, removes members, deletes the group and reads members' progress.
"""

from __future__ import annotations

import uuid

from core.domain import Caller
from core.errors import BadUserInput, Forbidden, NotFound
from db import groups, learners
from db.groups import Outcome
from db.scoped import Queryable, ScopedDatabase

MAX_NAME_CHARS = 80
MAX_OWNED_GROUPS = 20
MAX_JOINED_GROUPS = 50
MAX_GROUP_MEMBERS = 200
# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand survives.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
NO_SUCH_GROUP = "No group with that id."


def display_code(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def normalize_code(text: str) -> str:
    """A code as typed (any case, dashes, spaces) as stored; BAD_USER_INPUT if it cannot be one."""
    code = "".join(ch for ch in text.upper() if ch not in "- ")
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        raise BadUserInput(f"code must be {CODE_LENGTH} letters and digits, as XXXX-XXXX-XXXX.", argument="code")
    return code


def check_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= MAX_NAME_CHARS or not cleaned.isprintable():
        raise BadUserInput(f"name must be 1 to {MAX_NAME_CHARS} printable characters.", argument="name")
    return cleaned


def parse_group_id(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def create_group(db: ScopedDatabase, caller: Caller, name: str) -> uuid.UUID:
    learner_id = caller.require_user()
    name = check_name(name)
    async with db.transaction() as conn:
        await learners.ensure(conn, learner_id, caller.display_name)
        outcome = await groups.create(conn, name)
    if outcome.outcome == "too_many_groups" or outcome.group_id is None:
        raise Forbidden(f"A learner owns at most {MAX_OWNED_GROUPS} groups: delete one first.")
    return outcome.group_id


async def join_group(db: ScopedDatabase, caller: Caller, code: str) -> uuid.UUID:
    learner_id = caller.require_user()
    code = normalize_code(code)
    async with db.transaction() as conn:
        await learners.ensure(conn, learner_id, caller.display_name)
        outcome: Outcome = await groups.join(conn, code)
    if outcome.group_id is not None and outcome.outcome in ("joined", "already_member"):
        return outcome.group_id
    if outcome.outcome == "full":
        raise Forbidden(f"That group is full ({MAX_GROUP_MEMBERS} members).")
    if outcome.outcome == "too_many_groups":
        raise Forbidden(f"A learner belongs to at most {MAX_JOINED_GROUPS} groups: leave one first.")
    raise NotFound("No group has that join code.")


async def owned_group(db: Queryable, group_id: uuid.UUID) -> None:
    """NOT_FOUND unless the caller sees the group, FORBIDDEN unless they own it."""
    row = await groups.by_id(db, group_id)
    if row is None:
        raise NotFound(NO_SUCH_GROUP)
    if not row["is_owner"]:
        raise Forbidden("Only the group's owner may do that.")


async def leave_group(db: Queryable, caller: Caller, group_id: uuid.UUID) -> None:
    if not await groups.leave(db, group_id, caller.require_user()):
        raise NotFound("You are not a member of that group.")


async def remove_member(db: Queryable, caller: Caller, group_id: uuid.UUID, learner_id: str) -> None:
    caller.require_user()
    await owned_group(db, group_id)
    if not await groups.leave(db, group_id, learner_id):
        raise NotFound("That learner is not a member of the group.")


async def renew_code(db: Queryable, caller: Caller, group_id: uuid.UUID) -> None:
    caller.require_user()
    await owned_group(db, group_id)
    if not await groups.renew_code(db, group_id):
        raise NotFound(NO_SUCH_GROUP)  # deleted meanwhile


async def delete_group(db: Queryable, caller: Caller, group_id: uuid.UUID) -> None:
    caller.require_user()
    await owned_group(db, group_id)
    if not await groups.delete(db, group_id):
        raise NotFound(NO_SUCH_GROUP)
