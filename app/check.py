"""`codepattern check`: what is ready, as a table, and one-line errors with the fix.

Each check looks at one thing the server needs, the way the server itself would use it (the same
configs, the same connection, the same sandbox start), and says `ok`, `warn` (the server runs,
with less) or `FAIL` (the server would refuse to start, or to do part of its job). Nothing is
changed: migrations are not applied, models are found but not loaded.

`explain` turns the errors people meet when starting the server (a refused password, a database
that does not exist, nothing listening, a port in use) into one line that says what to do.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import asyncpg

from core.settings import Settings
from db import embeddings
from db.database import Database, describe_url
from db.migrate import load_migrations, pending_migrations
from db.scoped import DbRole, RequestRolesUnavailable
from inference import sources

from .services import database_config, remote_generation_config, sandbox_limits

OK, WARN, FAIL = "ok", "warn", "FAIL"
SANDBOX_LAYERS = ("root", "pid", "network", "filesystem", "user", "seccomp")  # as /readyz names them


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    state: str  # ok | warn | FAIL
    detail: str


def _where(settings: Settings) -> tuple[str, str, str]:
    """(user, host:port, database) of DATABASE_URL, for messages; never the password."""
    url = settings.database_url or ""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return (unquote(parts.username or "postgres"), f"{host}:{parts.port or 5432}",
            unquote(parts.path.lstrip("/")) or unquote(parts.username or "postgres"))


def explain(exc: BaseException, settings: Settings) -> str | None:
    """One line, with the fix, for an error met while starting; None for anything unexpected."""
    user, where, database = _where(settings)
    source = "DATABASE_URL" if settings.database_url else "the embedded database"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return (f"{source} refused the password for user {user!r} at {where}: correct the password in "
                "DATABASE_URL (Supabase: Project Settings > Database > Connection string)")
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return (f"{where} refused user {user!r} ({exc}): check the user name in DATABASE_URL, and that the "
                "server's pg_hba.conf lets it connect")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return (f"database {database!r} does not exist at {where}: create it (createdb {database}) or fix "
                "the database name at the end of DATABASE_URL")
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return (f"{where} has no connections left ({exc}): lower DATABASE_POOL_MAX, or use the pooler "
                "(docs/supabase.md)")
    if isinstance(exc, RequestRolesUnavailable):
        return str(exc)
    if isinstance(exc, socket.gaierror):
        return f"cannot find the database host in DATABASE_URL ({where}): {exc.strerror}; check the host name"
    if isinstance(exc, ConnectionRefusedError):
        return f"nothing is listening at {where} (DATABASE_URL): start PostgreSQL there, or fix the host and port"
    if isinstance(exc, TimeoutError):
        return (f"no answer from {where} (DATABASE_URL) within the connect timeout: check the host, the port "
                "and any firewall between")
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return (f"port {settings.port} on {settings.host} is in use: stop the other server, or choose another "
                "with --port or PORT")
    if isinstance(exc, ValueError) and "GENERATION_" in str(exc):
        return str(exc)
    return None


def port_is_free(host: str, port: int) -> OSError | None:
    """The error binding (host, port) would give uvicorn, or None when it is free."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


async def _database_checks(settings: Settings, checks: list[Check]) -> None:
    db = Database(database_config(settings))
    started = time.perf_counter()
    try:
        await asyncio.wait_for(db.connect(), 60)
    except Exception as exc:
        line = explain(exc, settings) or f"{type(exc).__name__}: {exc}"
        checks.append(Check("database", FAIL, line))
        return
    try:
        async with db.pool.acquire() as conn:
            version = await conn.fetchval("SHOW server_version")
            where = describe_url(db.url or "") if settings.database_url else f"embedded, {settings.pgdata_dir}"
            checks.append(Check("database", OK, f"PostgreSQL {version}, {where} "
                                                f"({(time.perf_counter() - started) * 1000:.0f} ms)"))
            pending = await pending_migrations(conn)
            total = len(load_migrations())
            if pending:
                names = ", ".join(m.name for m in pending[:3]) + (", ..." if len(pending) > 3 else "")
                checks.append(Check("migrations", WARN, f"{len(pending)} of {total} pending ({names}): "
                                    "`codepattern migrate`, or serve applies them"))
            else:
                checks.append(Check("migrations", OK, f"{total} applied"))
            catalog = (await conn.fetchval("SELECT count(*) FROM patterns")
                       if await conn.fetchval("SELECT to_regclass('patterns') IS NOT NULL") else 0)
            checks.append(Check("catalog", OK, f"{catalog} patterns") if catalog else
                          Check("catalog", WARN, "empty: serve seeds it on first start, or `codepattern seed`"))
            missing = [r.value for r in DbRole
                       if not await conn.fetchval("SELECT to_regrole($1) IS NOT NULL AND pg_has_role(current_user, "
                                                  "$1, 'MEMBER')", r.value)]
            user = await conn.fetchval("SELECT current_user")
            if missing:
                checks.append(Check("request roles", FAIL if not pending else WARN,
                                    f"{user} cannot SET ROLE to {', '.join(missing)}: "
                                    + ("`codepattern migrate` creates and grants them where it may"
                                       if pending else f"GRANT {', '.join(missing)} TO {user} (docs/DEPLOYMENT.md)")))
            else:
                checks.append(Check("request roles", OK, f"{user} may act as anon and authenticated (RLS)"))
        vector = await embeddings.has_pgvector(db)
        checks.append(Check("pgvector", OK, "installed: searchPatterns ranks in the database") if vector else
                      Check("pgvector", WARN, "not installed: searchPatterns ranks in Python (CREATE EXTENSION "
                                              "vector, or enable it in Supabase's Database > Extensions)"))
    finally:
        await db.close()


