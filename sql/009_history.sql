-- Submission history: a learner's attempts (all, or of one pattern) and analyses, newest first,
-- paged by keyset (created_at, id), so every page is one index range scan however deep it is.
-- (created_at alone is not unique: one transaction's rows share now(); the id breaks ties.)
CREATE INDEX attempts_learner_history_idx ON attempts (learner_id, created_at DESC, id DESC);
CREATE INDEX attempts_learner_pattern_history_idx ON attempts (learner_id, pattern_id, created_at DESC, id DESC);
CREATE INDEX analyses_learner_history_idx ON analyses (learner_id, created_at DESC, id DESC);
-- Prefixes of the indexes above.
DROP INDEX attempts_learner_idx;
DROP INDEX analyses_learner_idx;
