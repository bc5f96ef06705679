"""The sandbox contains hostile programs: limits, isolation, clean-up, restart, concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sandbox import RunResult, Sandbox, SandboxError, SandboxLimits
from sandbox import client as sandbox_module

LIMITS = SandboxLimits(cpu_seconds=1.0, wall_seconds=2.0, memory_mb=256, max_output_bytes=10_000,
                       max_processes=16, max_open_files=32, max_file_bytes=100_000)
SECRETS = {"DATABASE_URL": "postgresql://app:hunter2@db/app", "SUPABASE_JWT_SECRET": "super-secret-jwt"}
KNOWN_NETWORK = {"namespace", "none"}
KNOWN_USER = {"per-run-uid", "nobody", "unchanged", "root"}
KNOWN_FILESYSTEM = {"private-tmp", "temp-dir"}
REPO = Path(__file__).resolve().parents[2]


def src(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


@pytest.fixture(scope="module")
def server_secrets() -> Iterator[None]:
    """Secrets in the server's environment before the sandbox starts: they must not leak."""
    saved = {key: os.environ.get(key) for key in SECRETS}
    os.environ.update(SECRETS)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
async def sandbox(server_secrets: None) -> AsyncIterator[Sandbox]:
    box = Sandbox(LIMITS, workers=2)
    await box.start()
    yield box
    await box.aclose()


def processes_of_uid(uid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
    return found


def live_processes_of_uid(uid: int) -> list[int]:
    """Processes of ``uid`` that are not zombies (a zombie is dead, waiting to be reaped)."""
    live = []
    for pid in processes_of_uid(uid):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state not in ("Z", "X"):
                live.append(pid)
    return live


def host_path_exists(path: str) -> bool:
    return os.path.exists(path)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------- basics


async def test_isolation_detection_reports_known_values(sandbox: Sandbox) -> None:
    isolation = sandbox.isolation
    assert isolation["method"] == "zygote"
    assert isolation["network"] in KNOWN_NETWORK
    assert isolation["user"] in KNOWN_USER
    assert isolation["filesystem"] in KNOWN_FILESYSTEM
    if os.geteuid() == 0:
        # As root the learner must never keep root.
        assert isolation["user"] in {"per-run-uid", "nobody"}


async def test_prints_and_reads_stdin(sandbox: Sandbox) -> None:
    result = await sandbox.run("print('hello')\nprint(input()[::-1])\n", stdin="abc\n")
    assert result == RunResult(
        stdout="hello\ncba\n", stderr="", exit_code=0, signal=None, timed_out=False, output_truncated=False,
        duration_ms=result.duration_ms, limit_exceeded=None, cpu_ms=result.cpu_ms, max_rss_kb=result.max_rss_kb,
    )
    assert result.ok


async def test_standard_library_stays_importable(sandbox: Sandbox) -> None:
    code = src("""
        import collections, datetime, decimal, fractions, itertools, json, math, random, re, string, textwrap
        print(math.factorial(5), string.ascii_uppercase[:3], textwrap.indent("x", ">"))
        """)
    result = await sandbox.run(code)
    assert result.stdout == "120 ABC >x\n", result.stderr


async def test_exits_like_a_python_script(sandbox: Sandbox) -> None:
    # exit()/quit() come from `site`, which the sandbox interpreter skips: they must still work.
    assert (await sandbox.run("print('a')\nexit()\nprint('b')")).stdout == "a\n"
    assert (await sandbox.run("quit(3)")).exit_code == 3
    message = await sandbox.run("import sys\nsys.exit('bye')")
    assert (message.exit_code, message.stderr) == (1, "bye\n")
    code = "import atexit, threading\natexit.register(print, 'atexit')\nthreading.Thread(target=print, args=('t',)).start()"
    assert sorted((await sandbox.run(code)).stdout.split()) == ["atexit", "t"]


async def test_exception_gives_traceback_with_learner_lines_only(sandbox: Sandbox) -> None:
    result = await sandbox.run("x = 1\nprint(y)\n")
    assert result.exit_code == 1
    assert 'File "main.py", line 2, in <module>' in result.stderr
    assert result.stderr.rstrip().endswith("NameError: name 'y' is not defined")
    assert "child.py" not in result.stderr


async def test_concurrent_runs_are_all_correct(sandbox: Sandbox) -> None:
    code = "n = int(input())\nprint(n * n)\n"
    results = await asyncio.gather(*(sandbox.run(code, f"{i}\n") for i in range(20)))
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(20)]
    assert all(r.ok for r in results)


