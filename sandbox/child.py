"""Sandbox worker: the warm fork server ("zygote") and the one-shot runner behind sandbox.client.

This file runs as its own interpreter, never inside the server. sandbox.client starts it with an
empty environment and ``python -S -s -P -B``:

    child.py zygote     long-lived fork server; length-prefixed JSON frames on stdin/stdout
    child.py exec       one run (the spawn fallback): read a config frame from stdin, confine
                                 this very process and run the learner's code in it
    child.py probe      print the isolation this machine allows, as JSON, and exit

Learner code runs in a fork of this process, so it imports only the standard library and keeps no
reference to other runs' data at fork time. Both paths confine a run with the same functions:
``enter_namespaces`` (network, mount and PID namespaces, then a minimal root), ``private_tmp``,
``apply_rlimits``, ``drop_privileges`` (uid, capabilities, seccomp) and ``run_learner``.
docs/SANDBOX.md describes each layer and what it stops.

Protocol (server -> zygote): {"op": "init", ...} once, then {"op": "run", "id", "code", "stdin",
"limits"} or {"op": "stats", "id"}. Replies: {"op": "hello", "isolation"}, {"op": "result", "id",
...}, {"op": "stats", "id", ...}, {"op": "error", "id", "message"}.
"""

from __future__ import annotations

import atexit
import base64
import builtins
import contextlib
import ctypes
import gc
import io
import json
import linecache
import math
import os
import resource
import selectors
import shutil
import signal
import stat
import struct
import sys
import time
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

# Linux constants (ctypes has no symbolic names for them).
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
MS_MOVE = 0x2000
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

HEADER = struct.Struct(">I")
MAX_FRAME = 16 * 1024 * 1024
LEARNER_FILENAME = "main.py"
# Exit status of a child whose sandbox set-up failed before any learner code ran.
SETUP_FAILED = 125
# Raised niceness of learner processes: the server stays responsive under load.
LEARNER_NICE = 10

_libc = ctypes.CDLL(None, use_errno=True)


# --------------------------------------------------------------------------- syscalls


def _check(ret: int) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)))


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(value: str | None) -> bytes | None:
        return None if value is None else os.fsencode(value)

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)))


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)))


# --------------------------------------------------------------------------- confinement


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(ctypes.c_long(155 if os.uname().machine == "x86_64" else 41),
                         os.fsencode(new_root), os.fsencode(put_old)))


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(os.fsencode(target), ctypes.c_int(flags)))


def runtime_dirs() -> list[str]:
    """Directories the interpreter reads after start-up (lazy stdlib imports): must stay reachable."""
    stdlib = os.path.dirname(os.__file__)
    prefix = os.path.realpath(sys.base_prefix)
    return [prefix] if os.path.realpath(stdlib).startswith(prefix + os.sep) else [os.path.realpath(stdlib)]


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip(os.sep) + os.sep)


def closed_ancestors(path: str) -> list[str]:
    """Ancestors of ``path`` that other users cannot traverse (e.g. /root holding a pyenv Python)."""
    found: list[str] = []
    current = os.path.dirname(path)
    while current not in ("/", ""):
        try:
            if not os.stat(current).st_mode & stat.S_IXOTH:
                found.append(current)
        except OSError:
            pass
        current = os.path.dirname(current)
    return found


def mask_paths(masks: list[str], keep: list[str]) -> list[str]:
    """Cover each directory in ``masks`` with an empty read-only tmpfs, re-exposing ``keep`` inside.

    Needs a private mount namespace. The server's working directory and home disappear for the
    learner while the Python installation (which may live under /root) stays importable.
    """
    keep_fds = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in keep}
    masked: list[str] = []
    try:
        for target in sorted({os.path.realpath(m) for m in masks}, key=len):
            if not os.path.isdir(target) or any(_is_under(target, done) for done in masked):
                continue
            # One path that cannot be masked must not cost the others; the uid probe later checks
            # that the interpreter is still reachable.
            with contextlib.suppress(OSError):
                _mask(target, {path: fd for path, fd in keep_fds.items() if _is_under(path, target)})
                masked.append(target)
    finally:
        for fd in keep_fds.values():
            os.close(fd)
    return masked


def _mask(target: str, keep_fds: dict[str, int]) -> None:
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755")
    for path, fd in keep_fds.items():
        if path != target:
            os.makedirs(path, mode=0o755, exist_ok=True)
            mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755")


