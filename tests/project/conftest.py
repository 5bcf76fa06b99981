"""Fixtures for the project layer's tests.

``make_project`` writes a small project (a settings module and apps) under
the test's temporary directory, points ``FINDIG_SETTINGS_MODULE`` at it,
and undoes everything afterwards: the settings and the app registry are
reset, the project's modules are forgotten and its tables removed from the
shared metadata. Module names carry a per-test suffix, so that tables and
mappers of different tests never meet.
"""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

from findig.project.apps import apps
from findig.project.conf import settings


def _forget_modules(root: Path) -> None:
    """Forget the modules under *root*, their tables and their mappers, so
    that the project can be imported again (changed) in the same process."""
    from sqlalchemy.orm import class_mapper
    from sqlalchemy.orm.exc import UnmappedClassError

    from findig.project.db import Model, metadata

    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        paths = list(getattr(module, "__path__", []) or [])
        inside = file.startswith(str(root)) or any(
            str(p).startswith(str(root)) for p in paths
        )
        if not inside:
            continue
        del sys.modules[name]
        for value in list(vars(module).values()):
            if not isinstance(value, type) or value.__module__ != name:
                continue
            try:
                mapper = class_mapper(value)
            except UnmappedClassError:
                continue
            for table in mapper.tables:
                if metadata.tables.get(table.key) is table:
                    metadata.remove(table)
            manager = mapper.class_manager
            Model.registry._dispose_manager_and_mapper(manager)
            Model.registry._managers.pop(manager, None)


def _reset_state() -> None:
    from findig.project.db import dispose_engines

    settings.reset()
    apps.reset()
    dispose_engines()


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No FINDIG_* variable from the outside; settings reset before and after."""
    for name in list(os.environ):
        if name.startswith("FINDIG_") and not name.startswith("FINDIG_TEST_"):
            monkeypatch.delenv(name)
    _reset_state()
    yield
    _reset_state()


class Project:
    """A project written on disk for one test."""

    def __init__(self, root: Path, suffix: str) -> None:
        self.root = root
        self.suffix = suffix
        self.name = f"site_{suffix}"

    def app_name(self, base: str) -> str:
        """The per-test module name of app *base*."""
        return f"{base}_{self.suffix}"

    def write(self, relative: str, text: str) -> Path:
        """Write a file of the project (dedented)."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def reload(self) -> None:
        """Forget the project's modules (after changing files) and reload
        the settings and apps."""
        import importlib

        _forget_modules(self.root)
        importlib.invalidate_caches()
        _reset_state()


@pytest.fixture
def make_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_settings: None
) -> Iterator[Callable[..., Project]]:
    """Make a project: ``make_project(apps={"blog": {"models.py": ...}},
    settings="EXTRA = 1")``; app names get the per-test suffix (see
    :meth:`Project.app_name`) and ``{suffix}`` in file contents is
    replaced by it."""
    root = tmp_path / "proj"
    root.mkdir()
    suffix = uuid.uuid4().hex[:8]
    project = Project(root, suffix)
    monkeypatch.syspath_prepend(str(root))

    def make(
        apps: dict[str, dict[str, str]] | None = None,
        settings_text: str = "",
        database_url: str | None = None,
        installed: list[str] | None = None,
    ) -> Project:
        names = []
        for base, files in (apps or {}).items():
            name = project.app_name(base)
            names.append(name)
            project.write(f"{name}/__init__.py", "")
            for file, text in files.items():
                project.write(f"{name}/{file}", text.replace("{suffix}", suffix))
        installed_apps = installed if installed is not None else names
        url = database_url or f"sqlite:///{root / 'db.sqlite3'}"
        project.write(f"{project.name}/__init__.py", "")
        project.write(
            f"{project.name}/settings.py",
            f"INSTALLED_APPS = {installed_apps!r}\n"
            f"DATABASE_URL = {url!r}\n"
            "SECRET_KEY = 'k' * 40\n"
            + textwrap.dedent(settings_text).replace("{suffix}", suffix),
        )
        monkeypatch.setenv("FINDIG_SETTINGS_MODULE", f"{project.name}.settings")
        _reset_state()
        return project

    yield make
    _forget_modules(root)
    _reset_state()


MODELS = """
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from findig.project.db import Model


class Note{suffix}(Model):
    __tablename__ = "notes_{suffix}"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(100), unique=True)
"""

RESOURCES = """
from findig.dispatcher import Dispatcher
from findig.extras.sql import SQLASet

from .models import Note{suffix} as Note

dispatcher = Dispatcher()


@dispatcher.route("/<int:id>")
@dispatcher.resource(lazy=True)
def note(id):
    return notes().fetch(id=id)


@dispatcher.route("/")
@note.collection(lazy=True)
def notes():
    return SQLASet(Note)
"""

APPS = """
from findig.project.apps import AppConfig


class NotesConfig(AppConfig):
    url_prefix = "/notes"
    ready_calls = []

    def ready(self, app):
        type(self).ready_calls.append(app)
"""


@pytest.fixture
def notes_app() -> dict[str, str]:
    """The files of a small app: a model with a unique column, resources
    over it (mounted at /notes) and an AppConfig recording ready() calls."""
    return {"models.py": MODELS, "resources.py": RESOURCES, "apps.py": APPS}


@pytest.fixture
def run_cli() -> Callable[..., Any]:
    """Run the findig command group in-process (click's CliRunner):
    ``run_cli("migrate", input=None)`` returns click's Result."""
    from click.testing import CliRunner

    from findig.project.cli import cli

    def run(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(cli, list(args), input=input)

    return run


class Generated:
    """A project made by ``findig startproject`` for one test."""

    def __init__(self, root: Path, name: str, app: str) -> None:
        self.root = root
        self.name = name
        self.app = app

    def reload(self) -> None:
        """Forget the project's modules and reload settings and apps."""
        import importlib

        _forget_modules(self.root)
        importlib.invalidate_caches()
        _reset_state()


@pytest.fixture
def generated(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clean_settings: None,
    run_cli: Callable[..., Any],
) -> Iterator[Generated]:
    """A generated project (unique module names), its settings in use."""
    suffix = uuid.uuid4().hex[:8]
    name, app = f"site_{suffix}", f"things_{suffix}"
    root = tmp_path / "generated"
    result = run_cli("startproject", name, str(root), "--app", app, "--no-auth")
    assert result.exit_code == 0, result.output
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.chdir(root)
    monkeypatch.setenv("FINDIG_SETTINGS_MODULE", f"{name}.settings")
    monkeypatch.setenv("FINDIG_SECRET_KEY", "t" * 10 + uuid.uuid4().hex * 2)
    _reset_state()
    yield Generated(root, name, app)
    _forget_modules(root)
    _reset_state()
