"""The `codepattern` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.settings import Settings, load_settings

from .logging import configure_logging

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger(__name__)


def serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    _preflight(settings)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "ws_ping_interval": 20,
        # A WebSocket message (a subscription's query and variables) is held to the HTTP body's
        # limit too (uvicorn's default is 16 MiB): larger ones close the connection with 1009.
        "ws_max_size": settings.max_request_bytes,
        "timeout_graceful_shutdown": 10,
    }
    if settings.log_format == "json":
        # Our handler formats uvicorn's records too; the access lines come from app/request_id.py,
        # which logs them under the request's id.
        options.update(log_config=None, access_log=False)
    if args.reload or settings.web_workers > 1:
        _serve_processes(settings, options, reload=bool(args.reload))
        return
    uvicorn.run(_serving_app(settings), **options)


def _serving_app(settings: Settings) -> Starlette:
    """The app one serving process runs, its collector tuned once start-up is done (GC_TUNING)."""
    from .gc_tuning import tune_for_serving
    from .server import create_app

    app = create_app(settings)
    if settings.gc_tuning:
        tune_for_serving()
    return app


# What `serve --reload` watches: our packages and the migrations.
RELOAD_DIRS = ("app", "resolvers", "usecases", "analysis", "db", "judge", "inference", "sandbox", "catalog", "core",
               "sql")


def _serve_processes(settings: Settings, options: dict[str, Any], *, reload: bool = False) -> None:
    """`serve --workers N`: N uvicorn processes on one socket; `serve --reload`: one process,
    restarted when the code changes. Each child builds its own Settings from the environment, so
    command-line values travel as environment variables."""
    import uvicorn

    os.environ["HOST"], os.environ["PORT"] = settings.host, str(settings.port)
    os.environ["WEB_WORKERS"] = str(settings.web_workers)
    metrics_dir = _prepare_metrics_dir(settings) if not reload else None
    # Children starting together would race to create the development secret (one of them would
    # read it half written): create it here first, so they all read the same one.
    from .auth import load_or_create_dev_secret

    load_or_create_dev_secret(settings.supabase_jwt_secret, settings.jwt_secret_file)
    embedded = None
    if settings.database_url is None:
        # One embedded server for all children, owned by this parent (children would each try to
        # own and stop it): started first, its URL handed down, stopped when the children are gone.
        from db.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(settings.pgdata_dir)
        os.environ["DATABASE_URL"] = embedded.start()
    if settings.event_bus == "memory" or settings.database_pooler_mode == "transaction":
        log.warning("%d API processes with in-process analysis events: a subscriber sees live progress "
                    "only for analyses its own process runs (EVENT_BUS, docs/DEPLOYMENT.md)", settings.web_workers)
    if reload:
        root = Path(__file__).resolve().parents[1]
        if settings.web_workers > 1:
            log.warning("--reload runs one API process; --workers %d is ignored", settings.web_workers)
        log.info("serving on %s:%d, restarting when the code changes", settings.host, settings.port)
        run = {"reload": True, "reload_dirs": [str(root / d) for d in RELOAD_DIRS if (root / d).is_dir()],
               "reload_includes": ["*.py", "*.sql"]}
    else:
        log.info("serving with %d API processes on %s:%d", settings.web_workers, settings.host, settings.port)
        run = {"workers": settings.web_workers}
    try:
        uvicorn.run("app.cli:app_from_environment", factory=True, **run, **options)
    finally:
        if embedded is not None:
            del os.environ["DATABASE_URL"]
            embedded.stop()
        if metrics_dir is not None:
            from .metrics import remove_multiprocess_dir

            del os.environ[METRICS_DIR_ENV]
            remove_multiprocess_dir(metrics_dir)


METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _prepare_metrics_dir(settings: Settings) -> Path | None:
    """prometheus-client's multiprocess mode for the children: PROMETHEUS_MULTIPROC_DIR, set before
    they start (the library reads it when it is imported). An operator's own folder is emptied and
    kept; otherwise a fresh one is made, and returned so it is removed when the children are gone."""
    from .metrics import prepare_multiprocess_dir

    if not settings.metrics:
        return None
    given = os.environ.get(METRICS_DIR_ENV)
    if given:
        prepare_multiprocess_dir(Path(given))
        return None
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="codepattern-metrics-"))
    os.environ[METRICS_DIR_ENV] = str(folder)
    return folder


def app_from_environment() -> Starlette:
    """The ASGI app of one `serve --workers N` child (uvicorn calls this factory in each)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return _serving_app(settings)