def _map_own_ids(uid: int, gid: int) -> None:
    """In a fresh user namespace: keep our own uid/gid (unmapped ids cannot create files)."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
        with open(f"/proc/self/{name}", "w") as handle:
            handle.write(text)


def enter_namespaces(hide_paths: list[str], *, pid_namespace: bool, runtime: dict[str, Any] | None = None
                     ) -> dict[str, str]:
    """Move this process into new network, mount and (with ``pid_namespace``) PID namespaces,
    then into a minimal root holding ``runtime`` (None: Python); report what worked, layer by layer.

    As root: plain unshare. Otherwise a user namespace first (unprivileged user namespaces), which
    grants the capabilities needed for the others inside it only. When the minimal root cannot be
    built, the host's root stays with ``hide_paths`` masked, and the report says so.
    """
    info = {"network": "none", "namespaces": "", "filesystem": "temp-dir", "hidden_paths": "0",
            "root": "host", "pid": "host"}
    base = 0 if os.geteuid() == 0 else CLONE_NEWUSER
    spaces: list[str] = []
    uid, gid = os.getuid(), os.getgid()
    try:
        unshare(base | CLONE_NEWNET)
        if base:
            _map_own_ids(uid, gid)
        spaces += (["user"] if base else []) + ["net"]
        info["network"] = "namespace"
    except OSError:
        pass
    try:
        unshare(CLONE_NEWNS)
        # Nothing we mount may propagate back to the host.
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        spaces.append("mnt")
        info["filesystem"] = "private-tmp"
    except OSError:
        info["namespaces"] = ",".join(spaces)
        return info
    if pid_namespace:
        try:
            enter_pid_namespace()
            spaces.append("pid")
            info["pid"] = "namespace"
        except OSError:
            pass
    keep, files = runtime_root(runtime)
    try:
        enter_minimal_root(keep, proc=info["pid"] == "namespace", files=files)
        info["root"] = "minimal"
    except OSError as exc:
        info["root"] = f"host ({os.strerror(exc.errno or 0)})"
        masks = list(hide_paths)
        for path in runtime_dirs():
            masks += closed_ancestors(path)
        masks = [m for m in masks if m not in runtime_dirs()]
        info["hidden_paths"] = str(len(mask_paths(masks, runtime_dirs())))
    if info["pid"] == "namespace" and info["root"] != "minimal":
        info["pid"] = "namespace (host /proc)"
    info["namespaces"] = ",".join(spaces)
    return info


# --------------------------------------------------------------------------- minimal root

# Device nodes a learner program may use; nothing else of /dev exists in its root.
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
DEVICE_LINKS = (("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"), ("/dev/stdout", "/proc/self/fd/1"),
                ("/dev/stderr", "/proc/self/fd/2"))


def loaded_library_dirs() -> list[str]:
    """Folders of the shared libraries this interpreter has mapped (libc, libm, libz, ...): the
    extension modules it loads later link against the same folders."""
    dirs: set[str] = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith("/") and ".so" in parts[5]:
                dirs.add(os.path.dirname(os.path.realpath(parts[5].rstrip("\n"))))
    return sorted(dirs)


def python_root() -> list[str]:
    """What the Python runtime reads after start-up: its installation and its libraries' folders."""
    return sorted(set(runtime_dirs()) | set(loaded_library_dirs()))


# The folders each in-place runtime needs in its root, read-only. A runtime the fork executes
# (Node.js) names its files instead (sandbox/runtimes.py): its binary and the libraries it links.
# Each zygote serves one runtime, so the root never holds another language's.
RUNTIME_ROOTS = {"python": python_root}


def runtime_root(runtime: dict[str, Any] | None) -> tuple[list[str], list[tuple[str, str]]]:
    """(folders, (path in root, host file) pairs) to bind read-only for ``runtime``."""
    if runtime is None or not runtime.get("executable"):
        return RUNTIME_ROOTS[str((runtime or {}).get("name") or "python")](), []
    return [], [(str(target), str(source)) for target, source in runtime["files"]]


def _drop_nested(paths: list[str]) -> list[str]:
    """Keep the outermost folders: a folder inside another kept one comes with it."""
    kept: list[str] = []
    for path in sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)}, key=len):
        if not any(_is_under(path, outer) for outer in kept):
            kept.append(path)
    return kept


def _bind(source_fd: int, target: str, flags: int) -> None:
    mount(f"/proc/self/fd/{source_fd}", target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_REMOUNT | MS_BIND | flags)


