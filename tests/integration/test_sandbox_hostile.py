"""Hostile learner programs, each run through the real sandbox (every layer required).

Each program prints a `SAFE <what>` line per attack that failed and `ESCAPED <what>` for any that
worked. A test passes when the run ended with a coded result, printed SAFE for every attack and
ESCAPED for none, and the sandbox still judges a normal program afterwards. Host-side checks
follow the runs that try to leave something behind (daemons, files for the next learner).
See docs/SANDBOX.md for the threat model.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxLimits
from tests.helpers import REPO_ROOT

UID_BASE = 1_900_000 + (os.getpid() % 1000) * 64
LIMITS = SandboxLimits(cpu_seconds=2.0, wall_seconds=4.0)

PRELUDE = '''
import ctypes, errno, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
X86 = os.uname().machine == "x86_64"
NR = {  # raw syscall numbers: x86_64, aarch64
    "keyctl": (250, 219), "bpf": (321, 280), "perf_event_open": (298, 241), "io_uring_setup": (425, 425),
    "userfaultfd": (323, 282), "setns": (308, 268), "unshare": (272, 97), "pivot_root": (155, 41),
    "process_vm_readv": (310, 270), "clone": (56, 220), "mount": (165, 40), "chroot": (161, 51),
    "ptrace": (101, 117), "mknodat": (259, 33), "add_key": (248, 217), "kexec_load": (246, 104),
    "init_module": (175, 105), "open_by_handle_at": (304, 265), "reboot": (169, 142),
}
def raw(name, *args):
    libc.syscall.restype = ctypes.c_long
    ret = libc.syscall(ctypes.c_long(NR[name][0 if X86 else 1]), *[ctypes.c_long(a) for a in args])
    return ret, ctypes.get_errno()
def check(ok, what):
    print(("SAFE " if ok else "ESCAPED ") + what, flush=True)
def fails(fn, *args):
    try:
        fn(*args)
    except (OSError, ValueError):
        return True
    return False
def raw_fails(name, *args):
    ret, err = raw(name, *args)
    return ret == -1 and err != 0
'''


def program(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


def host_unix_sockets() -> list[str]:
    """Every path-bound unix socket on this host (as the server sees them)."""
    paths = set()
    with open("/proc/net/unix") as table:
        next(table)
        for line in table:
            parts = line.split()
            if len(parts) >= 8 and parts[7].startswith("/"):
                paths.add(parts[7])
    return sorted(paths)


POSTGRES_SOCKETS = ["/run/postgresql/.s.PGSQL.5432", "/var/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432"]

# name -> program body. Every attack in a body must print SAFE.
HOSTILE: dict[str, str] = {
    "connect-every-host-unix-socket": """
        for path in SOCKETS:
            s = socket.socket(socket.AF_UNIX)
            check(fails(s.connect, path), "connect " + path)
    """,
    "postgres-superuser-login-over-unix-socket": """
        import struct
        startup = b"user\\0postgres\\0database\\0postgres\\0\\0"
        packet = struct.pack("!ii", len(startup) + 8, 196608) + startup
        for path in PG_SOCKETS:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path); s.sendall(packet); reply = s.recv(1)
                check(False, "postgres login via " + path + " answered " + repr(reply))
            except OSError:
                check(True, "postgres via " + path)
    """,
    "postgres-over-tcp-loopback": """
        check(fails(socket.create_connection, ("127.0.0.1", 5432), 1), "tcp 127.0.0.1:5432")
    """,
    "inet6-socket": "check(fails(socket.socket, socket.AF_INET6), 'AF_INET6 socket')",
    "netlink-socket": "check(fails(socket.socket, socket.AF_NETLINK, socket.SOCK_RAW, 0), 'AF_NETLINK socket')",
    "packet-socket": "check(fails(socket.socket, 17, socket.SOCK_RAW, 0), 'AF_PACKET socket')",
    "host-abstract-unix-socket": """
        s = socket.socket(socket.AF_UNIX)
        check(fails(s.connect, ABSTRACT), "abstract socket of the host")
    """,
    "list-host-processes": """
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        check(pids == [str(os.getpid())], "only my own pid in /proc: " + repr(pids))
    """,
    "read-every-cmdline-and-environ": """
        leaked = []
        for pid in range(1, 4096):
            for leaf in ("cmdline", "environ"):
                try:
                    data = open(f"/proc/{pid}/{leaf}", "rb").read()
                except OSError:
                    continue
                if pid != os.getpid():
                    leaked.append((pid, leaf))
        check(not leaked, "other processes' cmdline/environ: " + repr(leaked[:5]))
    """,
    "list-root": """
        entries = set(os.listdir("/"))
        check(entries <= {"dev", "etc", "proc", "tmp", "usr", "lib", "lib64", "root", "opt"} | TOP_OF_PREFIX,
              "/ holds only the runtime: " + repr(sorted(entries)))
        for gone in ("home", "var", "run", "srv", "mnt", "media", "boot", "sys", "work"):
            check(not os.path.exists("/" + gone), "/" + gone + " absent")
    """,
    "list-etc": "check(os.listdir('/etc') == [], 'empty /etc: ' + repr(os.listdir('/etc')))",
    "read-etc-passwd-and-shadow": """
        for path in ("/etc/passwd", "/etc/shadow", "/etc/hosts", "/etc/pgpass"):
            check(fails(open, path), "read " + path)
    """,
    "list-home-and-root": """
        check(not os.path.exists("/home"), "/home absent")
        # /root may exist only as the way down to the Python installation, nothing else in it.
        for folder, names in [(d, os.listdir(d)) for d in ("/root",) if os.path.isdir(d)]:
            check(all(PREFIX.startswith(os.path.join(folder, n)) for n in names), "/root: " + repr(names))
    """,
    "postgres-data-folders": """
        for path in ("/var/lib/postgresql", "/etc/postgresql", "/var/log/postgresql"):
            check(not os.path.exists(path), path + " absent")
    """,
    "server-data-folder-and-jwt-secret": """
        for path in SECRETS:
            check(fails(open, path), "read " + path)
    """,
    "repository-files": """
        for path in REPO_FILES:
            check(fails(open, path), "read " + path)
    """,
    "ptrace-attach-parent": "check(raw_fails('ptrace', 16, os.getppid(), 0, 0), 'ptrace attach parent')",
    "ptrace-traceme": "check(raw_fails('ptrace', 0, 0, 0, 0), 'ptrace traceme')",
    "process-vm-readv-parent": "check(raw_fails('process_vm_readv', os.getppid(), 0, 0, 0, 0, 0), 'process_vm_readv')",
    "mount-tmpfs": "check(raw_fails('mount', 0, 0, 0, 0, 0), 'mount')",
    "unshare-user-namespace": "check(raw_fails('unshare', 0x10000000), 'unshare(CLONE_NEWUSER)')",
    "setns": "check(raw_fails('setns', 0, 0), 'setns')",
    "clone-new-user-namespace": "check(raw_fails('clone', 0x10000000 | 17, 0, 0, 0, 0), 'clone(CLONE_NEWUSER)')",
    "chroot-escape": "check(raw_fails('chroot', 0), 'chroot')",
    "pivot-root": "check(raw_fails('pivot_root', 0, 0), 'pivot_root')",
    "keyctl-and-add-key": "check(raw_fails('keyctl', 0, 0, 0, 0, 0) and raw_fails('add_key', 0, 0, 0, 0, 0), 'keyrings')",
    "bpf": "check(raw_fails('bpf', 0, 0, 0), 'bpf')",
    "perf-event-open": "check(raw_fails('perf_event_open', 0, 0, -1, -1, 0), 'perf_event_open')",
    "io-uring": "check(raw_fails('io_uring_setup', 1, 0), 'io_uring_setup')",
    "userfaultfd": "check(raw_fails('userfaultfd', 0), 'userfaultfd')",
    "kernel-modules-kexec-reboot": """
        check(raw_fails('init_module', 0, 0, 0) and raw_fails('kexec_load', 0, 0, 0, 0)
              and raw_fails('reboot', 0, 0, 0, 0), 'modules, kexec, reboot')
    """,
    "open-by-handle": "check(raw_fails('open_by_handle_at', 0, 0, 0), 'open_by_handle_at')",
    "mknod-device": """
        check(fails(os.mknod, "/tmp/disk", 0o600 | 0o060000, os.makedev(8, 0)), "mknod block device")
    """,
    "dev-mem-kmsg-and-sys": """
        for path in ("/dev/mem", "/dev/kmsg", "/dev/sda", "/dev/vda", "/sys/kernel", "/dev/tty"):
            check(not os.path.exists(path), path + " absent")
    """,
    "sysrq-and-proc-writes": """
        check(fails(lambda: open("/proc/sysrq-trigger", "w").write("b")), "sysrq-trigger")
        check(fails(lambda: open("/proc/sys/kernel/hostname", "w").write("x")), "proc/sys write")
    """,
    "write-to-the-root": """
        for path in ("/evil", "/usr/evil", "/etc/evil", "/dev/evil"):
            check(fails(lambda: open(path, "w").write("x")), "write " + path)
    """,
    "write-into-the-python-installation": """
        check(fails(lambda: open(os.path.join(os.path.dirname(os.__file__), "evil.py"), "w")), "write stdlib")
    """,
    "symlink-out-of-tmp": """
        os.symlink("/etc/shadow", "/tmp/l1"); os.symlink("/proc/1/root/etc/passwd", "/tmp/l2")
        check(fails(open, "/tmp/l1") and fails(open, "/tmp/l2"), "symlinks out of /tmp")
    """,
    "hard-link-out-of-tmp": """
        check(fails(os.link, "/dev/null", "/tmp/n") and fails(os.link, os.__file__, "/tmp/os.py"), "hard links")
    """,
    "proc-self-root-traversal": """
        check(sorted(os.listdir("/proc/self/root")) == sorted(os.listdir("/")), "/proc/self/root is my root")
        check(fails(os.listdir, "/proc/self/root/home"), "no /home through /proc/self/root")
    """,
    "proc-1-root-traversal": """
        check(fails(os.listdir, "/proc/1/root") and fails(os.listdir, "/proc/1/cwd"), "/proc/1/root")
    """,
    "too-many-open-files": """
        handles = []
        try:
            while True:
                handles.append(open("/dev/null"))
        except OSError as exc:
            check(exc.errno == errno.EMFILE and len(handles) < 64, "open files capped at " + str(len(handles)))
    """,
    "raise-own-priority": """
        check(fails(os.nice, -5), "nice(-5)")
        check(fails(os.setpriority, os.PRIO_PROCESS, 0, -10), "setpriority(-10)")
    """,
    "signal-other-processes": """
        import signal
        hits = []
        for pid in list(range(1, 2000)) + [-1]:
            if pid == os.getpid():
                continue
            try:
                os.kill(pid, 0 if pid != -1 else signal.SIGCONT)
                hits.append(pid)
            except OSError:
                pass
        check(hits in ([], [-1]), "no other process can be signalled: " + repr(hits[:5]))
    """,
    "kill-the-zygote-and-everyone": """
        import signal
        for pid in (1, os.getppid(), -1):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        check(True, "survived its own kill(-1)")
    """,
    "setuid-root": "check(fails(os.setuid, 0) and fails(os.setgid, 0), 'setuid(0)')",
    "dev-shm-message-for-the-next-learner": """
        open("/dev/shm/note", "w").write("secret from the previous learner")
        open("/tmp/note", "w").write("secret from the previous learner")
        check(True, "wrote notes")
    """,
    "read-the-previous-learners-note": """
        check(not os.path.exists("/dev/shm/note") and not os.path.exists("/tmp/note"), "no note from before")
    """,
    "double-fork-daemon": """
        import time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            os._exit(0)
        check(True, "daemon started")
    """,
}


@pytest.fixture(scope="module")
async def strict_sandbox() -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(LIMITS, workers=2, require="strict", uid_base=UID_BASE)
    await sandbox.start()
    assert sandbox.report()["status"] == "complete", sandbox.report()
    yield sandbox
    await sandbox.aclose()


@pytest.fixture(scope="module")
def secrets_on_host(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A server data folder with a JWT secret and a pgpass, as a real deployment has."""
    folder = tmp_path_factory.mktemp("server-data")
    for name in ("jwt-secret", ".pgpass"):
        (folder / name).write_text("top-secret")
    return [str(folder / "jwt-secret"), str(folder / ".pgpass"), os.path.expanduser("~/.pgpass")]


