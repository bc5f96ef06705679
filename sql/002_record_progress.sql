-- One round trip, one transaction for every progress write: the upsert, the pattern's
-- counters, the learner's totals and the daily activity row. Locks are always taken in the
-- order progress -> pattern_stats -> learners -> learner_activity_daily, so concurrent
-- writers cannot deadlock.
--
-- Points: the first judged PASSED submission of a pattern awards EASY 10, MEDIUM 20,
-- HARD 30. Self-reported completion (saveProgress) counts as completion, never as points.
CREATE FUNCTION record_progress(
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
    v_row              record;
    v_new_learner      boolean;
    v_first_completion boolean;
    v_points           integer := 0;
    v_done             boolean := p_completed OR p_passed;
BEGIN
    INSERT INTO learners AS l (id, display_name) VALUES (p_learner_id, p_display_name)
    ON CONFLICT (id) DO NOTHING;

    INSERT INTO progress AS p (learner_id, pattern_id, progress_percentage, time_spent_seconds, attempts,
                               completed, completed_at, passed_at, best_score, last_attempt_at)
    VALUES (p_learner_id, p_pattern_id,
            CASE WHEN v_done THEN 100 ELSE p_percentage END, p_time_spent, 1,
            v_done, CASE WHEN v_done THEN v_now END, CASE WHEN p_passed THEN v_now END,
            coalesce(p_score, 0), v_now)
    ON CONFLICT (learner_id, pattern_id) DO UPDATE SET
        progress_percentage = greatest(p.progress_percentage, excluded.progress_percentage),
        time_spent_seconds  = p.time_spent_seconds + excluded.time_spent_seconds,
        attempts            = p.attempts + 1,
        completed           = p.completed OR excluded.completed,
        completed_at        = coalesce(p.completed_at, excluded.completed_at),
        passed_at           = coalesce(p.passed_at, excluded.passed_at),
        best_score          = greatest(p.best_score, excluded.best_score),
        last_attempt_at     = excluded.last_attempt_at,
        updated_at          = v_now
    RETURNING p.*, (p.xmax = 0) AS inserted INTO v_row;

    -- Values stamped with this call's own clock reading mark a first-time transition,
    -- also when a concurrent writer inserted the row a moment earlier.
    v_new_learner := v_row.inserted;
    v_first_completion := v_row.completed_at IS NOT DISTINCT FROM v_now;
    IF v_row.passed_at IS NOT DISTINCT FROM v_now THEN
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

    INSERT INTO learner_activity_daily AS d (learner_id, day, points, attempts, completions)
    VALUES (p_learner_id, (v_now AT TIME ZONE 'UTC')::date, v_points, 1, v_first_completion::int)
    ON CONFLICT (learner_id, day) DO UPDATE SET
        points      = d.points + excluded.points,
        attempts    = d.attempts + 1,
        completions = d.completions + excluded.completions;

    RETURN QUERY SELECT * FROM progress WHERE learner_id = p_learner_id AND pattern_id = p_pattern_id;
END;
$$;