def enter_minimal_root(keep: list[str], proc: bool, files: list[tuple[str, str]] | None = None) -> None:
    """Make an empty tmpfs this process's root, holding only read-only binds of ``keep`` (folders)
    and of ``files`` (each host file at its path in the root), a few device nodes, empty /tmp and
    /dev/shm (tmpfs per run, see ``private_tmp``) and, with ``proc``, a /proc of this PID
    namespace where each uid sees only its own processes (hidepid).

    Needs a private mount namespace. Every step is checked; any failure raises (the caller then
    reports the layer as missing). The host's root is detached: nothing else of it stays reachable.
    """
    keep = _drop_nested(keep)
    # Hold every source open first: the new root is mounted over /tmp, which may hide one of them.
    fds = {path: os.open(path, os.O_PATH | os.O_DIRECTORY) for path in keep}
    dev_fds = {dev: os.open(dev, os.O_PATH) for dev in DEVICES if os.path.exists(dev)}
    file_fds = {target: os.open(source, os.O_PATH) for target, source in files or []}
    try:
        new_root = "/tmp"
        mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
        for path, fd in fds.items():
            target = new_root + path
            os.makedirs(target, mode=0o755, exist_ok=True)
            _bind(fd, target, MS_RDONLY | MS_NOSUID | MS_NODEV)
        for path, fd in file_fds.items():
            target = new_root + path
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o755))
            _bind(fd, target, MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.makedirs(new_root + "/dev/shm", mode=0o755)
        for dev, fd in dev_fds.items():
            target = new_root + dev
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o666))
            _bind(fd, target, MS_NOSUID | MS_NOEXEC)  # device nodes: not nodev
        for folder, mode in (("/tmp", 0o1777), ("/proc", 0o555), ("/etc", 0o755), ("/.old", 0o700)):
            os.makedirs(new_root + folder, exist_ok=True)
            os.chmod(new_root + folder, mode)
        for link, target in DEVICE_LINKS:  # /dev/stdin and friends, into this process's own /proc
            os.symlink(target, new_root + link)
        if proc:
            try:
                mount("proc", new_root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
            except OSError:
                mount("proc", new_root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2")
    finally:
        for fd in (*fds.values(), *dev_fds.values(), *file_fds.values()):
            os.close(fd)
    os.chdir(new_root)
    try:
        pivot_root(".", ".old")
        os.chdir("/")
        umount("/.old", MNT_DETACH)
        os.rmdir("/.old")
    except OSError:
        # An initramfs root cannot be pivoted (EINVAL): move the mount over / and chroot instead.
        mount(".", "/", None, MS_MOVE)
        os.chroot(".")
        os.chdir("/")
    # The root itself becomes read-only; only the per-run tmpfs mounts are writable.
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4m,mode=0755")


def enter_pid_namespace() -> None:
    """Become PID 1 of a new PID namespace: fork once; the parent stays behind only to pass on
    the exit status and never returns. When this process dies, the kernel kills every process in
    the namespace: no learner process outlives it."""
    unshare(CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        # PID 1 sees its parent as 0, so a dead parent cannot be detected here; if it is already
        # gone, the server's pipes are closed too and the zygote stops at EOF.
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        return
    # The parent keeps no end of the zygote's pipes, so the server sees EOF when the zygote ends.
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp(program: bytes) -> None:
    """Load a classic-BPF seccomp filter (built by the server with libseccomp) on this thread.
    Needs no_new_privs (set by ``drop_privileges``); it holds for every process forked later."""
    if not program or len(program) % 8:
        raise ValueError("seccomp program must be whole 8-byte BPF instructions")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(_libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER),
                       ctypes.c_void_p(ctypes.addressof(fprog)), ctypes.c_ulong(0), ctypes.c_ulong(0)))


def private_tmp(size_bytes: int, uid: int | None, run_id: int) -> str:
    """Fresh tmpfs on /tmp (plus /var/tmp, /dev/shm) in a new mount namespace of this run only.

    The kernel frees it when the run's last process exits: cleanup cannot be skipped, the disk
    cannot fill up and runs never see each other's files.
    """
    unshare(CLONE_NEWNS)
    # noexec: a run cannot drop a native binary or library and execute/load it.
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    mount("tmpfs", "/tmp", "tmpfs", flags, f"size={max(size_bytes, 1 << 20)},mode=1777")
    for extra in ("/var/tmp", "/dev/shm"):
        if os.path.isdir(extra):
            mount("tmpfs", extra, "tmpfs", flags, "size=1m,mode=1777")
    workdir = f"/tmp/cpm-run-{run_id}"
    os.mkdir(workdir, 0o700)
    if uid is not None:
        os.chown(workdir, uid, uid)
    return workdir


def apply_rlimits(limits: dict[str, Any], runtime: dict[str, Any] | None = None) -> None:
    """The run's limits. A runtime that maps much besides the program's memory (node: its binary,
    libraries and V8's reservations) gets that on top of the address-space limit, and bounds the
    program's own memory itself (V8's heap flags)."""
    cpu = cpu_limit_seconds(limits)
    extra = int((runtime or {}).get("extra_address_space_mb") or 0)
    memory = (int(limits["memory_mb"]) + extra) * 1024 * 1024
    table = {
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_AS: memory,
        resource.RLIMIT_NOFILE: int(limits["max_open_files"]),
        resource.RLIMIT_FSIZE: int(limits["max_file_bytes"]),
        resource.RLIMIT_NPROC: int(limits["max_processes"]),
    }
    for which, value in table.items():
        resource.setrlimit(which, (value, value))
    # Soft limit: SIGXCPU (kills Python); the hard limit one second later is SIGKILL for anyone
    # who catches SIGXCPU.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Empty effective/permitted/inheritable sets. Needed when no uid change clears them: without
    root we run in a user namespace where this process holds every capability (umount included)."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two data structs
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data))


