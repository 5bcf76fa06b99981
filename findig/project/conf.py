"""Project settings: a lazy object over a settings module and the environment.

:data:`settings` is loaded on first attribute access from three layers, the
later ones winning:

1. the documented defaults (:data:`DEFAULTS`);
2. the upper-case names of the settings module named by the
   ``FINDIG_SETTINGS_MODULE`` environment variable (``manage.py`` and the
   generated ``wsgi.py`` set it; ``findig --settings`` and the pytest option
   ``--findig-settings`` override it);
3. environment variables ``FINDIG_<NAME>``, for every setting that has a
   default or is defined by the settings module.

An environment value is converted to the type of the setting's value (the
module's value if it has one, else the default's): ``int``, ``float``,
``bool`` (``1/0``, ``true/false``, ``yes/no``, ``on/off``), ``str``,
:class:`~pathlib.Path`, ``list``/``tuple`` (a JSON array, or a
comma-separated list of strings), ``dict`` (a JSON object). For a setting
whose value is ``None`` (``REDIS_URL``...), the type is the one documented
below, and an empty value means ``None``. A value that does not convert
raises :class:`ImproperlyConfigured` naming the variable::

    $ FINDIG_WORKERS=many python manage.py check
    Error: FINDIG_WORKERS: expected an integer, got 'many'

Apps that read settings of their own (with defaults of their own) convert
their ``FINDIG_<NAME>`` variables the same way with
:func:`convert_env_value`.

Defaults (see the settings reference in the documentation):

``DEBUG`` = ``False``
    Development mode. ``SECRET_KEY`` may then be empty.
``SECRET_KEY`` = ``""``
    Required unless ``DEBUG``: reading ``settings.SECRET_KEY`` raises
    :class:`ImproperlyConfigured` when it is empty and ``DEBUG`` is off.
    With ``DEBUG`` on, an empty key reads as an insecure key derived from
    ``BASE_DIR`` (stable across restarts, never fit for production).
``BASE_DIR`` = the project directory
    The parent of the settings module's package (``mysite/settings.py`` →
    the directory holding ``mysite/``), or the working directory when no
    module is configured.
``DATABASE_URL`` = ``"sqlite:///<BASE_DIR>/db.sqlite3"``
    A SQLAlchemy URL; PostgreSQL is ``postgresql+psycopg://user@host/db``.
``DATABASE_OPTIONS`` = ``{}``
    Extra keyword arguments for :func:`sqlalchemy.create_engine`.
``DATABASE_RETRY_AFTER`` = ``5``
    The ``Retry-After`` seconds of the 503 answered when the database is
    unreachable or stays locked (see :func:`findig.project.db.install`).
``REDIS_URL`` = ``None`` (type ``str``)
    A Redis URL for the tools that share state between processes.
``INSTALLED_APPS`` = ``[]``
    Dotted module paths of the project's apps (see :mod:`findig.project.apps`).
``ALLOWED_HOSTS`` = ``["localhost", "127.0.0.1", "[::1]"]``
    Host names the application answers; ``"*"`` allows any, ``".example.com"``
    allows the domain and its subdomains. Other hosts get 400.
``AUTOLIST`` = ``True``
    Serve the list of resources at ``/``.
``HEALTH_URL`` = ``"/health"``
    Where the health check is served (``None`` or ``""`` disables it).
``JSON_INDENT`` = ``None`` (type ``int``)
    Indentation of JSON output.
``PROXY_FIX`` = ``None`` (type ``dict``)
    Keyword arguments of :class:`werkzeug.middleware.proxy_fix.ProxyFix`
    (such as ``{"x_for": 1, "x_proto": 1, "x_host": 1}``) to trust that many
    reverse proxies' ``X-Forwarded-*`` headers.
``WORKERS`` = ``$WEB_CONCURRENCY`` or ``1``
    The number of server processes (``manage.py serve`` and the generated
    ``gunicorn.conf.py`` use it; ``check --deploy`` checks it).
``WSGI_APPLICATION`` = ``None`` (type ``str``)
    The ``module:attribute`` gunicorn serves; by default ``<package>.wsgi:
    application`` for a settings module ``<package>.settings`` (when that
    module exists), else ``findig.project.wsgi:application``.
``LOG_LEVEL`` = ``"INFO"``
    Level of the ``findig`` logger (and the root logger if it has no handler).
``LOGGING`` = ``None`` (type ``dict``)
    A :func:`logging.config.dictConfig` dictionary, applied when the WSGI
    application is built.
``PROBLEM_DETAILS`` = ``False``
    Answer errors as RFC 9457 problem details (``application/problem+json``)
    instead of ``{"message": ...}``; generated projects turn it on.
``CORS_ALLOWED_ORIGINS`` = ``[]``
    The origins (``"https://app.example.com"``) whose pages may call the API
    from a browser; ``["*"]`` any (not with credentials); empty: no CORS.
``CORS_ALLOW_CREDENTIALS`` = ``False``
    Let those pages send cookies and HTTP authentication.
``CORS_ALLOWED_HEADERS`` = :data:`~findig.project.cors.DEFAULT_ALLOWED_HEADERS`
    The request headers those pages may send (``"*"``: any).
``CORS_EXPOSE_HEADERS`` = :data:`~findig.project.cors.DEFAULT_EXPOSE_HEADERS`
    The response headers those pages may read.
``CORS_MAX_AGE`` = ``600`` (type ``int``)
    How long browsers may keep a preflight's answer, in seconds.
``REQUEST_ID_HEADER`` = ``None`` (type ``str``)
    The header of request IDs (``"X-Request-ID"`` in generated projects),
    accepted from requests and echoed in responses (``None`` or ``""``: no
    request IDs).
``ACCESS_LOG`` = ``False``
    Log one JSON line per request on the ``findig.access`` logger;
    generated projects turn it on.
``OPENAPI`` = ``False``
    Serve the API's OpenAPI document and its documentation page; generated
    projects turn it on.
``OPENAPI_TITLE`` = ``"API"``, ``OPENAPI_VERSION`` = ``"0.1.0"``
    The document's ``info.title`` and ``info.version``.
``OPENAPI_URL`` = ``"/openapi.json"``, ``OPENAPI_DOCS_URL`` = ``"/docs"``
    Where the document and the documentation page are served (``None``:
    not served; type ``str``).

Tests change settings with :meth:`LazySettings.override`::

    with settings.override(DEBUG=True, INSTALLED_APPS=["blog"]):
        ...
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from .cors import _TOKEN as _HEADER_NAME
from .cors import (
    DEFAULT_ALLOWED_HEADERS,
    DEFAULT_EXPOSE_HEADERS,
    settings_problems,
)

__all__ = [
    "DEFAULTS",
    "ENVIRONMENT_VARIABLE",
    "ENV_PREFIX",
    "ImproperlyConfigured",
    "LazySettings",
    "convert_env_value",
    "settings",
]

#: The environment variable naming the settings module.
ENVIRONMENT_VARIABLE = "FINDIG_SETTINGS_MODULE"
#: The prefix of environment variables overriding settings.
ENV_PREFIX = "FINDIG_"

#: The documented defaults. ``BASE_DIR`` and ``DATABASE_URL`` are computed
#: when the settings load (``None`` here).
DEFAULTS: dict[str, Any] = {
    "DEBUG": False,
    "SECRET_KEY": "",
    "BASE_DIR": None,
    "DATABASE_URL": None,
    "DATABASE_OPTIONS": {},
    "DATABASE_RETRY_AFTER": 5,
    "REDIS_URL": None,
    "INSTALLED_APPS": [],
    "ALLOWED_HOSTS": ["localhost", "127.0.0.1", "[::1]"],
    "AUTOLIST": True,
    "HEALTH_URL": "/health",
    "JSON_INDENT": None,
    "PROXY_FIX": None,
    "WORKERS": 1,
    "WSGI_APPLICATION": None,
    "LOG_LEVEL": "INFO",
    "LOGGING": None,
    "PROBLEM_DETAILS": False,
    "CORS_ALLOWED_ORIGINS": [],
    "CORS_ALLOW_CREDENTIALS": False,
    "CORS_ALLOWED_HEADERS": list(DEFAULT_ALLOWED_HEADERS),
    "CORS_EXPOSE_HEADERS": list(DEFAULT_EXPOSE_HEADERS),
    "CORS_MAX_AGE": 600,
    "REQUEST_ID_HEADER": None,
    "ACCESS_LOG": False,
    "OPENAPI": False,
    "OPENAPI_TITLE": "API",
    "OPENAPI_VERSION": "0.1.0",
    "OPENAPI_URL": "/openapi.json",
    "OPENAPI_DOCS_URL": "/docs",
}

# The type of the settings whose default is None (None stays allowed).
_OPTIONAL_TYPES: dict[str, type] = {
    "BASE_DIR": Path,
    "DATABASE_URL": str,
    "REDIS_URL": str,
    "JSON_INDENT": int,
    "PROXY_FIX": dict,
    "WSGI_APPLICATION": str,
    "LOGGING": dict,
    "HEALTH_URL": str,
    "CORS_MAX_AGE": int,
    "REQUEST_ID_HEADER": str,
    "OPENAPI_URL": str,
    "OPENAPI_DOCS_URL": str,
}

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


class ImproperlyConfigured(Exception):  # noqa: N818 - the well-known name
    """The project is misconfigured: a setting is missing or invalid, an app
    cannot be imported, or no settings module is given.

    The message names the setting, variable or app at fault.
    """


def _convert(variable: str, raw: str, kind: type | None, optional: bool) -> Any:
    """Convert the environment value *raw* of *variable* to *kind*."""
    if optional and raw.strip() == "":
        return None
    if kind is None or kind is str:
        return raw
    if kind is bool:
        value = raw.strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ImproperlyConfigured(
            f"{variable}: expected a boolean (true/false, 1/0, yes/no, on/off), "
            f"got {raw!r}"
        )
    if kind is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(
                f"{variable}: expected an integer, got {raw!r}"
            ) from None
    if kind is float:
        try:
            return float(raw.strip())
        except ValueError:
            raise ImproperlyConfigured(
                f"{variable}: expected a number, got {raw!r}"
            ) from None
    if issubclass(kind, Path):
        return Path(raw).expanduser()
    if kind in (list, tuple):
        text = raw.strip()
        items: Any
        if text.startswith("["):
            import json  # PERF: only for JSON values; --help loads settings

            try:
                items = json.loads(text)
            except ValueError as exc:
                raise ImproperlyConfigured(
                    f"{variable}: expected a JSON array or a comma-separated "
                    f"list, got {raw!r} ({exc})"
                ) from None
            if not isinstance(items, list):
                raise ImproperlyConfigured(f"{variable}: expected a JSON array")
        else:
            items = [part.strip() for part in text.split(",") if part.strip()]
        return tuple(items) if kind is tuple else items
    if kind is dict:
        import json  # PERF: see above

        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{variable}: expected a JSON object, got {raw!r} ({exc})"
            ) from None
        if not isinstance(value, dict):
            raise ImproperlyConfigured(
                f"{variable}: expected a JSON object, got {raw!r}"
            )
        return value
    raise ImproperlyConfigured(
        f"{variable}: the setting holds a {kind.__name__}, which cannot be set "
        "from the environment"
    )


def _setting_type(name: str, value: Any) -> tuple[type | None, bool]:
    """The type to convert an environment value of setting *name* to, and
    whether ``None`` is allowed."""
    if value is None:
        return _OPTIONAL_TYPES.get(name, str), True
    if isinstance(value, bool):
        return bool, False
    if isinstance(value, Path):
        return Path, False
    for kind in (int, float, str, list, tuple, dict):
        if isinstance(value, kind):
            return kind, False
    return type(value), False


def convert_env_value(
    name: str, raw: str, default: Any, *, kind: type | None = None
) -> Any:
    """Convert the environment value of a setting the way Findig converts
    its own ``FINDIG_<NAME>`` variables.

    Apps that contribute settings of their own (read with a default when the
    settings module leaves them out) use it so that ``FINDIG_<NAME>`` means
    the same for their settings as for Findig's::

        value = settings.get("MY_APP_TIMEOUT", MISSING)
        if value is MISSING:
            raw = os.environ.get(ENV_PREFIX + "MY_APP_TIMEOUT")
            value = 30 if raw is None else convert_env_value(
                "MY_APP_TIMEOUT", raw, 30
            )

    The value is converted to the type of *default* (see the module
    documentation for the accepted forms of each type):

    >>> convert_env_value("LOGIN_WINDOW", "600", 300)
    600
    >>> convert_env_value("AUTH_METHODS", "bearer,basic", ["basic"])
    ['bearer', 'basic']
    >>> convert_env_value("MY_APP_TIMEOUT", "", None, kind=int) is None
    True

    :param name: The setting's name, without the ``FINDIG_`` prefix (error
        messages name the variable ``FINDIG_<NAME>``).
    :param raw: The environment value.
    :param default: The setting's default (or the settings module's value).
        A ``None`` default makes the setting optional: an empty value then
        means ``None``.
    :param kind: The type to convert to, instead of the type of *default*
        (needed when *default* is ``None``; without it, such a setting of
        an app is a string, and one of Findig's has its documented type).
    :returns: The converted value.
    :raises ImproperlyConfigured: naming the variable, for a value that does
        not convert, or a type that cannot be set from the environment.
    """
    if kind is None:
        kind, optional = _setting_type(name, default)
    else:
        optional = default is None
    return _convert(ENV_PREFIX + name, raw, kind, optional)


def _default_base_dir(module: ModuleType | None) -> Path:
    if module is None or getattr(module, "__file__", None) is None:
        return Path.cwd()
    here = Path(module.__file__).resolve().parent  # type: ignore[arg-type]
    depth = module.__name__.count(".")
    for _ in range(depth):
        here = here.parent
    return here


class _Layer:
    """The loaded values of one configuration (module + environment)."""

    __slots__ = ("module_name", "values")

    def __init__(self, module_name: str | None, values: dict[str, Any]) -> None:
        self.module_name = module_name
        self.values = values


def _load(module_name: str | None, explicit: Mapping[str, Any]) -> _Layer:
    values = dict(DEFAULTS)
    module: ModuleType | None = None
    if module_name:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"Cannot import the settings module {module_name!r} (from "
                f"{ENVIRONMENT_VARIABLE} or --settings): {exc}. Run the command "
                "from the project directory (where manage.py is) or put that "
                "directory on PYTHONPATH."
            ) from exc
        for name in dir(module):
            if name.isupper() and not name.startswith("_"):
                values[name] = getattr(module, name)
    values.update(explicit)
    module_sets_workers = module is not None and hasattr(module, "WORKERS")
    if (
        not module_sets_workers
        and "WORKERS" not in explicit
        and "WEB_CONCURRENCY" in os.environ
    ):
        values["WORKERS"] = _convert(
            "WEB_CONCURRENCY", os.environ["WEB_CONCURRENCY"], int, False
        )
    environ = os.environ
    for name in list(values):
        variable = ENV_PREFIX + name
        if variable in environ and name != "SETTINGS_MODULE":
            kind, optional = _setting_type(name, values[name])
            values[name] = _convert(variable, environ[variable], kind, optional)
    if values.get("BASE_DIR") is None:
        values["BASE_DIR"] = _default_base_dir(module)
    else:
        values["BASE_DIR"] = Path(values["BASE_DIR"])
    if not values.get("DATABASE_URL"):
        values["DATABASE_URL"] = f"sqlite:///{values['BASE_DIR'] / 'db.sqlite3'}"
    return _Layer(module_name, values)


class LazySettings:
    """The project's settings, loaded on first access.

    Read settings as attributes (``settings.DEBUG``). Only upper-case names
    are settings; an unknown one raises :class:`AttributeError`.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_layer", None)
        object.__setattr__(self, "_overrides", [])
        object.__setattr__(self, "_explicit", None)
        object.__setattr__(self, "_lock", threading.RLock())

    # -- loading ------------------------------------------------------------

    def _setup(self) -> _Layer:
        with self._lock:
            layer: _Layer | None = self._layer
            if layer is None:
                explicit = self._explicit
                if explicit is not None:
                    module_name, values = explicit
                else:
                    module_name, values = os.environ.get(ENVIRONMENT_VARIABLE), {}
                layer = _load(module_name or None, values)
                object.__setattr__(self, "_layer", layer)
            return layer

    def configure(self, settings_module: str | None = None, **values: Any) -> None:
        """Configure the settings in code, instead of from the environment.

        :param settings_module: A settings module to load (``None`` for the
            defaults only).
        :param values: Settings given directly; they win over the module's
            (the environment still wins over both).
        :raises RuntimeError: if the settings are already loaded (call
            :meth:`reset` first).
        """
        with self._lock:
            if self._layer is not None:
                raise RuntimeError(
                    "The settings are already loaded: call settings.reset() "
                    "before configuring them again."
                )
            _check_names(values)
            object.__setattr__(self, "_explicit", (settings_module, values))

    def reset(self) -> None:
        """Forget the loaded settings (and any :meth:`configure` call); the
        next access loads them again from the environment."""
        with self._lock:
            object.__setattr__(self, "_layer", None)
            object.__setattr__(self, "_explicit", None)
            self._overrides.clear()

    @property
    def configured(self) -> bool:
        """Whether a settings module is given (by the environment or by
        :meth:`configure`) or the settings were configured in code."""
        if self._layer is not None:
            return True
        return self._explicit is not None or bool(os.environ.get(ENVIRONMENT_VARIABLE))

    @property
    def settings_module(self) -> str | None:
        """The name of the settings module in use, or ``None``."""
        return self._setup().module_name

    # -- access ---------------------------------------------------------------

    def _value(self, name: str) -> Any:
        for layer in reversed(self._overrides):
            if name in layer:
                return layer[name]
        values = self._setup().values
        try:
            return values[name]
        except KeyError:
            raise AttributeError(f"There is no setting named {name!r}") from None

    def __getattr__(self, name: str) -> Any:
        if not name.isupper():
            raise AttributeError(name)
        value = self._value(name)
        if name == "SECRET_KEY" and not value:
            if self._value("DEBUG"):
                return _insecure_key(self._value("BASE_DIR"))
            raise ImproperlyConfigured(
                "The SECRET_KEY setting must not be empty unless DEBUG is on: "
                f"set the {ENV_PREFIX}SECRET_KEY environment variable (for "
                "example to the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`)."
            )
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            "Settings are read-only: use settings.override(...) in tests, or "
            "change the settings module or the environment."
        )

    def __contains__(self, name: str) -> bool:
        try:
            self._value(name)
        except AttributeError:
            return False
        return True

    def get(self, name: str, default: Any = None) -> Any:
        """Return setting *name*, or *default* if there is no such setting.

        Unlike attribute access, an empty ``SECRET_KEY`` is returned as is.
        """
        try:
            return self._value(name)
        except AttributeError:
            return default

    def as_dict(self) -> dict[str, Any]:
        """Every setting and its current value (overrides applied, an empty
        ``SECRET_KEY`` as is)."""
        values = dict(self._setup().values)
        for layer in self._overrides:
            values.update(layer)
        return values

    # -- tests ----------------------------------------------------------------

    @contextmanager
    def override(self, **values: Any) -> Iterator[LazySettings]:
        """Override settings for the duration of a ``with`` block.

        Overrides nest and are undone in reverse order. The app registry and
        the database engines follow changes of ``INSTALLED_APPS`` and
        ``DATABASE_URL``, but an application already built keeps what it was
        built with: build it inside the block.

        :param values: Upper-case setting names and their values.
        :raises ValueError: for a name that is not upper case.
        """
        _check_names(values)
        self._setup()
        layer = dict(values)
        self._overrides.append(layer)
        try:
            yield self
        finally:
            # Remove this very layer even if inner ones leaked.
            for index in range(len(self._overrides) - 1, -1, -1):
                if self._overrides[index] is layer:
                    del self._overrides[index]
                    break

    def check(self) -> list[str]:
        """Validate the settings Findig uses.

        :returns: A list of problems (empty when all is well); each names
            the setting.
        """
        problems: list[str] = []
        try:
            self.SECRET_KEY  # noqa: B018 - raises when missing
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
        apps = self._value("INSTALLED_APPS")
        if not isinstance(apps, (list, tuple)) or not all(
            isinstance(a, str) and a for a in apps
        ):
            problems.append("INSTALLED_APPS must be a list of dotted module paths")
        elif len(set(apps)) != len(apps):
            problems.append("INSTALLED_APPS lists an app more than once")
        hosts = self._value("ALLOWED_HOSTS")
        if not isinstance(hosts, (list, tuple)) or not all(
            isinstance(h, str) for h in hosts
        ):
            problems.append("ALLOWED_HOSTS must be a list of host names")
        workers = self._value("WORKERS")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            problems.append("WORKERS must be a positive integer")
        url = self._value("DATABASE_URL")
        if not isinstance(url, str) or "://" not in url:
            problems.append(f"DATABASE_URL is not a database URL: {url!r}")
        for name in ("DATABASE_OPTIONS",):
            if not isinstance(self._value(name), dict):
                problems.append(f"{name} must be a dict")
        retry_after = self._value("DATABASE_RETRY_AFTER")
        if (
            not isinstance(retry_after, int)
            or isinstance(retry_after, bool)
            or retry_after < 1
        ):
            problems.append("DATABASE_RETRY_AFTER must be a positive integer")
        for name in ("PROXY_FIX", "LOGGING"):
            if self._value(name) is not None and not isinstance(
                self._value(name), dict
            ):
                problems.append(f"{name} must be a dict or None")
        problems += settings_problems(
            {name: self._value(name) for name in DEFAULTS if name.startswith("CORS_")}
        )
        header = self._value("REQUEST_ID_HEADER")
        if header and (
            not isinstance(header, str) or not _HEADER_NAME.fullmatch(header)
        ):
            problems.append(
                f"REQUEST_ID_HEADER must be a header name (or None), not {header!r}"
            )
        for name in ("OPENAPI_URL", "OPENAPI_DOCS_URL"):
            path = self._value(name)
            if path and (not isinstance(path, str) or not path.startswith("/")):
                problems.append(f"{name} must be a path starting with '/' (or None)")
        return problems

    def __repr__(self) -> str:
        layer = self._layer
        if layer is None:
            return "<LazySettings (not loaded)>"
        return f"<LazySettings {layer.module_name or '(no module)'!r}>"


def _check_names(values: Mapping[str, Any]) -> None:
    for name in values:
        if not name.isupper():
            raise ValueError(f"Setting names are upper case: {name!r}")


def _insecure_key(base_dir: Any) -> str:
    import hashlib  # PERF: loads OpenSSL; only DEBUG without a key needs it

    digest = hashlib.sha256(f"findig-debug:{base_dir}".encode()).hexdigest()
    return f"insecure-debug-only-{digest}"


#: The project's settings (a :class:`LazySettings`).
settings = LazySettings()
