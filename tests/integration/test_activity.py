"""Progress over time: one row per UTC day (zeros included) and the streak of consecutive active
days, both from the counters record_progress keeps."""

from __future__ import annotations

import datetime as dt
import uuid

from db import progress
from db.progress import ProgressWrite
from tests.helpers import token_for
from tests.integration.test_submissions import RIGHT_TRIANGLE, SUBMIT, pattern_id

ACTIVITY = "query($days: Int) { me { activity(days: $days) { day attempts completions timeSpentSeconds } } }"
STREAK = "{ me { streak { current longest } } }"
SAVE = "mutation($input: SaveProgressInput!) { saveProgress(input: $input) { attempts } }"


async def utc_today(services) -> dt.date:
    return await services.db.fetchval("SELECT (now() AT TIME ZONE 'UTC')::date")


async def record(services, learner: str, *, seconds: int = 0) -> None:
    """One recorded attempt today (what every submission and progress save does)."""
    pid = await services.db.fetchval("SELECT id FROM patterns ORDER BY position LIMIT 1")
    await progress.record(services.db, ProgressWrite(learner, None, pid, 10, seconds, False))


async def set_days(services, learner: str, days_ago: list[int]) -> None:
    """Daily rows on those past days (one attempt each) and the streak counters recounted from
    them, as sql/010 starts them."""
    today = await utc_today(services)
    await services.db.execute("INSERT INTO learners (id) VALUES ($1) ON CONFLICT DO NOTHING", learner)
    await services.db.executemany(
        "INSERT INTO learner_activity_daily (learner_id, day, attempts) VALUES ($1, $2, 1)",
        [(learner, today - dt.timedelta(days=n)) for n in days_ago],
    )
    await services.db.execute("DELETE FROM learner_streaks WHERE learner_id = $1", learner)
    await services.db.execute("INSERT INTO learner_streaks SELECT * FROM learner_streaks_recount WHERE learner_id = $1",
                              learner)


async def streak_of(gql, learner: str) -> tuple[int, int]:
    streak = (await gql.data(STREAK, token=token_for(learner)))["me"]["streak"]
    return streak["current"], streak["longest"]


async def assert_counters_match_recount(services, learner: str) -> None:
    stored = await services.db.fetchrow(
        "SELECT current_days, longest_days, last_day FROM learner_streaks WHERE learner_id = $1", learner)
    recount = await services.db.fetchrow(
        "SELECT current_days, longest_days, last_day FROM learner_streaks_recount WHERE learner_id = $1", learner)
    assert tuple(stored) == tuple(recount)


async def test_activity_has_one_row_per_utc_day_with_todays_work(gql, services) -> None:
    user = str(uuid.uuid4())
    token = token_for(user)
    pid = await pattern_id(gql, "right-triangle")
    await gql.data(SAVE, {"input": {"patternId": pid, "progressPercentage": 40, "timeSpentSeconds": 90}}, token=token)
    await gql.data(SUBMIT, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE, "timeSpentSeconds": 30}}, token=token)
    today = await utc_today(services)
    # Work on an earlier day (the row record_progress would have written then).
    await services.db.execute(
        """INSERT INTO learner_activity_daily (learner_id, day, attempts, completions, time_spent_seconds)
           VALUES ($1, $2, 3, 0, 600)""", user, today - dt.timedelta(days=4))
    rows = (await gql.data(ACTIVITY, {"days": 7}, token=token))["me"]["activity"]
    assert [r["day"] for r in rows] == [(today - dt.timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    assert rows[-1] == {"day": today.isoformat(), "attempts": 2, "completions": 1, "timeSpentSeconds": 120}
    assert rows[2] == {"day": (today - dt.timedelta(days=4)).isoformat(), "attempts": 3, "completions": 0,
                       "timeSpentSeconds": 600}
    assert all(r["attempts"] == r["completions"] == r["timeSpentSeconds"] == 0 for r in rows[:2] + rows[3:6])
    # The default is 30 days; one day is today alone; a year and a leap day is the most.
    assert len((await gql.data(ACTIVITY, token=token))["me"]["activity"]) == 30
    assert len((await gql.data(ACTIVITY, {"days": None}, token=token))["me"]["activity"]) == 30
    assert [r["day"] for r in (await gql.data(ACTIVITY, {"days": 1}, token=token))["me"]["activity"]] == [
        today.isoformat()]
    assert len((await gql.data(ACTIVITY, {"days": 366}, token=token))["me"]["activity"]) == 366
    # The same numbers as the learner's totals and progress.
    progress_row = (await gql.data("{ progress { attempts timeSpentSeconds } }", token=token))["progress"][0]
    assert (progress_row["attempts"], progress_row["timeSpentSeconds"]) == (rows[-1]["attempts"], 120)


async def test_days_outside_1_to_366_name_the_argument(gql) -> None:
    token = token_for()
    for days in (0, -3, 367, 100000):
        body = await gql(ACTIVITY, {"days": days}, token=token)
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "days"}, days


async def test_a_streak_grows_day_by_day_and_breaks_after_a_missed_day(gql, services) -> None:
    learner = str(uuid.uuid4())
    assert await streak_of(gql, learner) == (0, 0)  # nothing recorded yet
    await record(services, learner)
    assert await streak_of(gql, learner) == (1, 1)
    await record(services, learner)  # the same day again: no change
    assert await streak_of(gql, learner) == (1, 1)

    # Active the last three days: today makes four.
    grower = str(uuid.uuid4())
    await set_days(services, grower, [3, 2, 1])
    assert await streak_of(gql, grower) == (3, 3)  # yesterday's run is still alive today
    await record(services, grower, seconds=5)
    assert await streak_of(gql, grower) == (4, 4)
    await assert_counters_match_recount(services, grower)

    # Three days, a gap, two days ending the day before yesterday: the run is over.
    broken = str(uuid.uuid4())
    await set_days(services, broken, [9, 8, 7, 3, 2])
    assert await streak_of(gql, broken) == (0, 3)
    await record(services, broken)
    assert await streak_of(gql, broken) == (1, 3)
    await assert_counters_match_recount(services, broken)


async def test_activity_and_streak_are_the_callers_own(gql, services) -> None:
    alice = str(uuid.uuid4())
    await record(services, alice, seconds=40)
    query = "{ me { id activity(days: 2) { attempts } streak { current } } }"
    bob = (await gql.data(query, token=token_for()))["me"]
    assert [r["attempts"] for r in bob["activity"]] == [0, 0] and bob["streak"]["current"] == 0
    mine = (await gql.data(query, token=token_for(alice)))["me"]
    assert [r["attempts"] for r in mine["activity"]] == [0, 1] and mine["streak"]["current"] == 1