def drop_privileges(uid: int | None, parent_pid: int, seccomp: bytes | None = None) -> None:
    """Become ``uid`` (when given) with no capabilities, forbid regaining any, die with the
    parent, and (last: it may forbid calls the steps above make) load the seccomp filter."""
    with contextlib.suppress(OSError):
        os.nice(LEARNER_NICE)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    for cap in range(64):  # the bounding set: needs CAP_SETPCAP, so before the uid change
        with contextlib.suppress(OSError):
            prctl(PR_CAPBSET_DROP, cap)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    drop_capabilities()
    # Set after the uid change, which clears it; then close the race with a parent already gone.
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(SETUP_FAILED)
    if seccomp:
        install_seccomp(seccomp)


def reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    # Like a fresh interpreter: SIGPIPE and SIGXFSZ ignored (errors instead), SIGINT raises.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def runtime_reachable(runtime: dict[str, Any] | None) -> None:
    """Raise unless this uid can start ``runtime`` (run in a probe fork after the uid change)."""
    if runtime and runtime.get("executable"):
        if not os.access(str(runtime["executable"]), os.X_OK):
            raise PermissionError(f"{runtime['executable']} is not executable here")
        for target, _ in runtime["files"]:
            os.stat(target)
        return
    for path in runtime_dirs():
        os.listdir(path)  # the stdlib must stay importable for the learner


def own_std_streams(uid: int | None) -> None:
    """Give the run's uid its own standard streams (pipes the zygote made as root), so that
    /dev/stdin, which reopens fd 0 through /proc, works as it does outside a sandbox."""
    if uid is not None:
        for fd in (0, 1, 2):
            with contextlib.suppress(OSError):
                os.fchown(fd, uid, uid)


def write_source(workdir: str, runtime: dict[str, Any] | None, source: str) -> None:
    """The learner's program as a file of the run's folder, for a runtime that reads it itself.
    Written before the uid change: owned by root and read-only, the run can read it, not rewrite it."""
    path = os.path.join(workdir, str((runtime or {}).get("source_file") or "main.js"))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    try:
        os.fchmod(fd, 0o444)  # the run's umask (077) would leave it unreadable to the run's uid
        data = memoryview(source.encode("utf-8"))
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def exec_runtime(runtime: dict[str, Any] | None, argv: list[str], workdir: str) -> NoReturn:
    """Become the runtime (last step of set-up, under every layer). The set-up pipe (fd 3) is
    close-on-exec: a successful exec closes it, which tells the zygote that set-up succeeded; a
    failed one raises, and the caller reports it there."""
    if not runtime or not runtime.get("executable"):
        raise ValueError("no executable runtime configured")
    args = [arg.replace("{workdir}", workdir) for arg in argv]
    os.execve(str(runtime["executable"]), args, {str(k): str(v) for k, v in runtime["env"].items()})


def kill_uid(uid: int) -> None:
    """SIGKILL every process running as ``uid`` (escapees from the process group included).

    A fork of ours switches to ``uid`` and calls kill(-1): the kernel then signals exactly the
    processes of that uid (except the caller). Repeated, for children forked during the sweep.
    """
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(3):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
            code = 0
        finally:
            os._exit(code)
    os.waitpid(pid, 0)


def kill_uids_via_proc(uids: set[int]) -> int:
    """SIGKILL processes running as one of ``uids`` (owner of /proc/PID), e.g. leftovers of a dead zygote."""
    killed = 0
    for _ in range(2):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid in uids:
                    os.kill(int(entry), signal.SIGKILL)
                    killed += 1
            except OSError:
                continue
    return killed


# --------------------------------------------------------------------------- learner


def _fresh_stream(fd: int, write: bool, errors: str, line_buffering: bool = False) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "wb" if write else "rb", closefd=False)
    buffered = io.BufferedWriter(raw) if write else io.BufferedReader(raw)
    return io.TextIOWrapper(buffered, encoding="utf-8", errors=errors, line_buffering=line_buffering)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


