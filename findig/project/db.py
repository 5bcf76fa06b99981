"""The project's database: the shared model base, engines and sessions.

This module requires SQLAlchemy 2 (``pip install "findig[project]"``).

- :class:`Model` is the declarative base of every app's models. All models
  share one :class:`~sqlalchemy.MetaData` (:data:`metadata`) with a
  constraint naming convention (:data:`NAMING_CONVENTION`), so that Alembic
  can alter constraints by name, also in batch mode on SQLite.
- :func:`get_engine` makes (once per URL) the engine for
  ``settings.DATABASE_URL``: ``pool_pre_ping=True``; on SQLite a 20 s busy
  timeout (``connect_args={"timeout": 20}``), ``PRAGMA foreign_keys=ON``,
  write-ahead logging for files, and transactions begun by SQLAlchemy (so
  that savepoints and transactional DDL work); on PostgreSQL a 10 s connect
  timeout.
- :func:`session_scope` is a transaction for commands and scripts.
- :func:`install` gives every request of an app its own session, as
  ``findig.context.ctx.sqla_session`` (what :class:`findig.extras.sql.SQLASet`
  uses). The session is committed just before the response is made when the
  resource succeeded (a failed commit is rolled back and answered 409 for a
  constraint violation, 400 for data the database refuses), rolled back
  otherwise, and always closed. On SQLite, the transactions of writing
  requests (``POST``, ``PUT``, ``PATCH``, ``DELETE``) start with
  ``BEGIN IMMEDIATE``, so that they wait (up to the busy timeout) for
  another writer; reading requests never wait. A database that is
  unreachable or stays locked is answered 503 with ``Retry-After``
  (:class:`DatabaseUnavailable`, :func:`is_unavailable`).

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
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Session, declared_attr, sessionmaker
from werkzeug.exceptions import BadRequest, Conflict, ServiceUnavailable

from findig.content import ErrorHandler
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
    "DatabaseUnavailable",
    "Model",
    "bind_sessions",
    "create_project_engine",
    "dispose_engine",
    "dispose_engines",
    "get_engine",
    "get_sessionmaker",
    "install",
    "is_unavailable",
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


#: The execution option asking the SQLite ``begin`` listener for
#: ``BEGIN IMMEDIATE`` (set on the engine the sessions of writing requests use).
_IMMEDIATE = "findig_sqlite_immediate"


def _on_sqlite_connect(wal: bool, foreign_keys: bool) -> Callable[[Any, Any], None]:
    def connect(dbapi_connection: Any, record: Any) -> None:
        # PERF/correctness: pysqlite's own transaction handling defers BEGIN
        # and breaks SAVEPOINTs; SQLAlchemy emits BEGIN itself (see below).
        # (The busy timeout is the driver's ``timeout`` connect argument.)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()

    return connect


def _on_sqlite_begin(connection: Connection) -> None:
    # A deferred BEGIN takes no lock: a transaction that has read and then
    # writes while another connection writes fails at once with SQLITE_BUSY
    # (SQLite cannot wait: the other writer may be waiting for it). BEGIN
    # IMMEDIATE takes the write lock first, waiting up to the busy timeout.
    if connection.get_execution_options().get(_IMMEDIATE):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def create_project_engine(url: str, **options: Any) -> Engine:
    """Create an engine the way :func:`get_engine` does, without caching it.

    :param url: A SQLAlchemy database URL.
    :param options: Keyword arguments for :func:`sqlalchemy.create_engine`;
        ``foreign_keys=False`` leaves SQLite's foreign key checks off (for
        migrations, which rebuild tables). SQLite's busy timeout is
        ``connect_args={"timeout": seconds}`` (20 by default).
    """
    parsed = make_url(url)
    foreign_keys = options.pop("foreign_keys", True)
    options.setdefault("pool_pre_ping", True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        connect_args = dict(options.pop("connect_args", {}))
        # Below gunicorn's worker timeout (30 s in generated projects): a
        # write that waited that long for the lock still answers (503).
        connect_args.setdefault("timeout", 20)
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
#: The methods whose requests write (their SQLite transactions begin
#: ``IMMEDIATE``).
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


class DatabaseUnavailable(ServiceUnavailable):
    """503: the database cannot be reached, or stays locked by other
    writers beyond the busy timeout (see :func:`is_unavailable`); the
    client may try again after ``Retry-After`` seconds
    (``settings.DATABASE_RETRY_AFTER``)."""

    description = "The database is busy or unreachable; try again later."


# SQLite's primary result codes for a lock held by another connection
# (SQLITE_BUSY) or by the same one (SQLITE_LOCKED), with their messages for
# Pythons without ``sqlite3.Error.sqlite_errorcode`` (before 3.11).
_SQLITE_BUSY_CODES = frozenset({5, 6})
_SQLITE_BUSY_MESSAGES = (
    "database is locked",
    "database table is locked",
    "database schema is locked",
)
# PostgreSQL SQLSTATEs of a server that cannot serve now: class 08
# (connection exceptions), too many connections, lock_timeout expired, and
# the server shutting down, crashed or starting up.
_PG_UNAVAILABLE_STATES = frozenset({"53300", "55P03", "57P01", "57P02", "57P03"})


def is_unavailable(exc: BaseException) -> bool:
    """Whether *exc* says the database is unavailable for now, rather than
    that the request or the code is wrong.

    These are: a connection SQLAlchemy found dead
    (:attr:`~sqlalchemy.exc.DBAPIError.connection_invalidated`); a connection
    pool exhausted beyond its timeout (:class:`sqlalchemy.exc.TimeoutError`);
    on SQLite, a lock the busy timeout did not outlast (``SQLITE_BUSY``,
    ``SQLITE_LOCKED``); on PostgreSQL, an error raised by the driver itself
    (no SQLSTATE: the server refused the connection, did not answer within
    the connect timeout, or went away), or a SQLSTATE of class ``08``
    (connection), ``53300`` (too many connections), ``55P03`` (lock
    timeout), ``57P01``, ``57P02`` or ``57P03`` (shut down, crashed,
    starting up). Anything else (a missing table or column, a constraint, a
    syntax error: SQLite reports some of these as ``OperationalError`` too)
    is not: a 500, since retrying would not help.

    :param exc: An exception, usually a :class:`sqlalchemy.exc.SQLAlchemyError`.
    """
    if isinstance(exc, PoolTimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is None:
            return str(orig).startswith(_SQLITE_BUSY_MESSAGES)
        return code & 0xFF in _SQLITE_BUSY_CODES
    for attribute in ("sqlstate", "pgcode"):  # psycopg 3, psycopg2
        if hasattr(orig, attribute):
            sqlstate = getattr(orig, attribute)
            if sqlstate is None:
                return isinstance(exc, OperationalError)
            return sqlstate.startswith("08") or sqlstate in _PG_UNAVAILABLE_STATES
    return False


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


def _answer_unavailable(retry_after: int) -> Callable[[Exception], Any]:
    """The app's error handler for database errors: 503 for those of
    :func:`is_unavailable`, the usual 500 for the others."""

    def answer(exc: Exception) -> Any:
        if not is_unavailable(exc):
            raise exc
        # The driver's message only: the statement's parameters stay out.
        logger.warning("The database is unavailable: %s", getattr(exc, "orig", exc))
        raise DatabaseUnavailable(retry_after=retry_after) from None

    return answer


def _session_arguments(factory: sessionmaker[Session]) -> dict[str, Any]:
    """The arguments making *factory*'s sessions begin with ``BEGIN
    IMMEDIATE`` on SQLite: an engine bind with the option (an engine on
    another database, or a connection bound by :func:`bind_sessions`,
    needs nothing)."""
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine) and bind.dialect.name == "sqlite":
        return {"bind": bind.execution_options(**{_IMMEDIATE: True})}
    return {}


def install(app: App) -> None:
    """Give each request of *app* its own database session.

    The session is ``findig.context.ctx.sqla_session``. It is committed by a
    success hook (:meth:`findig.App.success_hook`): after the resource
    succeeded and before the response is made, so a failed commit is
    answered as an error (409 for a constraint violation, 400 for refused
    data) with nothing half-written.
    When the resource fails, the session is rolled back; it is always
    closed after the response. Installing twice does nothing.

    On SQLite, the sessions of ``POST``, ``PUT``, ``PATCH`` and ``DELETE``
    requests begin their transactions with ``BEGIN IMMEDIATE``: a write
    waits for another connection's write (up to the busy timeout) instead
    of failing when it follows a read. Other requests begin deferred
    transactions, which never wait for a writer.

    When *app*'s error handler is a :class:`findig.content.ErrorHandler`
    (the default) with no handler of its own for
    :class:`sqlalchemy.exc.DBAPIError` or :class:`sqlalchemy.exc.TimeoutError`,
    one is registered: the errors of :func:`is_unavailable` answer 503
    (:class:`DatabaseUnavailable`) with ``Retry-After:
    settings.DATABASE_RETRY_AFTER``; other database errors answer 500 as
    before.

    The session factory is chosen now (see :func:`get_sessionmaker`).

    :param app: A :class:`findig.App`, before its first request.
    """
    if getattr(app, "_findig_db_installed", False):
        return
    factory = get_sessionmaker()
    writing = _session_arguments(factory)

    def sqla_session() -> Iterator[Session]:
        # PERF: the bind for writes is made once; only SQLite looks at the
        # method.
        state = current_state() if writing else None
        if state is not None and state.request.method in _WRITE_METHODS:
            session = factory(**writing)
        else:
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
    handler = app.error_handler
    if isinstance(handler, ErrorHandler):
        answer = _answer_unavailable(int(settings.DATABASE_RETRY_AFTER))
        for error in (DBAPIError, PoolTimeoutError):
            if error not in handler.handlers:
                handler.register(error, answer)
    app._findig_db_installed = True  # type: ignore[attr-defined]
