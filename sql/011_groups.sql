-- Class groups: a learner creates a group and shares its join code; others join with the code.
-- Members see the group, its members' names and its leaderboard; the owner also sees the join
-- code and each member's progress (the teacher's dashboard). The owner is not a member unless
-- they join with the code too (a teacher is usually not on the class board).
--
-- Who sees and changes what is decided here, by row level security, as well as in the resolvers:
-- joining needs the code (join_group below: nobody inserts memberships directly), the limits are
-- checked under a lock (create_group, join_group), and the policies use SECURITY DEFINER helpers
-- so that a policy on one table can ask about the others without recursing into their policies.

CREATE TABLE groups (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    owner_id    text NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX groups_owner_idx ON groups (owner_id);

CREATE TABLE group_members (
    group_id    uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    learner_id  text NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, learner_id)
);
CREATE INDEX group_members_learner_idx ON group_members (learner_id);

-- Apart from the group, so that only the owner can read it: 12 characters of Crockford's base32
-- (no I, L, O, U), 60 random bits, drawn here (new_join_code) and never chosen by a caller.
CREATE TABLE group_join_codes (
    group_id    uuid PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-HJKMNP-TV-Z]{12}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The limits, in one place for the functions below; usecases/groups.py states the same numbers
-- (tests/integration/test_groups.py checks that they agree).
CREATE FUNCTION group_limits(OUT max_owned integer, OUT max_joined integer, OUT max_members integer)
LANGUAGE sql IMMUTABLE AS $$ SELECT 20, 50, 200 $$;

-- 12 characters, 5 random bits each, from 12 bytes of a version 4 UUID (pg_strong_random) that
-- carry no version or variant bits.
CREATE FUNCTION new_join_code() RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', (get_byte(b, i) % 32) + 1, 1), '' ORDER BY i)
    FROM (SELECT uuid_send(gen_random_uuid()) AS b) u, unnest(ARRAY[0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13]) AS i
$$;

-- The caller's groups (owned or joined), owned groups, and the learners in groups they own.
CREATE FUNCTION my_group_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT id FROM groups WHERE owner_id = (SELECT auth.jwt() ->> 'sub')
    UNION
    SELECT group_id FROM group_members WHERE learner_id = (SELECT auth.jwt() ->> 'sub')
$$;
CREATE FUNCTION my_owned_group_ids() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT id FROM groups WHERE owner_id = (SELECT auth.jwt() ->> 'sub')
$$;
CREATE FUNCTION my_students() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT m.learner_id FROM group_members m JOIN groups g ON g.id = m.group_id
    WHERE g.owner_id = (SELECT auth.jwt() ->> 'sub')
$$;

ALTER TABLE groups ENABLE ROW LEVEL SECURITY;
ALTER TABLE group_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE group_join_codes ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON groups, group_members, group_join_codes FROM PUBLIC, anon, authenticated;

-- Groups: seen by their owner and members; renamed and deleted by the owner only (the owner
-- column cannot be written at all).
GRANT SELECT, DELETE ON groups TO authenticated;
GRANT UPDATE (name) ON groups TO authenticated;
CREATE POLICY groups_read ON groups FOR SELECT TO authenticated
    USING (id IN (SELECT my_group_ids()));
CREATE POLICY groups_owner_update ON groups FOR UPDATE TO authenticated
    USING (owner_id = (SELECT auth.jwt() ->> 'sub')) WITH CHECK (owner_id = (SELECT auth.jwt() ->> 'sub'));
CREATE POLICY groups_owner_delete ON groups FOR DELETE TO authenticated
    USING (owner_id = (SELECT auth.jwt() ->> 'sub'));

-- Members: the roster is seen by the group's owner and members; a member leaves, the owner
-- removes anyone; joining goes through join_group (no INSERT grant).
GRANT SELECT, DELETE ON group_members TO authenticated;
CREATE POLICY group_members_read ON group_members FOR SELECT TO authenticated
    USING (group_id IN (SELECT my_group_ids()));
CREATE POLICY group_members_leave_or_remove ON group_members FOR DELETE TO authenticated
    USING (learner_id = (SELECT auth.jwt() ->> 'sub') OR group_id IN (SELECT my_owned_group_ids()));

-- Join codes: the owner's alone to read; renewed only by renew_join_code (a fresh random one).
GRANT SELECT ON group_join_codes TO authenticated;
CREATE POLICY group_join_codes_owner_read ON group_join_codes FOR SELECT TO authenticated
    USING (group_id IN (SELECT my_owned_group_ids()));

-- The teacher's dashboard: an owner reads the progress of their groups' members (and nothing
-- else of theirs: attempts, code and analyses stay private).
CREATE POLICY progress_group_owner_read ON progress FOR SELECT TO authenticated
    USING (learner_id IN (SELECT my_students()));

