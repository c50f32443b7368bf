"""The house keeps its shape (docs/architecture.md): import-linter's contracts in pyproject.toml are
kept and scripts/check_architecture.py finds no cycle, cross-module private import, oversized
module or overlong workflow; and both would fail on a planted violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"
CHECK = ROOT / "scripts" / "check_architecture.py"


def _lint(src: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts on the cisgram package found under ``src``."""
    if not LINT.exists():
        pytest.skip(f"import-linter is not installed beside {sys.executable} (pip install -e '.[test]')")
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--no-logo", "--no-cache", str(ROOT / "pyproject.toml")], cwd=src, env=env,
                          capture_output=True, text=True, timeout=600)


def _copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "cisgram", src / "cisgram", ignore=shutil.ignore_patterns("__pycache__", "demodata"))
    return src


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """A copy of the package with an upward import planted inside a function of a model module
    (models -> workflows), the kind of import the old house hid in function bodies."""
    src = _copy(tmp_path_factory.mktemp("planted"))
    cnn = src / "cisgram" / "models" / "cnn.py"
    cnn.write_text(cnn.read_text() + "\n\ndef _planted():\n    from cisgram.workflows import rundir\n\n    return rundir\n")
    return src


def test_the_contracts_are_kept():
    r = _lint(ROOT / "src")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_the_linter_fails_on_a_planted_upward_import(planted):
    r = _lint(planted)
    assert r.returncode != 0, r.stdout
    assert "BROKEN" in r.stdout and "cisgram.models.cnn -> cisgram.workflows.rundir" in r.stdout


def test_the_architecture_checks_pass_and_catch_planted_problems(tmp_path):
    ok = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout
    src = _copy(tmp_path)
    genome = src / "cisgram" / "genome.py"  # a private name across modules, and a cycle genome <-> intervals
    genome.write_text(genome.read_text() + "\n\ndef _planted():\n    from cisgram.intervals import _planted_name\n")
    bad = subprocess.run([sys.executable, str(CHECK), "--src", str(src)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "from cisgram.intervals import _planted_name" in bad.stdout
    assert "cisgram.genome -> cisgram.intervals" in bad.stdout  # intervals imports genome: a cycle now