async def _sandbox_check(settings: Settings, checks: list[Check]) -> None:
    from sandbox import Sandbox

    sandbox = Sandbox(sandbox_limits(settings), workers=1, require=settings.sandbox_require)
    try:
        await sandbox.start()
        report = sandbox.report()
        layers = ", ".join(f"{k} {report[k]}" for k in SANDBOX_LAYERS if k in report)
        if not sandbox.missing:
            checks.append(Check("sandbox", OK, f"every layer: {layers}"))
        elif settings.sandbox_require == "strict":
            checks.append(Check("sandbox", FAIL, f"missing {'; '.join(sandbox.missing)}: submissions would be "
                                                 "refused (docs/SANDBOX.md; SANDBOX_REQUIRE=degraded to judge "
                                                 "anyway on a laptop)"))
        else:
            checks.append(Check("sandbox", WARN, f"degraded, missing {'; '.join(sandbox.missing)} "
                                                 "(SANDBOX_REQUIRE=degraded)"))
    except Exception as exc:
        checks.append(Check("sandbox", FAIL, f"cannot start: {type(exc).__name__}: {exc}"))
    finally:
        await sandbox.aclose()


def _model_checks(settings: Settings, checks: list[Check]) -> None:
    if not settings.models_enabled:
        checks.append(Check("models", OK, "off (MODELS_ENABLED=false): rule-based analyses"))
        return
    kinds: list[tuple[sources.Kind, str | None, str | None]] = [("embedding", settings.embedding_model, None)]
    if settings.generation_backend == "openai":
        try:
            config = remote_generation_config(settings)
            checks.append(Check("generation model", OK, f"model server {config.base_url}, model {config.model}"))
        except ValueError as exc:
            checks.append(Check("generation model", FAIL, str(exc)))
    else:
        kinds.append(("generation", settings.generation_model, settings.generation_gguf_file))
    for kind, configured, gguf in kinds:
        source = sources.resolve_source(kind, configured, gguf)
        if source.error:
            checks.append(Check(f"{kind} model", FAIL, f"{source.model_id}: {source.error} (analyses would fall "
                                                       "back to rule-based text)"))
        else:
            where = f"{source.location}/{source.gguf_file}" if source.gguf_file else source.location
            checks.append(Check(f"{kind} model", OK, f"{source.model_id}, found at {where} (loaded by serve)"))


def _other_checks(settings: Settings, checks: list[Check]) -> None:
    if settings.supabase_jwt_secret is not None or settings.jwt_jwks_url or settings.jwt_jwks_file:
        kinds = [name for name, on in (("HS256 secret", settings.supabase_jwt_secret is not None),
                                       ("JWKS", bool(settings.jwt_jwks_url or settings.jwt_jwks_file))) if on]
        checks.append(Check("tokens", OK, " and ".join(kinds)))
    else:
        checks.append(Check("tokens", WARN, f"development secret in {settings.jwt_secret_file} (`codepattern "
                                            "token`); set SUPABASE_JWT_SECRET or JWT_JWKS_URL in production"))
    if settings.graphiql:
        try:
            from .graphiql import packaged_assets

            assets = packaged_assets()
            checks.append(Check("GraphiQL", OK, f"served at /graphql, assets {assets.digest}"))
        except FileNotFoundError as exc:
            checks.append(Check("GraphiQL", FAIL, str(exc)))
    else:
        checks.append(Check("GraphiQL", OK, "off (GRAPHIQL=false)"))
    checks.append(Check("metrics", OK, "GET /metrics" if settings.metrics else "off (METRICS=false)"))


async def run_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    steps: list[Callable[[Settings, list[Check]], Awaitable[None]]] = [_database_checks, _sandbox_check]
    for step in steps:
        await step(settings, checks)
    _model_checks(settings, checks)
    _other_checks(settings, checks)
    return checks


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'':<{width}}  state  detail"]
    lines += [f"{c.name:<{width}}  {c.state:<5}  {c.detail}" for c in checks]
    failed = sum(c.state == FAIL for c in checks)
    warned = sum(c.state == WARN for c in checks)
    notes = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((failed, "failure"), (warned, "warning")) if n]
    lines.append("")
    lines.append(("NOT READY" if failed else "ready") + (f" ({', '.join(notes)})" if notes else ""))
    return "\n".join(lines)
