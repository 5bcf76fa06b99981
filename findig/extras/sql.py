"""Tools for working with SQLAlchemy.

This module requires SQLAlchemy (2.x) and raises :class:`ImportError` if it
is not installed; install it with ``pip install "findig[sql]"``.

:class:`SQLA` ties a database to a Findig app: it gives you a declarative
base for your models, one session per request (committed when the request
succeeds, rolled back otherwise) and creates your tables on the first
request. :class:`SQLASet` is a :class:`~findig.tools.dataset.MutableDataSet`
of the rows of a mapped class, which a lazy resource can return::

    db = SQLA("sqlite:///tasks.sqlite", app=app)

    class Task(db.Base):
        id = Column(Integer, primary_key=True)
        title = Column(String(150), nullable=False)

    @app.route("/tasks/<id>")
    @app.resource(lazy=True)
    def task(id):
        return tasks().fetch(id=id)

    @app.route("/tasks/")
    @task.collection(lazy=True)
    def tasks():
        return SQLASet(Task)

The session :class:`SQLA` opens for a request is committed once, at the end
of the request; it is marked by ``session.info[MANAGED_SESSION_KEY] = True``
so that :class:`SQLASet` only flushes its operations. Code that opens its own
per-request session and commits it itself (as :mod:`findig.project.db` does)
sets the same key; on a session without it, :class:`SQLASet` commits after
every operation.
"""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

try:
    import sqlalchemy
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "findig.extras.sql requires SQLAlchemy: pip install 'findig[sql]'"
    ) from exc

from sqlalchemy import Column, DateTime, String, false, func, select, true
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    NoInspectionAvailable,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Session,
    declared_attr,
    has_inherited_table,
    sessionmaker,
)
from werkzeug.exceptions import BadRequest

from findig.context import current_state
from findig.resource import merge_patch
from findig.tools.dataset import (
    _MISSING,
    AbstractDataSet,
    MutableDataSet,
    MutableRecord,
    _check_limit,
    _combine_limits,
    _convert,
    _describe_spec,
    _parse_sort_spec,
    _require_mapping,
)

__all__ = ["MANAGED_SESSION_KEY", "SQLA", "SQLARecord", "SQLASet"]

#: The ``Session.info`` key marking a request's session as committed by the
#: application at the end of the request: :class:`SQLASet` operations on it
#: only flush, instead of committing each operation.
MANAGED_SESSION_KEY = "findig.sqla.managed"
#: ``MetaData.info`` key pointing back to the helper that owns a Base.
_HELPER_KEY = "findig.sqla.helper"
# How a data set got its session.
_MANAGED = "managed"  # the request's, committed by the app at the end
_UNMANAGED = "unmanaged"  # set by the application: committed per operation
_STANDALONE = "standalone"  # outside a request: a short-lived session
# PERF: rows are fetched from the database in batches of this size while a
# collection is formatted, instead of all at once.
_BATCH_SIZE = 1000
_helper_ids = itertools.count(1)


def _table_name(class_name: str) -> str:
    """``Task`` → ``task``; ``TaskList`` → ``task_list``; ``HTTPLog`` →
    ``http_log``."""
    return re.sub(
        r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", class_name
    ).lower()


def _make_base(helper: SQLA) -> type[DeclarativeBase]:
    class Base(DeclarativeBase):
        """The declarative base of an :class:`SQLA` helper's models.

        A model without ``__tablename__`` gets one derived from its class
        name (``TaskList`` → ``task_list``); a subclass of a mapped model
        without one shares its parent's table (single-table inheritance).
        """

        @declared_attr.directive
        def __tablename__(cls) -> str | None:  # noqa: N805 - a class directive
            if has_inherited_table(cast(type, cls)):
                return None
            return _table_name(cls.__name__)

    Base.metadata.info[_HELPER_KEY] = helper
    return Base


