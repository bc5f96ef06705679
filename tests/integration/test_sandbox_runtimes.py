"""The language runtimes: what Node.js's root holds, and a missing runtime costing its language only."""

from __future__ import annotations

import os

import pytest

from sandbox import LanguageUnavailable, Sandbox, SandboxLimits
from sandbox.runtimes import RuntimeUnavailable, node_runtime, program_interpreter, shared_libraries


def test_node_root_is_the_binary_the_loader_and_the_libraries_it_links() -> None:
    runtime = node_runtime()
    assert runtime.executable is not None and os.access(runtime.executable, os.X_OK)
    targets = [target for target, _ in runtime.files]
    assert targets[0] == runtime.executable
    interpreter = program_interpreter(runtime.executable)
    assert interpreter is not None and interpreter in targets
    assert any(os.path.basename(t).startswith("libc.so") for t in targets)
    assert all(os.path.isfile(source) for _, source in runtime.files)
    # Only files: no folder of /usr or /lib comes along (no shell, no Python).
    assert not any(os.path.basename(t) in ("sh", "bash", "python3") for t in targets)
    assert len(targets) < 40


def test_the_library_listing_fails_loudly_on_something_that_is_not_an_executable(tmp_path) -> None:
    text = tmp_path / "not-elf"
    text.write_text("#!/bin/sh\n")
    with pytest.raises(RuntimeUnavailable):
        shared_libraries(str(text))
    with pytest.raises(RuntimeUnavailable, match=r"No such file|not found"):
        node_runtime(str(tmp_path / "no-such-node"))


def test_argv_bounds_the_heap_under_the_address_space_limit() -> None:
    runtime = node_runtime()
    argv = runtime.argv(256) or []
    assert "--jitless" in argv and "--single-threaded" in argv and "--v8-pool-size=0" in argv
    assert "--max-old-space-size=128" in argv and argv[-1] == "{workdir}/main.js"
    # A static node fits Python's address-space limit; only a libnode build gets more.
    shared = any(os.path.basename(t).startswith("libnode") for t, _ in runtime.files)
    assert runtime.extra_address_space_mb == (384 if shared else 0)
    assert "--max-old-space-size=16" in (runtime.argv(64) or [])  # never below a usable heap


async def test_without_node_javascript_is_unavailable_and_python_still_judged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    async with Sandbox(SandboxLimits(), workers=1, require="strict") as sandbox:
        report = sandbox.report()
        assert report["status"] == "complete"
        languages = report["languages"]
        assert isinstance(languages, dict)
        assert languages["javascript"]["status"] == "unavailable"
        assert "node not found" in str(languages["javascript"]["reason"])
        assert not sandbox.available("javascript") and sandbox.available("python")
        with pytest.raises(LanguageUnavailable):
            await sandbox.run("console.log(1)", runtime="javascript")
        assert (await sandbox.run("print('ok')")).stdout == "ok\n"


async def test_a_runtime_not_configured_is_unavailable() -> None:
    async with Sandbox(SandboxLimits(), workers=1, runtimes=("python",)) as sandbox:
        assert list(sandbox.languages()) == ["python"]
        with pytest.raises(LanguageUnavailable):
            await sandbox.run("console.log(1)", runtime="javascript")


def test_builtins_a_node_loads_from_files_come_into_its_root(tmp_path) -> None:
    """Debian's nodejs is built with --shared-builtin-*-path: it loads acorn, cjs-module-lexer and
    undici from /usr/share/nodejs at start and aborts without them. The paths are in the
    configuration the build embeds (checked against Debian's libnode108 by hand: 5 files)."""
    from sandbox.runtimes import externalized_builtins

    lexer = tmp_path / "lexer.js"
    lexer.write_text("module.exports = {};\n")
    library = tmp_path / "libnode.so.108"
    library.write_bytes(b"\0\"defines\": [\"NODE_SHARED_BUILTIN_CJS_MODULE_LEXER_LEXER_PATH=" + str(lexer).encode()
                        + b"\", \"ICU_NO_USER_DATA_OVERRIDE\"]\0")
    assert externalized_builtins([(str(library), str(library))]) == [(str(lexer), str(lexer))]
    lexer.unlink()
    with pytest.raises(RuntimeUnavailable, match="is missing"):
        externalized_builtins([(str(library), str(library))])
    assert externalized_builtins([("/lib/libc.so.6", str(library))]) == []  # only node and libnode are read
