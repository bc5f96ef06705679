-- A pattern's reference program is its solution: a learner reads it through Pattern.solution once
-- they have passed the pattern (sql/012), and must not read it straight from the table (Supabase
-- serves public tables over REST to anyone holding the anon key). The request roles keep every
-- other column; a column added to `patterns` later needs its own GRANT here in a new migration.
-- The server's own role (the judge, the analysis pipeline, expected outputs) still reads it.
DO $$
DECLARE
    readable text;
BEGIN
    SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) INTO readable
    FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'patterns' AND column_name <> 'reference_solution';
    REVOKE SELECT ON patterns FROM anon, authenticated;
    EXECUTE format('GRANT SELECT (%s) ON patterns TO anon, authenticated', readable);
END
$$;

-- The references of those patterns the learner has a judged PASS of, and of no other: what
-- Pattern.solution shows. Called as a request's role, the claims must name that learner; the
-- server's own calls (no claims) are trusted, as record_progress's are.
CREATE FUNCTION passed_references(p_learner_id text, p_pattern_ids bigint[])
RETURNS TABLE (pattern_id bigint, reference_solution text)
LANGUAGE plpgsql STABLE
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    IF auth.jwt() ? 'role' AND p_learner_id IS DISTINCT FROM auth.jwt() ->> 'sub' THEN
        RAISE EXCEPTION 'passed_references: a learner reads only their own solutions'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY
        SELECT p.id, p.reference_solution
        FROM progress pr JOIN patterns p ON p.id = pr.pattern_id
        WHERE pr.learner_id = p_learner_id AND pr.pattern_id = ANY(p_pattern_ids) AND pr.passed_at IS NOT NULL;
END
$$;
REVOKE ALL ON FUNCTION passed_references(text, bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION passed_references(text, bigint[]) TO authenticated;