class SQLA:
    """A helper class for declaring SQLAlchemy ORM models for Findig apps.

    This object will handle the creation and destruction of the SQLAlchemy
    session automatically, with the downside that a session is created on
    every request (regardless as to whether it is used; creating one does
    not touch the database).

    After you create one of these, you can declare your ORM models by
    subclassing ``sqla.Base``::

        db = SQLA("sqlite:///mydbfile.db", app=app)

        class User(db.Base):
            id = Column(Integer, primary_key=True)
            name = Column(String(150))

    :param engine: A database URL (string or :class:`sqlalchemy.engine.URL`)
        or a :class:`sqlalchemy.engine.Engine`.
    :param app: A Findig application that the database helper should hook
        into. When provided, the helper sets up and tears down a session
        for each request to that app (see :meth:`init_app`). It will also
        create database tables on the first request to the application, if
        ``auto_create=True``.
    :param auto_create: If ``True``, all of the tables declared will be
        created on the first request received. This only adds new tables and
        does not update a database schema; use a tool like Alembic for that.
    :param auto_flush: If ``True``, all queries made through the session
        will flush the session first, before issuing the query. See
        :class:`sqlalchemy.orm.Session`.

    Sessions are made with ``expire_on_commit=False`` so that data read
    during a request stays readable after the request's commit.
    """

    #: The declarative base for this helper's models (a fresh
    #: :class:`sqlalchemy.orm.DeclarativeBase` with its own metadata).
    Base: type[DeclarativeBase]

    def __init__(
        self,
        engine: str | URL | Engine,
        app: Any = None,
        auto_create: bool = True,
        auto_flush: bool = True,
    ) -> None:
        if isinstance(engine, (str, URL)):
            engine = sqlalchemy.create_engine(engine)
        elif not isinstance(engine, Engine):
            raise TypeError(
                f"SQLA needs a database URL or an Engine, not {type(engine).__name__}"
            )
        self.engine: Engine = engine
        self.auto_create = auto_create
        self._session_factory: sessionmaker[Session] = sessionmaker(
            bind=engine, autoflush=auto_flush, expire_on_commit=False
        )
        self.Base = _make_base(self)
        # The attribute of the request state holding this helper's session.
        self._state_attr = f"_findig_sqla_{next(_helper_ids)}"
        if app is not None:
            self.init_app(app)

    def __repr__(self) -> str:
        return f"<SQLA {self.engine.url.render_as_string(hide_password=True)!r}>"

    def init_app(self, app: Any) -> None:
        """Hook the helper into *app* (done for you by the ``app`` argument).

        For every request to the app, a session is created (and set as
        ``ctx.sqla_session``); when the request's resource has run without
        an error, the session is committed, just before the response is
        made (commit errors of constraints then answer 400 with
        :class:`SQLASet.CommitError`); whatever happens, the session is
        closed after the request, which rolls back anything uncommitted.
        With ``auto_create``, the tables are created before the first
        request.

        :param app: A :class:`findig.App`, before its first request.
        :raises RuntimeError: if the app has already handled a request.
        """
        attr = self._state_attr
        factory = self._session_factory

        def sqla_session() -> Iterator[Session]:
            session = factory()
            session.info[_HELPER_KEY] = self
            session.info[MANAGED_SESSION_KEY] = True
            state = current_state()
            setattr(state, attr, session)
            try:
                yield session
            finally:
                session.close()

        app.context(sqla_session)
        app.success_hook(self._commit_request)
        if self.auto_create:
            app.startup_hook(self.create_all)

    def _commit_request(self) -> None:
        """Success hook: commit the request's session before the response."""
        state = current_state()
        session = getattr(state, self._state_attr, None) if state is not None else None
        if session is not None and session.in_transaction():
            _commit(session)

    def configure_session_factory(self, **kwargs: Any) -> None:
        """You can configure the helper's internal session factory here.

        Calling this will affect the way sessions are generated for future
        requests.

        :param kwargs: Arguments of :meth:`sqlalchemy.orm.sessionmaker.configure`
            (for example ``expire_on_commit=True`` or ``info={...}``).
        """
        self._session_factory.configure(**kwargs)

    def create_all(self, checkfirst: bool = True) -> None:
        """Create all of the database tables.

        :param checkfirst: If ``True``, the tables are only created if they
            don't already exist. Otherwise, they are overwritten: existing
            tables (and their data) are dropped first.
        """
        metadata = self.Base.metadata
        if not checkfirst:
            metadata.drop_all(self.engine)
        metadata.create_all(self.engine, checkfirst=checkfirst)

    @contextmanager
    def transaction(
        self, new_session: bool = False, auto_rollback: bool = True
    ) -> Iterator[Session]:
        """A with statement context manager for an SQLAlchemy session.

        The session is committed as soon as the with statement exits
        without an error.

        :param new_session: If ``True``, a brand new SQLAlchemy session is
            created (and closed afterwards); this works outside requests
            too. The default behavior uses the session that the helper
            created for the current request.
        :param auto_rollback: If ``True``, an exception raised in the with
            statement rolls the session back (and propagates).
        :raises SQLASet.CommitError: if the commit breaks a constraint (the
            session is rolled back).

        Usage::

            with db.transaction() as session:
                session.add(User(name="Te-je"))
        """
        session = self._session_factory() if new_session else self.session
        try:
            yield session
        except BaseException:
            if auto_rollback:
                session.rollback()
            raise
        else:
            _commit(session)
        finally:
            if new_session:
                session.close()

    @property
    def session(self) -> Session:
        """The SQLAlchemy session for the current request.

        :raises RuntimeError: outside a request, or when the app was not
            hooked up (``app=``) and ``ctx.sqla_session`` is not set.
        """
        state = current_state()
        if state is None:
            raise RuntimeError(
                "SQLA.session is only available during a request; outside one, "
                "use 'with db.transaction(new_session=True) as session:'."
            )
        session = getattr(state, self._state_attr, None)
        if session is None:
            session = getattr(state, "sqla_session", None)
        if session is None:
            raise RuntimeError(
                "There is no SQLAlchemy session for this request: pass the app "
                "to SQLA(..., app=app) or set ctx.sqla_session."
            )
        return cast(Session, session)


