"""Packaging: the wheel carries everything, and an installed wheel works on its own.

`grammars/`, `architectures/` and `backends/` live at the top of the checkout but are
shipped as `cnndsl.grammars`, `cnndsl.architectures` and `cnndsl.backends`. These tests
build the wheel from a copy of the source tree, look inside it, install it into a plain
virtualenv (no system site-packages, no checkout on the path) and run the CLI from an
empty directory, so a file that only works from the checkout fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Source directory in the checkout -> where its files land in the wheel.
SOURCE_MAP = {
    "cnndsl": "cnndsl",
    "backends": "cnndsl/backends",
    "grammars": "cnndsl/grammars",
    "architectures": "cnndsl/architectures",
}
# File kinds that must travel with the package (code, grammar, model library, templates).
SHIPPED_SUFFIXES = {".py", ".lark", ".cnn", ".j2"}
# Runtime dependencies a bare install needs (also declared in pyproject.toml).
RUNTIME_DEPS = ["lark", "numpy", "networkx", "jinja2", "interegular"]


def _clean_env() -> dict[str, str]:
    """The environment minus anything that would let the checkout leak into a subprocess."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH"):
        env.pop(key, None)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], check=False, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout
    )


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in {"__pycache__", "build", "dist"} or n.endswith((".egg-info", ".pyc"))}


