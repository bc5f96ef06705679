-- Core tables: learners, the pattern catalog, per-pattern counters, progress, attempts, analyses.
-- Learner ids are the Supabase auth user id (the JWT `sub`), kept as text.

CREATE TABLE learners (
    id                  text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    display_name        text CHECK (display_name IS NULL OR length(display_name) <= 100),
    points              integer NOT NULL DEFAULT 0 CHECK (points >= 0),
    completed_patterns  integer NOT NULL DEFAULT 0 CHECK (completed_patterns >= 0),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- ALL_TIME leaderboard: an index scan in rank order.
CREATE INDEX learners_leaderboard_idx ON learners (points DESC, completed_patterns DESC, id);

CREATE TABLE patterns (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug                text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    category            text NOT NULL CHECK (category ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    difficulty          text NOT NULL CHECK (difficulty IN ('EASY', 'MEDIUM', 'HARD')),
    description         text NOT NULL,
    default_size        integer NOT NULL,
    min_size            integer NOT NULL CHECK (min_size >= 1),
    max_size            integer NOT NULL,
    formula             text NOT NULL,
    loops               integer NOT NULL CHECK (loops >= 0),
    conditions          integer NOT NULL CHECK (conditions >= 0),
    reference_solution  text NOT NULL,
    preview             text[] NOT NULL,
    position            integer NOT NULL,
    search_vector       tsvector GENERATED ALWAYS AS (
        to_tsvector('english', name || ' ' || description || ' ' || replace(category, '-', ' '))
    ) STORED,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (default_size BETWEEN min_size AND max_size),
    -- Deferred so a re-seed may reorder the catalog inside one transaction.
    CONSTRAINT patterns_position_key UNIQUE (position) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX patterns_category_idx ON patterns (category, position);
CREATE INDEX patterns_difficulty_idx ON patterns (difficulty, position);
CREATE INDEX patterns_search_idx ON patterns USING gin (search_vector);

-- Counters maintained in the same transaction as every progress write, so reading
-- statistics never aggregates the attempts table.
CREATE TABLE pattern_stats (
    pattern_id          bigint PRIMARY KEY REFERENCES patterns (id) ON DELETE CASCADE,
    attempts            bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    learners            integer NOT NULL DEFAULT 0 CHECK (learners >= 0),
    completions         integer NOT NULL DEFAULT 0 CHECK (completions >= 0),
    total_time_seconds  bigint NOT NULL DEFAULT 0 CHECK (total_time_seconds >= 0)
    -- No CHECK (completions <= learners): record_progress upserts deltas, and a CHECK is
    -- evaluated on the proposed delta row before ON CONFLICT turns it into an update.
);

CREATE TABLE progress (
    learner_id          text NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    pattern_id          bigint NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
    progress_percentage real NOT NULL DEFAULT 0 CHECK (progress_percentage BETWEEN 0 AND 100),
    time_spent_seconds  bigint NOT NULL DEFAULT 0 CHECK (time_spent_seconds >= 0),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    completed           boolean NOT NULL DEFAULT false,
    completed_at        timestamptz,
    -- First judged PASSED submission: the only thing that awards points.
    passed_at           timestamptz,
    best_score          real NOT NULL DEFAULT 0 CHECK (best_score BETWEEN 0 AND 1),
    points_awarded      integer NOT NULL DEFAULT 0 CHECK (points_awarded >= 0),
    last_attempt_at     timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (learner_id, pattern_id),
    CHECK (completed = (completed_at IS NOT NULL)),
    CHECK (passed_at IS NULL OR completed)
);
CREATE INDEX progress_pattern_idx ON progress (pattern_id);

-- Per learner per UTC day: what the WEEK leaderboard sums (7 rows a learner at most).
CREATE TABLE learner_activity_daily (
    learner_id          text NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    day                 date NOT NULL,
    points              integer NOT NULL DEFAULT 0 CHECK (points >= 0),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    completions         integer NOT NULL DEFAULT 0 CHECK (completions >= 0),
    PRIMARY KEY (learner_id, day)
);
CREATE INDEX learner_activity_daily_day_idx
    ON learner_activity_daily (day) INCLUDE (learner_id, points, attempts, completions);

CREATE TABLE attempts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    learner_id          text NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    pattern_id          bigint NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
    language            text NOT NULL DEFAULT 'PYTHON' CHECK (language IN ('PYTHON')),
    code                text NOT NULL CHECK (length(code) <= 20000),
    code_sha256         text NOT NULL CHECK (length(code_sha256) = 64),
    verdict             text NOT NULL CHECK (verdict IN
                            ('PASSED', 'WRONG_OUTPUT', 'RUNTIME_ERROR', 'SYNTAX_ERROR', 'TIMEOUT', 'REJECTED')),
    score               real NOT NULL CHECK (score BETWEEN 0 AND 1),
    sizes_tested        integer[] NOT NULL,
    output              text[] NOT NULL,
    expected            text[] NOT NULL,
    mismatches          jsonb NOT NULL DEFAULT '[]',
    error               text,
    duration_ms         integer NOT NULL CHECK (duration_ms >= 0),
    time_spent_seconds  integer NOT NULL DEFAULT 0 CHECK (time_spent_seconds >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attempts_learner_idx ON attempts (learner_id, created_at DESC);
CREATE INDEX attempts_pattern_idx ON attempts (pattern_id, created_at DESC);

CREATE TABLE analyses (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    learner_id          text NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    pattern_id          bigint NOT NULL REFERENCES patterns (id) ON DELETE CASCADE,
    attempt_id          bigint REFERENCES attempts (id) ON DELETE SET NULL,
    kind                text NOT NULL CHECK (kind IN ('FULL', 'COMPLEXITY', 'EXPLANATION', 'FEEDBACK')),
    status              text NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'RUNNING', 'DONE', 'FAILED')),
    code                text NOT NULL CHECK (length(code) <= 20000),
    code_sha256         text NOT NULL CHECK (length(code_sha256) = 64),
    result              jsonb,
    model_used          text,
    ai_confidence       real NOT NULL DEFAULT 0 CHECK (ai_confidence BETWEEN 0 AND 1),
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    completed_at        timestamptz,
    CHECK ((status IN ('DONE', 'FAILED')) = (completed_at IS NOT NULL))
);
CREATE INDEX analyses_learner_idx ON analyses (learner_id, created_at DESC);
CREATE INDEX analyses_pattern_idx ON analyses (pattern_id);
CREATE INDEX analyses_attempt_idx ON analyses (attempt_id) WHERE attempt_id IS NOT NULL;