def _preflight(settings: Settings) -> None:
    """What would otherwise fail inside uvicorn's start-up with a traceback: the port, and
    DATABASE_URL's server, user, password and database. One line with the fix instead."""
    from .check import explain, port_is_free

    busy = port_is_free(settings.host, settings.port)
    if busy is not None:
        raise busy
    if settings.database_url:
        import asyncpg

        async def connect() -> None:
            conn = await asyncpg.connect(settings.database_url, timeout=10)
            await conn.close()

        try:
            asyncio.run(connect())
        except Exception as exc:
            if explain(exc, settings) is None:
                return  # not one we can say better than the server's own start-up: let it report
            raise


def check(args: argparse.Namespace, settings: Settings) -> None:
    """Print what is ready as a table; exit 1 when something needed is missing."""
    from .check import FAIL, run_checks, table

    logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))  # the table says it all
    checks = asyncio.run(run_checks(settings))
    print(table(checks))
    if any(c.state == FAIL for c in checks):
        sys.exit(1)


def worker(args: argparse.Namespace, settings: Settings) -> None:
    """Run analysis workers (with the database, models, sandbox and event bus they use) and no
    HTTP server, until SIGTERM or SIGINT; unfinished jobs then go back to the queue."""
    if settings.database_url is None:
        # The embedded server lives in DATA_DIR and is owned by the process that started it; a
        # worker would start a second owner (or stop the API's database when it exits). Workers
        # exist to share a server's database, so they must be told where it is.
        sys.exit("codepattern worker needs DATABASE_URL: the database the API processes use "
                 "(with the embedded database, run `codepattern serve` with ANALYSIS_WORKERS > 0 instead)")
    if settings.analysis_workers < 1:
        sys.exit("codepattern worker needs at least one analysis worker (--concurrency N or ANALYSIS_WORKERS)")
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    from db.database import describe_url

    from .services import Services

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    assert settings.database_url is not None
    log.info("codepattern worker: %d analysis worker(s) on %s, event bus %s", settings.analysis_workers,
             describe_url(settings.database_url), settings.event_bus)
    services = Services.create(settings)
    await services.start()
    metrics = None
    try:
        if settings.metrics and settings.metrics_port:
            from .metrics import WorkerMetrics

            metrics = WorkerMetrics(services, settings.host, settings.metrics_port)
            await metrics.start()
        if not services.sandbox.ready:
            log.warning("the sandbox refuses to judge here (SANDBOX_REQUIRE=%s): analyses that need a run fail",
                        settings.sandbox_require)
        log.info("codepattern worker ready; SIGTERM or SIGINT stops it")
        await stop.wait()
        log.info("stopping: unfinished analyses go back to the queue")
    finally:
        try:
            if metrics is not None:
                await metrics.close()
        finally:
            await services.close()
    log.info("codepattern worker stopped")


def _with_database(settings: Settings, work: Callable[..., Awaitable[None]]) -> None:
    from db.database import Database

    from .services import database_config

    async def run() -> None:
        db = Database(database_config(settings))
        await db.connect()
        try:
            await work(db)
        finally:
            await db.close()

    asyncio.run(run())


def migrate(args: argparse.Namespace, settings: Settings) -> None:
    from db.seed import migrate_and_seed

    async def work(db) -> None:
        applied = await migrate_and_seed(db, "never")
        print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(m.name for m in applied) if applied else ""))

    _with_database(settings, work)


def seed(args: argparse.Namespace, settings: Settings) -> None:
    from db.seed import migrate_and_seed, seed_catalog

    if args.solutions:
        asyncio.run(seed_with_solutions(settings))
        return

    async def work(db) -> None:
        await migrate_and_seed(db, "never")
        count = await seed_catalog(db)
        print(f"catalog: {count} patterns")

    _with_database(settings, work)


