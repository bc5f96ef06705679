-- Progress over time: each UTC day's attempts, completions and time (learner_activity_daily,
-- which the WEEK leaderboard already sums), and the streak of consecutive active days, both kept
-- by record_progress as attempts are recorded, so reading them never scans attempts.

ALTER TABLE learner_activity_daily
    ADD COLUMN time_spent_seconds bigint NOT NULL DEFAULT 0 CHECK (time_spent_seconds >= 0);

-- Days before this migration: the time of judged submissions (progress saves kept no day).
UPDATE learner_activity_daily d SET time_spent_seconds = t.seconds
FROM (SELECT learner_id, (created_at AT TIME ZONE 'UTC')::date AS day, sum(time_spent_seconds) AS seconds
      FROM attempts GROUP BY 1, 2) t
WHERE d.learner_id = t.learner_id AND d.day = t.day;

-- One row per learner: the run of consecutive UTC days with an attempt that ends on last_day, and
-- the longest run ever. Whether the run is still alive (last_day is today or yesterday) is
-- decided when it is read.
CREATE TABLE learner_streaks (
    learner_id   text PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    current_days integer NOT NULL CHECK (current_days >= 1),
    longest_days integer NOT NULL,
    last_day     date NOT NULL,
    CHECK (longest_days >= current_days)
);

-- The same numbers recounted from the daily rows (gaps and islands): what the migration starts
-- the counters from, and what tests and bench/load_attempts.py check them against. Runs as the
-- caller (security_invoker) and is closed to the request roles anyway.
CREATE VIEW learner_streaks_recount WITH (security_invoker = true) AS
SELECT learner_id,
       (array_agg(days ORDER BY last_day DESC))[1]::int AS current_days,
       max(days)::int AS longest_days,
       max(last_day) AS last_day
FROM (
    SELECT learner_id, count(*) AS days, max(day) AS last_day
    FROM (SELECT learner_id, day, day - row_number() OVER (PARTITION BY learner_id ORDER BY day)::int AS run
          FROM learner_activity_daily WHERE attempts > 0) numbered
    GROUP BY learner_id, run
) runs
GROUP BY learner_id;
REVOKE ALL ON learner_streaks_recount FROM PUBLIC, anon, authenticated;

INSERT INTO learner_streaks SELECT * FROM learner_streaks_recount;

-- A learner reads only their own days and streak (the time spent is theirs alone). The WEEK
-- leaderboard, which sums everyone's last 7 days, reads them through the function below, which
-- returns the ranked totals the API shows and nothing else.
ALTER TABLE learner_streaks ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON learner_streaks TO authenticated;
CREATE POLICY learner_streaks_own ON learner_streaks FOR SELECT TO authenticated
    USING (learner_id = (SELECT auth.jwt() ->> 'sub'));

DROP POLICY learner_activity_read ON learner_activity_daily;
REVOKE ALL ON learner_activity_daily FROM anon;
CREATE POLICY learner_activity_own ON learner_activity_daily FOR SELECT TO authenticated
    USING (learner_id = (SELECT auth.jwt() ->> 'sub'));

-- The last 7 UTC days, today included: rank() over points (equal points share a rank), ties
-- ordered by completions, then id; names joined after the limit.
CREATE FUNCTION leaderboard_week(p_first integer)
RETURNS TABLE (rank bigint, learner_id text, display_name text, points integer, completed_patterns integer,
               attempts integer)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    WITH week AS (
        SELECT d.learner_id, sum(d.points)::int AS points, sum(d.completions)::int AS completed_patterns,
               sum(d.attempts)::int AS attempts
        FROM learner_activity_daily d
        WHERE d.day > (now() AT TIME ZONE 'UTC')::date - 7
        GROUP BY d.learner_id
        HAVING sum(d.points) > 0
    ), ranked AS (
        SELECT rank() OVER (ORDER BY w.points DESC) AS rank, w.*
        FROM week w
        ORDER BY w.points DESC, w.completed_patterns DESC, w.learner_id
        LIMIT $1
    )
    SELECT r.rank, r.learner_id, l.display_name, r.points, r.completed_patterns, r.attempts
    FROM ranked r JOIN learners l ON l.id = r.learner_id
    ORDER BY r.points DESC, r.completed_patterns DESC, r.learner_id