@pytest.fixture(scope="module")
def abstract_listener() -> Iterator[str]:
    name = f"\0cpm-host-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(name)
    listener.listen(1)
    yield name
    listener.close()


def sandbox_processes() -> list[int]:
    """Host view: processes still running under one of the sandbox's learner uids."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if UID_BASE <= entry.stat().st_uid < UID_BASE + 64:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def host_facts(secrets: list[str], abstract: str) -> str:
    """What the hostile programs aim at, as seen from the host, as Python constants."""
    prefix = os.path.realpath(sys.base_prefix)
    repo_files = [str(REPO_ROOT / "pyproject.toml"), str(REPO_ROOT / "core" / "settings.py")]
    return (
        f"SOCKETS = {host_unix_sockets()!r}\nPG_SOCKETS = {POSTGRES_SOCKETS!r}\nSECRETS = {secrets!r}\n"
        f"REPO_FILES = {repo_files!r}\nPREFIX = {prefix!r}\nTOP_OF_PREFIX = {{{Path(prefix).parts[1]!r}}}\n"
        f"ABSTRACT = {abstract!r}\n"
    )


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_program_is_contained(
    name: str, strict_sandbox: Sandbox, secrets_on_host: list[str], abstract_listener: str
) -> None:
    constants = host_facts(secrets_on_host, abstract_listener)
    result = await strict_sandbox.run(program(constants + textwrap.dedent(HOSTILE[name])))
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and not result.timed_out, (result.exit_code, result.stderr[-600:])
    assert lines and all(line.startswith("SAFE ") for line in lines), result.stdout
    # The sandbox still works, and nothing of the run survives it.
    healthy = await strict_sandbox.run("print('ok')")
    assert healthy.stdout == "ok\n"
    for _ in range(50):
        if not sandbox_processes():
            break
        await asyncio.sleep(0.02)
    assert sandbox_processes() == []


async def test_a_note_left_in_shared_memory_never_reaches_the_next_run(strict_sandbox: Sandbox) -> None:
    write = await strict_sandbox.run(program(HOSTILE["dev-shm-message-for-the-next-learner"]))
    read = await strict_sandbox.run(program(HOSTILE["read-the-previous-learners-note"]))
    assert write.stdout.startswith("SAFE") and read.stdout == "SAFE no note from before\n"


def test_the_postgres_attack_would_work_without_the_sandbox() -> None:
    """The same unix-socket login the hostile program tries answers here, outside the sandbox,
    whenever this machine runs a PostgreSQL service: the sandbox is what stops it."""
    live = [path for path in POSTGRES_SOCKETS if os.path.exists(path)]
    if not live:
        pytest.skip("no PostgreSQL unix socket on this machine")
    import struct

    startup = b"user\0postgres\0database\0postgres\0\0"
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(live[0])
        s.sendall(struct.pack("!ii", len(startup) + 8, 196608) + startup)
        assert s.recv(1) in (b"R", b"E")  # authentication request or error: the server answered


def test_suite_has_at_least_forty_hostile_programs() -> None:
    assert len(HOSTILE) >= 40
