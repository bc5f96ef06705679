"""The `codepattern` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from core.settings import Settings, load_settings

from .logging import configure_logging


def serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn

    from .server import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        ws_ping_interval=20,
        timeout_graceful_shutdown=10,
    )


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

    async def work(db) -> None:
        await migrate_and_seed(db, "never")
        count = await seed_catalog(db)
        print(f"catalog: {count} patterns")

    _with_database(settings, work)


def token(args: argparse.Namespace, settings: Settings) -> None:
    from .auth import load_or_create_dev_secret, mint_token

    secret = load_or_create_dev_secret(settings.supabase_jwt_secret, settings.jwt_secret_file)
    print(
        mint_token(
            secret,
            user_id=args.user,
            audience=settings.jwt_audience,
            ttl_seconds=args.hours * 3600,
            display_name=args.name,
        )
    )


def export_schema(args: argparse.Namespace, settings: Settings) -> None:
    from resolvers.schema import schema

    sys.stdout.write(schema.as_str() + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codepattern", description="CodePatternMaster GraphQL server.")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="run the API server (GraphiQL at /graphql)")
    p.add_argument("--host", help="interface to bind (default: HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: PORT or 8000)")
    p.set_defaults(run=serve)

    p = commands.add_parser("migrate", help="apply pending SQL migrations")
    p.set_defaults(run=migrate)

    p = commands.add_parser("seed", help="load or refresh the pattern catalog (idempotent)")
    p.set_defaults(run=seed)

    p = commands.add_parser("token", help="mint a development access token for the local secret")
    p.add_argument("--user", help="the user id (the token's sub); default: a new UUID")
    p.add_argument("--name", help="display name placed in user_metadata")
    p.add_argument("--hours", type=int, default=24 * 7, help="lifetime in hours (default: 168)")
    p.set_defaults(run=token)

    p = commands.add_parser("export-schema", help="print the GraphQL schema (SDL)")
    p.set_defaults(run=export_schema)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    # Command-line flags override the environment; the settings object is never mutated.
    overrides = {name: value for name in ("host", "port") if (value := getattr(args, name, None))}
    settings = load_settings(**overrides)
    configure_logging(settings.log_level)
    args.run(args, settings)


if __name__ == "__main__":
    main()