def _commit(session: Session, info: _ModelInfo | None = None) -> None:
    """Commit *session*; roll back and raise CommitError on bad data."""
    try:
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        error = _client_error(exc, info)
        if error is None:
            raise
        raise error from exc


# -- describing database errors -------------------------------------------------

_PG_CONSTRAINTS = {
    "23502": "not_null",
    "23505": "unique",
    "23503": "foreign_key",
    "23514": "check",
    "23P01": "exclusion",
}
_SQLITE_CONSTRAINT = re.compile(
    r"(NOT NULL|UNIQUE|CHECK|FOREIGN KEY|PRIMARY KEY) constraint failed(?::\s*(.*))?",
    re.IGNORECASE,
)
_PG_KEY_DETAIL = re.compile(r"Key \((.+?)\)=")


def _integrity_details(orig: Any) -> tuple[str, list[str], str | None]:
    """The kind of constraint, the column names and the constraint name
    named by a DB-API integrity error (PostgreSQL or SQLite)."""
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        diag = getattr(orig, "diag", None)
        column = getattr(diag, "column_name", None)
        constraint = getattr(diag, "constraint_name", None)
        names = [column] if column else []
        if not names:
            match = _PG_KEY_DETAIL.match(getattr(diag, "message_detail", None) or "")
            if match:
                names = [n.strip().strip('"') for n in match.group(1).split(",")]
        return _PG_CONSTRAINTS.get(sqlstate, "constraint"), names, constraint
    match = _SQLITE_CONSTRAINT.search(str(orig))
    if match is None:
        return "constraint", [], None
    kind = match.group(1).lower().replace(" ", "_")
    rest = (match.group(2) or "").strip()
    if kind == "primary_key":
        kind = "unique"
    if kind == "check":
        return kind, [], rest or None
    if kind in ("not_null", "unique"):
        return kind, [part.strip().rsplit(".", 1)[-1] for part in rest.split(",")], None
    return kind, [], None


def _fields_text(fields: list[str]) -> str:
    if not fields:
        return "a field"
    quoted = ", ".join(f"'{f}'" for f in fields)
    return f"field {quoted}" if len(fields) == 1 else f"fields {quoted}"


def _describe(
    exc: BaseException, info: _ModelInfo | None = None
) -> tuple[str, dict[str, Any]]:
    """A description of a database error for clients: no SQL, no values."""
    if isinstance(exc, IntegrityError):
        kind, names, constraint = _integrity_details(exc.orig)
        fields = [info.key_for_column(n) for n in names] if info else names
        text = _fields_text(fields)
        if kind == "not_null":
            message = f"A value is required for {text}."
        elif kind == "unique":
            message = f"Another record already has the same value for {text}."
        elif kind == "foreign_key":
            message = (
                f"The value of {text} refers to a record that does not exist."
                if fields
                else "A field refers to a record that does not exist."
            )
        elif kind == "check" and constraint:
            message = f"The data fails the database check '{constraint}'."
        else:
            message = "The data breaks a constraint of the database."
        error: dict[str, Any] = {
            "type": "constraint_violation",
            "constraint": kind,
            "fields": fields,
        }
        return message, error
    return (
        "A value does not suit its field in the database "
        "(wrong type, out of range or too long).",
        {"type": "invalid_value", "fields": []},
    )


