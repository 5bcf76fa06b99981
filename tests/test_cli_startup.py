"""What ``import findig`` and the ``--help`` of the commands import.

Start-up time is measured by ``benchmarks/bench_cli_startup.py``; these
tests assert what keeps it low, by import audit (never by timing), with
the benchmark's own audit: ``import findig`` imports no Werkzeug, and
``findig --help`` / ``manage.py --help`` import none of Werkzeug,
SQLAlchemy, Alembic and passlib.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import findig

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

APP_COMMANDS = """
import click


@click.command()
def hello_startup():
    \"\"\"Say hello (an app's command).\"\"\"
    click.echo("hello")
"""


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("bench_cli_startup")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # The audited interpreters inherit the environment.
    monkeypatch.delenv("FINDIG_SETTINGS_MODULE", raising=False)


def _startproject(root: Path, name: str, *options: str) -> Path:
    subprocess.run(
        [sys.executable, "-m", "findig.project.cli", "startproject", name, *options],
        cwd=root,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return root / name


def test_import_findig_imports_no_werkzeug(bench: ModuleType, tmp_path: Path):
    code = "import findig; print(findig.__version__)"
    assert bench.imported_packages(["-c", code], tmp_path) == []


def test_the_audit_sees_werkzeug(bench: ModuleType, tmp_path: Path):
    code = "from findig import App"
    assert bench.imported_packages(["-c", code], tmp_path) == ["werkzeug"]


def test_app_is_public_and_lazy():
    from findig.app import App

    assert findig.App is App
    assert "App" in findig.__all__ and "App" in dir(findig)
    assert "__version__" in dir(findig)
    namespace: dict[str, object] = {}
    exec("from findig import *", namespace)
    assert namespace["App"] is App
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        findig.Nope  # noqa: B018


def test_findig_help_imports_nothing_heavy(bench: ModuleType, tmp_path: Path):
    args = ["-m", "findig.project.cli", "--help"]
    assert bench.imported_packages(args, tmp_path) == []


def test_manage_help_imports_nothing_heavy(bench: ModuleType, tmp_path: Path):
    project = _startproject(tmp_path, "startup_site", "--app", "notes", "--no-auth")
    (project / "notes" / "commands.py").write_text(textwrap.dedent(APP_COMMANDS))
    assert bench.imported_packages(["manage.py", "--help"], project) == []
    # The app's command is listed all the same.
    result = subprocess.run(
        [sys.executable, "manage.py", "--help"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "hello-startup" in result.stdout and "migrate" in result.stdout


def test_manage_help_with_auth_imports_nothing_heavy(bench: ModuleType, tmp_path: Path):
    project = _startproject(tmp_path, "startup_auth_site", "--auth")
    assert bench.imported_packages(["manage.py", "--help"], project) == []
