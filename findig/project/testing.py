"""pytest fixtures for Findig projects (activated by the pytest plugin).

``settings``
    The project's settings; assigning an attribute overrides that setting
    until the test ends (``settings.DEBUG = True``). The
    ``@pytest.mark.findig_settings(NAME=value, ...)`` marker applies
    overrides before ``app`` is built.
``db``
    A SQLAlchemy :class:`~sqlalchemy.orm.Session` on the test's own
    database; everything the test (and its requests) wrote is gone after
    it. On SQLite, each test gets a fresh copy of a database migrated once
    per session; on PostgreSQL, the tests run in a schema created (and
    migrated) for the session, and each test runs in a transaction that is
    rolled back (the app's commits become savepoints). Apps with models
    but no migrations get their tables created directly.
``app``
    The project's application (:func:`findig.project.wsgi.get_wsgi_application`),
    built for each test on the test's database.
``client``
    A :class:`Client` (a :class:`werkzeug.test.Client`) of ``app``;
    responses have ``.json``; ``client.headers`` holds headers sent with
    every request (``client.headers["Authorization"] = "Bearer ..."``).

During the tests, ``SECRET_KEY`` is set to a random value if the settings
leave it empty, and ``localhost`` (the test client's host) is allowed.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import Headers
from werkzeug.test import Client as WerkzeugClient

from .conf import settings as project_settings

__all__ = ["Client", "SettingsWrapper", "app", "client", "db", "settings"]


class Client(WerkzeugClient):
    """A :class:`werkzeug.test.Client` that sends :attr:`headers` with every
    request (a request's own headers win)."""

    def __init__(self, application: Any, **options: Any) -> None:
        super().__init__(application, **options)
        #: Headers added to every request.
        self.headers: dict[str, str] = {}

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """As :meth:`werkzeug.test.Client.open`, with :attr:`headers`."""
        if self.headers and not (args and not isinstance(args[0], str)):
            headers = Headers(kwargs.get("headers") or {})
            for name, value in self.headers.items():
                if name not in headers:
                    headers[name] = value
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


class SettingsWrapper:
    """The ``settings`` fixture: reads through to the project's settings;
    attribute assignments are overrides undone when the test ends."""

    def __init__(self) -> None:
        object.__setattr__(self, "_stack", ExitStack())

    def __getattr__(self, name: str) -> Any:
        return getattr(project_settings, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._stack.enter_context(project_settings.override(**{name: value}))

    def override(self, **values: Any) -> Any:
        """A context manager overriding settings (see
        :meth:`findig.project.conf.LazySettings.override`)."""
        return project_settings.override(**values)

    def undo(self) -> None:
        """Undo every override made through this object."""
        self._stack.close()


@pytest.fixture(scope="session")
def _findig_test_settings() -> Iterator[None]:
    values: dict[str, Any] = {}
    if not project_settings.get("SECRET_KEY"):
        values["SECRET_KEY"] = f"findig-tests-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    hosts = list(project_settings.ALLOWED_HOSTS)
    if "*" not in hosts and "localhost" not in hosts:
        values["ALLOWED_HOSTS"] = [*hosts, "localhost"]
    with project_settings.override(**values):
        yield


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, _findig_test_settings: None
) -> Iterator[SettingsWrapper]:
    """The project's settings; assignments last until the test ends."""
    wrapper = SettingsWrapper()
    for marker in reversed(list(request.node.iter_markers("findig_settings"))):
        for name, value in marker.kwargs.items():
            setattr(wrapper, name, value)
    try:
        yield wrapper
    finally:
        wrapper.undo()


class _Database:
    """The session's test database."""

    def __init__(self, backend: str, url: str, template: Path | None = None):
        self.backend = backend
        self.url = url
        self.template = template


def _append_search_path(url: str, schema: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    options = parsed.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    options = f"{options} -csearch_path={schema}".strip()
    return parsed.update_query_dict({"options": options}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def _findig_database(
    tmp_path_factory: pytest.TempPathFactory, _findig_test_settings: None
) -> Iterator[_Database]:
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from .db import create_project_engine, dispose_engines
    from .migrations import prepare_database

    url = str(project_settings.DATABASE_URL)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        folder = tmp_path_factory.mktemp("findig-db")
        template = folder / "template.sqlite3"
        prepare_database(f"sqlite:///{template}")
        yield _Database("sqlite", f"sqlite:///{template}", template)
        return
    if backend != "postgresql":
        pytest.fail(
            f"Findig's db fixture supports SQLite and PostgreSQL, not {backend!r} "
            "(DATABASE_URL)"
        )
    schema = f"findig_test_{uuid.uuid4().hex[:12]}"
    admin = create_project_engine(url, poolclass=NullPool)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        connection.commit()
    try:
        test_url = _append_search_path(url, schema)
        prepare_database(test_url)
        yield _Database("postgresql", test_url)
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            connection.commit()
        admin.dispose()


@pytest.fixture
def db(
    _findig_database: _Database, settings: SettingsWrapper, tmp_path: Path
) -> Iterator[Any]:
    """A session on the test's own database (see the module's doc)."""
    from .db import bind_sessions, dispose_engine, get_engine, get_sessionmaker

    if _findig_database.backend == "sqlite":
        assert _findig_database.template is not None
        copy = tmp_path / "db.sqlite3"
        shutil.copyfile(_findig_database.template, copy)
        url = f"sqlite:///{copy}"
        with project_settings.override(DATABASE_URL=url):
            session = get_sessionmaker()()
            try:
                yield session
            finally:
                session.close()
                dispose_engine(url)
        return
    url = _findig_database.url
    with project_settings.override(DATABASE_URL=url):
        connection = get_engine(url).connect()
        transaction = connection.begin()
        try:
            with bind_sessions(connection) as factory:
                session = factory()
                try:
                    yield session
                finally:
                    session.close()
        finally:
            if transaction.is_active:
                transaction.rollback()
            connection.close()


@pytest.fixture
def app(db: Any, settings: SettingsWrapper) -> Any:
    """The project's application, built on the test's database."""
    from .wsgi import get_wsgi_application

    return get_wsgi_application()


@pytest.fixture
def client(app: Any) -> Any:
    """A :class:`Client` of the project's application."""
    return Client(app)
