-- Pattern solutions: each pattern's reference code with an explanation, produced once per pattern,
-- language and model through the analysis pipeline and stored here. A learner sees one only after
-- a judged PASS of the pattern (the policy below, and Pattern.solution).
--
-- A row is written with its grounded explanation the first time a learner who passed asks (or by
-- `codepattern seed --solutions`); while a model is configured, the row is also a durable job
-- (QUEUED -> RUNNING -> DONE | FAILED, claimed under a lease as analyses are) whose worker appends
-- the model's verified sentences. FAILED keeps the grounded explanation.
CREATE TABLE pattern_solutions (
    pattern_id        bigint NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
    language          text NOT NULL CHECK (language ~ '^[A-Z]+$'),  -- a core.domain.Language value
    model_key         text NOT NULL,       -- what the explanation is produced with ('rule-based' or a model)
    reference_sha256  text NOT NULL CHECK (length(reference_sha256) = 64),  -- of the code explained
    status            text NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED')),
    explanation       text NOT NULL,
    model_used        text NOT NULL DEFAULT 'rule-based',
    ai_confidence     real NOT NULL DEFAULT 0 CHECK (ai_confidence BETWEEN 0 AND 1),
    result            jsonb NOT NULL DEFAULT '{}',  -- what the verifier kept and dropped, for operators
    job_attempts      integer NOT NULL DEFAULT 0 CHECK (job_attempts >= 0),
    lease_until       timestamptz,
    worker_id         text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    PRIMARY KEY (pattern_id, language, model_key),
    CHECK ((status IN ('DONE', 'FAILED')) = (completed_at IS NOT NULL))
);
CREATE INDEX pattern_solutions_pending_idx ON pattern_solutions (created_at) WHERE status IN ('QUEUED', 'RUNNING');

-- Written by the server's own role only (the API's first demand, seeding, the workers).
ALTER TABLE pattern_solutions ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON pattern_solutions FROM PUBLIC, anon, authenticated;
GRANT SELECT (pattern_id, language, model_key, reference_sha256, status, explanation, model_used, completed_at)
    ON pattern_solutions TO authenticated;
CREATE POLICY pattern_solutions_after_passing ON pattern_solutions FOR SELECT TO authenticated
    USING (EXISTS (SELECT 1 FROM progress p
                   WHERE p.learner_id = (SELECT auth.jwt() ->> 'sub') AND p.pattern_id = pattern_solutions.pattern_id
                     AND p.passed_at IS NOT NULL));