def _client_error(
    exc: SQLAlchemyError, info: _ModelInfo | None = None
) -> SQLASet.CommitError | None:
    """The CommitError for a database error caused by the data, if it is one.

    Errors of the server (lost connections, locks, missing tables) are not
    the client's fault; they stay as they are (and answer 500, or 503 in a
    project for a database that is unreachable or locked: see
    :func:`findig.project.db.is_unavailable`).
    """
    if isinstance(exc, (IntegrityError, DataError)):
        return SQLASet.CommitError(exc, info=info)
    if isinstance(exc, StatementError) and isinstance(
        exc.orig, (TypeError, ValueError, OverflowError)
    ):
        # A value the driver could not convert, such as text for a date.
        return SQLASet.CommitError(exc, info=info)
    return None


# -- model introspection ---------------------------------------------------------

_TYPE_NAMES: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    Decimal: "a number",
    str: "a string",
    datetime: "a date and time (ISO 8601)",
    date: "a date (ISO 8601)",
    time: "a time (ISO 8601)",
    UUID: "a UUID",
}
# Types whose JSON form (as Findig writes it) is a string.
_FROM_STRING = (datetime, date, time, Decimal, UUID)
# The integers every database's widest integer column (64 bits) can hold;
# drivers raise OverflowError (not a database error) beyond them.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _unstorable(value: Any) -> str | None:
    """Why no database can store *value* (an integer beyond 64 bits, text
    with lone surrogates, which has no UTF-8 form), or ``None``."""
    kind = type(value)
    if kind is int and not _INT_MIN <= value <= _INT_MAX:
        return "is out of range"
    if kind is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid text"
    return None


@dataclass(frozen=True)
class _Field:
    """A mapped column of a model, as SQLASet reads and writes it."""

    key: str
    name: str
    primary: bool
    writable: bool
    python_type: type | None
    length: int | None
    naive_datetime: bool

    def convert(self, value: Any) -> Any:
        """Check and convert a value to store; ``_MISSING`` if it is unfit."""
        if value is None:
            return None
        python_type = self.python_type
        if python_type is None:
            return value
        if not isinstance(value, python_type):
            if isinstance(value, str) and issubclass(python_type, _FROM_STRING):
                value = _convert(value, python_type)
            elif issubclass(python_type, (float, Decimal)) and isinstance(
                value, (int, float)
            ):
                pass
            else:
                return _MISSING
            if value is _MISSING:
                return _MISSING
        if self.naive_datetime and value.tzinfo is not None:
            # A naive column stores UTC: keep the instant, not the wall time.
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def search_value(self, value: Any) -> Any:
        """Convert a search value (maybe a URL string) for comparison."""
        python_type = self.python_type
        if python_type is None or isinstance(value, python_type):
            converted = value
        elif isinstance(value, str):
            converted = _convert(value, python_type)
        else:
            return value
        if (
            self.naive_datetime
            and isinstance(converted, datetime)
            and converted.tzinfo is not None
        ):
            converted = converted.astimezone(timezone.utc).replace(tzinfo=None)
        return converted


class _ModelInfo:
    """What SQLASet needs to know about a mapped class, computed once."""

    def __init__(self, orm_cls: type) -> None:
        try:
            mapper: Any = sa_inspect(orm_cls)
        except NoInspectionAvailable:
            raise TypeError(
                f"SQLASet needs a mapped SQLAlchemy class, not {orm_cls!r}"
            ) from None
        self.fields: dict[str, _Field] = {}
        by_column: dict[str, str] = {}
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            writable = isinstance(column, Column)
            python_type = _python_type(column.type)
            length = getattr(column.type, "length", None) if writable else None
            self.fields[prop.key] = _Field(
                key=prop.key,
                name=getattr(column, "name", prop.key),
                primary=bool(getattr(column, "primary_key", False)),
                writable=writable,
                python_type=python_type,
                length=length if isinstance(column.type, String) else None,
                naive_datetime=isinstance(column.type, DateTime)
                and not column.type.timezone,
            )
            by_column[self.fields[prop.key].name] = prop.key
        self.by_column = by_column
        self.primary_key = tuple(
            mapper.get_property_by_column(column).key for column in mapper.primary_key
        )
        metadata = getattr(orm_cls, "metadata", None)
        helper = metadata.info.get(_HELPER_KEY) if metadata is not None else None
        self.helper: SQLA | None = helper if isinstance(helper, SQLA) else None

    def key_for_column(self, name: str) -> str:
        return self.by_column.get(name, name)