@pytest.fixture(scope="module")
def wheel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a private copy of the sources (builds never touch the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in SOURCE_MAP:
        shutil.copytree(ROOT / name, src / name, ignore=_ignore)
    dist = tmp_path_factory.mktemp("dist")
    try:
        import build  # noqa: F401  (the dev extra provides it)

        cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, src]
    except ImportError:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", dist, src]
    proc = _run(cmd, cwd=src)
    assert proc.returncode == 0, f"wheel build failed:\n{proc.stdout}\n{proc.stderr}"
    wheels = sorted(dist.glob("cnndsl-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_names(wheel_path: Path) -> set[str]:
    with zipfile.ZipFile(wheel_path) as zf:
        return set(zf.namelist())


def test_wheel_has_grammar_library_and_backends(wheel_names: set[str]) -> None:
    assert "cnndsl/grammars/cnn.lark" in wheel_names
    assert "cnndsl/backends/__init__.py" in wheel_names
    assert "cnndsl/architectures/__init__.py" in wheel_names
    cnn_files = [n for n in wheel_names if n.startswith("cnndsl/architectures/") and n.endswith(".cnn")]
    assert cnn_files, "no .cnn model library files in the wheel"
    assert any(n.startswith("cnndsl/architectures/std/") for n in cnn_files), "standard block library missing"


def test_wheel_has_no_stray_top_level_packages(wheel_names: set[str]) -> None:
    top = {n.split("/", 1)[0] for n in wheel_names}
    dist_info = {t for t in top if t.endswith(".dist-info")}
    assert len(dist_info) == 1
    assert top - dist_info == {"cnndsl"}, f"unexpected top-level entries in the wheel: {sorted(top - dist_info)}"
    for bare in ("backends", "grammars", "architectures", "tests", "bench"):
        assert not any(n.startswith(bare + "/") or n == bare + ".py" for n in wheel_names), bare


def test_wheel_metadata(wheel_path: Path, wheel_names: set[str]) -> None:
    with zipfile.ZipFile(wheel_path) as zf:
        info = next(n for n in wheel_names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = zf.read(info).decode()
        top_level = [n for n in wheel_names if n.endswith(".dist-info/top_level.txt")]
        if top_level:
            assert zf.read(top_level[0]).decode().split() == ["cnndsl"]
    assert re.search(r"^cnndsl\s*=\s*cnndsl\.cli\.main:entry\s*$", entry_points, re.MULTILINE), entry_points
    assert "[cnndsl.backends]" in entry_points


def test_wheel_ships_every_source_file(wheel_names: set[str]) -> None:
    """A subpackage missing from pyproject's `packages` list (or a data file outside
    `package-data`) silently drops out of the wheel; compare against the source tree."""
    missing = []
    for src_dir, wheel_dir in SOURCE_MAP.items():
        for path in sorted((ROOT / src_dir).rglob("*")):
            if not path.is_file() or path.suffix not in SHIPPED_SUFFIXES or "__pycache__" in path.parts:
                continue
            if any(part.endswith(".egg-info") for part in path.parts):
                continue
            rel = path.relative_to(ROOT / src_dir).as_posix()
            if f"{wheel_dir}/{rel}" not in wheel_names:
                missing.append(f"{src_dir}/{rel}")
    assert not missing, (
        "files in the checkout that the wheel does not ship (add the package to [tool.setuptools] packages "
        "or the pattern to package-data in pyproject.toml):\n  " + "\n  ".join(missing)
    )


@pytest.fixture(scope="module")
def bare_venv(wheel_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain venv (no system site-packages, so nothing can hide a missing file) holding
    the wheel and its runtime dependencies only: no onnx, torch or tvm."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    proc = _run([sys.executable, "-m", "venv", venv], cwd=venv.parent)
    assert proc.returncode == 0, proc.stderr
    # Install the wheel with its declared dependencies: also proves pyproject lists all of them.
    proc = _run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel_path, *RUNTIME_DEPS], cwd=venv.parent
    )
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    return venv


def test_installed_wheel_runs_check_from_empty_directory(bare_venv: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    cnndsl = bare_venv / "bin" / "cnndsl"

    proc = _run([cnndsl, "--version"], cwd=empty)
    assert proc.returncode == 0, proc.stderr
    assert "cnndsl" in proc.stdout

    proc = _run([cnndsl, "check", "resnet50"], cwd=empty)
    assert proc.returncode == 0, (
        f"`cnndsl check resnet50` from the installed wheel failed:\n{proc.stdout}\n{proc.stderr}"
    )
    assert "Traceback" not in proc.stderr

    # The model library is found inside the installed package.
    proc = _run([cnndsl, "list", "--no-figures"], cwd=empty)
    assert proc.returncode == 0, proc.stderr
    assert "resnet50" in proc.stdout.split()

    # Package data resolves from site-packages, and no bare `backends` package was installed.
    probe = (
        "import importlib.resources as r, importlib.util as u, cnndsl, sys\n"
        "assert (r.files('cnndsl.grammars') / 'cnn.lark').is_file()\n"
        "assert 'site-packages' in cnndsl.__file__, cnndsl.__file__\n"
        "for bare in ('backends', 'grammars', 'architectures'):\n"
        "    assert u.find_spec(bare) is None, bare\n"
    )
    proc = _run([bare_venv / "bin" / "python", "-c", probe], cwd=empty)
    assert proc.returncode == 0, proc.stderr
    assert list(empty.iterdir()) == [], "the CLI wrote files into the working directory"


@pytest.mark.parametrize("target", ["onnx", "llvm"])
def test_installed_wheel_without_extras_gives_a_clean_error(bare_venv: Path, tmp_path: Path, target: str) -> None:
    """Without the backend's extra installed, `compile` says which extra to install: exit 2, no traceback."""
    proc = _run(
        [bare_venv / "bin" / "cnndsl", "compile", "resnet50", "--target", target, "-o", tmp_path / "out"], cwd=tmp_path
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert "cnndsl[" in proc.stderr, proc.stderr


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^\s*(make test)\s*(?:#.*)?$", text, re.MULTILINE)
    assert match, "README.md does not show the test command `make test` on a line of its own"
    return match.group(1)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert script.startswith(("#!/usr/bin/env bash", "#!/bin/bash"))
    assert "set -euo pipefail" in script
    commands = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.strip().startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert commands == [_readme_test_command()], commands
    assert os.access(ROOT / ".ci" / "run", os.X_OK), ".ci/run is not executable"