$$;
REVOKE ALL ON FUNCTION leaderboard_week(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION leaderboard_week(integer) TO anon, authenticated;

-- record_progress (sql/008 wraps this one): as in sql/005, plus the day's time and the streak.
-- Lock order: progress -> pattern_stats -> learners -> learner_streaks -> learner_activity_daily.
CREATE OR REPLACE FUNCTION record_progress_unchecked(
    p_learner_id   text,
    p_display_name text,
    p_pattern_id   bigint,
    p_percentage   real,
    p_time_spent   integer,
    p_completed    boolean,
    p_score        real,
    p_passed       boolean
) RETURNS SETOF progress
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    v_now              timestamptz := clock_timestamp();
    v_was_completed    boolean;
    v_was_passed       boolean;
    v_new_learner      boolean := false;
    v_first_completion boolean;
    v_first_pass       boolean;
    v_points           integer := 0;
    v_done             boolean := p_completed OR p_passed;
    v_day              date;
BEGIN
    INSERT INTO learners AS l (id, display_name) VALUES (p_learner_id, p_display_name)
    ON CONFLICT (id) DO NOTHING;

    SELECT completed, passed_at IS NOT NULL INTO v_was_completed, v_was_passed
      FROM progress WHERE learner_id = p_learner_id AND pattern_id = p_pattern_id
       FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO progress (learner_id, pattern_id, progress_percentage, time_spent_seconds, attempts,
                              completed, completed_at, passed_at, best_score, last_attempt_at)
        VALUES (p_learner_id, p_pattern_id,
                CASE WHEN v_done THEN 100 ELSE p_percentage END, p_time_spent, 1,
                v_done, CASE WHEN v_done THEN v_now END, CASE WHEN p_passed THEN v_now END,
                coalesce(p_score, 0), v_now)
        ON CONFLICT (learner_id, pattern_id) DO NOTHING;
        v_new_learner := FOUND;
        IF NOT v_new_learner THEN
            -- A concurrent first write won the insert: wait for it, then read what it left.
            SELECT completed, passed_at IS NOT NULL INTO v_was_completed, v_was_passed
              FROM progress WHERE learner_id = p_learner_id AND pattern_id = p_pattern_id
               FOR UPDATE;
        END IF;
    END IF;

    IF v_new_learner THEN
        v_first_completion := v_done;
        v_first_pass := p_passed;
    ELSE
        v_first_completion := v_done AND NOT v_was_completed;
        v_first_pass := p_passed AND NOT v_was_passed;
        UPDATE progress AS p SET
            progress_percentage = greatest(p.progress_percentage, CASE WHEN v_done THEN 100 ELSE p_percentage END),
            time_spent_seconds  = p.time_spent_seconds + p_time_spent,
            attempts            = p.attempts + 1,
            completed           = p.completed OR v_done,
            completed_at        = coalesce(p.completed_at, CASE WHEN v_done THEN v_now END),
            passed_at           = coalesce(p.passed_at, CASE WHEN p_passed THEN v_now END),
            best_score          = greatest(p.best_score, coalesce(p_score, 0)),
            last_attempt_at     = v_now,
            updated_at          = v_now
        WHERE p.learner_id = p_learner_id AND p.pattern_id = p_pattern_id;
    END IF;

    IF v_first_pass THEN
        SELECT CASE difficulty WHEN 'EASY' THEN 10 WHEN 'MEDIUM' THEN 20 ELSE 30 END
          INTO v_points FROM patterns WHERE id = p_pattern_id;
        UPDATE progress SET points_awarded = v_points
         WHERE learner_id = p_learner_id AND pattern_id = p_pattern_id;
    END IF;

    INSERT INTO pattern_stats AS s (pattern_id, attempts, learners, completions, total_time_seconds)
    VALUES (p_pattern_id, 1, v_new_learner::int, v_first_completion::int, p_time_spent)
    ON CONFLICT (pattern_id) DO UPDATE SET
        attempts           = s.attempts + 1,
        learners           = s.learners + excluded.learners,
        completions        = s.completions + excluded.completions,
        total_time_seconds = s.total_time_seconds + excluded.total_time_seconds;

    UPDATE learners SET
        attempts           = attempts + 1,
        points             = points + v_points,
        completed_patterns = completed_patterns + v_first_completion::int,
        updated_at         = v_now
    WHERE id = p_learner_id;

    -- The learner's row is locked from here to commit, so the calls for one learner read this
    -- clock one after the other: their days never go backwards, and the streak sees them in order.
    v_day := (clock_timestamp() AT TIME ZONE 'UTC')::date;

    INSERT INTO learner_streaks AS s (learner_id, current_days, longest_days, last_day)
    VALUES (p_learner_id, 1, 1, v_day)
    ON CONFLICT (learner_id) DO UPDATE SET
        current_days = CASE WHEN s.last_day >= excluded.last_day THEN s.current_days
                            WHEN s.last_day = excluded.last_day - 1 THEN s.current_days + 1
                            ELSE 1 END,
        longest_days = greatest(s.longest_days,
                                CASE WHEN s.last_day >= excluded.last_day THEN s.current_days
                                     WHEN s.last_day = excluded.last_day - 1 THEN s.current_days + 1
                                     ELSE 1 END),
        last_day     = greatest(s.last_day, excluded.last_day);

    INSERT INTO learner_activity_daily AS d (learner_id, day, points, attempts, completions, time_spent_seconds)
    VALUES (p_learner_id, v_day, v_points, 1, v_first_completion::int, p_time_spent)
    ON CONFLICT (learner_id, day) DO UPDATE SET
        points             = d.points + excluded.points,
        attempts           = d.attempts + 1,
        completions        = d.completions + excluded.completions,
        time_spent_seconds = d.time_spent_seconds + excluded.time_spent_seconds;

    RETURN QUERY SELECT * FROM progress WHERE learner_id = p_learner_id AND pattern_id = p_pattern_id;
END;
$$;