def _python_type(sql_type: Any) -> type | None:
    try:
        python_type = sql_type.python_type
    except (NotImplementedError, AttributeError):
        return None
    return python_type if python_type in _TYPE_NAMES else None


_infos: weakref.WeakKeyDictionary[type, _ModelInfo] = weakref.WeakKeyDictionary()
_infos_lock = threading.Lock()


def _model_info(orm_cls: type) -> _ModelInfo:
    # PERF: resource functions create an SQLASet per request; the mapping is
    # inspected once per class.
    info = _infos.get(orm_cls)
    if info is None:
        with _infos_lock:
            info = _infos.get(orm_cls)
            if info is None:
                info = _infos[orm_cls] = _ModelInfo(orm_cls)
    return info


# -- the data set ------------------------------------------------------------------


@dataclass(frozen=True)
class _Stage:
    """One level of query: WHERE, ORDER BY, then LIMIT/OFFSET.

    An operation that must apply after a LIMIT (a filter or a sort) starts a
    new stage, selected from the previous one as a subquery, so that the
    operations keep the order in which they were called.
    """

    where: tuple[tuple[str, Any], ...] = ()
    order: tuple[tuple[str, bool], ...] = ()
    window: tuple[int, int] | None = None  # (count, offset)


class SQLASet(MutableDataSet):
    """An implementation of :class:`findig.tools.dataset.MutableDataSet`
    for the rows of a mapped SQLAlchemy class.

    This class assumes that you've used the :class:`SQLA` helper to
    generate your database sessions. If you haven't, then you must set the
    request context variable ``sqla_session`` on
    :data:`findig.context.ctx`; the set then commits that session after each
    change it makes. Outside a request, a set whose model was declared on an
    :class:`SQLA`'s ``Base`` uses a short-lived session of its own for each
    operation (handy in scripts and tests).

    :param orm_cls: A mapped SQLAlchemy orm class for the type of records
        this set should return. If you've used :class:`SQLA` to declare your
        model, then the class you pass here should be a subclass of
        ``sqla.Base``. If you haven't, then ensure that the mapped class
        takes field names as keyword arguments.

    Records are :class:`SQLARecord` mappings of the mapped columns' values.
    :meth:`filtered` (by value), :meth:`sorted` (by fields) and
    :meth:`limit` are done by the database (``WHERE``, ``ORDER BY ... NULLS
    LAST``, ``LIMIT``/``OFFSET``, with subqueries to keep the order of
    calls); predicates and key functions are applied in Python to the rows
    the database returns. Without a sort, rows come in primary key order,
    which also breaks ties.

    Search values are converted to the column's type (so a URL's ``"1"``
    finds the row with the integer id 1). Data written is checked against
    the schema first: unknown fields, values of the wrong type (date/time,
    decimal and UUID columns also accept their ISO 8601 or text form) and
    strings longer than the column allows are refused with
    :class:`CommitError` naming the field. Timezone-aware datetimes stored
    in a column without time zone are converted to UTC.
    """

    class CommitError(BadRequest):
        """Raised whenever the set cannot successfully add, update or delete
        items.

        It is a :class:`werkzeug.exceptions.BadRequest` (400). Its
        description names the problem (the kind of constraint and the
        fields) without any SQL or values; ``error_info`` has the same
        details for the JSON error body. The wrapped SQLAlchemy error is
        available as ``e.inner`` (for data refused before reaching the
        database, a :class:`ValueError`).

        :param e: The error that prevented the change.
        :param description: The message for the client; by default derived
            from *e*.
        :param error_info: Structured details; by default derived from *e*.
        :param info: (Internal) the model, to name fields by attribute.
        """

        error_info: dict[str, Any]

        def __init__(
            self,
            e: BaseException,
            description: str | None = None,
            error_info: Mapping[str, Any] | None = None,
            *,
            info: _ModelInfo | None = None,
        ) -> None:
            if description is None or error_info is None:
                derived, details = _describe(e, info)
                description = description if description is not None else derived
                error_info = error_info if error_info is not None else details
            super().__init__(description)
            self.inner = e
            self.error_info = dict(error_info)

    _stages: tuple[_Stage, ...]

    def __init__(self, orm_cls: type) -> None:
        self.orm_cls = orm_cls
        self._info = _model_info(orm_cls)
        self._stages = (_Stage(),)

    def __repr__(self) -> str:
        return f"<SQLASet {self.orm_cls.__name__}>"

    def _derive(self, stages: tuple[_Stage, ...]) -> SQLASet:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._stages = stages
        return new

    # -- sessions -------------------------------------------------------------

    def _session(self) -> tuple[Session, str]:
        state = current_state()
        helper = self._info.helper
        if state is not None:
            session = None
            if helper is not None:
                session = getattr(state, helper._state_attr, None)
            if session is None:
                session = getattr(state, "sqla_session", None)
                owner = getattr(session, "info", {}).get(_HELPER_KEY)
                if helper is not None and owner is not None and owner is not helper:
                    session = None  # another helper's: maybe another database
            if session is not None:
                managed = session.info.get(MANAGED_SESSION_KEY)
                return session, _MANAGED if managed else _UNMANAGED
        if helper is None:
            raise RuntimeError(
                f"SQLASet({self.orm_cls.__name__}) has no session: use it during a "
                "request to an app hooked to an SQLA helper, set ctx.sqla_session, "
                "or declare the model on an SQLA's Base to use it outside requests."
            )
        return helper._session_factory(), _STANDALONE

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A session to change data in, flushed (and committed when the set
        manages it) at the end; errors of the data become CommitError."""
        session, mode = self._session()
        try:
            yield session
            session.flush()
            if mode != _MANAGED:
                session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            error = _client_error(exc, self._info)
            if error is None:
                raise
            raise error from exc
        except BaseException:
            if mode != _MANAGED:
                session.rollback()
            raise
        finally:
            if mode == _STANDALONE:
                session.close()

    # -- queries --------------------------------------------------------------

    def __iter__(self) -> Iterator[SQLARecord]:
        session, mode = self._session()
        try:
            dialect = session.get_bind(mapper=sa_inspect(self.orm_cls)).dialect.name
            statement = self._statement(dialect)
            result = session.execute(
                statement, execution_options={"yield_per": _BATCH_SIZE}
            )
            keys = tuple(self._info.fields)  # the order of the SELECT's columns
            try:
                for row in result:
                    yield SQLARecord(self, dict(zip(keys, row, strict=True)))
            finally:
                result.close()
        finally:
            if mode == _STANDALONE:
                session.close()

    def _statement(self, dialect: str) -> Any:
        """Build the SELECT for this set's stages."""
        fields = self._info.fields
        exprs: dict[str, Any] = {key: getattr(self.orm_cls, key) for key in fields}
        statement: Any = None
        last = len(self._stages) - 1
        for index, stage in enumerate(self._stages):
            if index:
                sub = statement.subquery()
                exprs = {key: sub.c[key] for key in fields}
            statement = select(*(expr.label(key) for key, expr in exprs.items()))
            for field, value in stage.where:
                statement = statement.where(self._condition(exprs, field, value))
            if stage.window is not None or index == last:
                statement = statement.order_by(
                    *self._ordering(exprs, stage.order, dialect)
                )
            if stage.window is not None:
                count, offset = stage.window
                statement = statement.limit(count)
                if offset:
                    statement = statement.offset(offset)
        return statement

    def _condition(self, exprs: Mapping[str, Any], field: str, value: Any) -> Any:
        spec = self._info.fields.get(field)
        if spec is None:
            # An unknown field is missing from every record, i.e. None.
            return true() if value is None else false()
        expr = exprs[field]
        if value is None:
            return expr.is_(None)
        converted = spec.search_value(value)
        if converted is _MISSING or _unstorable(converted) is not None:
            # No stored value can equal it (and drivers choke on some).
            return false()
        return expr == converted

    def _ordering(
        self,
        exprs: Mapping[str, Any],
        order: tuple[tuple[str, bool], ...],
        dialect: str,
    ) -> list[Any]:
        terms: list[Any] = []
        seen = set()
        native = dialect in ("postgresql", "sqlite", "oracle")
        for field, descending in order:
            expr = exprs.get(field)
            if expr is None or field in seen:
                continue
            seen.add(field)
            term = expr.desc() if descending else expr.asc()
            if native:
                terms.append(term.nulls_last())
            else:
                terms.extend((expr.is_(None).asc(), term))
        terms.extend(exprs[k].asc() for k in self._info.primary_key if k not in seen)
        return terms

    def _next_stage(self) -> list[_Stage]:
        """The stages, with a fresh last one if an operation must follow a LIMIT."""
        stages = list(self._stages)
        if stages[-1].window is not None:
            stages.append(_Stage(order=stages[-1].order))
        return stages

    def filtered(self, **search_spec: Any) -> MutableDataSet:
        """See :meth:`~findig.tools.dataset.AbstractDataSet.filtered`.

        Values become ``WHERE`` conditions; predicates are applied in Python
        to the rows that the database returns.
        """
        values = {k: v for k, v in search_spec.items() if not callable(v)}
        predicates = {k: v for k, v in search_spec.items() if callable(v)}
        result: MutableDataSet = self
        if values:
            stages = self._next_stage()
            stages[-1] = replace(
                stages[-1], where=stages[-1].where + tuple(values.items())
            )
            result = self._derive(tuple(stages))
        if predicates:
            return AbstractDataSet.filtered(result, **predicates)  # type: ignore[return-value]
        return result

    def sorted(
        self, *sort_spec: str | Callable[[Any], Any], descending: bool = False
    ) -> MutableDataSet:
        """See :meth:`~findig.tools.dataset.AbstractDataSet.sorted`.

        Field names become an ``ORDER BY`` (``NULLS LAST``); a key function
        sorts in Python. Successive sorts make one ``ORDER BY``, the last
        sort's fields first, so fields are sorted in different directions
        by sorting the least significant first:
        ``sorted("title").sorted("due", descending=True)`` is ``ORDER BY
        due DESC NULLS LAST, title ASC NULLS LAST``.
        """
        fields, key = _parse_sort_spec(sort_spec)
        if key is not None:
            return AbstractDataSet.sorted(self, key, descending=descending)  # type: ignore[return-value]
        stages = self._next_stage()
        previous = tuple(o for o in stages[-1].order if o[0] not in fields)
        order = tuple((field, descending) for field in fields) + previous
        stages[-1] = replace(stages[-1], order=order)
        return self._derive(tuple(stages))

    def limit(self, count: int, offset: int = 0) -> MutableDataSet:
        """See :meth:`~findig.tools.dataset.AbstractDataSet.limit`
        (``LIMIT``/``OFFSET``)."""
        _check_limit(count, offset)
        stages = list(self._stages)
        window = stages[-1].window
        stages[-1] = replace(
            stages[-1],
            window=(count, offset)
            if window is None
            else _combine_limits(window, count, offset),
        )
        return self._derive(tuple(stages))

    def count(self) -> int:
        """Count the rows of the set in the database (``SELECT count(*)``
        over the set's query, without its ``ORDER BY``).

        :returns: The number of rows.
        """
        session, mode = self._session()
        try:
            dialect = session.get_bind(mapper=sa_inspect(self.orm_cls)).dialect.name
            statement = self._statement(dialect)
            if self._stages[-1].window is None:
                statement = statement.order_by(None)  # useless for a count
            counting = select(func.count()).select_from(statement.subquery())
            return int(session.execute(counting).scalar_one())
        finally:
            if mode == _STANDALONE:
                session.close()

    # -- changes --------------------------------------------------------------

    def _prepare(self, data: Mapping[str, Any], mode: str) -> dict[str, Any]:
        """Check *data* against the schema and convert its values.

        :param mode: ``"add"`` (the fields given), ``"replace"`` (every
            column but the primary key; missing ones are cleared) or
            ``"patch"`` (the fields given, but the primary key).
        """
        fields = self._info.fields
        unknown = [key for key in data if key not in fields]
        if unknown:
            raise self._refuse(
                f"Unknown {_fields_text(unknown)}.", "unknown_fields", unknown
            )
        if mode == "replace":
            keys = [k for k, f in fields.items() if f.writable and not f.primary]
        else:
            keys = [k for k in data if fields[k].writable]
            if mode == "patch":
                keys = [k for k in keys if not fields[k].primary]
        values = {}
        for key in keys:
            field = fields[key]
            value = field.convert(data.get(key))
            if value is _MISSING:
                python_type = field.python_type
                assert python_type is not None
                raise self._refuse(
                    f"The value of field '{key}' must be {_TYPE_NAMES[python_type]}.",
                    "invalid_fields",
                    [key],
                )
            problem = _unstorable(value)
            if problem is not None:
                raise self._refuse(
                    f"The value of field '{key}' {problem}.", "invalid_fields", [key]
                )
            if (
                field.length is not None
                and isinstance(value, str)
                and len(value) > field.length
            ):
                raise self._refuse(
                    f"The value of field '{key}' is longer than "
                    f"{field.length} characters.",
                    "invalid_fields",
                    [key],
                )
            values[key] = value
        return values

    def _refuse(
        self, message: str, kind: str, fields: list[str]
    ) -> SQLASet.CommitError:
        return self.CommitError(
            ValueError(message), message, {"type": kind, "fields": fields}
        )

    def add(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Insert a row made of *data*.

        :param data: The row's fields (a primary key value may be given).
        :returns: The primary key of the new row: ``{"id": 1}``.
        :raises SQLASet.CommitError: if the data does not fit the schema or
            breaks a constraint; nothing is written then.
        """
        values = self._prepare(_require_mapping(data), "add")
        obj = self.orm_cls(**values)
        with self._write() as session:
            session.add(obj)
            session.flush()
            token = {key: getattr(obj, key) for key in self._info.primary_key}
        return token

    def _snapshot(self, obj: Any) -> dict[str, Any]:
        return {key: getattr(obj, key) for key in self._info.fields}

    def _get(self, session: Session, key: tuple[Any, ...]) -> Any:
        if any(_unstorable(part) is not None for part in key):
            obj = None  # no row has such a key
        else:
            obj = session.get(self.orm_cls, key[0] if len(key) == 1 else key)
        if obj is None:
            raise LookupError(f"There is no {self.orm_cls.__name__} {key!r}")
        return obj


class SQLARecord(MutableRecord):
    """A row of an :class:`SQLASet`: a mapping of its columns' values.

    :param dataset: The set the row was read from.
    :param data: The row's values, by attribute name.
    """

    def __init__(self, dataset: SQLASet, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        self.dataset = dataset
        self._key: tuple[Any, ...] | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        """The row's primary key values."""
        key = self._key
        if key is None:
            data = self.cached_data
            key = self._key = tuple(data[k] for k in self.dataset._info.primary_key)
        return key

    def invalidate(self, new_data: Mapping[str, Any] | None = None) -> None:
        """See :meth:`~findig.tools.dataset.AbstractRecord.invalidate`; the
        record keeps its primary key."""
        if self._key is None and self._cached is not None:
            self.key  # noqa: B018 - computed while the data is at hand
        super().invalidate(new_data)

    def read(self) -> dict[str, Any]:
        """Read the row again from the database.

        :raises LookupError: if it no longer exists.
        """
        dataset = self.dataset
        spec = dict(zip(dataset._info.primary_key, self.key, strict=True))
        for record in SQLASet(dataset.orm_cls).filtered(**spec).limit(1):
            return dict(record.cached_data)
        raise LookupError(
            f"No {dataset.orm_cls.__name__} matches {_describe_spec(spec)}"
        )

    def update(self, data: Mapping[str, Any]) -> None:
        """Replace the row's values (but its primary key) with *data*;
        columns that *data* omits are set to ``NULL``.

        :raises LookupError: if the row does not exist.
        :raises SQLASet.CommitError: if the data does not fit the schema or
            breaks a constraint.
        """
        dataset = self.dataset
        values = dataset._prepare(_require_mapping(data), "replace")
        with dataset._write() as session:
            obj = dataset._get(session, self.key)
            for key, value in values.items():
                setattr(obj, key, value)
            session.flush()
            snapshot = dataset._snapshot(obj)
        self.invalidate(snapshot)

    def patch(self, data: Mapping[str, Any]) -> None:
        """Merge *data* into the row (JSON merge patch): given fields are
        set, fields set to ``None`` are cleared, JSON objects are merged.

        :raises LookupError: if the row does not exist.
        :raises SQLASet.CommitError: as for :meth:`update`.
        """
        dataset = self.dataset
        data = _require_mapping(data, "patch")
        dataset._prepare(data, "patch")  # refuse unknown fields before loading
        with dataset._write() as session:
            obj = dataset._get(session, self.key)
            current = {key: getattr(obj, key) for key in data}
            merged = merge_patch(current, data)
            values = dataset._prepare({k: merged.get(k) for k in data}, "patch")
            for key, value in values.items():
                setattr(obj, key, value)
            session.flush()
            snapshot = dataset._snapshot(obj)
        self.invalidate(snapshot)

    def delete(self) -> None:
        """Delete the row.

        :raises LookupError: if the row does not exist.
        """
        dataset = self.dataset
        with dataset._write() as session:
            session.delete(dataset._get(session, self.key))
        self.invalidate()
