"""Start-up and shutdown: a start that fails half way leaves nothing running; close is idempotent;
an installed wheel carries its migrations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from app.services import Services
from db.embedded import EmbeddedPostgres
from db.migrate import MigrationsMissing, load_migrations
from tests.helpers import REPO_ROOT, admin_execute, make_settings, with_database


def zygotes_of_this_process() -> list[int]:
    """Live children of this test process running the sandbox's fork server."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and "child.py" in cmdline and "zygote" in cmdline:
            found.append(int(entry.name))
    return found


async def test_failed_migration_closes_postgres_pool_and_fork_server(tmp_path: Path) -> None:
    # An embedded database whose schema conflicts with migration 001: the start fails after the
    # fork server, the embedded PostgreSQL and the pool are all up.
    pgdata = tmp_path / "pgdata"
    server = EmbeddedPostgres(pgdata)
    conn = await asyncpg.connect(server.start())
    await conn.execute("CREATE TABLE learners (conflicting integer)")
    await conn.close()
    server.stop()
    assert not (pgdata / "postmaster.pid").exists()

    services = Services.create(make_settings(None, tmp_path))  # type: ignore[arg-type]
    assert zygotes_of_this_process() == []
    with pytest.raises(asyncpg.DuplicateTableError):
        await services.start()

    assert not services.started
    assert not services.db.connected
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL is still running"
    assert services.sandbox.zygote_pid is None and zygotes_of_this_process() == []
    await services.close()  # after a failed start: nothing left to close, and no error
    await services.close()


async def test_close_is_idempotent_and_queries_after_close_are_typed_errors(services: Services) -> None:
    assert await services.db.fetchval("SELECT 1") == 1
    zygote = services.sandbox.zygote_pid
    assert zygote is not None and zygote in zygotes_of_this_process()
    await services.close()
    await services.close()
    assert zygotes_of_this_process() == []
    from db.database import NotConnected

    with pytest.raises(NotConnected):
        await services.db.fetchval("SELECT 1")


def test_missing_migrations_are_an_error_not_an_empty_schema(tmp_path: Path) -> None:
    with pytest.raises(MigrationsMissing):
        load_migrations(tmp_path)


@pytest.mark.slow
async def test_installed_wheel_applies_every_migration(pg_server_url: str, tmp_path: Path) -> None:
    """Build the wheel, install it (without the source tree) into a fresh venv, and migrate an
    empty database with the installed code."""
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    run = lambda *args: subprocess.run(args, check=True, capture_output=True, text=True, timeout=300)  # noqa: E731
    # From a copy of the sources: setuptools reuses a build/ folder, which could carry stale files.
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", "tests", "bench", ".*cache"))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
        str(source))
    [wheel] = dist.glob("codepatternmaster-*.whl")
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    # Only what the migration runner needs; the wheel's own declared dependencies include torch.
    run(python, "-m", "pip", "install", "-q", "--no-deps", str(wheel))
    run(python, "-m", "pip", "install", "-q", "asyncpg")

    name = f"cpm_wheel_{os.getpid()}"
    await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    try:
        script = (
            "import asyncio, sys, asyncpg, db.migrate as m\n"
            "assert 'site-packages' in m.__file__, m.__file__\n"
            "async def main():\n"
            "    conn = await asyncpg.connect(sys.argv[1])\n"
            "    applied = await m.migrate(conn)\n"
            "    print(len(applied), len(await m.pending_migrations(conn)))\n"
            "asyncio.run(main())\n"
        )
        out = subprocess.run(  # noqa: ASYNC221  (the test waits for this one program, nothing else runs)
            [python, "-c", script, with_database(pg_server_url, name)],
            check=True, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        ).stdout.split()
    finally:
        await admin_execute(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    shipped = sorted(p.name for p in (REPO_ROOT / "sql").glob("*.sql"))
    assert out == [str(len(shipped)), "0"], out


_IMPORT_WITHOUT_MODELS = """
import asyncio, sys
import app.cli, app.server
from app.services import inference_config
from core.settings import Settings
from inference import ModelService

async def main():
    service = ModelService(inference_config(Settings(models_enabled=False)))
    status = service.status()
    await service.aclose()
    return status

status = asyncio.run(main())
print(status["generation"]["state"], status["generation"]["device"],
      "torch" in sys.modules, "transformers" in sys.modules)
"""


def test_a_process_that_loads_no_model_imports_neither_torch_nor_transformers() -> None:
    # They cost ~3 s of CPU to import: the model threads import them when a model first loads, so
    # `codepattern migrate`, MODELS_ENABLED=false and a starting server's event loop never wait for them.
    done = subprocess.run([sys.executable, "-c", _IMPORT_WITHOUT_MODELS], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    assert done.stdout.split() == ["disabled", "auto", "False", "False"]
