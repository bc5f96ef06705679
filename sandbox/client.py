"""Run untrusted learner programs outside the server process.

Every run happens in a separate, confined process (see ``sandbox/child.py`` for the
confinement itself): new network namespace (no network), private mount namespace with a fresh
tmpfs working directory and the server's directories masked, an empty environment, an
unprivileged uid of its own, rlimits (CPU, address space, processes, open files, file size, no
core dumps), a wall-clock timeout and capped output. Everything the run started is killed
afterwards.

Two ways to get such a process, with the same confinement code:

* ``zygote`` (default): one long-lived helper interpreter, started with an empty environment,
  forks a child per run (~5 ms instead of ~85 ms for a fresh interpreter). It is restarted on the
  next run if it dies.
* ``spawn``: a fresh interpreter per run; used when the zygote cannot start.

The API is asyncio-only and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from prometheus_client import Histogram

from core.errors import DependencyUnavailable

from . import child as zyg
from .runtimes import RUNTIMES, Runtime, RuntimeUnavailable
from .seccomp import learner_filter

logger = logging.getLogger(__name__)

ZYGOTE_SCRIPT = str(Path(zyg.__file__).resolve())
# Like -I (no site, no user site, no script dir on sys.path) except -E: PYTHONHASHSEED below must
# apply so that runs are reproducible. The environment is built from scratch, so honouring it is safe.
PYTHON_FLAGS = ("-S", "-s", "-P", "-B")
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONIOENCODING": "utf-8",
}
MAX_REQUEST_BYTES = 8 * 1024 * 1024
START_TIMEOUT = 15.0
# Extra seconds we wait for the zygote beyond a run's wall limit before declaring it hung.
REPLY_GRACE = 10.0
# Never mask these even if asked to: the interpreter and the kernel interfaces live there.
UNMASKABLE = frozenset({"/", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/proc", "/dev", "/sys", "/tmp"})

Mode = Literal["auto", "zygote", "spawn"]
# strict: refuse to run learner code unless every layer below is in place; degraded: run with
# what this machine allows (development machines without namespaces), and say so.
Requirement = Literal["strict", "degraded"]

# Each layer and the isolation report value that means it is in place (docs/SANDBOX.md).
REQUIRED_LAYERS = {
    "network": ("namespace",),
    "root": ("minimal",),
    "pid": ("namespace",),
    "filesystem": ("private-tmp",),
    "user": ("per-run-uid", "nobody"),
    "seccomp": ("filter",),
}


def missing_layers(isolation: dict[str, str]) -> list[str]:
    """The confinement layers this isolation report lacks, e.g. ["pid: host"]."""
    return [
        f"{layer}: {isolation.get(layer, 'unknown')}"
        for layer, good in REQUIRED_LAYERS.items()
        if isolation.get(layer) not in good
    ]


class SandboxError(DependencyUnavailable):
    """The sandbox itself failed (not the learner's program): the run may be retried."""


class _ZygoteDied(SandboxError):
    pass


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: float = 2.0  # RLIMIT_CPU; rounded up to whole seconds by the kernel interface
    wall_seconds: float = 5.0
    memory_mb: int = 256  # RLIMIT_AS (address space, not RSS)
    max_output_bytes: int = 64_000  # per stream (stdout, stderr)
    max_processes: int = 16  # RLIMIT_NPROC, per run when each run has its own uid
    max_open_files: int = 32
    max_file_bytes: int = 1_000_000  # RLIMIT_FSIZE, largest file a run may write


RUN_SECONDS = Histogram(
    "codepattern_sandbox_run_duration_seconds",
    "One learner program run in the sandbox, start to exit, by how it ended "
    "(ok, error: a non-zero exit or a signal, or the limit that ended it: wall, cpu, output).",
    ["outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
)


def run_outcome(result: RunResult) -> str:
    if result.limit_exceeded:
        return result.limit_exceeded
    return "ok" if result.exit_code == 0 and not result.timed_out else "error"


@dataclass(frozen=True)
class RunResult:
    stdout: str
    stderr: str
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool  # wall clock or CPU limit
    output_truncated: bool
    duration_ms: int
    # Which limit ended the run: "wall" | "cpu" | "output" | None. Memory and file-size limits
    # surface as errors inside the program (MemoryError, OSError EFBIG), see judge.judge.
    limit_exceeded: str | None = None
    cpu_ms: int = 0  # zygote path only (from wait4)
    max_rss_kb: int = 0  # zygote path only

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.output_truncated


class _Backend(Protocol):
    isolation: dict[str, str]

    async def run(self, code: str, stdin: str, limits: SandboxLimits) -> RunResult: ...

    async def stats(self) -> dict[str, int]: ...

    async def aclose(self) -> None: ...


def learner_text(text: str) -> str:
    """A program's output as text anyone can store and show: bytes that are not UTF-8 were already
    replaced by U+FFFD when decoded; NUL becomes U+FFFD too (PostgreSQL's text and jsonb refuse
    it). No reference output holds either, so the verdict is the same."""
    return text.replace("\x00", "\ufffd")


def _limits_wire(limits: SandboxLimits) -> dict[str, Any]:
    return asdict(limits)


def _result_from_wire(reply: dict[str, Any]) -> RunResult:
    if reply.get("setup_error"):
        raise SandboxError(str(reply["setup_error"]))
    return RunResult(
        stdout=learner_text(str(reply["stdout"])),
        stderr=learner_text(str(reply["stderr"])),
        exit_code=reply["exit_code"],
        signal=reply["signal"],
        timed_out=bool(reply["timed_out"]),
        output_truncated=bool(reply["truncated"]),
        duration_ms=int(reply["duration_ms"]),
        limit_exceeded=reply.get("limit"),
        cpu_ms=int(reply.get("cpu_ms", 0)),
        max_rss_kb=int(reply.get("max_rss_kb", 0)),
    )


def _frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_REQUEST_BYTES:
        raise ValueError("program and input are too large for the sandbox")
    return zyg.HEADER.pack(len(data)) + data


async def _read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    (size,) = zyg.HEADER.unpack(await reader.readexactly(zyg.HEADER.size))
    if size > zyg.MAX_FRAME:
        raise SandboxError(f"zygote sent a {size}-byte frame")
    return json.loads(await reader.readexactly(size))


async def _spawn_helper(*args: str, **kwargs: Any) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, *PYTHON_FLAGS, ZYGOTE_SCRIPT, *args,
        env=dict(SANDBOX_ENV), start_new_session=True, **kwargs,
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


async def _stop_and_tail(proc: asyncio.subprocess.Process) -> str:
    """Kill a helper that failed to start; the end of its stderr, for the error message."""
    _kill_group(proc.pid)
    tail = b""
    if proc.stderr is not None:
        with contextlib.suppress(TimeoutError):
            tail = await asyncio.wait_for(proc.stderr.read(), 2.0)
    await proc.wait()
    return "stderr: " + tail.decode("utf-8", "replace")[-500:].strip()


# --------------------------------------------------------------------------- zygote backend


class _ZygoteBackend:
    """Client of one zygote process: framed JSON over its stdin/stdout, replies matched by id."""

    def __init__(self, proc: asyncio.subprocess.Process, isolation: dict[str, str], runtime: Runtime) -> None:
        self.proc = proc
        self.isolation = isolation
        self.runtime = runtime
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._write_lock = asyncio.Lock()
        self._dead = False
        self._closing = False
        self._reader = asyncio.create_task(self._read_replies(), name="sandbox-zygote-reader")
        self._logger = asyncio.create_task(self._log_stderr(), name="sandbox-zygote-stderr")

    @classmethod
    async def start(cls, hide_paths: Sequence[str], uid_base: int, uid_slots: int, runtime: Runtime
                    ) -> _ZygoteBackend:
        init = _init_config(hide_paths, uid_base, uid_slots, runtime)
        proc = await _spawn_helper(
            "zygote", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd="/",
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(_frame(init))
            await proc.stdin.drain()
            hello = await asyncio.wait_for(_read_frame(proc.stdout), START_TIMEOUT)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            raise SandboxError(f"zygote failed to start: {exc!r}; {await _stop_and_tail(proc)}") from exc
        if hello.get("op") != "hello":
            raise SandboxError(f"unexpected zygote greeting: {hello!r}; {await _stop_and_tail(proc)}")
        isolation = {str(k): str(v) for k, v in hello["isolation"].items()}
        return cls(proc, isolation, runtime)

    @property
    def alive(self) -> bool:
        return not self._dead and self.proc.returncode is None

    async def _read_replies(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                reply = await _read_frame(self.proc.stdout)
                future = self._pending.pop(int(reply.get("id") or 0), None)
                if future is not None and not future.done():
                    future.set_result(reply)
        except (asyncio.IncompleteReadError, OSError, ValueError, SandboxError) as exc:
            self._mark_dead(f"zygote connection lost: {exc!r}")

    async def _log_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            logger.warning("sandbox zygote: %s", line.decode("utf-8", "replace").rstrip())

    def _mark_dead(self, reason: str) -> None:
        if not self._dead and not self._closing:
            logger.warning("%s", reason)
        self._dead = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(_ZygoteDied(reason))
        self._pending.clear()

    async def _request(self, message: dict[str, Any], wait_s: float) -> dict[str, Any]:
        if not self.alive:
            raise _ZygoteDied("zygote is not running")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            data = _frame({**message, "id": request_id})
            assert self.proc.stdin is not None
            async with self._write_lock:
                self.proc.stdin.write(data)
                await self.proc.stdin.drain()
            return await asyncio.wait_for(future, wait_s)
        except (ConnectionError, BrokenPipeError) as exc:
            self._mark_dead(f"zygote pipe broken: {exc!r}")
            raise _ZygoteDied(str(exc)) from exc
        except TimeoutError as exc:
            # The zygote enforces wall limits itself: no answer in time means it is stuck.
            self._mark_dead("zygote stopped answering")
            _kill_group(self.proc.pid)
            raise _ZygoteDied("zygote stopped answering") from exc
        finally:
            self._pending.pop(request_id, None)

    async def run(self, code: str, stdin: str, limits: SandboxLimits) -> RunResult:
        message = {"op": "run", "code": code, "stdin": stdin, "limits": _limits_wire(limits),
                   "argv": self.runtime.argv(limits.memory_mb)}
        reply = await self._request(message, limits.wall_seconds + REPLY_GRACE)
        if reply.get("op") == "error":
            raise SandboxError(str(reply.get("message")))
        return _result_from_wire(reply)

    async def stats(self) -> dict[str, int]:
        reply = await self._request({"op": "stats"}, REPLY_GRACE)
        return {k: int(v) for k, v in reply.items() if k not in ("op", "id")}

    async def aclose(self) -> None:
        self._closing = True
        if self.proc.returncode is None and self.proc.stdin is not None:
            # EOF on its stdin: the zygote kills its runs, cleans up and exits.
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 3.0)
            except TimeoutError:
                _kill_group(self.proc.pid)
                await self.proc.wait()
        self._mark_dead("zygote closed")
        for task in (self._reader, self._logger):
            task.cancel()
        await asyncio.gather(self._reader, self._logger, return_exceptions=True)


# --------------------------------------------------------------------------- spawn backend


class _SpawnBackend:
    """A fresh interpreter per run, supervised from here; same confinement as the zygote's children."""

    def __init__(self, isolation: dict[str, str], config: dict[str, Any], uids: list[int], runtime: Runtime) -> None:
        self.isolation = isolation
        self._config = config
        self._runtime = runtime
        self._free_uids = list(uids)
        self._shared_uid = 65534 if isolation.get("user") == "nobody" else None
        self._runs_total = 0
        self._active = 0

    @classmethod
    async def start(cls, hide_paths: Sequence[str], uid_base: int, uid_slots: int, runtime: Runtime
                    ) -> _SpawnBackend:
        config = _init_config(hide_paths, uid_base, uid_slots, runtime)
        isolation = await cls._probe(config)
        uids = [uid_base + i for i in range(uid_slots)] if isolation.get("user") == "per-run-uid" else []
        if uids:
            await asyncio.to_thread(zyg.kill_uids_via_proc, set(uids))
        return cls(isolation, config, uids, runtime)

    @staticmethod
    async def _probe(config: dict[str, Any]) -> dict[str, str]:
        proc = await _spawn_helper(
            "probe", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd="/",
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(json.dumps(config).encode()), START_TIMEOUT)
        except TimeoutError as exc:
            _kill_group(proc.pid)
            raise SandboxError("sandbox probe timed out") from exc
        if proc.returncode != 0:
            raise SandboxError(f"sandbox probe failed: {err.decode(errors='replace')[-500:]}")
        return {str(k): str(v) for k, v in json.loads(out).items()}

    async def run(self, code: str, stdin: str, limits: SandboxLimits) -> RunResult:
        uid = self._take_uid()
        workdir = None
        if self.isolation.get("filesystem") != "private-tmp":
            workdir = await asyncio.to_thread(_make_host_workdir, uid)
        self._active += 1
        self._runs_total += 1
        try:
            config = {"code": code, "limits": _limits_wire(limits), "uid": uid, "workdir": workdir,
                      "hide_paths": self._config["hide_paths"], "seccomp": self._config["seccomp"],
                      "runtime": self._config["runtime"], "argv": self._runtime.argv(limits.memory_mb)}
            return await self._supervise(_frame(config) + stdin.encode("utf-8"), limits, workdir)
        finally:
            self._active -= 1
            if uid is not None and uid != self._shared_uid:
                # Processes that left the group (setsid) still carry the run's uid.
                await asyncio.to_thread(zyg.kill_uids_via_proc, {uid})
                self._free_uids.append(uid)
            if workdir:
                await asyncio.to_thread(shutil.rmtree, workdir, True)

    def _take_uid(self) -> int | None:
        if self.isolation.get("user") == "per-run-uid":
            if not self._free_uids:  # never falls back to running as root
                raise SandboxError("all sandbox uids are busy")
            return self._free_uids.pop(0)
        return self._shared_uid

    async def _supervise(self, payload: bytes, limits: SandboxLimits, workdir: str | None) -> RunResult:
        started = time.monotonic()
        proc = await _spawn_helper(
            "exec", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, cwd=workdir or "/",
        )
        state = {"limit": None, "killed": False}

        def stop(reason: str) -> None:
            state["limit"] = state["limit"] or reason
            state["killed"] = True
            _kill_group(proc.pid)

        assert proc.stdout is not None and proc.stderr is not None
        tasks = [
            asyncio.create_task(_feed(proc, payload)),
            asyncio.create_task(_read_capped(proc.stdout, limits.max_output_bytes, stop)),
            asyncio.create_task(_read_capped(proc.stderr, limits.max_output_bytes, stop)),
        ]
        try:
            await asyncio.wait_for(proc.wait(), limits.wall_seconds)
        except TimeoutError:
            stop("wall")
            await proc.wait()
        finally:
            _kill_group(proc.pid)
        ended = time.monotonic()
        # Pipes held by escaped grandchildren close once the caller sweeps the uid; do not wait long.
        _, pending = await asyncio.wait(tasks, timeout=1.0)
        for task in pending:
            task.cancel()
        (stdout, out_cut), (stderr, err_cut) = (_task_value(tasks[1]), _task_value(tasks[2]))
        return _spawn_result(proc.returncode, stdout, stderr, out_cut or err_cut, state, ended - started)

    async def stats(self) -> dict[str, int]:
        return {"active_runs": self._active, "workdirs": 0, "runs_total": self._runs_total}

    async def aclose(self) -> None:
        return None


async def _feed(proc: asyncio.subprocess.Process, payload: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(payload)
        await proc.stdin.drain()
        proc.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the program exited without reading all its input


async def _read_capped(stream: asyncio.StreamReader, cap: int, stop: Any) -> tuple[bytes, bool]:
    data = bytearray()
    while chunk := await stream.read(65536):
        data += chunk
        if len(data) > cap:
            stop("output")
            return bytes(data[:cap]), True
    return bytes(data), False


def _task_value(task: asyncio.Task[tuple[bytes, bool]]) -> tuple[bytes, bool]:
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()
    return b"", False


def _spawn_result(
    returncode: int | None, stdout: bytes, stderr: bytes, truncated: bool, state: dict[str, Any], seconds: float
) -> RunResult:
    code = returncode if returncode is not None else -signal.SIGKILL
    sig = -code if code < 0 else None
    text_err = learner_text(stderr.decode("utf-8", "replace"))
    if code == zyg.SETUP_FAILED and text_err.startswith("sandbox set-up failed"):
        raise SandboxError(text_err)
    limit = state["limit"]
    # SIGXCPU is the soft CPU limit; a SIGKILL we did not send is the hard one.
    if limit is None and (sig == signal.SIGXCPU or (sig == signal.SIGKILL and not state["killed"])):
        limit = "cpu"
    return RunResult(
        stdout=learner_text(stdout.decode("utf-8", "replace")), stderr=text_err,
        exit_code=None if sig else code, signal=sig, timed_out=limit in ("wall", "cpu"),
        output_truncated=truncated, duration_ms=round(seconds * 1000), limit_exceeded=limit,
    )


def _init_config(hide_paths: Sequence[str], uid_base: int, uid_slots: int, runtime: Runtime) -> dict[str, Any]:
    program = learner_filter()
    return {
        "op": "init",
        "hide_paths": list(hide_paths),
        "uid_base": uid_base,
        "uid_slots": uid_slots,
        "seccomp": base64.b64encode(program).decode() if program else None,
        "runtime": runtime.wire(),
    }


def _make_host_workdir(uid: int | None) -> str:
    path = tempfile.mkdtemp(prefix="cpm-run-")
    if uid is not None:
        os.chown(path, uid, uid)
    return path


# --------------------------------------------------------------------------- public facade

_instances = itertools.count()


def default_hide_paths() -> list[str]:
    """Server directories a learner must not see: working dir, this repository, the home dir."""
    candidates = [os.getcwd(), str(Path(__file__).resolve().parents[1]), os.path.expanduser("~")]
    return _sanitize_hide_paths(candidates)


def _sanitize_hide_paths(paths: Iterable[str]) -> list[str]:
    result: list[str] = []
    for raw in paths:
        path = os.path.realpath(raw)
        if path not in UNMASKABLE and os.path.isdir(path) and path not in result:
            result.append(path)
    return result


def _default_uid_base() -> int:
    # Disjoint uid ranges per Sandbox (and, very likely, per server process): one run's clean-up
    # kills everything of its uid, so two sandboxes must never share one. Each runtime's zygote
    # takes its own part of the range.
    slot = (os.getpid() * 16 + next(_instances)) % 250_000
    return 1_000_000 + slot * UID_RANGE


# uids reserved per Sandbox, shared by its runtimes (uid_slots each).
UID_RANGE = 128
DEFAULT_RUNTIMES = ("python", "javascript")


class _Lane:
    """One runtime's zygote (or spawn backend) and what it achieved."""

    def __init__(self, name: str, uid_base: int) -> None:
        self.name = name
        self.uid_base = uid_base
        self.runtime: Runtime | None = None
        self.unavailable: str | None = None  # why this runtime is not offered here
        self.backend: _Backend | None = None
        self.missing: list[str] = []
        self.restarts = 0
        self.mode: Mode = "auto"


class LanguageUnavailable(SandboxError):
    """The runtime of this language is not installed (or not started) on this server."""


class Sandbox:
    """Runs learner code in confined processes, at most ``workers`` at a time, under one of
    ``runtimes`` ("python", "javascript"): one zygote per runtime, each in a root holding only
    its own runtime. Python is required; another runtime missing on this machine is reported
    (``report()["languages"]``) and its runs refused with LanguageUnavailable."""

    def __init__(
        self,
        limits: SandboxLimits = SandboxLimits(),  # frozen: safe to share as a default
        workers: int = 2,
        *,
        mode: Mode = "auto",
        require: Requirement = "degraded",
        hide_paths: Sequence[str] | None = None,
        uid_base: int | None = None,
        runtimes: Sequence[str] = DEFAULT_RUNTIMES,
        runtime_overrides: dict[str, Runtime] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if "python" not in runtimes or any(name not in RUNTIMES for name in runtimes):
            raise ValueError(f"runtimes must include python and be among {sorted(RUNTIMES)}")
        self.limits = limits
        self.workers = workers
        self._mode = mode
        self.require = require
        self._hide_paths = _sanitize_hide_paths(hide_paths) if hide_paths is not None else default_hide_paths()
        self._uid_base = uid_base if uid_base is not None else _default_uid_base()
        self._uid_slots = max(4, workers * 2)
        if self._uid_slots * len(runtimes) > UID_RANGE:
            raise ValueError(f"too many workers for the uid range: {workers} x {len(runtimes)} runtimes")
        self._lanes = {name: _Lane(name, self._uid_base + i * self._uid_slots) for i, name in enumerate(runtimes)}
        self._overrides = dict(runtime_overrides or {})
        self._semaphore = asyncio.Semaphore(workers)
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closed = False

    # ---- lifecycle

    async def start(self) -> None:
        """Start one zygote per runtime found here (or probe the spawn path), once."""
        async with self._start_lock:
            # The lanes start side by side (each zygote takes about a second to build its root);
            # every start runs to its end before a failure is raised, so none is left half made.
            lanes = [lane for lane in self._lanes.values() if lane.backend is None and lane.unavailable is None]
            results = await asyncio.gather(*(self._start_lane(lane) for lane in lanes), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            self._started = True

    async def _start_lane(self, lane: _Lane) -> None:
        if lane.runtime is None:
            try:
                lane.runtime = self._overrides.get(lane.name) or await asyncio.to_thread(RUNTIMES[lane.name])
            except RuntimeUnavailable as exc:
                if lane.name == "python":
                    raise SandboxError(f"python runtime unavailable: {exc}") from exc
                lane.unavailable = str(exc)
                logger.warning("sandbox: %s programs cannot run here: %s", lane.name, exc)
                return
        try:
            backend = await self._new_backend(lane)
            if backend.isolation.get("user") == "root":
                # Root could undo every other confinement (mounts, namespaces): never run as root.
                await backend.aclose()
                raise SandboxError("sandbox cannot drop root privileges for learner code; refusing to run")
        except (SandboxError, OSError) as exc:
            if lane.name == "python":
                raise
            # Another language's failure costs that language only: Python is still judged.
            lane.unavailable = f"its sandbox did not start: {exc}"
            logger.error("sandbox: %s programs cannot run here: %s", lane.name, exc)
            return
        if backend.isolation.get("user") == "unchanged":
            logger.warning("sandbox runs learner code under the server's own uid (server not root)")
        lane.backend = backend
        lane.missing = missing_layers(backend.isolation)
        if not lane.missing:
            logger.info("sandbox (%s) ready, every layer in place: %s", lane.name, backend.isolation)
        elif self.require == "strict":
            logger.error("sandbox (%s) refuses to judge (SANDBOX_REQUIRE=strict); missing layers: %s",
                         lane.name, "; ".join(lane.missing))
        else:
            logger.warning("sandbox (%s) runs DEGRADED (SANDBOX_REQUIRE=degraded); missing layers: %s",
                           lane.name, "; ".join(lane.missing))

    async def _new_backend(self, lane: _Lane) -> _Backend:
        assert lane.runtime is not None
        args = (self._hide_paths, lane.uid_base, self._uid_slots, lane.runtime)
        mode = lane.mode if lane.mode != "auto" else self._mode
        if mode in ("auto", "zygote"):
            try:
                return await _ZygoteBackend.start(*args)
            except (SandboxError, OSError) as exc:
                if mode == "zygote":
                    raise
                logger.warning("sandbox zygote (%s) unavailable, falling back to one process per run: %s",
                               lane.name, exc)
                lane.mode = "spawn"
        return await _SpawnBackend.start(*args)

    async def _backend_for_run(self, lane: _Lane) -> _Backend:
        if self._closed:
            raise SandboxError("sandbox is closed")
        backend = lane.backend
        if isinstance(backend, _ZygoteBackend) and not backend.alive:
            async with self._start_lock:
                if lane.backend is backend:  # first one here restarts it
                    logger.warning("sandbox zygote (%s) died; restarting it", lane.name)
                    await backend.aclose()
                    lane.backend = None
                    lane.restarts += 1
        if lane.backend is None:
            await self.start()
        if lane.unavailable is not None:
            raise LanguageUnavailable(f"{lane.name} programs cannot run on this server: {lane.unavailable}")
        assert lane.backend is not None
        return lane.backend

    async def aclose(self) -> None:
        self._closed = True
        async with self._start_lock:
            for lane in self._lanes.values():
                if lane.backend is not None:
                    await lane.backend.aclose()
                    lane.backend = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- runs

    def _lane(self, runtime: str) -> _Lane:
        try:
            return self._lanes[runtime]
        except KeyError:
            raise LanguageUnavailable(f"{runtime} programs cannot run on this server: not configured") from None

    async def run(
        self, code: str, stdin: str = "", limits: SandboxLimits | None = None, *, runtime: str = "python"
    ) -> RunResult:
        """Run ``code`` with ``stdin``; learner failures are in the result, SandboxError is ours."""
        limits = limits or self.limits
        lane = self._lane(runtime)
        async with self._semaphore:
            backend = await self._backend_for_run(lane)
            if lane.missing and self.require == "strict":
                raise SandboxError(f"sandbox isolation incomplete, refusing to run: {'; '.join(lane.missing)}")
            try:
                result = await backend.run(code, stdin, limits)
            except _ZygoteDied:
                # Lost with the zygote (killed from outside, crashed): one retry on a fresh one.
                backend = await self._backend_for_run(lane)
                result = await backend.run(code, stdin, limits)
        RUN_SECONDS.labels(run_outcome(result)).observe(result.duration_ms / 1000)
        return result

    async def run_many(
        self, code: str, stdins: list[str], limits: SandboxLimits | None = None, *, runtime: str = "python"
    ) -> list[RunResult]:
        """The same program on several inputs, concurrently (bounded by ``workers``); results in order."""
        return list(await asyncio.gather(*(self.run(code, s, limits, runtime=runtime) for s in stdins)))

    # ---- introspection

    @property
    def missing(self) -> list[str]:
        """The confinement layers the Python zygote lacks (the one every server needs)."""
        return self._lanes["python"].missing

    @missing.setter
    def missing(self, value: list[str]) -> None:
        self._lanes["python"].missing = list(value)

    @property
    def restarts(self) -> int:
        return sum(lane.restarts for lane in self._lanes.values())

    def isolation_of(self, runtime: str = "python") -> dict[str, str]:
        backend = self._lane(runtime).backend
        if backend is None:
            return {"method": "not-started", "network": "unknown"}
        return dict(backend.isolation)

    @property
    def isolation(self) -> dict[str, str]:
        """What confinement is in effect, e.g. {"method": "zygote", "network": "namespace", ...}."""
        return self.isolation_of("python")

    def available(self, runtime: str) -> bool:
        """Whether programs of ``runtime`` are judged here now (started, found, not refusing)."""
        lane = self._lanes.get(runtime)
        return (lane is not None and lane.backend is not None
                and not (lane.missing and self.require == "strict"))

    @property
    def ready(self) -> bool:
        """False while it would refuse to run Python code (not started, or strict and incomplete)."""
        return self.available("python")

    def _status(self, lane: _Lane) -> str:
        if lane.unavailable is not None:
            return "unavailable"
        if lane.backend is None:
            return "not-started"
        return "complete" if not lane.missing else ("refusing" if self.require == "strict" else "degraded")

    def languages(self) -> dict[str, dict[str, object]]:
        """Per runtime: its status, version and executable, or why it is unavailable."""
        report: dict[str, dict[str, object]] = {}
        for name, lane in self._lanes.items():
            entry: dict[str, object] = {"status": self._status(lane)}
            if lane.runtime is not None:
                entry.update(lane.runtime.describe())
            if lane.unavailable is not None:
                entry["reason"] = lane.unavailable
            if lane.missing:
                entry["missing"] = list(lane.missing)
            report[name] = entry
        return report

    def report(self) -> dict[str, object]:
        """For /readyz: the isolation, the missing layers, whether learner code is judged, and
        the languages it is judged in."""
        python = self._lanes["python"]
        return {**self.isolation, "status": self._status(python), "missing": list(python.missing),
                "require": self.require, "languages": self.languages()}

    @property
    def mode(self) -> str:
        return self.isolation.get("method", "not-started")

    def zygote_pid_of(self, runtime: str) -> int | None:
        backend = self._lane(runtime).backend
        return backend.proc.pid if isinstance(backend, _ZygoteBackend) and backend.alive else None

    @property
    def zygote_pid(self) -> int | None:
        return self.zygote_pid_of("python")

    async def stats(self, runtime: str = "python") -> dict[str, int]:
        """Runs in flight, leftover work directories (should be 0 when idle), runs so far."""
        backend = await self._backend_for_run(self._lane(runtime))
        return await backend.stats()
