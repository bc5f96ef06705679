-- record_progress, with first-time transitions read from the row's state under its lock.
--
-- 002 detected "first completion" and "first pass" by comparing the stored timestamp with the
-- call's own clock reading. Two concurrent calls can read the same microsecond, and then both
-- counted the first completion. Here the previous state is read with SELECT ... FOR UPDATE (or
-- the row is inserted by this call), so exactly one writer sees each transition. Lock order is
-- unchanged: progress -> pattern_stats -> learners -> learner_activity_daily.
CREATE OR REPLACE FUNCTION record_progress(
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

    INSERT INTO learner_activity_daily AS d (learner_id, day, points, attempts, completions)
    VALUES (p_learner_id, (v_now AT TIME ZONE 'UTC')::date, v_points, 1, v_first_completion::int)
    ON CONFLICT (learner_id, day) DO UPDATE SET
        points      = d.points + excluded.points,
        attempts    = d.attempts + 1,
        completions = d.completions + excluded.completions;

    RETURN QUERY SELECT * FROM progress WHERE learner_id = p_learner_id AND pattern_id = p_pattern_id;
END;
$$;
