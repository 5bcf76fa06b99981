"""Apps: the parts a project is made of, and the registry of installed apps.

An *app* is a Python package listed by dotted path in the
``INSTALLED_APPS`` setting. Each app may contribute, by convention:

``<app>/apps.py``
    An :class:`AppConfig` subclass (the first one *defined* in that module)
    describing the app: its ``label``, ``url_prefix``, and a
    :meth:`~AppConfig.ready` hook. Without one, the app gets a plain
    ``AppConfig(name)``.
``<app>/resources.py``
    A module attribute ``dispatcher``, a :class:`findig.dispatcher.Dispatcher`
    whose routes the project's WSGI application includes under the app's
    ``url_prefix``.
``<app>/models.py``
    SQLAlchemy models, subclasses of :class:`findig.project.db.Model` (one
    shared ``MetaData`` for the whole project).
``<app>/migrations/``
    The app's Alembic version folder: one branch per app, whose branch label
    is the app's ``label``.
``<app>/commands.py``
    Click commands added to ``manage.py``: the module attribute ``commands``
    (a list of :class:`click.Command`) if it defines one, else every
    :class:`click.Command` defined at module level that is not a subcommand
    of a group defined there. Keep that module light (import models and
    SQLAlchemy inside the command functions): it is imported to list the
    commands in ``manage.py --help``.

An app's package ``__init__`` and its ``apps.py`` are imported whenever the
registry is built (also for ``--help``), so they must stay light too.

Any error importing an app's modules is reported as an
:class:`AppImportError` naming the app and the module.

>>> from findig.project.apps import AppConfig
>>> config = AppConfig("findig.project")
>>> config.label, config.url_prefix
('project', '')
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .conf import ImproperlyConfigured, settings

if TYPE_CHECKING:
    import click

    from findig.app import App
    from findig.dispatcher import Dispatcher

__all__ = ["AppConfig", "AppImportError", "Apps", "apps"]


class AppImportError(ImproperlyConfigured):
    """An installed app (or one of its modules) failed to import.

    :ivar app_name: The dotted path of the app.
    """

    def __init__(self, app_name: str, message: str) -> None:
        super().__init__(message)
        self.app_name = app_name


def _import(app_name: str, module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        where = "" if module_name == app_name else f" (module {module_name!r})"
        raise AppImportError(
            app_name,
            f"Cannot import app {app_name!r}{where}, listed in INSTALLED_APPS: "
            f"{type(exc).__name__}: {exc}",
        ) from exc


class AppConfig:
    """The configuration of one installed app.

    Subclass it in ``<app>/apps.py`` to change the class attributes below or
    to hook :meth:`ready`::

        from findig.project.apps import AppConfig

        class TasksConfig(AppConfig):
            url_prefix = "/tasks"

            def ready(self, app):
                validator.attach_to(app)

    :param name: The app's dotted module path (as listed in
        ``INSTALLED_APPS``); a subclass may give it as a class attribute.
    :raises AppImportError: if the app's package cannot be imported.
    :raises ImproperlyConfigured: for an invalid label or URL prefix.
    """

    #: The dotted module path of the app.
    name: str
    #: A short identifier, unique in the project: the last component of
    #: :attr:`name` unless a subclass sets it. It is the Alembic branch
    #: label of the app's migrations and its name on the command line.
    label: str
    #: The URL prefix of the app's resources (``"/tasks"``); ``""`` mounts
    #: them at the root.
    url_prefix: str = ""
    #: The directory of the app's package.
    path: Path
    #: The app's package (module object).
    module: ModuleType

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            name = getattr(type(self), "name", None)
            if not name:
                raise ImproperlyConfigured(
                    f"{type(self).__name__} needs the app's dotted module path"
                )
        self.name = name
        if "label" not in vars(self) and not _class_defines(type(self), "label"):
            self.label = name.rpartition(".")[2]
        if not self.label.isidentifier():
            raise ImproperlyConfigured(
                f"App {name!r}: the label {self.label!r} must be a Python "
                "identifier (set `label` on its AppConfig)"
            )
        prefix = self.url_prefix
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ImproperlyConfigured(
                f"App {name!r}: url_prefix {prefix!r} must start with '/' and "
                "not end with one"
            )
        self.module = _import(name, name)
        self.path = _module_path(self.module)
        self._models: ModuleType | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label!r} ({self.name})>"

    # -- contributions -------------------------------------------------------

    def submodule(self, name: str) -> ModuleType | None:
        """Import and return ``<app>.<name>``, or ``None`` if it does not exist.

        :raises AppImportError: if the module exists but fails to import.
        """
        full = f"{self.name}.{name}"
        try:
            spec = importlib.util.find_spec(full)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return None
        return _import(self.name, full)

    def import_models(self) -> ModuleType | None:
        """Import the app's ``models`` module, if it has one.

        Its models (subclasses of :class:`findig.project.db.Model`) register
        their tables on the project's shared metadata.

        :returns: The module, or ``None``.
        """
        if self._models is None:
            self._models = self.submodule("models")
        return self._models

    def get_dispatcher(self) -> Dispatcher | None:
        """Return the app's dispatcher: the ``dispatcher`` attribute of its
        ``resources`` module, or ``None`` if it has no such module.

        :raises ImproperlyConfigured: if the module has no ``dispatcher``
            or it is not a :class:`findig.dispatcher.Dispatcher`.
        """
        module = self.submodule("resources")
        if module is None:
            return None
        from findig.dispatcher import Dispatcher

        dispatcher = getattr(module, "dispatcher", None)
        if not isinstance(dispatcher, Dispatcher):
            raise ImproperlyConfigured(
                f"App {self.name!r}: {module.__name__}.dispatcher must be a "
                "findig.dispatcher.Dispatcher (got "
                f"{type(dispatcher).__name__})"
            )
        return dispatcher

    @property
    def migrations_dir(self) -> Path | None:
        """The app's Alembic version folder (``<path>/migrations``), or
        ``None`` if it has none yet."""
        folder = self.path / "migrations"
        return folder if folder.is_dir() else None

    def get_commands(self) -> list[click.Command]:
        """Return the click commands the app adds to ``manage.py``.

        They come from the app's ``commands`` module: its ``commands``
        attribute (a list of :class:`click.Command`) if it has one, else
        every :class:`click.Command` defined at its top level that is not a
        subcommand of a group defined there, in definition order.

        :raises ImproperlyConfigured: if ``commands`` holds something else
            than click commands.
        """
        module = self.submodule("commands")
        if module is None:
            return []
        import click

        declared = getattr(module, "commands", None)
        if declared is not None:
            found = list(declared)
            for command in found:
                if not isinstance(command, click.Command):
                    raise ImproperlyConfigured(
                        f"App {self.name!r}: {module.__name__}.commands must "
                        f"be a list of click commands (got {command!r})"
                    )
            return found
        found = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, click.Command) and _defined_in(obj, module)
        ]
        nested = {
            id(sub)
            for obj in found
            if isinstance(obj, click.Group)
            for sub in obj.commands.values()
        }
        return [command for command in found if id(command) not in nested]

    def ready(self, app: App) -> None:
        """Called once the project's WSGI application is assembled (routes
        included, database installed), before it serves requests.

        Override it to attach tools (validators, protectors, counters) to
        *app*. It is called again for every application built (tests build
        one per test). The default does nothing.

        :param app: The :class:`findig.json.App` being built.
        """


def _class_defines(cls: type, name: str) -> bool:
    """Whether a subclass of AppConfig (not AppConfig itself) defines *name*."""
    return any(name in vars(klass) for klass in cls.__mro__ if klass is not AppConfig)


def _defined_in(command: Any, module: ModuleType) -> bool:
    callback = getattr(command, "callback", None)
    owner = getattr(callback, "__module__", None)
    return owner is None or owner == module.__name__


def _module_path(module: ModuleType) -> Path:
    paths = list(getattr(module, "__path__", ()))
    if paths:
        return Path(paths[0]).resolve()
    file = getattr(module, "__file__", None)
    if file:
        return Path(file).resolve().parent
    raise ImproperlyConfigured(f"App {module.__name__!r} has no location on disk")


def _find_config_class(name: str, module: ModuleType | None) -> type[AppConfig]:
    if module is None:
        return AppConfig
    for obj in vars(module).values():
        if (
            inspect.isclass(obj)
            and issubclass(obj, AppConfig)
            and obj is not AppConfig
            and obj.__module__ == module.__name__
        ):
            return obj
    return AppConfig


class Apps:
    """The registry of installed apps, built from ``INSTALLED_APPS``.

    It is built on first use and rebuilt when ``INSTALLED_APPS`` changes
    (``settings.override(INSTALLED_APPS=[...])`` in tests). Use the shared
    instance :data:`apps`.
    """

    def __init__(self) -> None:
        self._key: tuple[str, ...] | None = None
        self._configs: dict[str, AppConfig] = {}
        self._lock = threading.RLock()

    def populate(self, installed_apps: list[str] | tuple[str, ...]) -> None:
        """Build the registry from a list of app paths.

        :raises AppImportError: if an app cannot be imported.
        :raises ImproperlyConfigured: for two apps with the same label.
        """
        with self._lock:
            key = tuple(installed_apps)
            if key == self._key:
                return
            configs: dict[str, AppConfig] = {}
            for entry in key:
                if not isinstance(entry, str) or not entry:
                    raise ImproperlyConfigured(
                        f"INSTALLED_APPS entries must be dotted module paths, "
                        f"got {entry!r}"
                    )
                _import(entry, entry)
                config_module = None
                try:
                    spec = importlib.util.find_spec(f"{entry}.apps")
                except (ImportError, ValueError):
                    spec = None
                if spec is not None:
                    config_module = _import(entry, f"{entry}.apps")
                config = _find_config_class(entry, config_module)(entry)
                other = configs.get(config.label)
                if other is not None:
                    raise ImproperlyConfigured(
                        f"Apps {other.name!r} and {entry!r} have the same label "
                        f"{config.label!r}: give one of them another `label` "
                        "in its AppConfig"
                    )
                configs[config.label] = config
            self._configs = configs
            self._key = key

    def _ensure(self) -> dict[str, AppConfig]:
        installed = settings.INSTALLED_APPS
        if tuple(installed) != self._key:
            self.populate(list(installed))
        return self._configs

    def get_app_configs(self) -> list[AppConfig]:
        """The configurations of the installed apps, in ``INSTALLED_APPS``
        order."""
        return list(self._ensure().values())

    def __iter__(self) -> Iterator[AppConfig]:
        return iter(self.get_app_configs())

    def get_app_config(self, label: str) -> AppConfig:
        """The configuration of the app labelled *label* (or whose dotted
        path is *label*).

        :raises LookupError: naming the installed labels, if there is none.
        """
        configs = self._ensure()
        if label in configs:
            return configs[label]
        for config in configs.values():
            if config.name == label:
                return config
        known = ", ".join(configs) or "none"
        raise LookupError(f"No installed app with label {label!r} (installed: {known})")

    def get_containing_app_config(self, module_name: str) -> AppConfig | None:
        """The app whose package contains module *module_name*, or ``None``."""
        best: AppConfig | None = None
        for config in self._ensure().values():
            name = config.name
            inside = module_name == name or module_name.startswith(name + ".")
            if inside and (best is None or len(name) > len(best.name)):
                best = config
        return best

    def import_models(self) -> None:
        """Import the models of every installed app."""
        for config in self.get_app_configs():
            config.import_models()

    def reset(self) -> None:
        """Forget the registry; it is rebuilt on next use."""
        with self._lock:
            self._key = None
            self._configs = {}


#: The project's app registry.
apps = Apps()
