"""Our migrations on a database set up the way Supabase sets one up (docs/supabase.md).

The fixture imitates what a new Supabase project has before any migration of ours: the `auth`
schema with `auth.users` and Supabase's own `auth.uid()`, `auth.role()`, `auth.jwt()`; the
`anon`, `authenticated` and `service_role` roles (and `authenticator`, which may become each);
and Supabase's default privileges, which grant every new table in `public` to all three.
Migrations must keep Supabase's functions as they are, and row level security must hold through
the API with them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import jwt
import pytest

from app.server import create_app
from app.services import Services
from db.migrate import pending_migrations
from db.seed import migrate_and_seed
from tests.helpers import TEST_SECRET, GraphQLClient, admin_execute, make_settings, token_for, with_database
from tests.integration.test_submissions import RIGHT_TRIANGLE, SUBMIT

# As Supabase defines them (supabase/postgres, migrations/db/init-scripts and auth's own).
SUPABASE_BOOTSTRAP = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator NOINHERIT LOGIN; END IF;
END
$$;
GRANT anon, authenticated, service_role TO authenticator;

CREATE SCHEMA auth;
CREATE TABLE auth.users (
    instance_id uuid, id uuid NOT NULL PRIMARY KEY, aud varchar(255), role varchar(255), email varchar(255),
    encrypted_password varchar(255), raw_user_meta_data jsonb, created_at timestamptz, updated_at timestamptz
);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
  select coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$$;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  select coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt() TO anon, authenticated, service_role;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
"""

AUTH_FUNCTIONS = """
SELECT p.proname, pg_get_functiondef(p.oid) AS definition
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'auth' ORDER BY p.proname
"""


@pytest.fixture
async def supabase_url(pg_server_url: str) -> AsyncIterator[str]:
    """A new database as a new Supabase project has it, before our migrations."""
    name = f"cpm_supabase_{uuid.uuid4().hex[:8]}"
    await admin_execute(pg_server_url, f'CREATE DATABASE "{name}"')
    url = with_database(pg_server_url, name)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SUPABASE_BOOTSTRAP)
    finally:
        await conn.close()
    yield url
    await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def supabase(supabase_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    services = Services.create(make_settings(supabase_url, tmp_path))
    await services.db.connect()
    await migrate_and_seed(services.db, "always")  # what `codepattern migrate` + first start do
    await services.db.close()
    await services.start()
    yield services
    await services.close()


async def test_migrations_keep_supabases_auth_and_apply_once(supabase_url: str, supabase: Services) -> None:
    conn = await asyncpg.connect(supabase_url)
    try:
        functions = {r["proname"]: r["definition"] for r in await conn.fetch(AUTH_FUNCTIONS)}
        assert sorted(functions) == ["jwt", "role", "uid"]  # none added
        assert "request.jwt.claim.sub" in functions["uid"] and "request.jwt.claim'" in functions["jwt"]
        assert await pending_migrations(conn) == []
        # Supabase's default privileges grant every new table to the request roles; the queue of
        # rate limits stays closed to them all the same (RLS with no policy for them).
        assert await conn.fetchval("SELECT relrowsecurity FROM pg_class WHERE relname = 'rate_limits'")
        for table in ("progress", "attempts", "analyses", "learners", "rate_limits"):
            assert await conn.fetchval("SELECT relrowsecurity FROM pg_class WHERE relname = $1", table), table
    finally:
        await conn.close()


async def test_row_level_security_holds_through_the_api_with_supabases_functions(supabase: Services) -> None:
    transport = httpx.ASGITransport(app=create_app(supabase.settings, supabase))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        gql = GraphQLClient(http)
        pid = (await gql.data('{ pattern(slug: "right-triangle") { id } }'))["pattern"]["id"]
        alice = str(uuid.uuid4())
        submitted = await gql.data(SUBMIT, {"input": {"patternId": pid, "code": RIGHT_TRIANGLE}}, token=token_for(alice))
        assert submitted["submitAttempt"]["attempt"]["verdict"] == "PASSED"
        assert (await gql.data("{ progress { attempts } }", token=token_for(alice)))["progress"] == [{"attempts": 1}]
        # Bob, and anonymous callers, see none of it.
        assert (await gql.data("{ progress { attempts } }", token=token_for(str(uuid.uuid4()))))["progress"] == []
        # A service_role key gets nothing more through this API: refused.
        claims = jwt.decode(token_for(str(uuid.uuid4())), options={"verify_signature": False})
        service_key = jwt.encode({**claims, "role": "service_role"}, TEST_SECRET, algorithm="HS256")
        assert await gql.error_codes("{ progress { attempts } }", token=service_key) == ["FORBIDDEN"]
    # In SQL as Bob, with Supabase's auth.uid(): Alice's rows are invisible.
    async with supabase.db.transaction() as conn:
        await conn.execute("SELECT set_config('request.jwt.claims', $1, true), set_config('role', 'authenticated', true)",
                           f'{{"sub": "{uuid.uuid4()}", "role": "authenticated"}}')
        assert await conn.fetchval("SELECT count(*) FROM attempts") == 0
        assert await conn.fetchval("SELECT auth.uid() IS NOT NULL")
