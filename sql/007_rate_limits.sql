-- Rate limits shared by every API process (db/rate_limits.py): one row per (bucket, key), a
-- GCRA ("generic cell rate algorithm", a token bucket kept as one timestamp) updated by a single
-- INSERT ... ON CONFLICT DO UPDATE per request.
CREATE TABLE rate_limits (
    bucket  text NOT NULL,         -- what is limited: 'submit', 'analysis', 'search'
    key     text NOT NULL,         -- who: 'user:<token sub>' or 'ip:<address>'
    -- Theoretical arrival time: when the caller's budget is whole again. At or before now the row
    -- means the same as no row, so such rows may be deleted at any moment.
    tat     timestamptz NOT NULL,
    -- The decision on the last request, so the one statement can return it.
    allowed boolean NOT NULL,
    PRIMARY KEY (bucket, key)
) WITH (fillfactor = 80);  -- room for HOT updates: `tat` is in no index, every hit updates in place

-- The server's own role alone reads and writes limits: no learner sees who else asked what, or
-- resets their own budget. RLS without policies denies the request roles even where default
-- privileges (Supabase's) grant them every new table; the REVOKE says it outright.
ALTER TABLE rate_limits ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON rate_limits FROM PUBLIC, anon, authenticated;
