"""Progress writes, statistics counters and the leaderboard, against real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from db import progress
from db.progress import ProgressWrite
from tests.helpers import token_for

SAVE = """
mutation($input: SaveProgressInput!) {
  saveProgress(input: $input) {
    progressPercentage timeSpentSeconds attempts completed bestScore lastAttemptAt
    pattern { slug }
  }
}
"""
STATS = """query($slug: String) { pattern(slug: $slug) { stats {
  attempts learners completions successRate averageTimeSpentSeconds perceivedDifficulty } } }"""
BOARD = """query($period: LeaderboardPeriod, $first: Int) { leaderboard(period: $period, first: $first) {
  rank learnerId displayName points completedPatterns attempts } }"""


async def pattern_id(gql, slug: str) -> str:
    return (await gql.data("query($s: String) { pattern(slug: $s) { id } }", {"s": slug}))["pattern"]["id"]


async def test_save_progress_needs_a_token(gql) -> None:
    pid = await pattern_id(gql, "right-triangle")
    variables = {"input": {"patternId": pid, "progressPercentage": 50}}
    assert await gql.error_codes(SAVE, variables) == ["UNAUTHENTICATED"]
    assert await gql.error_codes(SAVE, variables, token="not-a-jwt") == ["UNAUTHENTICATED"]
    assert await gql.error_codes("{ progress { attempts } }") == ["UNAUTHENTICATED"]
    assert (await gql.data("{ me { id } }"))["me"] is None


async def test_save_progress_upserts_and_never_goes_backwards(gql) -> None:
    token = token_for(display_name="Ada")
    pid = await pattern_id(gql, "right-triangle")
    first = (await gql.data(SAVE, {"input": {"patternId": pid, "progressPercentage": 60, "timeSpentSeconds": 30}},
                            token=token))["saveProgress"]
    assert first["attempts"] == 1 and first["timeSpentSeconds"] == 30 and first["progressPercentage"] == 60
    assert first["completed"] is False and first["pattern"]["slug"] == "right-triangle"
    assert first["lastAttemptAt"] is not None

    second = (await gql.data(SAVE, {"input": {"patternId": pid, "progressPercentage": 20, "timeSpentSeconds": 15}},
                             token=token))["saveProgress"]
    assert second["attempts"] == 2 and second["timeSpentSeconds"] == 45
    assert second["progressPercentage"] == 60  # never backwards

    done = (await gql.data(SAVE, {"input": {"patternId": pid, "progressPercentage": 90, "completed": True}},
                           token=token))["saveProgress"]
    assert done["completed"] is True and done["progressPercentage"] == 100
    undone = (await gql.data(SAVE, {"input": {"patternId": pid, "progressPercentage": 10, "completed": False}},
                             token=token))["saveProgress"]
    assert undone["completed"] is True

    mine = (await gql.data("{ progress { attempts pattern { slug } } me { displayName completedPatterns points } }",
                           token=token))
    assert mine["progress"] == [{"attempts": 4, "pattern": {"slug": "right-triangle"}}]
    # Self-reported completion counts as completion but awards no points.
    assert mine["me"] == {"displayName": "Ada", "completedPatterns": 1, "points": 0}


async def test_save_progress_rejects_bad_input(gql) -> None:
    token = token_for()
    pid = await pattern_id(gql, "right-triangle")
    cases = [
        ({"patternId": pid, "progressPercentage": 101}, "BAD_USER_INPUT"),
        ({"patternId": pid, "progressPercentage": -1}, "BAD_USER_INPUT"),
        ({"patternId": pid, "progressPercentage": 5, "timeSpentSeconds": -3}, "BAD_USER_INPUT"),
        ({"patternId": pid, "progressPercentage": 5, "timeSpentSeconds": 10**6}, "BAD_USER_INPUT"),
        ({"patternId": "987654", "progressPercentage": 5}, "NOT_FOUND"),
        ({"patternId": "abc", "progressPercentage": 5}, "NOT_FOUND"),
        ({"progressPercentage": 5}, "BAD_USER_INPUT"),  # missing required field: variable coercion
    ]
    for input_, code in cases:
        assert await gql.error_codes(SAVE, {"input": input_}, token=token) == [code], input_
    assert (await gql.data("{ progress { attempts } }", token=token))["progress"] == []


async def test_fifty_concurrent_saves_lose_nothing(gql, services) -> None:
    token = token_for()
    pid = await pattern_id(gql, "hollow-square")

    async def save(i: int) -> dict:
        return await gql(SAVE, {"input": {"patternId": pid, "progressPercentage": i % 100,
                                          "timeSpentSeconds": i}}, token=token)

    results = await asyncio.gather(*(save(i) for i in range(1, 51)))
    assert all("errors" not in r for r in results), [r.get("errors") for r in results if "errors" in r]
    final = (await gql.data("{ progress { attempts timeSpentSeconds progressPercentage } }", token=token))["progress"]
    assert final == [{"attempts": 50, "timeSpentSeconds": sum(range(1, 51)), "progressPercentage": 50}]
    stats = (await gql.data(STATS, {"s": None, "slug": "hollow-square"}))["pattern"]["stats"]
    assert stats["attempts"] == 50 and stats["learners"] == 1
    assert stats["averageTimeSpentSeconds"] == sum(range(1, 51))


async def test_concurrent_first_completions_count_once(services, gql) -> None:
    """20 writers race the first completion (and first pass) of one pattern, over many rounds: on
    a new row, and on a row that exists but is not completed yet. Each transition counts once."""
    pid = int(await pattern_id(gql, "x-pattern"))
    points = {"EASY": 10, "MEDIUM": 20, "HARD": 30}[
        await services.db.fetchval("SELECT difficulty FROM patterns WHERE id = $1", pid)]
    rounds = 12
    for round_ in range(rounds):
        learner = str(uuid.uuid4())
        existing = round_ % 2 == 1
        if existing:
            await progress.record(services.db, ProgressWrite(learner, None, pid, 10, 1, False))
        writes = [ProgressWrite(learner, None, pid, 100, 1, True, 1.0, True) for _ in range(20)]
        await asyncio.gather(*(progress.record(services.db, w) for w in writes))
        row = await services.db.fetchrow("SELECT * FROM learners WHERE id = $1", learner)
        assert (row["completed_patterns"], row["points"], row["attempts"]) == (1, points, 20 + existing), round_
    stats = await services.db.fetchrow("SELECT * FROM pattern_stats WHERE pattern_id = $1", pid)
    assert (stats["learners"], stats["completions"]) == (rounds, rounds)
    assert stats["attempts"] == rounds * 20 + rounds // 2


async def test_statistics_and_perceived_difficulty(services, gql) -> None:
    pid = int(await pattern_id(gql, "square-solid"))
    # 10 learners, 8 complete: success rate 0.8 -> EASY
    for i in range(10):
        await progress.record(services.db, ProgressWrite(str(uuid.uuid4()), None, pid, 50, 60, i < 8))
    stats = (await gql.data(STATS, {"slug": "square-solid"}))["pattern"]["stats"]
    assert stats == {"attempts": 10, "learners": 10, "completions": 8, "successRate": 0.8,
                     "averageTimeSpentSeconds": 60.0, "perceivedDifficulty": "EASY"}
    pid2 = int(await pattern_id(gql, "butterfly"))
    for i in range(5):
        await progress.record(services.db, ProgressWrite(str(uuid.uuid4()), None, pid2, 50, 10, i < 1))
    stats = (await gql.data(STATS, {"slug": "butterfly"}))["pattern"]["stats"]
    assert stats["successRate"] == 0.2 and stats["perceivedDifficulty"] == "HARD"


async def test_leaderboard_ranks_with_ties_and_week(services, gql) -> None:
    slugs = {"EASY": None, "MEDIUM": None, "HARD": None}
    rows = await services.db.fetch("SELECT DISTINCT ON (difficulty) id, difficulty FROM patterns ORDER BY difficulty, position")
    for r in rows:
        slugs[r["difficulty"]] = r["id"]
    alice, bob, carol, dave = (str(uuid.uuid4()) for _ in range(4))
    await services.db.execute("INSERT INTO learners (id, display_name) VALUES ($1, 'Alice'), ($2, 'Bob')", alice, bob)

    async def passed(learner: str, difficulty: str) -> None:
        await progress.record(services.db, ProgressWrite(learner, None, slugs[difficulty], 100, 5, True, 1.0, True))

    await passed(alice, "HARD")      # 30
    await passed(bob, "EASY")        # 10
    await passed(bob, "MEDIUM")      # 20 -> 30, tie with alice
    await passed(bob, "MEDIUM")      # second pass of the same pattern: no points
    await passed(carol, "MEDIUM")    # 20
    await progress.record(services.db, ProgressWrite(dave, None, slugs["EASY"], 100, 5, True))  # self-reported: 0

    board = (await gql.data(BOARD, {}))["leaderboard"]
    assert [(e["rank"], e["points"]) for e in board] == [(1, 30), (1, 30), (3, 20)]
    # Within a tie, more completed patterns first.
    assert board[0]["learnerId"] == bob and board[0]["completedPatterns"] == 2 and board[0]["attempts"] == 3
    assert board[1]["displayName"] == "Alice"
    assert dave not in {e["learnerId"] for e in board}
    assert len((await gql.data(BOARD, {"first": 2}))["leaderboard"]) == 2

    # Move Alice's points to ten days ago: gone from WEEK, still in ALL_TIME.
    await services.db.execute(
        "UPDATE learner_activity_daily SET day = day - 10 WHERE learner_id = $1", alice)
    week = (await gql.data(BOARD, {"period": "WEEK"}))["leaderboard"]
    assert [(e["learnerId"], e["rank"], e["points"]) for e in week] == [(bob, 1, 30), (carol, 2, 20)]
    assert week[0]["attempts"] == 3
    all_time = (await gql.data(BOARD, {"period": "ALL_TIME"}))["leaderboard"]
    assert alice in {e["learnerId"] for e in all_time}


async def test_me_reports_points(services, gql) -> None:
    user = str(uuid.uuid4())
    token = token_for(user)
    assert (await gql.data("{ me { id points completedPatterns } }", token=token))["me"] == {
        "id": user, "points": 0, "completedPatterns": 0}
    pid = int(await pattern_id(gql, "right-triangle"))
    await progress.record(services.db, ProgressWrite(user, None, pid, 100, 5, True, 1.0, True))
    me = (await gql.data("{ me { id points completedPatterns } }", token=token))["me"]
    assert me["points"] > 0 and me["completedPatterns"] == 1
