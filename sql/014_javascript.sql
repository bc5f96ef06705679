-- JavaScript programs (issue 11): attempts and analyses say which language the code is in, and an
-- analysis is reused only for identical code in the same language (the same text judges
-- differently in Python and in JavaScript).
ALTER TABLE attempts DROP CONSTRAINT attempts_language_check;
ALTER TABLE attempts ADD CONSTRAINT attempts_language_check CHECK (language IN ('PYTHON', 'JAVASCRIPT'));

ALTER TABLE analyses ADD COLUMN language text NOT NULL DEFAULT 'PYTHON'
    CHECK (language IN ('PYTHON', 'JAVASCRIPT'));

DROP INDEX analyses_reuse_idx;
CREATE INDEX analyses_reuse_idx ON analyses (pattern_id, kind, model_key, code_sha256, language) WHERE status = 'DONE';

DROP FUNCTION reusable_analysis(bigint, text, text, text);
CREATE FUNCTION reusable_analysis(p_pattern_id bigint, p_kind text, p_model_key text, p_code_sha256 text,
                                  p_language text)
RETURNS TABLE (result jsonb, model_used text, ai_confidence real)
LANGUAGE sql STABLE
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT a.result, a.model_used, a.ai_confidence FROM analyses a
    WHERE a.status = 'DONE' AND a.pattern_id = p_pattern_id AND a.kind = p_kind AND a.model_key = p_model_key
      AND a.code_sha256 = p_code_sha256 AND a.language = p_language AND a.model_used = a.model_key
    ORDER BY a.completed_at DESC LIMIT 1
$$;
REVOKE ALL ON FUNCTION reusable_analysis(bigint, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reusable_analysis(bigint, text, text, text, text) TO authenticated;
