-- Classroom scale: grounded feedback is stored when an analysis is queued (only the model's prose
-- waits), watched analyses go first, a learner's newer submission supersedes the older one, and
-- a learner runs a bounded number of analyses at once (db/analyses.py `claim`).

-- Refreshed by each live subscriber every few seconds; a recent value means someone is watching.
ALTER TABLE analyses
    ADD COLUMN watched_at     timestamptz,
    -- The newer analysis that made this one's model prose pointless (its grounded part stays).
    ADD COLUMN superseded_by  uuid REFERENCES analyses (id) ON DELETE SET NULL;

-- Per-learner running count in `claim`, and superseding a learner's queued work.
CREATE INDEX analyses_learner_pending_idx ON analyses (learner_id, pattern_id)
    WHERE status IN ('QUEUED', 'RUNNING');