async def seed_with_solutions(settings: Settings) -> int:
    """The catalog, then every pattern's explained solution for the configured model (its
    sentences verified as learners' feedback is), so no learner waits for one. Returns how many
    solutions were written (those already done for the current reference and model are kept)."""
    from db.seed import migrate_and_seed, seed_catalog

    from .services import Services

    services = Services.create(settings)  # only the database and the models are started
    try:
        await services.db.connect()
        await migrate_and_seed(services.db, "never")
        print(f"catalog: {await seed_catalog(services.db)} patterns")
        print(f"explaining solutions with {services.solutions.model_key}")
        written = await services.solutions.precompute(concurrency=settings.generation_max_batch, report=print)
        print(f"solutions: {written} written")
        return written
    finally:
        await services.close()
        await services.db.close()


def token(args: argparse.Namespace, settings: Settings) -> None:
    """A development token for the local secret (or SUPABASE_JWT_SECRET), printed as the header
    GraphiQL's Headers tab takes: {"Authorization": "Bearer <token>"}; --raw prints the token alone."""
    import json

    from .auth import load_or_create_dev_secret, mint_token

    secret = load_or_create_dev_secret(settings.supabase_jwt_secret, settings.jwt_secret_file)
    value = mint_token(
        secret,
        user_id=args.user,
        audience=settings.jwt_audience,
        ttl_seconds=args.hours * 3600,
        display_name=args.name,
    )
    print(value if args.raw else json.dumps({"Authorization": f"Bearer {value}"}))


def export_schema(args: argparse.Namespace, settings: Settings) -> None:
    from resolvers.schema import schema

    sys.stdout.write(schema.as_str() + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codepattern", description="CodePatternMaster GraphQL server.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="run the API server (GraphiQL at /graphql)")
    p.add_argument("--host", help="interface to bind (default: HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    p.add_argument("--workers", type=int, help="API processes (default: WEB_WORKERS or 1); >1 shares one database")
    p.add_argument("--reload", action="store_true", help="development: restart when the code changes (one process)")
    p.set_defaults(run=serve)

    p = commands.add_parser("worker", help="run analysis workers only, no HTTP (needs DATABASE_URL)")
    p.add_argument("--concurrency", type=int, help="analyses run at once (default: ANALYSIS_WORKERS)")
    p.add_argument("--metrics-port", type=int, help="serve /metrics on this port (default: METRICS_PORT, none)")
    p.set_defaults(run=worker)

    p = commands.add_parser("check", help="show what is ready (database, migrations, roles, sandbox, models); "
                                          "exit 1 when something needed is missing")
    p.set_defaults(run=check)

    p = commands.add_parser("migrate", help="apply pending SQL migrations")
    p.set_defaults(run=migrate)

    p = commands.add_parser("seed", help="load or refresh the pattern catalog (idempotent)")
    p.add_argument("--solutions", action="store_true",
                   help="also explain every pattern's reference solution with the configured model, ahead of "
                        "the first learner who passes it (skips those already done)")
    p.set_defaults(run=seed)

    p = commands.add_parser("token", help="mint a development access token for the local secret")
    p.add_argument("--user", help="the user id (the token's sub); default: a new UUID")
    p.add_argument("--name", help="display name placed in user_metadata")
    p.add_argument("--hours", type=int, default=24 * 7, help="lifetime in hours (default: 168)")
    p.add_argument("--raw", action="store_true", help="print the token alone (for curl), not the header as JSON")
    p.set_defaults(run=token)

    p = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    p.set_defaults(run=export_schema)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    # Command-line flags override the environment; the settings object is never mutated.
    flags = {"host": "host", "port": "port", "workers": "web_workers", "concurrency": "analysis_workers",
             "metrics_port": "metrics_port"}
    overrides = {setting: value for flag, setting in flags.items() if (value := getattr(args, flag, None)) is not None}
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    try:
        args.run(args, settings)
    except Exception as exc:
        from .check import explain

        line = explain(exc, settings)
        if line is None:
            raise
        # A known failure: one line that says what to do, not a traceback.
        sys.exit(f"codepattern {args.command}: {line}")


if __name__ == "__main__":
    main()
