-- Numbered 014: main took 009-013 (learner features, public-data notifications) meanwhile.
-- The request id of the API request that queued an analysis (X-Request-ID, or one the server
-- made), so the worker that runs it, in any process, logs under the same id: one id follows an
-- analysis from submit to done. Nothing reads it but the logs.
ALTER TABLE analyses ADD COLUMN IF NOT EXISTS request_id text;
