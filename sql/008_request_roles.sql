-- Requests run as the caller (db/scoped.py): each transaction sets `request.jwt.claims` and
-- switches to `anon` or `authenticated`, as PostgREST does, so these policies hold even where
-- application code forgets to filter.

-- The server's login role must be able to become either. A superuser always can; elsewhere
-- (Supabase's `postgres`) grant the membership when allowed, and say so when not: the server
-- checks at start (db/scoped.py `can_switch_roles`) and refuses to serve without it.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'anon', 'MEMBER') OR NOT pg_has_role(current_user, 'authenticated', 'MEMBER') THEN
        EXECUTE format('GRANT anon, authenticated TO %I', current_user);
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'cannot grant anon and authenticated to %: grant them so requests can run as the caller',
        current_user;
END
$$;

-- Ownership by the token's `sub` as text: Supabase's are UUIDs, but development and other
-- issuers may use any string, and `auth.uid()` would fail on those.
DROP POLICY learners_update_own ON learners;
DROP POLICY progress_own ON progress;
DROP POLICY attempts_own ON attempts;
DROP POLICY analyses_own ON analyses;

CREATE POLICY learners_update_own ON learners FOR UPDATE TO authenticated
    USING (id = (SELECT auth.jwt() ->> 'sub')) WITH CHECK (id = (SELECT auth.jwt() ->> 'sub'));
-- A learner's first write creates their row (db/learners.py `ensure`).
GRANT INSERT (id, display_name) ON learners TO authenticated;
CREATE POLICY learners_insert_own ON learners FOR INSERT TO authenticated
    WITH CHECK (id = (SELECT auth.jwt() ->> 'sub'));
CREATE POLICY progress_own ON progress FOR ALL TO authenticated
    USING (learner_id = (SELECT auth.jwt() ->> 'sub')) WITH CHECK (learner_id = (SELECT auth.jwt() ->> 'sub'));
CREATE POLICY attempts_own ON attempts FOR ALL TO authenticated
    USING (learner_id = (SELECT auth.jwt() ->> 'sub')) WITH CHECK (learner_id = (SELECT auth.jwt() ->> 'sub'));
CREATE POLICY analyses_own ON analyses FOR ALL TO authenticated
    USING (learner_id = (SELECT auth.jwt() ->> 'sub')) WITH CHECK (learner_id = (SELECT auth.jwt() ->> 'sub'));

-- Learners never delete, and write progress only through record_progress below.
REVOKE DELETE ON progress, attempts, analyses FROM authenticated;
REVOKE INSERT, UPDATE ON progress FROM authenticated;

-- Counters (pattern_stats, learners' totals, daily activity) are shared rows no learner may
-- write directly: record_progress runs as its owner, for the caller's own learner id only.
ALTER FUNCTION record_progress(text, text, bigint, real, integer, boolean, real, boolean)
    RENAME TO record_progress_unchecked;
REVOKE ALL ON FUNCTION record_progress_unchecked(text, text, bigint, real, integer, boolean, real, boolean)
    FROM PUBLIC;

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
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    -- Called as a request's role, the claims say who the caller is; the server's own calls
    -- (no claims) are trusted.
    IF auth.jwt() ? 'role' AND p_learner_id IS DISTINCT FROM auth.jwt() ->> 'sub' THEN
        RAISE EXCEPTION 'record_progress: a learner records only their own progress'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT * FROM record_progress_unchecked(
        p_learner_id, p_display_name, p_pattern_id, p_percentage, p_time_spent, p_completed, p_score, p_passed);
END
$$;
REVOKE ALL ON FUNCTION record_progress(text, text, bigint, real, integer, boolean, real, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_progress(text, text, bigint, real, integer, boolean, real, boolean)
    TO authenticated;

-- Identical code gets the same finished analysis, whoever wrote it first: the result depends on
-- the code alone, and this returns no learner's id or code, only the shared result.
CREATE FUNCTION reusable_analysis(p_pattern_id bigint, p_kind text, p_model_key text, p_code_sha256 text)
RETURNS TABLE (result jsonb, model_used text, ai_confidence real)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT a.result, a.model_used, a.ai_confidence FROM analyses a
    WHERE a.status = 'DONE' AND a.pattern_id = p_pattern_id AND a.kind = p_kind AND a.model_key = p_model_key
      AND a.code_sha256 = p_code_sha256 AND a.model_used = a.model_key
    ORDER BY a.completed_at DESC LIMIT 1
$$;
REVOKE ALL ON FUNCTION reusable_analysis(bigint, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reusable_analysis(bigint, text, text, text) TO authenticated;
