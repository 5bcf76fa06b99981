"""A database that is busy or unreachable: SQLite writes wait for the write
lock (``BEGIN IMMEDIATE``), reads never do, and what cannot be had answers
503 with ``Retry-After``, while genuine errors stay 500."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import QueuePool
from werkzeug.test import Client

from findig import App
from findig.context import ctx
from findig.project import db
from findig.project.apps import apps
from findig.project.conf import settings
from findig.project.wsgi import get_wsgi_application

#: A short busy timeout, so that a lock outlasts it quickly.
SHORT_WAIT = {"connect_args": {"timeout": 0.2}}


@pytest.fixture
def notes_project(make_project: Any, notes_app: dict[str, str]) -> Any:
    project = make_project(
        apps={"notes": notes_app},
        settings_text=f"PROBLEM_DETAILS = True\nDATABASE_OPTIONS = {SHORT_WAIT!r}\n",
    )
    apps.import_models()
    db.metadata.create_all(
        db.get_engine(), tables=[db.metadata.tables[f"notes_{project.suffix}"]]
    )
    return project


def _database(project: Any) -> Path:
    return project.root / "db.sqlite3"


@pytest.fixture
def write_lock(notes_project: Any) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's write lock."""
    connection = sqlite3.connect(_database(notes_project), isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute(f"DELETE FROM notes_{notes_project.suffix} WHERE id < 0")
    yield connection
    if connection.in_transaction:
        connection.execute("ROLLBACK")
    connection.close()


def _texts(project: Any) -> list[str]:
    with sqlite3.connect(_database(project)) as connection:
        table = f"notes_{project.suffix}"
        return [t for (t,) in connection.execute(f"SELECT text FROM {table}")]


def _can_write_meanwhile(project: Any) -> bool:
    """Whether another connection can take the write lock right now."""
    connection = sqlite3.connect(_database(project), isolation_level=None, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()
    return True


# -- SQLite: who waits for the write lock ------------------------------------


def test_writing_requests_take_the_write_lock_first(notes_project: Any) -> None:
    app = get_wsgi_application()
    seen: dict[str, bool] = {}

    @app.route("/probe")
    @app.resource
    def probe() -> dict[str, Any]:
        ctx.sqla_session.execute(text("SELECT 1"))
        seen["GET"] = _can_write_meanwhile(notes_project)
        return {}

    @probe.model("write")
    def write_probe(data: Any) -> None:
        ctx.sqla_session.execute(text("SELECT 1"))
        seen["PUT"] = _can_write_meanwhile(notes_project)
        # Savepoints still work inside BEGIN IMMEDIATE.
        with ctx.sqla_session.begin_nested() as nested:
            ctx.sqla_session.execute(
                text(f"INSERT INTO notes_{notes_project.suffix} (text) VALUES ('x')")
            )
            nested.rollback()
        ctx.sqla_session.execute(
            text(f"INSERT INTO notes_{notes_project.suffix} (text) VALUES ('kept')")
        )

    client = Client(app)
    assert client.get("/probe").status_code == 200
    assert client.put("/probe", json={}).status_code == 200
    # A read holds no lock; a write holds the write lock from its BEGIN.
    assert seen == {"GET": True, "PUT": False}
    assert _texts(notes_project) == ["kept"]


def test_reads_answer_while_another_connection_writes(
    notes_project: Any, write_lock: sqlite3.Connection
) -> None:
    write_lock.execute(
        f"INSERT INTO notes_{notes_project.suffix} (text) VALUES ('uncommitted')"
    )
    client = Client(get_wsgi_application())
    response = client.get("/notes/")
    assert response.status_code == 200
    assert response.json == []


def test_write_locked_beyond_the_busy_timeout_is_503(
    notes_project: Any, write_lock: sqlite3.Connection
) -> None:
    client = Client(get_wsgi_application())
    response = client.post("/notes/", json={"text": "refused"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 503
    body = response.get_data(as_text=True)
    assert "locked" not in body and "sqlite" not in body.lower()
    write_lock.execute("ROLLBACK")
    # Once the lock is gone, the same application writes again.
    assert client.post("/notes/", json={"text": "later"}).status_code == 201
    assert _texts(notes_project) == ["later"]


def test_retry_after_setting(
    notes_project: Any, write_lock: sqlite3.Connection
) -> None:
    with settings.override(DATABASE_RETRY_AFTER=2):
        client = Client(get_wsgi_application())
    response = client.post("/notes/", json={"text": "refused"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"


@pytest.mark.parametrize("value", [0, -1, True, "5"])
def test_retry_after_setting_is_checked(clean_settings: None, value: Any) -> None:
    with settings.override(DATABASE_RETRY_AFTER=value):
        assert "DATABASE_RETRY_AFTER must be a positive integer" in settings.check()


def test_missing_table_stays_500(notes_project: Any) -> None:
    app = get_wsgi_application()

    @app.route("/missing")
    @app.resource
    def missing() -> dict[str, Any]:
        ctx.sqla_session.execute(text("SELECT * FROM no_such_table"))
        return {}

    @missing.model("write")
    def write_missing(data: Any) -> None:
        ctx.sqla_session.execute(text("INSERT INTO no_such_table VALUES (1)"))

    client = Client(app)
    for response in (client.get("/missing"), client.put("/missing", json={})):
        assert response.status_code == 500
        assert "Retry-After" not in response.headers
        assert "no_such_table" not in response.get_data(as_text=True)


# -- PostgreSQL unreachable -----------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_postgres_is_503(make_project: Any, notes_app: Any) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    make_project(apps={"notes": notes_app}, database_url=url)
    client = Client(get_wsgi_application())
    # (Not a collection: it is read while its body streams, after the status.)
    for response in (
        client.get("/notes/1"),
        client.post("/notes/", json={"text": "x"}),
    ):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert "127.0.0.1" not in response.get_data(as_text=True)


# -- which errors mean "unavailable" -----------------------------------------------


def _raised(engine: sqlalchemy.Engine, statement: str) -> BaseException:
    with pytest.raises(sqlalchemy.exc.SQLAlchemyError) as info:
        with engine.begin() as connection:
            connection.exec_driver_sql(statement)
    return info.value


def test_is_unavailable_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engine = db.create_project_engine(url, connect_args={"timeout": 0})
    try:
        missing = _raised(engine, "SELECT * FROM no_such_table")
        assert isinstance(missing, OperationalError)  # as SQLite reports it
        assert not db.is_unavailable(missing)
        assert not db.is_unavailable(_raised(engine, "SELEKT 1"))
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x UNIQUE)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert not db.is_unavailable(_raised(engine, "INSERT INTO t VALUES (1)"))
        locker = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            assert db.is_unavailable(_raised(engine, "INSERT INTO t VALUES (2)"))
        finally:
            locker.execute("ROLLBACK")
            locker.close()
    finally:
        engine.dispose()
    # Pythons before 3.11 give no error code: the message tells.
    assert db.is_unavailable(
        DBAPIError("x", None, sqlite3.OperationalError("database is locked"))
    )
    assert not db.is_unavailable(
        DBAPIError("x", None, sqlite3.OperationalError("no such table: t"))
    )


def test_is_unavailable_pool_exhausted(tmp_path: Path) -> None:
    engine = db.create_project_engine(
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        pool_timeout=0.05,
    )
    try:
        with engine.connect():
            with pytest.raises(sqlalchemy.exc.TimeoutError) as info:
                engine.connect()
        assert db.is_unavailable(info.value)
    finally:
        engine.dispose()
    assert not db.is_unavailable(ValueError("database is locked"))


def test_is_unavailable_postgres(postgres_url: str) -> None:
    engine = db.create_project_engine(postgres_url)
    try:
        assert not db.is_unavailable(_raised(engine, "SELECT * FROM no_such_table"))
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x int)")
        with engine.connect() as holder:
            holder.exec_driver_sql("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(OperationalError) as info:
                with engine.begin() as connection:
                    connection.exec_driver_sql("SET LOCAL lock_timeout = '50ms'")
                    connection.exec_driver_sql("SELECT * FROM t")
        assert getattr(info.value.orig, "sqlstate", None) == "55P03"
        assert db.is_unavailable(info.value)
    finally:
        engine.dispose()
    refused = db.create_project_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    )
    try:
        assert db.is_unavailable(_raised(refused, "SELECT 1"))
    finally:
        refused.dispose()


# -- the handler is the app's, unless it has one -----------------------------------


def test_install_keeps_an_existing_handler(clean_settings: None) -> None:
    app = App()
    mine = app.error_handler.register(DBAPIError, lambda exc: None)
    db.install(app)
    assert app.error_handler.handlers[DBAPIError] is mine
    assert sqlalchemy.exc.TimeoutError in app.error_handler.handlers


def test_busy_timeout_is_the_connect_argument(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    for options, expected in (({}, 20000), ({"connect_args": {"timeout": 2}}, 2000)):
        engine = db.create_project_engine(url, **options)
        try:
            with engine.connect() as connection:
                busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
        finally:
            engine.dispose()
        assert busy == expected
