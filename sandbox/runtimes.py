"""The language runtimes a learner program can run under, and what each needs in its root.

A runtime is either the zygote's own interpreter (Python: the fork runs the learner's code in
place, ``executable`` is None) or a program the confined fork executes (Node.js). For the latter
the server finds, once, the executable and every shared library it links (ldd's logic: the
ELF's program interpreter lists them, ``ld.so --list``); the zygote binds exactly those files,
read-only, into a root that holds nothing else. A new language adds a function here and names
it in ``RUNTIMES``; nothing else in the sandbox changes.

Node.js runs with V8's settings for a small, single-threaded, bounded process:

* ``--jitless``: no executable memory at run time (no JIT, no WebAssembly), so V8 fits in the same
  address-space limit as Python (with the JIT, V8 reserves ~700 MB of code range at start-up);
  learners' loops still run ~4x faster than CPython's.
* ``--single-threaded`` and ``--v8-pool-size=0``, ``UV_THREADPOOL_SIZE=1``: four or five threads
  instead of eleven, so the per-uid process limit counts the learner's processes, not V8's helpers.
* ``--max-old-space-size`` / ``--max-semi-space-size`` under RLIMIT_AS: the JavaScript heap
  (the memory limit less ``NODE_HEAP_RESERVE_MB``) ends with V8's own "heap out of memory", or
  the address space (the same limit as Python's) first; a node on shared libraries (Debian's)
  gets ``NODE_SHARED_EXTRA_MB`` more address space for what it maps at start.
* ``--no-addons`` (no native modules) and, on Node.js 20 and later, the permission model
  (``--experimental-permission``): the file system only inside the run's folder, no child
  processes, no worker threads, no ``process.binding``. Defence in depth: the kernel layers are
  what confines the run.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from typing import Any

# The memory limit, for JavaScript: RLIMIT_AS as for Python, and V8's old space gets the limit
# less NODE_HEAP_RESERVE_MB, what node itself maps (its 98 MB binary, libraries, stacks, V8's
# young generation). A node built on shared libraries (Debian's: libnode, ICU, OpenSSL, V8 10)
# maps far more at start and gets NODE_SHARED_EXTRA_MB more address space, so that its heap is
# the same size. (A heap near its limit makes V8 collect over and over, so a memory bomb is
# stopped by the address space or the heap well inside the CPU limit.)
NODE_HEAP_RESERVE_MB = 128
NODE_SHARED_EXTRA_MB = 384
NODE_MIN_HEAP_MB = 16
NODE_SEMI_SPACE_MB = 8
NODE_FLAGS = (
    "--jitless", "--no-expose-wasm", "--single-threaded", "--v8-pool-size=0", "--no-addons",
)
NODE_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "UV_THREADPOOL_SIZE": "1",
    "NODE_DISABLE_COLORS": "1",
    "NO_COLOR": "1",
}
# Where the dynamic loader searches without /etc/ld.so.cache (the root's /etc is empty).
_DEFAULT_LIBRARY_DIRS = frozenset({"/lib", "/usr/lib", "/lib64", "/usr/lib64", "/lib/x86_64-linux-gnu",
                                   "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                                   "/usr/lib/aarch64-linux-gnu"})
_PROBE_TIMEOUT = 10.0


class RuntimeUnavailable(RuntimeError):
    """The runtime is not installed here (or cannot be inspected): its language is not offered."""


@dataclass(frozen=True)
class Runtime:
    """One language runtime as the zygote sees it (``wire()`` is the init frame's ``runtime``)."""

    name: str  # "python", "javascript"
    version: str
    executable: str | None = None  # None: the zygote's own interpreter runs the code in the fork
    # (path in the root, path on the host) for every file bound read-only into the root
    files: tuple[tuple[str, str], ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    source_file: str = "main.py"
    permissions: bool = False  # the runtime's own permission model is on (Node.js >= 20)
    extra_address_space_mb: int = 0  # added to RLIMIT_AS: what the runtime maps besides the program's memory

    def argv(self, memory_mb: int) -> list[str] | None:
        """The command a run executes (``{workdir}`` is the run's folder), None for in-place runs."""
        if self.executable is None:
            return None
        heap = max(NODE_MIN_HEAP_MB, memory_mb - NODE_HEAP_RESERVE_MB)
        argv = [self.executable, *NODE_FLAGS, f"--max-old-space-size={heap}",
                f"--max-semi-space-size={NODE_SEMI_SPACE_MB}"]
        if self.permissions:
            argv += ["--experimental-permission", "--allow-fs-read={workdir}/*", "--allow-fs-read=/dev/stdin",
                     "--allow-fs-write={workdir}/*", "--disable-warning=ExperimentalWarning"]
        return [*argv, "{workdir}/" + self.source_file]

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "executable": self.executable, "files": [list(f) for f in self.files],
                "env": dict(self.env), "source_file": self.source_file,
                "extra_address_space_mb": self.extra_address_space_mb}

    def describe(self) -> dict[str, str]:
        """For the readiness report: what runs this language's programs."""
        info = {"version": self.version, "runtime": self.executable or "python (in the zygote)"}
        if self.executable:
            info["permission_model"] = "on" if self.permissions else "off"
        return info


def python_runtime() -> Runtime:
    import platform

    return Runtime(name="python", version=platform.python_version(), source_file="main.py")


def node_runtime(executable: str | None = None) -> Runtime:
    """Node.js from ``executable`` or the PATH; RuntimeUnavailable when there is none that works.
    Inspected once per binary and process (reading a 100 MB binary takes a moment)."""
    found = executable or shutil.which("node") or shutil.which("nodejs")
    if not found:
        raise RuntimeUnavailable("node not found on PATH")
    binary = os.path.realpath(found)
    try:
        stat = os.stat(binary)
    except OSError as exc:
        raise RuntimeUnavailable(f"{binary}: {exc.strerror}") from exc
    return _inspect_node(binary, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _inspect_node(binary: str, mtime_ns: int, size: int) -> Runtime:
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=_PROBE_TIMEOUT,
                                 env=NODE_ENV, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeUnavailable(f"{binary} --version failed: {exc}") from exc
    match = re.fullmatch(r"v(\d+)\.\d+\.\d+.*", version)
    if not match:
        raise RuntimeUnavailable(f"{binary} --version said {version!r}")
    if int(match.group(1)) < 18:
        raise RuntimeUnavailable(f"Node.js {version} is too old (18 or later is needed)")
    files = [(binary, binary), *shared_libraries(binary)]
    files += externalized_builtins(files)
    env = dict(NODE_ENV)
    extra_dirs = sorted({os.path.dirname(target) for target, _ in files[1:]} - _DEFAULT_LIBRARY_DIRS)
    if extra_dirs:  # found through /etc/ld.so.conf, which the root does not have
        env["LD_LIBRARY_PATH"] = ":".join(extra_dirs)
    return Runtime(name="javascript", version=version, executable=binary, files=tuple(files), env=env,
                   source_file="main.js", permissions=int(match.group(1)) >= 20,
                   extra_address_space_mb=NODE_SHARED_EXTRA_MB if any(
                       os.path.basename(target).startswith("libnode") for target, _ in files) else 0)


def program_interpreter(binary: str) -> str | None:
    """PT_INTERP of an ELF executable (its dynamic loader), None for a static one."""
    with open(binary, "rb") as handle:
        header = handle.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit ELF only
            raise RuntimeUnavailable(f"{binary} is not a 64-bit ELF executable")
        endian = "<" if header[5] == 1 else ">"
        phoff, = struct.unpack_from(endian + "Q", header, 32)
        phentsize, phnum = struct.unpack_from(endian + "HH", header, 54)
        for index in range(phnum):
            handle.seek(phoff + index * phentsize)
            p_type, _, p_offset, _, _, p_filesz = struct.unpack(endian + "IIQQQQ", handle.read(40))
            if p_type == 3:  # PT_INTERP
                handle.seek(p_offset)
                return handle.read(p_filesz).rstrip(b"\0").decode()
    return None


def shared_libraries(binary: str) -> list[tuple[str, str]]:
    """(path the loader opens, real file) for the loader and every library ``binary`` links, as
    ldd finds them: the ELF's own loader in list mode (it maps them, runs none of their code)."""
    interpreter = program_interpreter(binary)
    if interpreter is None:
        return []
    try:
        listing = subprocess.run([interpreter, "--list", binary], capture_output=True, text=True,
                                 timeout=_PROBE_TIMEOUT, env={}, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeUnavailable(f"cannot list the libraries of {binary}: {exc}") from exc
    found = {interpreter: os.path.realpath(interpreter)}
    for line in listing.splitlines():
        match = re.match(r"\s*\S+ => (/\S+) \(0x[0-9a-f]+\)", line) or re.match(r"\s*(/\S+) \(0x[0-9a-f]+\)", line)
        if match:
            found[match.group(1)] = os.path.realpath(match.group(1))
        elif "not found" in line:
            raise RuntimeUnavailable(f"{binary}: {line.strip()}")
    return sorted(found.items())


_SHARED_BUILTIN = re.compile(rb"NODE_SHARED_BUILTIN_\w+_PATH=(/[\w./@+-]+)")


def externalized_builtins(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """JavaScript files a node built with ``--shared-builtin-*-path`` loads at start-up instead of
    carrying them (Debian's nodejs: acorn, cjs-module-lexer, undici under /usr/share/nodejs). The
    build records them in the configuration it embeds; without them node aborts at start."""
    found: dict[str, str] = {}
    for target, source in files:
        name = os.path.basename(target)
        if not (name.startswith("libnode") or name in ("node", "nodejs")):
            continue
        with open(source, "rb") as handle:
            data = handle.read()
        if data.find(b"NODE_SHARED_BUILTIN_") < 0:  # most builds carry their builtins: done fast
            continue
        for match in _SHARED_BUILTIN.finditer(data):
            path = match.group(1).decode()
            if not os.path.isfile(path):
                raise RuntimeUnavailable(f"{path}, which {target} loads at start-up, is missing")
            found[path] = os.path.realpath(path)
    return sorted(found.items())


# name -> how to find it on this machine (raises RuntimeUnavailable when it is not there)
RUNTIMES = {"python": python_runtime, "javascript": node_runtime}
