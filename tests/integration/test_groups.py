"""Class groups: create, join with the code, leave; the group's leaderboard; the owner's
dashboard. Every rule is tested through the API, and the ownership rules again in raw SQL as
other learners (the policies of sql/011_groups.sql hold without the resolvers)."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import asyncpg
import pytest

from core.settings import Settings
from db import progress
from db.progress import ProgressWrite
from tests.helpers import make_settings, token_for
from tests.integration.test_rls import as_anon, as_learner
from usecases.groups import MAX_GROUP_MEMBERS, MAX_JOINED_GROUPS, MAX_OWNED_GROUPS

GROUP_FIELDS = "id name role ownerId ownerName joinCode memberCount memberLimit createdAt"
CREATE = f"mutation($name: String!) {{ createGroup(name: $name) {{ {GROUP_FIELDS} }} }}"
JOIN = f"mutation($code: String!) {{ joinGroup(code: $code) {{ {GROUP_FIELDS} }} }}"
LEAVE = "mutation($id: ID!) { leaveGroup(groupId: $id) }"
REMOVE = "mutation($id: ID!, $who: ID!) { removeGroupMember(groupId: $id, learnerId: $who) }"
RENEW = "mutation($id: ID!) { renewGroupJoinCode(groupId: $id) { joinCode } }"
DELETE = "mutation($id: ID!) { deleteGroup(groupId: $id) }"
GROUP = """query($id: ID!) { group(id: $id) { name role joinCode memberCount
  members { learnerId displayName }
  leaderboard { rank learnerId displayName points } } }"""
DASHBOARD = """query($id: ID!, $first: Int, $after: String) { group(id: $id) {
  dashboard(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { learnerId displayName points completedPatterns
      progress { completed progressPercentage attempts pattern { slug } } } } } } }"""
BOARD = """query($id: ID, $period: LeaderboardPeriod) { leaderboard(groupId: $id, period: $period) {
  rank learnerId points completedPatterns attempts } }"""
MY_GROUPS = "{ me { groups { id name role } } }"
CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path, rate_limit_join_per_minute=50)


class Person:
    def __init__(self, name: str) -> None:
        self.id = str(uuid.uuid4())
        self.name = name
        self.token = token_for(self.id, display_name=name)


async def create(gql, owner: Person, name: str = "Class 7B") -> dict:
    return (await gql.data(CREATE, {"name": name}, token=owner.token))["createGroup"]


async def join(gql, who: Person, code: str) -> dict:
    return (await gql.data(JOIN, {"code": code}, token=who.token))["joinGroup"]


async def passes(services, who: Person, slugs: list[str]) -> None:
    """Judged passes (points) as record_progress keeps them."""
    for slug in slugs:
        pid = await services.db.fetchval("SELECT id FROM patterns WHERE slug = $1", slug)
        await progress.record(services.db, ProgressWrite(who.id, who.name, pid, 100, 60, True, 1.0, True))


@pytest.fixture
async def classroom(gql, services) -> dict:
    """Teacher owns a group; Ana and Ben joined it; Eve is outside it."""
    teacher, ana, ben, eve = Person("Teacher"), Person("Ana"), Person("Ben"), Person("Eve")
    group = await create(gql, teacher)
    for member in (ana, ben):
        await join(gql, member, group["joinCode"])
    await passes(services, ana, ["right-triangle", "square-solid"])
    await passes(services, ben, ["right-triangle"])
    await passes(services, eve, ["right-triangle", "square-solid", "inverted-right-triangle"])
    return {"teacher": teacher, "ana": ana, "ben": ben, "eve": eve, "group": group, "id": group["id"]}


# --------------------------------------------------------------------------- through the API


async def test_creating_gives_an_owner_a_group_and_a_join_code(gql) -> None:
    owner = Person("Teacher")
    group = await create(gql, owner, "  Class   7B  ")
    assert group["name"] == "Class 7B" and group["role"] == "OWNER" and group["ownerId"] == owner.id
    assert group["ownerName"] == "Teacher" and group["memberCount"] == 0 and group["memberLimit"] == 200
    assert CODE.match(group["joinCode"]), group["joinCode"]
    other = await create(gql, owner, "Class 7C")
    assert other["joinCode"] != group["joinCode"]
    assert [g["name"] for g in (await gql.data(MY_GROUPS, token=owner.token))["me"]["groups"]] == ["Class 7B",
                                                                                                   "Class 7C"]


async def test_bad_names_and_codes_are_refused_naming_the_argument(gql) -> None:
    owner = Person("T")
    for name in ("", "   ", "x" * 81, "tab\x07bell"):
        body = await gql(CREATE, {"name": name}, token=owner.token)
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "name"}, name
    for code in ("", "ABC", "ABCD-EFGH-IJKL", "0" * 13, "ÄBCD-EFGH-JKMN"):  # I and L are not in the alphabet
        body = await gql(JOIN, {"code": code}, token=owner.token)
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "code"}, code
    assert await gql.error_codes(JOIN, {"code": "0000-0000-0000"}, token=owner.token) == ["NOT_FOUND"]
    assert await gql.error_codes(CREATE, {"name": "x"}) == ["UNAUTHENTICATED"]
    assert await gql.error_codes(JOIN, {"code": "0000-0000-0000"}) == ["UNAUTHENTICATED"]
    assert (await gql.data(MY_GROUPS, token=owner.token))["me"]["groups"] == []


async def test_joining_with_the_code_in_any_case_makes_a_member_who_sees_names_and_the_board(
    gql, classroom
) -> None:
    ana, ben, group = classroom["ana"], classroom["ben"], classroom["group"]
    carl = Person("Carl")
    joined = await join(gql, carl, group["joinCode"].lower().replace("-", " "))
    assert joined["id"] == group["id"] and joined["role"] == "MEMBER" and joined["joinCode"] is None
    assert joined["memberCount"] == 3
    assert (await join(gql, carl, group["joinCode"]))["memberCount"] == 3  # again: still one membership
    seen = (await gql.data(GROUP, {"id": group["id"]}, token=ana.token))["group"]
    assert seen["role"] == "MEMBER" and seen["joinCode"] is None
    assert [m["displayName"] for m in seen["members"]] == ["Ana", "Ben", "Carl"]
    # The board: every member, points first, equal points share a rank; outsiders and the owner
    # (who did not join) are not on it.
    assert [(e["displayName"], e["rank"], e["points"]) for e in seen["leaderboard"]] == [
        ("Ana", 1, 20), ("Ben", 2, 10), ("Carl", 3, 0)]
    by_query = (await gql.data(BOARD, {"id": group["id"]}, token=ben.token))["leaderboard"]
    assert [e["learnerId"] for e in by_query] == [e["learnerId"] for e in seen["leaderboard"]]
    week = (await gql.data(BOARD, {"id": group["id"], "period": "WEEK"}, token=ben.token))["leaderboard"]
    assert [(e["learnerId"], e["points"], e["attempts"]) for e in week] == [
        (ana.id, 20, 2), (ben.id, 10, 1), (carl.id, 0, 0)]
    assert [g["role"] for g in (await gql.data(MY_GROUPS, token=carl.token))["me"]["groups"]] == ["MEMBER"]
    # The global board keeps its defaults and its rule (points > 0 only).
    assert len((await gql.data("{ leaderboard { learnerId } }"))["leaderboard"]) == 3


async def test_only_the_owner_sees_the_dashboard_of_members_progress(gql, classroom) -> None:
    teacher, ana, eve, gid = classroom["teacher"], classroom["ana"], classroom["eve"], classroom["id"]
    page = (await gql.data(DASHBOARD, {"id": gid}, token=teacher.token))["group"]["dashboard"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"] is False
    rows = {e["node"]["displayName"]: e["node"] for e in page["edges"]}
    assert set(rows) == {"Ana", "Ben"}  # Eve's progress is nobody's business here
    assert rows["Ana"]["points"] == 20 and rows["Ana"]["completedPatterns"] == 2
    assert sorted(p["pattern"]["slug"] for p in rows["Ana"]["progress"]) == ["right-triangle", "square-solid"]
    assert all(p["completed"] and p["progressPercentage"] == 100 for p in rows["Ana"]["progress"])
    # One member a page, by cursor.
    first = (await gql.data(DASHBOARD, {"id": gid, "first": 1}, token=teacher.token))["group"]["dashboard"]
    rest = (await gql.data(DASHBOARD, {"id": gid, "first": 1, "after": first["pageInfo"]["endCursor"]},
                           token=teacher.token))["group"]["dashboard"]
    assert first["pageInfo"]["hasNextPage"] and not rest["pageInfo"]["hasNextPage"]
    assert [e["node"]["displayName"] for e in first["edges"] + rest["edges"]] == ["Ana", "Ben"]
    # A member: FORBIDDEN; an outsider does not see the group at all.
    body = await gql(DASHBOARD, {"id": gid}, token=ana.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert (await gql.data(DASHBOARD, {"id": gid}, token=eve.token))["group"] is None


async def test_outsiders_see_nothing_of_the_group(gql, classroom) -> None:
    eve, gid = classroom["eve"], classroom["id"]
    assert (await gql.data(GROUP, {"id": gid}, token=eve.token))["group"] is None
    assert (await gql.data(GROUP, {"id": "not-a-uuid"}, token=eve.token))["group"] is None
    assert await gql.error_codes(BOARD, {"id": gid}, token=eve.token) == ["NOT_FOUND"]
    assert await gql.error_codes(BOARD, {"id": gid}) == ["UNAUTHENTICATED"]
    assert (await gql.data(MY_GROUPS, token=eve.token))["me"]["groups"] == []
    for mutation, variables in [(LEAVE, {"id": gid}), (REMOVE, {"id": gid, "who": classroom["ana"].id}),
                                (RENEW, {"id": gid}), (DELETE, {"id": gid})]:
        assert await gql.error_codes(mutation, variables, token=eve.token) == ["NOT_FOUND"], mutation


async def test_members_leave_and_cannot_run_the_group(gql, classroom) -> None:
    teacher, ana, ben, gid = classroom["teacher"], classroom["ana"], classroom["ben"], classroom["id"]
    for mutation, variables in [(REMOVE, {"id": gid, "who": ben.id}), (RENEW, {"id": gid}), (DELETE, {"id": gid})]:
        assert await gql.error_codes(mutation, variables, token=ana.token) == ["FORBIDDEN"], mutation
    assert (await gql.data(LEAVE, {"id": gid}, token=ana.token))["leaveGroup"] is True
    assert (await gql.data(GROUP, {"id": gid}, token=ana.token))["group"] is None
    assert await gql.error_codes(LEAVE, {"id": gid}, token=ana.token) == ["NOT_FOUND"]  # not a member any more
    assert await gql.error_codes(LEAVE, {"id": gid}, token=teacher.token) == ["NOT_FOUND"]  # owners never joined
    page = (await gql.data(DASHBOARD, {"id": gid}, token=teacher.token))["group"]["dashboard"]
    assert [e["node"]["displayName"] for e in page["edges"]] == ["Ben"]


async def test_the_owner_removes_members_renews_the_code_and_deletes_the_group(gql, classroom) -> None:
    teacher, ana, ben, gid = classroom["teacher"], classroom["ana"], classroom["ben"], classroom["id"]
    old = classroom["group"]["joinCode"]
    assert (await gql.data(REMOVE, {"id": gid, "who": ana.id}, token=teacher.token))["removeGroupMember"] is True
    assert await gql.error_codes(REMOVE, {"id": gid, "who": ana.id}, token=teacher.token) == ["NOT_FOUND"]
    assert (await gql.data(GROUP, {"id": gid}, token=ana.token))["group"] is None
    new = (await gql.data(RENEW, {"id": gid}, token=teacher.token))["renewGroupJoinCode"]["joinCode"]
    assert CODE.match(new) and new != old
    assert await gql.error_codes(JOIN, {"code": old}, token=ana.token) == ["NOT_FOUND"]
    assert (await join(gql, ana, new))["id"] == gid
    assert (await gql.data(DELETE, {"id": gid}, token=teacher.token))["deleteGroup"] is True
    for who in (teacher, ana, ben):
        assert (await gql.data(GROUP, {"id": gid}, token=who.token))["group"] is None
    assert (await gql.data("{ me { points } }", token=ana.token))["me"]["points"] == 20  # progress stays


async def test_limits_owned_groups_members_and_memberships(gql, services) -> None:
    limits = await services.db.fetchrow("SELECT * FROM group_limits()")
    assert tuple(limits) == (MAX_OWNED_GROUPS, MAX_JOINED_GROUPS, MAX_GROUP_MEMBERS)
    owner = Person("Busy")
    groups = [await create(gql, owner, f"Group {n}") for n in range(MAX_OWNED_GROUPS)]
    assert await gql.error_codes(CREATE, {"name": "One more"}, token=owner.token) == ["FORBIDDEN"]
    # A group one seat from full.
    gid = groups[0]["id"]
    await services.db.execute("INSERT INTO learners (id) SELECT 'filler-' || g FROM generate_series(1, $1) g",
                              MAX_GROUP_MEMBERS - 1)
    await services.db.execute("INSERT INTO group_members (group_id, learner_id) "
                              "SELECT $1::uuid, 'filler-' || g FROM generate_series(1, $2) g", gid, MAX_GROUP_MEMBERS - 1)
    # Two learners race for the last seat: exactly one gets it.
    racers = [Person("Racer A"), Person("Racer B")]
    bodies = await asyncio.gather(*(gql(JOIN, {"code": groups[0]["joinCode"]}, token=r.token) for r in racers))
    outcomes = sorted(("errors" in b and b["errors"][0]["extensions"]["code"]) or "joined" for b in bodies)
    assert outcomes == ["FORBIDDEN", "joined"], bodies
    assert await services.db.fetchval("SELECT count(*) FROM group_members WHERE group_id = $1::uuid", gid) == 200
    # A learner already in MAX_JOINED_GROUPS groups joins no more.
    joiner = Person("Joiner")
    await services.db.execute("INSERT INTO learners (id) VALUES ($1)", joiner.id)
    await services.db.execute(
        """WITH made AS (INSERT INTO groups (name, owner_id) SELECT 'Other ' || g, 'filler-1'
                         FROM generate_series(1, $2) g RETURNING id)
           INSERT INTO group_members (group_id, learner_id) SELECT id, $1 FROM made""", joiner.id, MAX_JOINED_GROUPS)
    assert await gql.error_codes(JOIN, {"code": groups[1]["joinCode"]}, token=joiner.token) == ["FORBIDDEN"]
    await services.db.execute("DELETE FROM group_members WHERE learner_id = $1 AND group_id = "
                              "(SELECT group_id FROM group_members WHERE learner_id = $1 LIMIT 1)", joiner.id)
    assert (await join(gql, joiner, groups[1]["joinCode"]))["role"] == "MEMBER"  # room for one again


async def test_joins_are_rate_limited(gql, services) -> None:
    joiner = Person("Guesser")
    limit = services.settings.rate_limit_join_per_minute
    for _ in range(limit):
        assert await gql.error_codes(JOIN, {"code": "0000-0000-0000"}, token=joiner.token) == ["NOT_FOUND"]
    body = await gql(JOIN, {"code": "0000-0000-0000"}, token=joiner.token)
    assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED" and body["errors"][0]["extensions"]["retryAfter"]


# --------------------------------------------------------------------------- in SQL, as each learner


async def test_raw_sql_as_an_outsider_reaches_nothing_of_the_group(services, classroom) -> None:
    eve, ana, gid = classroom["eve"], classroom["ana"], classroom["id"]
    async with as_learner(services, eve.id).transaction() as conn:
        for table in ("groups", "group_members", "group_join_codes"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        assert await conn.fetchval("SELECT count(*) FROM progress WHERE learner_id = $1", ana.id) == 0
        assert await conn.fetch("SELECT * FROM group_leaderboard_week(ARRAY[$1::uuid], 10)", gid) == []
        for statement in ("UPDATE groups SET name = 'Mine now' WHERE id = $1::uuid",
                          "DELETE FROM groups WHERE id = $1::uuid",
                          "DELETE FROM group_members WHERE group_id = $1::uuid"):
            assert (await conn.execute(statement, gid)).endswith(" 0"), statement
        assert await conn.fetchval("SELECT renew_join_code($1::uuid)", gid) is False
    for statement, args in [
        ("INSERT INTO group_members (group_id, learner_id) VALUES ($1::uuid, $2)", (gid, eve.id)),
        ("UPDATE groups SET owner_id = $2 WHERE id = $1::uuid", (gid, eve.id)),
        ("INSERT INTO groups (name, owner_id) VALUES ('x', $1)", (eve.id,)),
        ("INSERT INTO group_join_codes (group_id, code) VALUES ($1::uuid, '000000000000')", (gid,)),
        ("UPDATE group_join_codes SET code = '000000000000' WHERE group_id = $1::uuid", (gid,)),
        ("SELECT set_new_join_code($1::uuid)", (gid,)),
    ]:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with as_learner(services, eve.id).transaction() as conn:
                await conn.execute(statement, *args)
    anon = as_anon(services)
    for statement in ("SELECT * FROM groups", "SELECT * FROM group_members", "SELECT * FROM group_join_codes",
                      "SELECT * FROM join_group('000000000000')", "SELECT * FROM create_group('x')"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await anon.fetch(statement)


async def test_raw_sql_as_a_member_sees_names_not_progress_or_the_code(services, classroom) -> None:
    ana, ben, gid = classroom["ana"], classroom["ben"], classroom["id"]
    async with as_learner(services, ana.id).transaction() as conn:
        assert await conn.fetchval("SELECT name FROM groups WHERE id = $1::uuid", gid) == "Class 7B"
        assert await conn.fetchval("SELECT count(*) FROM group_members WHERE group_id = $1::uuid", gid) == 2
        assert await conn.fetchval("SELECT count(*) FROM group_join_codes") == 0
        assert await conn.fetchval("SELECT count(*) FROM progress WHERE learner_id = $1", ben.id) == 0
        assert await conn.fetchval("SELECT count(*) FROM attempts WHERE learner_id = $1", ben.id) == 0
        for statement in ("UPDATE groups SET name = 'Renamed' WHERE id = $1::uuid",
                          "DELETE FROM groups WHERE id = $1::uuid"):
            assert (await conn.execute(statement, gid)).endswith(" 0"), statement
        assert await conn.fetchval("SELECT renew_join_code($1::uuid)", gid) is False
        assert await conn.execute("DELETE FROM group_members WHERE group_id = $1::uuid AND learner_id = $2",
                                  gid, ben.id) == "DELETE 0"  # not someone else's membership
        assert await conn.execute("DELETE FROM group_members WHERE group_id = $1::uuid AND learner_id = $2",
                                  gid, ana.id) == "DELETE 1"  # her own: she leaves
    assert await services.db.fetchval("SELECT count(*) FROM group_members WHERE group_id = $1::uuid", gid) == 1


async def test_raw_sql_as_the_owner_reads_members_progress_only_while_they_are_members(services, classroom) -> None:
    teacher, ana, eve, gid = classroom["teacher"], classroom["ana"], classroom["eve"], classroom["id"]
    async with as_learner(services, teacher.id).transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM progress WHERE learner_id = $1", ana.id) == 2
        assert await conn.fetchval("SELECT count(*) FROM progress WHERE learner_id = $1", eve.id) == 0
        assert await conn.fetchval("SELECT count(*) FROM attempts WHERE learner_id = $1", ana.id) == 0
        assert await conn.fetchval("SELECT count(*) FROM group_join_codes WHERE group_id = $1::uuid", gid) == 1
    async with as_learner(services, teacher.id).transaction() as conn:
        before = await conn.fetchval("SELECT code FROM group_join_codes WHERE group_id = $1::uuid", gid)
        assert await conn.fetchval("SELECT renew_join_code($1::uuid)", gid) is True
        assert await conn.fetchval("SELECT code FROM group_join_codes WHERE group_id = $1::uuid", gid) != before
    # The owner renews the code but cannot choose it (a weak one anyone could guess).
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with as_learner(services, teacher.id).transaction() as conn:
            await conn.execute("UPDATE group_join_codes SET code = '000000000000' WHERE group_id = $1::uuid", gid)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # reading is all: nobody writes others' progress
        async with as_learner(services, teacher.id).transaction() as conn:
            await conn.execute("UPDATE progress SET completed = false WHERE learner_id = $1", ana.id)
    async with as_learner(services, ana.id).transaction() as conn:
        await conn.execute("DELETE FROM group_members WHERE group_id = $1::uuid AND learner_id = $2", gid, ana.id)
    async with as_learner(services, teacher.id).transaction() as conn:
        assert await conn.fetchval("SELECT count(*) FROM progress WHERE learner_id = $1", ana.id) == 0
        assert await conn.execute("DELETE FROM groups WHERE id = $1::uuid", gid) == "DELETE 1"


async def test_codes_are_drawn_in_sql_uniformly_from_the_alphabet(services) -> None:
    codes = [r[0] for r in await services.db.fetch("SELECT new_join_code() FROM generate_series(1, 2000)")]
    assert len(set(codes)) == len(codes) and all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{12}", c) for c in codes)
    counts = {ch: 0 for ch in "0123456789ABCDEFGHJKMNPQRSTVWXYZ"}
    for code in codes:
        for ch in code:
            counts[ch] += 1
    # 24000 characters over 32 symbols: 750 each expected; every symbol well within 20% of it.
    assert all(600 < n < 900 for n in counts.values()), counts
