-- Analyses as durable jobs: claimed with FOR UPDATE SKIP LOCKED under a lease, so a worker
-- that dies mid-analysis leaves a job that another (or the restarted) worker picks up.
ALTER TABLE analyses
    ADD COLUMN model_key    text NOT NULL DEFAULT 'rule-based',
    ADD COLUMN job_attempts integer NOT NULL DEFAULT 0 CHECK (job_attempts >= 0),
    ADD COLUMN lease_until  timestamptz,
    ADD COLUMN worker_id    text,
    ADD COLUMN timings      jsonb NOT NULL DEFAULT '{}';

-- Claim order for pending work; small because finished analyses leave it.
CREATE INDEX analyses_pending_idx ON analyses (created_at) WHERE status IN ('QUEUED', 'RUNNING');
-- Identical requests (same code, pattern, kind, model) reuse a finished result.
CREATE INDEX analyses_reuse_idx ON analyses (pattern_id, kind, model_key, code_sha256) WHERE status = 'DONE';

-- Catalog embeddings for semantic search, one row per pattern and embedding model. Stored as
-- real[] so the table is the same with or without pgvector; with pgvector the search casts
-- to `vector` and ranks by its cosine distance in SQL.
CREATE TABLE pattern_embeddings (
    pattern_id     bigint NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
    model_key      text NOT NULL,
    content_sha256 text NOT NULL,
    embedding      real[] NOT NULL CHECK (cardinality(embedding) > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_key, pattern_id)
);
ALTER TABLE pattern_embeddings ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON pattern_embeddings TO anon, authenticated;
CREATE POLICY pattern_embeddings_read ON pattern_embeddings FOR SELECT TO anon, authenticated USING (true);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pgvector is available but this role may not create it; search ranks in Python';
END
$$;