class _Quitter:
    """exit()/quit() as the site module would define them (we run without site: -S)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Use {self.name}() or Ctrl-D (i.e. EOF) to exit"

    def __call__(self, code: object = None) -> NoReturn:
        raise SystemExit(code)


def run_learner(source: str) -> NoReturn:
    """Run ``source`` as ``__main__`` of this (already confined) process; exits like python would."""
    builtins.exit = _Quitter("exit")  # type: ignore[attr-defined]
    builtins.quit = _Quitter("quit")  # type: ignore[attr-defined]
    sys.stdin = sys.__stdin__ = _fresh_stream(0, False, "strict")
    sys.stdout = sys.__stdout__ = _fresh_stream(1, True, "strict")
    sys.stderr = sys.__stderr__ = _fresh_stream(2, True, "backslashreplace", line_buffering=True)
    sys.argv = [LEARNER_FILENAME]
    module = types.ModuleType("__main__")
    module.__dict__.update(__builtins__=builtins, __file__=LEARNER_FILENAME)
    sys.modules["__main__"] = module
    # Lets tracebacks quote the learner's lines, as they would for a real main.py.
    linecache.cache[LEARNER_FILENAME] = (len(source), None, source.splitlines(True), LEARNER_FILENAME)
    try:
        exec(compile(source, LEARNER_FILENAME, "exec"), module.__dict__)
        status = 0
    except SystemExit as exc:
        status = _exit_code(exc)
    except BaseException as exc:
        # Skip this frame: the traceback starts in the learner's module, like the real thing.
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb)
        status = 1
    os._exit(_shutdown(status))


def _shutdown(status: int) -> int:
    """What the interpreter does at exit: join threads, run atexit handlers, flush the streams."""
    threading = sys.modules.get("threading")
    if threading is not None:
        with contextlib.suppress(BaseException):
            threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except BaseException:
            status = status or 120  # Python's status for a failed final flush
    return status


# --------------------------------------------------------------------------- framing


def write_frame(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:  # fd 1 is blocking: the server reads continuously
        view = view[os.write(fd, view) :]


def iter_frames(buffer: bytearray) -> Iterator[dict[str, Any]]:
    """Consume complete frames from the front of ``buffer``."""
    while len(buffer) >= HEADER.size:
        (size,) = HEADER.unpack_from(buffer)
        if size > MAX_FRAME:
            raise ValueError(f"frame of {size} bytes is too large")
        if len(buffer) < HEADER.size + size:
            return
        payload = bytes(buffer[HEADER.size : HEADER.size + size])
        del buffer[: HEADER.size + size]
        yield json.loads(payload)


# --------------------------------------------------------------------------- zygote


@dataclass
class Run:
    id: int
    pid: int
    uid_slot: int | None
    workdir: str | None
    max_output: int
    cpu_limit: int
    started: float
    deadline: float
    stdin_data: memoryview
    fds: dict[int, str] = field(default_factory=dict)  # our pipe end -> "stdout"|"stderr"|"stdin"|"setup"
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    setup_error: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    limit: str | None = None
    status: int | None = None
    rusage: Any = None
    ended: float = 0.0


class Zygote:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.sel: selectors.BaseSelector = selectors.DefaultSelector()
        self.inbuf = bytearray()
        self.runs: dict[int, Run] = {}  # by pid
        self.by_fd: dict[int, Run] = {}
        self.uids: list[int] = []
        self.free_slots: list[int] = []
        self.shared_uid: int | None = None
        self.private_tmp = False
        self.seccomp: bytes | None = None
        self.runtime: dict[str, Any] | None = None  # None: Python, run in the fork itself
        self.workroot: str | None = None
        self.runs_total = 0
        self.stopping = False
        self.wake_r, self.wake_w = os.pipe()

    # ---- start-up

    def detect(self, config: dict[str, Any], *, pid_namespace: bool = True) -> dict[str, str]:
        """Enter the namespaces and find out, once, which confinement works here."""
        info = {"method": "zygote"}
        self.runtime = config.get("runtime") or None
        info.update(enter_namespaces(list(config.get("hide_paths", [])), pid_namespace=pid_namespace,
                                     runtime=self.runtime))
        self.pid = os.getpid()  # 1 inside a new PID namespace
        self.private_tmp = info["filesystem"] == "private-tmp" and self._probe_private_tmp()
        if not self.private_tmp:
            info["filesystem"] = "temp-dir"
        info["user"] = self._choose_uids(int(config["uid_base"]), int(config["uid_slots"]))
        info["seccomp"] = self._detect_seccomp(config.get("seccomp"))
        return info

    def _detect_seccomp(self, encoded: str | None) -> str:
        if not encoded:
            return "none"
        program = base64.b64decode(encoded)
        if not self._probe(lambda: (prctl(PR_SET_NO_NEW_PRIVS, 1), install_seccomp(program))):
            return "failed"
        self.seccomp = program
        return "filter"

    def arm(self) -> None:
        """Get ready to serve: work root, leftovers of a killed predecessor, SIGCHLD wake-ups."""
        if not self.private_tmp:
            self.workroot = _make_workroot()
        if self.uids:
            kill_uids_via_proc(set(self.uids))
        with contextlib.suppress(OSError):
            prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of learner processes come back to us
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def _probe_private_tmp(self) -> bool:
        return self._probe(lambda: private_tmp(1 << 20, None, 0))

    def _probe(self, action: Any) -> bool:
        """Try ``action`` in a throw-away fork; True when it does not raise."""
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                action()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0

    def _can_become(self, uid: int) -> bool:
        def become() -> None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            runtime_reachable(self.runtime)

        return self._probe(become)

    def _choose_uids(self, base: int, slots: int) -> str:
        if os.geteuid() != 0:
            return "unchanged"
        if slots > 0 and self._can_become(base) and self._can_become(base + slots - 1):
            # One uid per concurrent run: RLIMIT_NPROC counts per run and kill(-1) sweeps one run.
            self.uids = [base + i for i in range(slots)]
            self.free_slots = list(range(slots))
            return "per-run-uid"
        if self._can_become(65534):
            self.shared_uid = 65534
            return "nobody"
        return "root"

    # ---- main loop

    def serve(self) -> None:
        os.set_blocking(0, False)
        self.sel.register(0, selectors.EVENT_READ, "request")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "signal")
        gc.freeze()  # start-up objects never change: cheaper forks (no copy-on-write by the GC)
        while not self.stopping or self.runs:
            timeout = self._next_timeout()
            for key, _ in self.sel.select(timeout):
                self._dispatch(key.fd, key.data)
            self._reap()
            self._enforce_deadlines()
            self._finish_ready()
        self._cleanup()

    def _dispatch(self, fd: int, tag: str) -> None:
        if tag == "request":
            self._read_requests()
        elif tag == "signal":
            try:
                while os.read(fd, 512):
                    pass
            except BlockingIOError:
                pass
        else:
            self._pipe_event(fd)

    def _next_timeout(self) -> float | None:
        if not self.runs:
            return None
        now = time.monotonic()
        pending = [r.deadline for r in self.runs.values() if r.status is None]
        # Finished-but-draining runs are polled so a stuck pipe cannot hold a result forever.
        return max(0.0, min(pending) - now) if pending else 0.05

    def _read_requests(self) -> None:
        try:
            data = os.read(0, 1 << 20)
        except BlockingIOError:
            return
        if not data:
            self._stop()
            return
        self.inbuf += data
        del data  # no stray reference to other runs' requests when we fork
        for message in iter_frames(self.inbuf):
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "run":
            try:
                self._start_run(message)
            except Exception as exc:
                write_frame(1, {"op": "error", "id": message.get("id"), "message": f"{type(exc).__name__}: {exc}"})
        elif op == "stats":
            write_frame(1, {"op": "stats", "id": message.get("id"), **self.stats()})
        elif op == "stop":
            self._stop()

    def stats(self) -> dict[str, int]:
        workdirs = len(os.listdir(self.workroot)) if self.workroot else 0
        return {"active_runs": len(self.runs), "workdirs": workdirs, "runs_total": self.runs_total}

    def _stop(self) -> None:
        self.stopping = True
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(0)
        for run in self.runs.values():
            self._kill_group(run)

    # ---- starting a run

    def _allocate_uid(self) -> tuple[int | None, int | None]:
        if self.uids:
            if not self.free_slots:
                raise RuntimeError("all sandbox uids are busy")
            slot = self.free_slots.pop(0)
            return slot, self.uids[slot]
        return None, self.shared_uid

    def _start_run(self, message: dict[str, Any]) -> None:
        limits = message["limits"]
        run_id = int(message["id"])
        slot, uid = self._allocate_uid()
        workdir = None
        try:
            if not self.private_tmp:
                workdir = _make_workdir(self.workroot or "/tmp", run_id, uid)
            pipes = _Pipes.open()
            pid = os.fork()
        except BaseException:
            self._release(slot, workdir)
            raise
        if pid == 0:  # child: never returns
            self._child(message, pipes, uid, workdir)
        pipes.close_child_ends()
        now = time.monotonic()
        run = Run(
            id=run_id, pid=pid, uid_slot=slot, workdir=workdir, max_output=int(limits["max_output_bytes"]),
            cpu_limit=cpu_limit_seconds(limits), started=now, deadline=now + float(limits["wall_seconds"]),
            stdin_data=memoryview(str(message.get("stdin", "")).encode("utf-8")),
        )
        self.runs[pid] = run
        self.runs_total += 1
        for fd, role in pipes.parent_ends().items():
            os.set_blocking(fd, False)
            run.fds[fd] = role
            self.by_fd[fd] = run
            self.sel.register(fd, selectors.EVENT_WRITE if role == "stdin" else selectors.EVENT_READ, "pipe")

    def _child(self, message: dict[str, Any], pipes: _Pipes, uid: int | None, workdir: str | None) -> NoReturn:
        try:
            os.setsid()
            pipes.install_in_child()
            reset_signals()
            limits = message["limits"]
            if workdir is None:
                workdir = private_tmp(4 * int(limits["max_file_bytes"]), uid, int(message["id"]))
            os.chdir(workdir)
            os.umask(0o077)
            own_std_streams(uid)
            source = str(message["code"])
            argv = message.get("argv")
            self._forget()
            del message
            if argv:
                write_source(workdir, self.runtime, source)
            apply_rlimits(limits, self.runtime if argv else None)
            drop_privileges(uid, self.pid, self.seccomp)
            if argv:
                exec_runtime(self.runtime, argv, workdir)  # never returns
            os.close(3)  # the set-up pipe: closing it tells the zygote that set-up succeeded
        except BaseException as exc:
            _report_setup_failure(exc)
        run_learner(source)

    def _forget(self) -> None:
        """In the child: drop every reference to other runs before learner code can look around."""
        self.runs.clear()
        self.by_fd.clear()
        self.inbuf.clear()
        del self.sel  # the child must not reach the zygote's descriptors through it
        gc.collect()

    # ---- pipes

    def _pipe_event(self, fd: int) -> None:
        run = self.by_fd.get(fd)
        if run is None:
            return
        role = run.fds[fd]
        if role == "stdin":
            self._feed_stdin(run, fd)
            return
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close_fd(run, fd)
            return
        if role == "setup":
            run.setup_error += chunk[:4096]
            return
        target = run.stdout if role == "stdout" else run.stderr
        room = run.max_output + 1 - len(target)
        target += chunk[:room]
        if len(target) > run.max_output:
            # Over the cap: keep max_output bytes, stop the run, flag it.
            del target[run.max_output :]
            run.truncated = True
            run.limit = run.limit or "output"
            self._kill_group(run)
            self._close_fd(run, fd)

    def _feed_stdin(self, run: Run, fd: int) -> None:
        try:
            written = os.write(fd, run.stdin_data[:65536]) if run.stdin_data else 0
            run.stdin_data = run.stdin_data[written:]
        except BlockingIOError:
            return
        except OSError:
            run.stdin_data = memoryview(b"")  # the program exited or closed stdin: fine
        if not run.stdin_data:
            self._close_fd(run, fd)

    def _close_fd(self, run: Run, fd: int) -> None:
        self.sel.unregister(fd)
        os.close(fd)
        del run.fds[fd]
        del self.by_fd[fd]

    # ---- exits and limits

    def _reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.runs.get(pid)
            if run is None:
                continue  # an orphaned grandchild handed to us as subreaper
            run.status, run.rusage, run.ended = status, usage, time.monotonic()
            self._kill_group(run)
            self._sweep(run)

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for run in self.runs.values():
            if run.status is None and now >= run.deadline and run.limit is None:
                run.limit = "wall"
                self._kill_group(run)

    def _kill_group(self, run: Run) -> None:
        with contextlib.suppress(OSError):
            os.killpg(run.pid, signal.SIGKILL)

    def _sweep(self, run: Run) -> None:
        if run.uid_slot is not None:
            kill_uid(self.uids[run.uid_slot])

    def _finish_ready(self) -> None:
        for run in list(self.runs.values()):
            if run.status is None:
                continue
            grace_over = time.monotonic() - run.ended > 1.0
            if any(role != "stdin" for role in run.fds.values()) and not grace_over:
                continue
            for fd in list(run.fds):
                self._close_fd(run, fd)
            del self.runs[run.pid]
            self._release(run.uid_slot, run.workdir)
            write_frame(1, self._result(run))

    def _release(self, slot: int | None, workdir: str | None) -> None:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        if slot is not None:
            self.free_slots.append(slot)

    def _result(self, run: Run) -> dict[str, Any]:
        status = run.status or 0
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        cpu = (run.rusage.ru_utime + run.rusage.ru_stime) if run.rusage else 0.0
        # SIGXCPU comes from RLIMIT_CPU itself; rusage's tick-based CPU time can read slightly
        # below the limit when it fires, so the signal alone decides. A SIGKILL we did not send
        # after the CPU was used up is the hard limit.
        if run.limit is None and (
            sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= run.cpu_limit - 0.25)
        ):
            run.limit = "cpu"
        return {
            "op": "result", "id": run.id,
            "stdout": run.stdout.decode("utf-8", "replace"),
            "stderr": run.stderr.decode("utf-8", "replace"),
            "exit_code": exit_code, "signal": sig,
            "timed_out": run.limit in ("wall", "cpu"), "truncated": run.truncated, "limit": run.limit,
            "duration_ms": round((run.ended - run.started) * 1000),
            "cpu_ms": round(cpu * 1000), "max_rss_kb": run.rusage.ru_maxrss if run.rusage else 0,
            "setup_error": run.setup_error.decode("utf-8", "replace") or None,
        }

    def _cleanup(self) -> None:
        if self.workroot:
            shutil.rmtree(self.workroot, ignore_errors=True)


def cpu_limit_seconds(limits: dict[str, Any]) -> int:
    """RLIMIT_CPU counts whole seconds: the limit actually applied for ``cpu_seconds``."""
    return max(1, math.ceil(float(limits["cpu_seconds"])))


@dataclass
class _Pipes:
    """stdin/stdout/stderr pipes for one child plus a set-up error channel (fd 3 in the child)."""

    stdin: tuple[int, int]
    stdout: tuple[int, int]
    stderr: tuple[int, int]
    setup: tuple[int, int]

    @classmethod
    def open(cls) -> _Pipes:
        opened: list[tuple[int, int]] = []
        try:
            for _ in range(4):
                opened.append(os.pipe())
        except OSError:
            for r, w in opened:
                os.close(r)
                os.close(w)
            raise
        return cls(*opened)

    def parent_ends(self) -> dict[int, str]:
        return {self.stdin[1]: "stdin", self.stdout[0]: "stdout", self.stderr[0]: "stderr", self.setup[0]: "setup"}

    def close_child_ends(self) -> None:
        for fd in (self.stdin[0], self.stdout[1], self.stderr[1], self.setup[1]):
            os.close(fd)

    def install_in_child(self) -> None:
        # Stage the four ends above every fd they might collide with, then move them to 0..3.
        staged = [os.dup(fd) for fd in (self.stdin[0], self.stdout[1], self.stderr[1], self.setup[1])]
        for target, fd in enumerate(staged):
            os.dup2(fd, target, inheritable=target < 3)
        os.closerange(4, _max_fd())


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 65536


def _make_workroot() -> str:
    root = f"/tmp/cpm-sandbox-{os.getpid()}-{os.urandom(4).hex()}"
    os.mkdir(root, 0o711)  # others may traverse to their own 0700 run directory, not list it
    return root


def _make_workdir(root: str, run_id: int, uid: int | None) -> str:
    path = os.path.join(root, f"run-{run_id}")
    os.mkdir(path, 0o700)
    if uid is not None:
        os.chown(path, uid, uid)
    return path


def _report_setup_failure(exc: BaseException) -> NoReturn:
    message = f"sandbox set-up failed: {type(exc).__name__}: {exc}".encode("utf-8", "replace")
    for fd in (3, 2):
        try:
            os.write(fd, message)
            break
        except OSError:
            continue
    os._exit(SETUP_FAILED)


# --------------------------------------------------------------------------- entry points


def zygote_main() -> None:
    os.set_blocking(0, True)
    os.set_blocking(1, True)
    buffer = bytearray()
    while True:
        data = os.read(0, 1 << 16)
        if not data:
            return
        buffer += data
        frames = list(iter_frames(buffer))
        if frames:
            break
    zygote = Zygote()
    info = zygote.detect(frames[0])
    zygote.arm()
    write_frame(1, {"op": "hello", "isolation": info})
    zygote.inbuf = buffer
    zygote.serve()


def _read_exact(fd: int, size: int) -> bytes:
    """Read exactly ``size`` bytes, unbuffered: what follows on the fd belongs to the learner."""
    chunks, left = [], size
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            raise EOFError("truncated sandbox config")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def exec_main() -> NoReturn:
    """Spawn fallback: confine this process with the zygote's functions, then become the learner.

    Standard input starts with one frame (the config); the rest of it is the learner's input.
    """
    try:
        (size,) = HEADER.unpack(_read_exact(0, HEADER.size))
        config = json.loads(_read_exact(0, size))
        source, limits, uid = str(config["code"]), config["limits"], config.get("uid")
        runtime, argv = config.get("runtime") or None, config.get("argv")
        info = enter_namespaces(list(config.get("hide_paths", [])), pid_namespace=False, runtime=runtime)
        seccomp = base64.b64decode(config["seccomp"]) if config.get("seccomp") else None
        if info["filesystem"] == "private-tmp":
            workdir = private_tmp(4 * int(limits["max_file_bytes"]), uid, 0)
        else:
            workdir = str(config["workdir"])
        os.chdir(workdir)
        os.umask(0o077)
        parent = os.getppid()
        os.closerange(3, _max_fd())
        own_std_streams(uid)
        del config
        if argv:
            write_source(workdir, runtime, source)
        apply_rlimits(limits, runtime if argv else None)
        drop_privileges(uid, parent, seccomp)
        if argv:
            exec_runtime(runtime, argv, workdir)  # never returns
    except BaseException as exc:
        _report_setup_failure(exc)
    run_learner(source)


def probe_main() -> None:
    """Isolation report for the spawn path: same detection as the zygote, in a throw-away process."""
    config = json.loads(sys.stdin.read() or "{}")
    info = Zygote().detect(config, pid_namespace=False)
    info["method"] = "spawn"
    print(json.dumps(info))


def main(argv: list[str]) -> None:
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "zygote":
        zygote_main()
    elif mode == "exec":
        exec_main()
    elif mode == "probe":
        probe_main()
    else:
        sys.stderr.write("usage: child.py zygote | exec | probe\n")
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