-- A fresh code for a group (another draw on the astronomically rare clash).
CREATE FUNCTION set_new_join_code(p_group uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    LOOP
        BEGIN
            INSERT INTO group_join_codes (group_id, code) VALUES (p_group, new_join_code())
            ON CONFLICT (group_id) DO UPDATE SET code = excluded.code, created_at = now();
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            -- the code is another group's: draw again
        END;
    END LOOP;
END
$$;

-- Create a group owned by the caller, with its join code. Outcomes: created, too_many_groups.
CREATE FUNCTION create_group(p_name text, OUT group_id uuid, OUT outcome text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_sub text := auth.jwt() ->> 'sub';
BEGIN
    IF v_sub IS NULL THEN
        RAISE EXCEPTION 'create_group needs a signed-in caller' USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- One owner's creations in turn, so the count below cannot be raced.
    PERFORM pg_advisory_xact_lock(hashtextextended('group-owner:' || v_sub, 0));
    IF (SELECT count(*) FROM groups g WHERE g.owner_id = v_sub) >= (SELECT max_owned FROM group_limits()) THEN
        outcome := 'too_many_groups';
        RETURN;
    END IF;
    INSERT INTO groups (name, owner_id) VALUES (p_name, v_sub) RETURNING id INTO group_id;
    PERFORM set_new_join_code(create_group.group_id);
    outcome := 'created';
END
$$;

-- The owner replaces the join code; false when the caller does not own the group.
CREATE FUNCTION renew_join_code(p_group uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM groups WHERE id = p_group AND owner_id = (SELECT auth.jwt() ->> 'sub')) THEN
        RETURN false;
    END IF;
    PERFORM set_new_join_code(p_group);
    RETURN true;
END
$$;

-- Join the group whose code this is. Outcomes: joined, already_member, not_found, full,
-- too_many_groups. Locks: the group's row (its member count), then the caller's (their count).
CREATE FUNCTION join_group(p_code text, OUT group_id uuid, OUT outcome text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_sub text := auth.jwt() ->> 'sub';
BEGIN
    IF v_sub IS NULL THEN
        RAISE EXCEPTION 'join_group needs a signed-in caller' USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT g.id INTO group_id FROM group_join_codes c JOIN groups g ON g.id = c.group_id
    WHERE c.code = p_code FOR UPDATE OF g;
    IF NOT FOUND THEN
        outcome := 'not_found';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = join_group.group_id AND m.learner_id = v_sub) THEN
        outcome := 'already_member';
        RETURN;
    END IF;
    IF (SELECT count(*) FROM group_members m WHERE m.group_id = join_group.group_id)
       >= (SELECT max_members FROM group_limits()) THEN
        outcome := 'full';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('group-member:' || v_sub, 0));
    IF (SELECT count(*) FROM group_members m WHERE m.learner_id = v_sub) >= (SELECT max_joined FROM group_limits()) THEN
        outcome := 'too_many_groups';
        RETURN;
    END IF;
    INSERT INTO group_members (group_id, learner_id) VALUES (join_group.group_id, v_sub);
    outcome := 'joined';
END
$$;

-- A group's WEEK board: its members' last 7 UTC days (their daily rows are their own, so this
-- runs as its owner), for groups the caller owns or belongs to only.
CREATE FUNCTION group_leaderboard_week(p_group_ids uuid[], p_first integer)
RETURNS TABLE (group_id uuid, rank bigint, learner_id text, display_name text, points integer,
               completed_patterns integer, attempts integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH visible AS (
        SELECT unnest($1) AS group_id
        INTERSECT
        SELECT my_group_ids()
    ), week AS (
        SELECT m.group_id, m.learner_id, coalesce(sum(d.points), 0)::int AS points,
               coalesce(sum(d.completions), 0)::int AS completed_patterns, coalesce(sum(d.attempts), 0)::int AS attempts
        FROM group_members m
        JOIN visible v ON v.group_id = m.group_id
        LEFT JOIN learner_activity_daily d
               ON d.learner_id = m.learner_id AND d.day > (now() AT TIME ZONE 'UTC')::date - 7
        GROUP BY m.group_id, m.learner_id
    ), ranked AS (
        SELECT w.*, rank() OVER (PARTITION BY w.group_id ORDER BY w.points DESC) AS rank,
               row_number() OVER (PARTITION BY w.group_id
                                  ORDER BY w.points DESC, w.completed_patterns DESC, w.learner_id) AS place
        FROM week w
    )
    SELECT r.group_id, r.rank, r.learner_id, l.display_name, r.points, r.completed_patterns, r.attempts
    FROM ranked r JOIN learners l ON l.id = r.learner_id
    WHERE r.place <= $2
    ORDER BY r.group_id, r.place
$$;

REVOKE ALL ON FUNCTION new_join_code(), set_new_join_code(uuid), group_limits(), my_group_ids(),
    my_owned_group_ids(), my_students(), create_group(text), renew_join_code(uuid), join_group(text),
    group_leaderboard_week(uuid[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION group_limits(), my_group_ids(), my_owned_group_ids(), my_students(), create_group(text),
    renew_join_code(uuid), join_group(text), group_leaderboard_week(uuid[], integer) TO authenticated;
