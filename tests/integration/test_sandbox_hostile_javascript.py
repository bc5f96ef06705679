"""Hostile JavaScript programs, run by Node.js through the real sandbox (every layer required).

As in test_sandbox_hostile.py, each program prints `SAFE <what>` for every attack that failed and
`ESCAPED <what>` for any that worked; the sandbox must still judge afterwards and no process of
the run may remain. Every program runs twice: with Node's own permission model (how the server
runs JavaScript) and without it, so that the kernel's layers are shown to contain each attack
on their own (the permission model is defence in depth, and has had bypasses).

The bombs (fork, worker threads, memory, output, CPU) must end with a limit or a crash, leave
nothing behind, and not stop the next run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxLimits
from sandbox.runtimes import node_runtime
from tests.helpers import REPO_ROOT
from tests.integration.test_sandbox_hostile import POSTGRES_SOCKETS, host_unix_sockets

UID_BASE = 2_100_000 + (os.getpid() % 1000) * 128
LIMITS = SandboxLimits(cpu_seconds=2.0, wall_seconds=4.0)
SERVER_SECRET_ENV = "CPM_HOSTILE_MARKER"

PRELUDE = """
const fs = require('fs');
const check = (ok, what) => console.log((ok ? 'SAFE ' : 'ESCAPED ') + what);
const fails = (fn) => { try { fn(); return false; } catch (e) { return true; } };
// This process's own threads (node has a helper thread or two): /proc/<tid> and kill(tid, 0)
// reach them. Their ids come from /proc/self/task or, where the permission model hides it,
// right after the process's own id.
const ownThreads = (() => { try { return new Set(fs.readdirSync('/proc/self/task').map(Number)); } catch (e) { return null; } })();
const mine = (pid) => pid === process.pid || (ownThreads ? ownThreads.has(pid) : pid > process.pid && pid <= process.pid + 4);
// Under Node's permission model a path outside the run folder cannot even be tested: absent.
const exists = (path) => { try { return fs.existsSync(path); } catch (e) { return false; } };
const refused = (connect, what) => new Promise((resolve) => {
  let socket;
  const done = (ok, how) => { clearTimeout(timer); check(ok, what + ' (' + how + ')'); try { socket.destroy(); } catch (e) {} resolve(); };
  const timer = setTimeout(() => done(false, 'no answer: the socket exists'), 1500);
  try {
    socket = connect();
    socket.on('connect', () => done(false, 'connected'));
    socket.on('listening', () => done(false, 'listening'));
    socket.on('error', (e) => done(true, e.code));
  } catch (e) { done(true, e.code || e.message); }
});
"""

# name -> program body. Every attack in a body must print SAFE.
HOSTILE: dict[str, str] = {
    "child-process-shell": """
        check(fails(() => require('child_process').execSync('id; cat /etc/passwd')), 'execSync through a shell');
        const r = (() => { try { return require('child_process').spawnSync('/bin/sh', ['-c', 'id']); } catch (e) { return { error: e }; } })();
        check(r.error !== undefined || r.status !== 0, 'spawnSync /bin/sh');
    """,
    "child-process-host-binaries": """
        const cp = require('child_process');
        for (const bin of ['/usr/bin/python3', '/usr/bin/psql', '/usr/bin/curl', '/bin/bash', '/usr/bin/env']) {
          const r = (() => { try { return cp.spawnSync(bin, ['--version']); } catch (e) { return { error: e }; } })();
          check(r.error !== undefined, 'run ' + bin);
        }
    """,
    "process-binding-spawn": """
        let spawned = false;
        try {
          const spawnSync = process.binding('spawn_sync');
          const r = spawnSync.spawn({ file: '/bin/sh', args: ['sh', '-c', 'id'], envPairs: [], stdio: [
            { type: 'pipe', readable: true, writable: false }, { type: 'pipe', readable: false, writable: true },
            { type: 'pipe', readable: false, writable: true }] });
          spawned = r.status === 0;
        } catch (e) {}
        check(!spawned, 'process.binding spawn of a shell');
    """,
    "read-host-files": """
        for (const path of ['/etc/passwd', '/etc/shadow', '/etc/hosts', '/root/.bashrc', ...SECRETS, ...REPO_FILES]) {
          check(fails(() => fs.readFileSync(path)), 'read ' + path);
        }
    """,
    "list-the-root": """
        let entries = null;
        try { entries = fs.readdirSync('/'); } catch (e) {}
        const allowed = new Set(['dev', 'etc', 'proc', 'tmp', 'usr', 'lib', 'lib64', 'bin']);
        check(entries === null || entries.every((e) => allowed.has(e)), '/ holds only node: ' + JSON.stringify(entries));
        for (const gone of ['home', 'var', 'run', 'srv', 'root', 'work', 'opt', 'sys', 'boot']) {
          check(!exists('/' + gone), '/' + gone + ' absent');
        }
        check(!exists('/usr/bin/python3') && !exists('/bin/sh'), 'no other program in the root');
    """,
    "etc-is-empty": """
        let entries = [];
        try { entries = fs.readdirSync('/etc'); } catch (e) {}
        check(entries.length === 0, 'empty /etc: ' + JSON.stringify(entries));
    """,
    "proc-of-other-processes": """
        let pids = [];
        try { pids = fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)); } catch (e) {}
        check(pids.every((p) => Number(p) === process.pid), 'only my own pid in /proc: ' + JSON.stringify(pids));
        const leaked = [];
        for (let pid = 1; pid < 2048; pid++) {
          if (mine(pid)) continue;
          for (const leaf of ['environ', 'cmdline']) {
            try { fs.readFileSync('/proc/' + pid + '/' + leaf); leaked.push(pid + '/' + leaf); } catch (e) {}
          }
        }
        check(leaked.length === 0, "other processes' environ/cmdline: " + JSON.stringify(leaked.slice(0, 5)));
        check(fails(() => fs.readdirSync('/proc/1/root')), '/proc/1/root');
    """,
    "environment": """
        const keys = Object.keys(process.env);
        const expected = new Set(['PATH', 'LANG', 'TZ', 'UV_THREADPOOL_SIZE', 'NODE_DISABLE_COLORS', 'NO_COLOR', 'LD_LIBRARY_PATH']);
        check(keys.every((k) => expected.has(k)), 'only the runtime environment: ' + JSON.stringify(keys));
        check(!(MARKER in process.env) && !('DATABASE_URL' in process.env) && !('HOME' in process.env), 'no server variable');
    """,
    "postgres-over-unix-sockets": """
        (async () => {
          for (const path of [...PG_SOCKETS, ...SOCKETS]) {
            await refused(() => require('net').connect({ path }), 'connect ' + path);
          }
          if (PG_SOCKETS.length + SOCKETS.length === 0) check(true, 'no host socket to try');
        })();
    """,
    "tcp-loopback-and-outside": """
        (async () => {
          const net = require('net');
          await refused(() => net.connect(5432, '127.0.0.1'), 'tcp 127.0.0.1:5432');
          await refused(() => net.connect(8000, '127.0.0.1'), 'tcp 127.0.0.1:8000 (the API)');
          await refused(() => net.connect(443, '1.1.1.1'), 'tcp to the internet');
          await refused(() => net.connect({ port: 5432, host: '::1', family: 6 }), 'tcp [::1]:5432');
        })();
    """,
    "http-and-listen": """
        (async () => {
          const http = require('http');
          await refused(() => http.get('http://127.0.0.1:8000/readyz').on('socket', () => {}), 'http to the API');
          await refused(() => require('net').createServer().listen(8080, '0.0.0.0'), 'listen on a port');
        })();
    """,
    "udp-dgram": """
        (async () => {
          const dgram = require('dgram');
          await new Promise((resolve) => {
            let settled = false;
            const finish = (ok, how) => { if (!settled) { settled = true; check(ok, 'udp send (' + how + ')'); resolve(); } };
            try {
              const s = dgram.createSocket('udp4');
              s.on('error', (e) => finish(true, e.code));
              s.send('x', 53, '8.8.8.8', (e) => finish(Boolean(e), e ? e.code : 'sent'));
              setTimeout(() => finish(true, 'no socket'), 1500);
            } catch (e) { finish(true, e.code || e.message); }
          });
        })();
    """,
    "inspector-port": """
        check(fails(() => require('inspector').open(9229, '0.0.0.0', false)) || require('inspector').url() === undefined,
              'inspector listening');
    """,
    "worker-threads": """
        let ran = false;
        try {
          const { Worker } = require('worker_threads');
          const w = new Worker("require('fs').readFileSync('/etc/passwd')", { eval: true });
          w.on('error', () => {});
          ran = true;
        } catch (e) {}
        // Under the permission model no worker starts; without it, one starts inside the same
        // confinement and cannot read what the main thread cannot (checked by read-host-files).
        check(!ran || process.permission === undefined || !process.permission.has('worker'), 'worker threads');
    """,
    "native-addons-and-wasm": """
        check(fails(() => process.dlopen({ exports: {} }, '/lib/x86_64-linux-gnu/libc.so.6')), 'process.dlopen');
        check(typeof WebAssembly === 'undefined', 'no WebAssembly (jitless: no executable memory)');
    """,
    "write-outside-the-run-folder": """
        for (const path of ['/evil', '/usr/evil', '/etc/evil', '/dev/evil', '/usr/bin/node', process.execPath]) {
          check(fails(() => fs.writeFileSync(path, 'x')), 'write ' + path);
        }
        check(fails(() => fs.chmodSync('main.js', 0o777)) || true, 'chmod main.js');
    """,
    "symlinks-out-of-the-folder": """
        let read = false;
        try { fs.symlinkSync('/etc/shadow', 'l1'); fs.readFileSync('l1'); read = true; } catch (e) {}
        try { fs.symlinkSync('/proc/1/root/etc/passwd', 'l2'); fs.readFileSync('l2'); read = true; } catch (e) {}
        check(!read, 'symlinks out of the run folder');
    """,
    "signal-other-processes": """
        const hits = [];
        for (let pid = 1; pid < 2000; pid++) {
          if (pid === process.pid) continue;
          try { process.kill(pid, 0); if (!mine(pid)) hits.push(pid); } catch (e) {}
        }
        check(hits.length === 0, 'no other process can be signalled: ' + JSON.stringify(hits.slice(0, 5)));
        try { process.kill(-1, 'SIGKILL'); } catch (e) {}
        check(true, 'survived its own kill(-1)');
    """,
    "setuid-root": """
        check(fails(() => process.setuid(0)) && fails(() => process.setgid(0)), 'setuid(0)');
    """,
    "network-interfaces": """
        let external = [];
        try {  // netlink sockets are refused by seccomp: the call itself may fail
          external = Object.entries(require('os').networkInterfaces())
            .flatMap(([name, addrs]) => addrs.filter((a) => !a.internal).map((a) => name + ' ' + a.address));
        } catch (e) {}
        check(external.length === 0, 'no network interface: ' + JSON.stringify(external));
    """,
    "confinement-of-this-process": """
        // What the kernel says about this very process (hidden under the permission model).
        let status = null;
        try { status = fs.readFileSync('/proc/self/status', 'utf8'); } catch (e) {}
        const field = (name) => ((status.split('\\n').find((l) => l.startsWith(name + ':')) || '').split(':')[1] || '').trim();
        if (status === null) {
          check(process.permission !== undefined, '/proc/self/status hidden by the permission model only');
        } else {
          check(field('Seccomp') === '2', 'seccomp filter on: ' + field('Seccomp'));
          check(field('NoNewPrivs') === '1', 'no_new_privs');
          check(/^0+$/.test(field('CapEff')) && /^0+$/.test(field('CapPrm')) && /^0+$/.test(field('CapBnd')),
                'no capabilities: ' + field('CapEff') + ' ' + field('CapBnd'));
          check(!field('Uid').startsWith('0'), 'not root: ' + field('Uid'));
          // four at start, five once libuv's one pool thread runs (eleven without the flags)
          check(Number(field('Threads')) <= 5, 'V8 single-threaded: ' + field('Threads') + ' threads');
        }
    """,
    "note-for-the-next-learner": """
        for (const path of ['note', '/tmp/note', '/dev/shm/note']) { try { fs.writeFileSync(path, 'secret'); } catch (e) {} }
        check(true, 'wrote notes');
    """,
    "read-the-previous-learners-note": """
        check(!exists('/tmp/note') && !exists('/dev/shm/note') && !fs.existsSync('note'), 'no note from before');
        check(JSON.stringify(fs.readdirSync('.')) === '["main.js"]', 'a fresh run folder: ' + JSON.stringify(fs.readdirSync('.')));
    """,
    "daemon-outlives-the-run": """
        try {
          const child = require('child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'],
                                                       { detached: true, stdio: 'ignore' });
          child.on('error', () => {});
          child.unref();
        } catch (e) {}
        check(true, 'daemon started (or refused)');
    """,
}

# name -> (program, what must end it). Each must also leave no process and a working sandbox.
BOMBS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fork-bomb": ("""
        const cp = require('child_process');
        for (;;) { try { cp.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }).on('error', () => {}); } catch (e) {} }
    """, ("wall", "cpu", "exit", "signal")),
    "worker-bomb": ("""
        const { Worker } = require('worker_threads');
        const workers = [];
        for (let i = 0; i < 200; i++) {
          try { workers.push(new Worker('setInterval(() => {}, 1000)', { eval: true }).on('error', () => {})); } catch (e) {}
        }
        setInterval(() => {}, 1000);
    """, ("wall", "cpu", "exit", "signal")),
    "memory-bomb": ("""
        const rows = [];
        for (;;) rows.push(Buffer.alloc(1 << 20, 1));
    """, ("exit", "signal")),
    "infinite-output": ("""
        const block = '*'.repeat(1 << 16);
        for (;;) process.stdout.write(block);
    """, ("output",)),
    "cpu-loop": ("for (;;) {}", ("cpu", "wall")),
}


def host_constants(secrets: list[str], abstract: str) -> str:
    repo_files = [str(REPO_ROOT / "pyproject.toml"), str(REPO_ROOT / "core" / "settings.py")]
    facts = {"SOCKETS": host_unix_sockets(), "PG_SOCKETS": [p for p in POSTGRES_SOCKETS if os.path.exists(p)],
             "SECRETS": secrets, "REPO_FILES": repo_files, "MARKER": SERVER_SECRET_ENV}
    return "".join(f"const {name} = {json.dumps(value)};\n" for name, value in facts.items())


@pytest.fixture(scope="module", params=["node-permissions", "kernel-layers-only"])
async def js_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    os.environ[SERVER_SECRET_ENV] = "server-only"
    runtime = node_runtime()
    if request.param == "kernel-layers-only":
        runtime = dataclasses.replace(runtime, permissions=False)
    sandbox = Sandbox(LIMITS, workers=2, require="strict", uid_base=UID_BASE,
                      runtime_overrides={"javascript": runtime})
    await sandbox.start()
    assert sandbox.report()["status"] == "complete" and sandbox.available("javascript"), sandbox.report()
    yield sandbox
    await sandbox.aclose()
    os.environ.pop(SERVER_SECRET_ENV, None)


@pytest.fixture(scope="module")
def secrets_on_host(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("server-data-js")
    for name in ("jwt-secret", ".pgpass"):
        (folder / name).write_text("top-secret")
    return [str(folder / "jwt-secret"), str(folder / ".pgpass")]


def sandbox_processes() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if UID_BASE <= entry.stat().st_uid < UID_BASE + 128:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def healthy_and_empty(sandbox: Sandbox) -> None:
    """The sandbox still judges, and nothing of the run survives it."""
    healthy = await sandbox.run("console.log('ok')", runtime="javascript")
    assert healthy.stdout == "ok\n", healthy.stderr[-500:]
    for _ in range(100):
        if not sandbox_processes():
            break
        await asyncio.sleep(0.02)
    assert sandbox_processes() == []


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_javascript_is_contained(name: str, js_sandbox: Sandbox, secrets_on_host: list[str]) -> None:
    code = host_constants(secrets_on_host, "") + PRELUDE + HOSTILE[name]
    result = await js_sandbox.run(code, runtime="javascript")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and not result.timed_out, (result.exit_code, result.signal, result.stderr[-800:])
    assert lines and all(line.startswith("SAFE ") for line in lines), result.stdout
    await healthy_and_empty(js_sandbox)


async def test_a_note_never_reaches_the_next_run(js_sandbox: Sandbox) -> None:
    write = await js_sandbox.run(PRELUDE + HOSTILE["note-for-the-next-learner"], runtime="javascript")
    read = await js_sandbox.run(PRELUDE + HOSTILE["read-the-previous-learners-note"], runtime="javascript")
    assert write.stdout.startswith("SAFE")
    assert read.stdout.splitlines() == ["SAFE no note from before", 'SAFE a fresh run folder: ["main.js"]']


@pytest.mark.parametrize("name", list(BOMBS))
async def test_bombs_end_with_a_limit_and_leave_nothing(name: str, js_sandbox: Sandbox) -> None:
    code, endings = BOMBS[name]
    result = await js_sandbox.run(code, runtime="javascript")
    ended_by = result.limit_exceeded or ("signal" if result.signal is not None else "exit")
    assert ended_by in endings and not result.ok, (ended_by, result.exit_code, result.signal, result.stderr[-500:])
    await healthy_and_empty(js_sandbox)


def test_the_suite_has_at_least_twenty_hostile_programs() -> None:
    assert len(HOSTILE) >= 20 and len(BOMBS) >= 5


@pytest.mark.parametrize("name", ["read-host-files", "list-the-root", "etc-is-empty", "environment",
                                  "child-process-shell", "child-process-host-binaries"])
def test_the_same_programs_escape_without_the_sandbox(
    name: str, secrets_on_host: list[str], tmp_path: Path
) -> None:
    """Run directly by the host's node, these attacks work: the checks can fail, and the sandbox
    is what makes them print SAFE."""
    import subprocess

    (tmp_path / "main.js").write_text(host_constants(secrets_on_host, "") + PRELUDE + HOSTILE[name])
    env = {**os.environ, SERVER_SECRET_ENV: "server-only"}
    out = subprocess.run([node_runtime().executable or "node", "main.js"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=30).stdout
    assert any(line.startswith("ESCAPED ") for line in out.splitlines()), out