async def test_run_many_keeps_order(sandbox: Sandbox) -> None:
    results = await sandbox.run_many("print(input() * 2)", ["a\n", "b\n", "c\n"])
    assert [r.stdout for r in results] == ["aa\n", "bb\n", "cc\n"]


# --------------------------------------------------------------------------- time limits


async def test_wall_timeout_kills_the_whole_process_group(sandbox: Sandbox) -> None:
    code = src("""
        import os, time
        os.fork()  # a second process in the group: both must die
        if os.getpid() == os.getpgrp():
            print(os.getpgrp(), flush=True)
        while True:
            time.sleep(0.05)
        """)
    result = await sandbox.run(code)
    assert result.timed_out
    assert result.limit_exceeded == "wall"
    assert result.signal == signal.SIGKILL
    pgid = int(result.stdout.split()[0])
    assert not group_alive(pgid)


# A wall limit far above the CPU limit: the CPU limit must be what stops these, even on a busy machine.
CPU_BOUND = SandboxLimits(cpu_seconds=1.0, wall_seconds=15.0)


async def test_busy_loop_hits_cpu_limit(sandbox: Sandbox) -> None:
    result = await sandbox.run("while True:\n    pass\n", limits=CPU_BOUND)
    assert result.timed_out
    assert result.limit_exceeded == "cpu"
    assert result.signal == signal.SIGXCPU


async def test_ignoring_sigxcpu_still_hits_hard_cpu_limit(sandbox: Sandbox) -> None:
    code = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = await sandbox.run(code, limits=CPU_BOUND)
    assert result.timed_out
    assert result.limit_exceeded == "cpu"
    assert result.signal == signal.SIGKILL


# --------------------------------------------------------------------------- resource limits


@pytest.mark.parametrize(
    "code",
    [
        "x = 'a' * 10**10\n",
        "rows = []\nwhile True:\n    rows.append('*' * 100_000)\n",
    ],
    ids=["big-string", "list-growth"],
)
async def test_memory_bomb_fails_inside_the_sandbox(sandbox: Sandbox, code: str) -> None:
    result = await sandbox.run(code)
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith("MemoryError")
    after = await sandbox.run("print('still fine')")
    assert after.stdout == "still fine\n"


async def test_fork_bomb_is_contained_and_every_process_killed(sandbox: Sandbox) -> None:
    code = src("""
        import os, time
        made = 0
        for _ in range(200):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                os.setsid()  # tries to leave the process group
                time.sleep(60)
                os._exit(0)
            made += 1
        print(os.getuid(), made, flush=True)
        """)
    result = await sandbox.run(code)
    uid, made = map(int, result.stdout.split())
    assert made < LIMITS.max_processes
    assert uid != 0
    if sandbox.isolation["user"] == "per-run-uid":
        assert processes_of_uid(uid) == []


async def test_classic_fork_bomb_does_not_hurt_the_server(sandbox: Sandbox) -> None:
    code = "import os\nprint(os.getuid(), flush=True)\nwhile True:\n    os.fork()\n"
    result = await sandbox.run(code)
    assert not result.ok
    uid = int(result.stdout.split()[0])
    if sandbox.isolation["user"] == "per-run-uid":
        # Every process of the run's uid was SIGKILLed before the result came back; on a busy
        # machine the dying ones may take a moment to be reaped. Live ones would never go.
        for _ in range(100):
            if not live_processes_of_uid(uid):
                break
            await asyncio.sleep(0.05)
        assert live_processes_of_uid(uid) == []
    assert (await sandbox.run("print(6 * 7)")).stdout == "42\n"


async def test_output_flood_is_truncated_and_stopped(sandbox: Sandbox) -> None:
    result = await sandbox.run("while True:\n    print('*' * 1000)\n")
    assert result.output_truncated
    assert result.limit_exceeded == "output"
    assert len(result.stdout.encode()) == LIMITS.max_output_bytes
    assert not result.timed_out


async def test_stderr_flood_is_truncated_too(sandbox: Sandbox) -> None:
    result = await sandbox.run("import sys\nwhile True:\n    sys.stderr.write('!' * 1000)\n")
    assert result.output_truncated
    assert len(result.stderr.encode()) == LIMITS.max_output_bytes


async def test_file_size_limit(sandbox: Sandbox) -> None:
    code = src(f"""
        with open("small.txt", "w") as f:
            f.write("a" * 1000)
        print("small ok", flush=True)
        with open("big.txt", "w") as f:
            f.write("a" * {LIMITS.max_file_bytes + 1})
        """)
    result = await sandbox.run(code)
    assert result.stdout == "small ok\n"
    assert "[Errno 27] File too large" in result.stderr
    assert result.exit_code == 1


