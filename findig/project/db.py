"""The project's database: the shared model base, engines and sessions.

This module requires SQLAlchemy 2 (``pip install "findig[project]"``).

- :class:`Model` is the declarative base of every app's models. All models
  share one :class:`~sqlalchemy.MetaData` (:data:`metadata`) with a
  constraint naming convention (:data:`NAMING_CONVENTION`), so that Alembic
  can alter constraints by name, also in batch mode on SQLite.
- :func:`get_engine` makes (once per URL) the engine for
  ``settings.DATABASE_URL``: ``pool_pre_ping=True``; on SQLite a 30 s busy
  timeout, ``PRAGMA foreign_keys=ON``, write-ahead logging for files, and
  transactions begun by SQLAlchemy (so that savepoints and transactional
  DDL work); on PostgreSQL a 10 s connect timeout.
- :func:`session_scope` is a transaction for commands and scripts.
- :func:`install` gives every request of an app its own session, as
  ``findig.context.ctx.sqla_session`` (what :class:`findig.extras.sql.SQLASet`
  uses). The session is committed just before the response is made when the
  resource succeeded (a failed commit is rolled back and answered 409 for a
  constraint violation, 400 for data the database refuses), rolled back
  otherwise, and always closed.

A model::

    from sqlalchemy import String
    from sqlalchemy.orm import Mapped, mapped_column
    from findig.project.db import Model

    class Task(Model):
        __tablename__ = "tasks"     # default: the class name in snake_case

        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(150))
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, declared_attr, sessionmaker
from werkzeug.exceptions import BadRequest, Conflict

from findig.context import current_state
from findig.extras.sql import MANAGED_SESSION_KEY as _SQL_MANAGED_SESSION_KEY

from .conf import settings

if TYPE_CHECKING:
    from findig.app import App

__all__ = [
    "MANAGED_SESSION_KEY",
    "NAMING_CONVENTION",
    "CommitConflict",
    "CommitFailed",
    "Model",
    "bind_sessions",
    "create_project_engine",
    "dispose_engine",
    "dispose_engines",
    "get_engine",
    "get_sessionmaker",
    "install",
    "metadata",
    "ping",
    "session_scope",
]

logger = logging.getLogger("findig.project.db")

#: Names for constraints and indexes, so that migrations can refer to them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The ``Session.info`` key telling :class:`findig.extras.sql.SQLASet` that
#: the request's session is committed by the application, not per operation.
#: (The same as :data:`findig.extras.sql.MANAGED_SESSION_KEY`.)
MANAGED_SESSION_KEY = _SQL_MANAGED_SESSION_KEY

#: The metadata shared by every model of the project.
metadata = MetaData(naming_convention=NAMING_CONVENTION)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _snake_case(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


class Model(DeclarativeBase):
    """The declarative base of a project's models (SQLAlchemy 2 style).

    The table name defaults to the class name in snake case (``TaskList`` →
    ``task_list``); set ``__tablename__`` to choose it. Models take their
    column values as keyword arguments, as :class:`findig.extras.sql.SQLASet`
    expects.

    >>> from sqlalchemy import Integer
    >>> from sqlalchemy.orm import mapped_column
    >>> class DocTestThing(Model):
    ...     id = mapped_column(Integer, primary_key=True)
    >>> DocTestThing.__table__.name
    'doc_test_thing'
    >>> metadata.remove(DocTestThing.__table__)
    """

    metadata = metadata

    @declared_attr.directive
    def __tablename__(cls) -> str | None:  # noqa: N805 - a class attribute
        # Subclasses sharing their parent's table (single-table inheritance)
        # have no table of their own.
        klass: Any = cls
        for base in klass.__mro__[1:]:
            if (
                base is not Model
                and "__table__" in vars(base)
                and "__tablename__" not in vars(klass)
            ):
                return None
        return _snake_case(klass.__name__)


# -- engines ------------------------------------------------------------------

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _on_sqlite_connect(wal: bool, foreign_keys: bool) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, record: Any) -> None:
        # PERF/correctness: pysqlite's own transaction handling defers BEGIN
        # and breaks SAVEPOINTs; SQLAlchemy emits BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute("PRAGMA busy_timeout=30000")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    return connect


def _on_sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def create_project_engine(url: str, **options: Any) -> Engine:
    """Create an engine the way :func:`get_engine` does, without caching it.

    :param url: A SQLAlchemy database URL.
    :param options: Keyword arguments for :func:`sqlalchemy.create_engine`;
        ``foreign_keys=False`` leaves SQLite's foreign key checks off (for
        migrations, which rebuild tables).
    """
    parsed = make_url(url)
    foreign_keys = options.pop("foreign_keys", True)
    options.setdefault("pool_pre_ping", True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("timeout", 30)
        engine = create_engine(parsed, connect_args=connect_args, **options)
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file::memory")
        event.listen(
            engine, "connect", _on_sqlite_connect(not in_memory, bool(foreign_keys))
        )
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    if backend == "postgresql":
        connect_args = dict(options.pop("connect_args", {}))
        connect_args.setdefault("connect_timeout", 10)
        return create_engine(parsed, connect_args=connect_args, **options)
    return create_engine(parsed, **options)


def get_engine(url: str | None = None) -> Engine:
    """Return the engine for *url* (default ``settings.DATABASE_URL``),
    created once per URL with ``settings.DATABASE_OPTIONS``.

    :param url: A SQLAlchemy database URL.
    """
    if url is None:
        url = settings.DATABASE_URL
    options = settings.DATABASE_OPTIONS or {}
    key = url if not options else f"{url}\0{json.dumps(options, sort_keys=True)}"
    engine = _engines.get(key)
    if engine is None:
        with _engines_lock:
            engine = _engines.get(key)
            if engine is None:
                engine = create_project_engine(url, **dict(options))
                _engines[key] = engine
    return engine


def dispose_engine(url: str) -> None:
    """Close the connections of the engines made for *url* by
    :func:`get_engine`, and forget them."""
    with _engines_lock:
        keys = [k for k in _engines if k == url or k.startswith(url + "\0")]
        engines = [_engines.pop(k) for k in keys]
    for engine in engines:
        engine.dispose()


def dispose_engines() -> None:
    """Close the connections of every engine made by :func:`get_engine` and
    forget them (tests; after forking)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


