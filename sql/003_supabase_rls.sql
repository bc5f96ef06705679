-- Row level security written for Supabase. On Supabase the `auth` schema, `auth.uid()`,
-- `auth.jwt()` and the `anon` / `authenticated` roles exist already; elsewhere this creates
-- small stand-ins that read the claims from `request.jwt.claims`, as PostgREST and Supabase do.
CREATE SCHEMA IF NOT EXISTS auth;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF to_regprocedure('auth.jwt()') IS NULL THEN
        CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
        $f$ SELECT coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $f$;
    END IF;
    IF to_regprocedure('auth.uid()') IS NULL THEN
        CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
        $f$ SELECT nullif(coalesce(current_setting('request.jwt.claim.sub', true),
                                   auth.jwt() ->> 'sub'), '')::uuid $f$;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated;
GRANT USAGE ON SCHEMA public TO anon, authenticated;

ALTER TABLE patterns ENABLE ROW LEVEL SECURITY;
ALTER TABLE pattern_stats ENABLE ROW LEVEL SECURITY;
ALTER TABLE learners ENABLE ROW LEVEL SECURITY;
ALTER TABLE learner_activity_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE progress ENABLE ROW LEVEL SECURITY;
ALTER TABLE attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE analyses ENABLE ROW LEVEL SECURITY;

-- Public catalog, statistics and leaderboard.
GRANT SELECT ON patterns, pattern_stats, learners, learner_activity_daily TO anon, authenticated;
CREATE POLICY patterns_read ON patterns FOR SELECT TO anon, authenticated USING (true);
CREATE POLICY pattern_stats_read ON pattern_stats FOR SELECT TO anon, authenticated USING (true);
CREATE POLICY learners_read ON learners FOR SELECT TO anon, authenticated USING (true);
CREATE POLICY learner_activity_read ON learner_activity_daily FOR SELECT TO anon, authenticated USING (true);

-- A learner's own rows.
GRANT SELECT, INSERT, UPDATE ON progress, attempts, analyses TO authenticated;
GRANT UPDATE (display_name) ON learners TO authenticated;
CREATE POLICY learners_update_own ON learners FOR UPDATE TO authenticated
    USING (id = (SELECT auth.uid())::text) WITH CHECK (id = (SELECT auth.uid())::text);
CREATE POLICY progress_own ON progress FOR ALL TO authenticated
    USING (learner_id = (SELECT auth.uid())::text) WITH CHECK (learner_id = (SELECT auth.uid())::text);
CREATE POLICY attempts_own ON attempts FOR ALL TO authenticated
    USING (learner_id = (SELECT auth.uid())::text) WITH CHECK (learner_id = (SELECT auth.uid())::text);
CREATE POLICY analyses_own ON analyses FOR ALL TO authenticated
    USING (learner_id = (SELECT auth.uid())::text) WITH CHECK (learner_id = (SELECT auth.uid())::text);

-- Counters are written only through record_progress, run by the server's own role.
REVOKE ALL ON FUNCTION record_progress(text, text, bigint, real, integer, boolean, real, boolean) FROM PUBLIC;