async def test_open_files_limit(sandbox: Sandbox) -> None:
    code = "files = []\nwhile True:\n    files.append(open('/dev/null'))\n"
    result = await sandbox.run(code)
    assert "Too many open files" in result.stderr


# --------------------------------------------------------------------------- isolation


async def test_network_is_blocked_when_namespace_isolation_is_detected(sandbox: Sandbox) -> None:
    # A server the host itself can reach: proves the sandbox is what blocks the connection.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        code = src(f"""
            import socket
            for address in [("127.0.0.1", {port}), ("127.0.0.1", 5432), ("1.1.1.1", 53)]:
                try:
                    socket.create_connection(address, timeout=1).close()
                    print("connected")
                except OSError:
                    print("blocked")
            """)
        result = await sandbox.run(code)
    finally:
        listener.close()
    assert sandbox.isolation["network"] in KNOWN_NETWORK
    if sandbox.isolation["network"] == "namespace":
        assert result.stdout.split() == ["blocked", "blocked", "blocked"]
    else:
        assert result.exit_code == 0  # no isolation to test; the run itself still works


async def test_environment_is_empty(sandbox: Sandbox) -> None:
    assert os.environ["DATABASE_URL"] == SECRETS["DATABASE_URL"]  # the server has them...
    code = "import json, os\nprint(json.dumps(dict(os.environ)))\nprint(open('/proc/self/environ').read())\n"
    result = await sandbox.run(code)
    environ = json.loads(result.stdout.splitlines()[0])
    assert set(environ) <= {"PATH", "LANG", "LC_CTYPE", "PYTHONHASHSEED", "PYTHONIOENCODING"}
    for secret in (*SECRETS, *SECRETS.values()):  # ...the learner does not
        assert secret not in result.stdout


async def test_cannot_read_a_file_planted_in_the_server_cwd(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted = tmp_path / "planted_secret.txt"
    planted.write_text("server secret")
    monkeypatch.chdir(tmp_path)
    code = src(f"""
        import os
        for path in ["planted_secret.txt", {str(planted)!r}]:
            try:
                print(open(path).read())
            except OSError as exc:
                print(type(exc).__name__)
        print(os.getcwd() != {str(tmp_path)!r})
        """)
    result = await sandbox.run(code)
    assert "server secret" not in result.stdout
    assert result.stdout.split() == ["FileNotFoundError", "FileNotFoundError", "True"]


async def test_cannot_read_or_write_the_repository(sandbox: Sandbox) -> None:
    code = src(f"""
        for path, mode in [({str(REPO / 'pyproject.toml')!r}, "r"), ({str(REPO / 'pwned.txt')!r}, "w")]:
            try:
                open(path, mode).close()
                print("opened")
            except OSError as exc:
                print(type(exc).__name__)
        """)
    result = await sandbox.run(code)
    assert "opened" not in result.stdout
    assert not host_path_exists(str(REPO / "pwned.txt"))


async def test_learner_holds_no_capabilities(sandbox: Sandbox) -> None:
    code = "for line in open('/proc/self/status'):\n    if line.startswith(('Cap', 'NoNewPrivs')):\n        print(line.split()[1])"
    values = (await sandbox.run(code)).stdout.split()
    assert values == ["0000000000000000"] * 5 + ["1"]  # CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs


async def test_cannot_signal_the_server(sandbox: Sandbox) -> None:
    code = "import os\ntry:\n    os.kill(int(input()), 0)\n    print('reachable')\nexcept OSError as e:\n" \
           "    print(type(e).__name__)\n"
    result = await sandbox.run(code, stdin=f"{os.getpid()}\n")
    assert result.stdout.strip() in {"PermissionError", "ProcessLookupError"}


async def test_work_dir_is_fresh_and_removed_afterwards(sandbox: Sandbox) -> None:
    first = await sandbox.run("import os\nopen('note.txt', 'w').write('x')\nprint(os.getcwd())\nprint(os.listdir('.'))")
    workdir, listing = first.stdout.splitlines()
    assert listing == "['note.txt']"
    second = await sandbox.run(f"import os\nprint(os.listdir('.'))\nprint(os.path.exists({workdir + '/note.txt'!r}))")
    assert second.stdout.split() == ["[]", "False"]
    assert not host_path_exists(os.path.join(workdir, "note.txt"))  # nor on the host
    assert (await sandbox.stats())["workdirs"] == 0


# --------------------------------------------------------------------------- zygote life cycle


async def test_zygote_is_restarted_after_being_killed(sandbox: Sandbox) -> None:
    old_pid = sandbox.zygote_pid
    assert old_pid is not None
    restarts = sandbox.restarts
    os.kill(old_pid, signal.SIGKILL)
    result = await sandbox.run("print('back')")
    assert result.stdout == "back\n"
    assert sandbox.zygote_pid not in (None, old_pid)
    assert sandbox.restarts == restarts + 1
    assert sandbox.isolation["method"] == "zygote"


async def test_run_in_flight_when_zygote_dies_is_retried(sandbox: Sandbox) -> None:
    pid = sandbox.zygote_pid
    assert pid is not None
    task = asyncio.create_task(sandbox.run("import time\ntime.sleep(0.5)\nprint('done')"))
    await asyncio.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    result = await task
    assert result.stdout == "done\n"
    assert sandbox.zygote_pid != pid


# --------------------------------------------------------------------------- spawn fallback


async def test_spawn_mode_applies_the_same_confinement(server_secrets: None) -> None:
    async with Sandbox(LIMITS, workers=2, mode="spawn") as box:
        assert box.isolation["method"] == "spawn"
        assert box.isolation["network"] in KNOWN_NETWORK
        code = src("""
            import os, socket
            print(input())
            print("DATABASE_URL" in os.environ, os.getuid() == 0)
            try:
                socket.create_connection(("127.0.0.1", 5432), timeout=1)
                print("connected")
            except OSError:
                print("blocked")
            """)
        ok, busy, flood = await asyncio.gather(
            box.run(code, "hi\n"),
            box.run("while True:\n    pass\n", limits=CPU_BOUND),
            box.run("while True:\n    print('*' * 99)"),
        )
    lines = ok.stdout.split()
    assert lines[:3] == ["hi", "False", "False"]
    if box.isolation["network"] == "namespace":
        assert lines[3] == "blocked"
    assert busy.timed_out and busy.limit_exceeded == "cpu"
    assert flood.output_truncated and len(flood.stdout.encode()) == LIMITS.max_output_bytes


async def test_auto_mode_falls_back_to_spawn_when_the_zygote_cannot_start(
    server_secrets: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_start(*args: object) -> object:
        raise SandboxError("zygote failed to start: simulated")

    monkeypatch.setattr(sandbox_module._ZygoteBackend, "start", broken_start)
    async with Sandbox(LIMITS, workers=1) as box:
        assert box.isolation["method"] == "spawn"
        assert (await box.run("print(input())", "fallback\n")).stdout == "fallback\n"


async def test_refuses_to_run_learner_code_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    class RootBackend:
        isolation = {"method": "zygote", "network": "namespace", "user": "root"}
        closed = False

        async def aclose(self) -> None:
            RootBackend.closed = True

    async def root_start(*args: object) -> RootBackend:
        return RootBackend()

    monkeypatch.setattr(sandbox_module._ZygoteBackend, "start", root_start)
    box = Sandbox(LIMITS, workers=1, mode="zygote")
    with pytest.raises(SandboxError, match="root"):
        await box.start()
    assert RootBackend.closed


async def test_strict_sandbox_refuses_when_a_layer_is_missing() -> None:
    """The spawn path runs one process per run and has no PID namespace: under
    SANDBOX_REQUIRE=strict it must refuse to run learner code and say which layer is missing;
    degraded runs it and reports the same gap."""
    async with Sandbox(SandboxLimits(), workers=1, mode="spawn", require="strict") as strict:
        report = strict.report()
        assert report["status"] == "refusing" and not strict.ready
        assert any(entry.startswith("pid:") for entry in report["missing"]), report  # type: ignore[union-attr]
        with pytest.raises(SandboxError, match="pid"):
            await strict.run("print('should not run')")
    async with Sandbox(SandboxLimits(), workers=1, mode="spawn", require="degraded") as degraded:
        assert degraded.report()["status"] == "degraded" and degraded.ready
        result = await degraded.run("import os; print(sorted(os.listdir('/')))")
        assert result.exit_code == 0 and "home" not in result.stdout and "proc" in result.stdout


async def test_refused_sandbox_makes_submissions_service_unavailable(gql, services) -> None:
    from tests.helpers import token_for

    services.sandbox.missing = ["pid: host"]  # what start() records on a machine without PID namespaces
    body = await gql(
        'mutation($p: ID!) { submitAttempt(input: {patternId: $p, code: "print(1)"}) { attempt { verdict } } }',
        {"p": "1"}, token=token_for(),
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"]
    ready = await gql.http.get("/readyz")
    assert ready.status_code == 503 and ready.json()["sandbox"] == "refusing"