# -- sessions -----------------------------------------------------------------

_bindings: list[sessionmaker[Session]] = []


def get_sessionmaker() -> sessionmaker[Session]:
    """The session factory for ``settings.DATABASE_URL`` (or for the
    connection given to :func:`bind_sessions`, in tests).

    Sessions do not expire their objects on commit, so data read before a
    commit can still be formatted after it.
    """
    if _bindings:
        return _bindings[-1]
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def bind_sessions(connection: Connection) -> Iterator[sessionmaker[Session]]:
    """Make sessions created meanwhile use *connection*, committing to
    savepoints inside its transaction.

    This is how the pytest ``db`` fixture rolls back everything a test did
    on PostgreSQL: it begins a transaction, binds the sessions to it, and
    rolls it back at the end. Applications built (and :func:`session_scope`
    blocks entered) inside the ``with`` block use the connection.

    :param connection: A connection, usually inside a transaction.
    """
    factory = sessionmaker(
        bind=connection,
        expire_on_commit=False,
        join_transaction_mode="create_savepoint",
    )
    _bindings.append(factory)
    try:
        yield factory
    finally:
        _bindings.remove(factory)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session in a transaction, for commands and scripts: committed when
    the block succeeds, rolled back when it raises, closed in any case.

    ::

        with session_scope() as session:
            session.add(Task(title="Write the docs"))
    """
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def ping(session: Session | None = None) -> bool:
    """Whether the database answers ``SELECT 1``.

    :param session: The session to ask through; by default a new one.
    """
    own = session is None
    if session is None:
        session = get_sessionmaker()()
    try:
        session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError as exc:
        logger.warning("The database is unreachable: %s", exc)
        with suppress(SQLAlchemyError):
            session.rollback()
        return False
    finally:
        if own:
            session.close()


class CommitConflict(Conflict):
    """409: committing the request's changes violated a constraint (a
    duplicate of a unique value, a reference to a missing record); nothing
    was saved."""

    description = (
        "The change conflicts with the stored data (a uniqueness or reference "
        "constraint failed); nothing was saved."
    )


class CommitFailed(BadRequest):
    """400: the database refused the request's data (a value out of range
    or of the wrong type); nothing was saved."""

    description = "The database refused the data; nothing was saved."


def _commit() -> None:
    state = current_state()
    session = getattr(state, "sqla_session", None) if state is not None else None
    # PERF: nothing to do for requests that never touched the database.
    if session is None or not session.in_transaction():
        return
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        logger.info("Commit refused (constraint): %s", exc.orig)
        raise CommitConflict() from None
    except DataError as exc:
        session.rollback()
        logger.info("Commit refused (data): %s", exc.orig)
        raise CommitFailed() from None
    except BaseException:
        session.rollback()
        raise


def install(app: App) -> None:
    """Give each request of *app* its own database session.

    The session is ``findig.context.ctx.sqla_session``. It is committed by a
    success hook (:meth:`findig.App.success_hook`): after the resource
    succeeded and before the response is made, so a failed commit is
    answered as an error (409 for a constraint violation, 400 for refused
    data) with nothing half-written.
    When the resource fails, the session is rolled back; it is always
    closed after the response. Installing twice does nothing.

    The session factory is chosen now (see :func:`get_sessionmaker`).

    :param app: A :class:`findig.App`, before its first request.
    """
    if getattr(app, "_findig_db_installed", False):
        return
    factory = get_sessionmaker()

    def sqla_session() -> Iterator[Session]:
        session = factory()
        # Tells SQLASet the request owns the transaction: it flushes its
        # changes and leaves the commit to _commit().
        session.info[MANAGED_SESSION_KEY] = True
        try:
            yield session
        finally:
            session.close()

    app.context(sqla_session)
    app.success_hook(_commit)
    app._findig_db_installed = True  # type: ignore[attr-defined]
