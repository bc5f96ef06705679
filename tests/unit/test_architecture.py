"""The import rule holds, and the checker that enforces it does catch an upward import."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO_ROOT

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
PACKAGES = ("app", "resolvers", "usecases", "analysis", "db", "judge", "inference", "sandbox", "catalog", "core")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_import_contract() -> None:
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "db" / "learners.py").open("a") as f:
        f.write("\nfrom resolvers import context  # noqa: E402  (the upward import under test)\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "db.learners -> resolvers.context" in result.stdout


def test_benchmarks_import_nothing_from_tests() -> None:
    offenders = [
        path.name
        for path in (REPO_ROOT / "bench").glob("*.py")
        if re.search(r"^\s*(from|import)\s+tests\b", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []
