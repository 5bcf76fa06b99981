"""findig.extras.sql: the SQLA helper, its sessions and transactions, and
what SQLASet does beyond the data set contract (see test_dataset_contract)."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from _dataset_backends import sqlite_engine
from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, sessionmaker
from werkzeug.exceptions import BadRequest
from werkzeug.test import Client

from findig.context import ctx
from findig.extras.sql import SQLA, SQLASet
from findig.json import App
from findig.tools.dataset import MutableDataSet


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        made = sqlite_engine(tmp_path / "test.sqlite")

        @event.listens_for(made, "connect")
        def _foreign_keys(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

    else:
        made = create_engine(request.getfixturevalue("postgres_url"))
    yield made
    made.dispose()


@pytest.fixture
def sqlite(tmp_path):
    made = sqlite_engine(tmp_path / "only.sqlite")
    yield made
    made.dispose()


class Api:
    """An app with authors and books, and resources that misbehave."""

    def __init__(self, engine, **sqla_args):
        self.engine = engine
        self.app = app = App()
        self.db = db = SQLA(engine, app=app, **sqla_args)

        class Author(db.Base):
            id = Column(Integer, primary_key=True)
            name = Column(String(20), nullable=False)
            email = Column(String(100), unique=True)
            rank = Column(
                Integer, CheckConstraint("rank >= 0", name="rank_not_negative")
            )
            joined = Column(DateTime)
            born = Column(Date)
            balance = Column(Numeric(10, 2))

        class Book(db.Base):
            id = Column(Integer, primary_key=True)
            author_id = Column(Integer, ForeignKey("author.id"), nullable=False)
            title = Column(String(50), nullable=False)

        self.Author, self.Book = Author, Book

        @app.route("/authors/<id>")
        @app.resource(lazy=True)
        def author(id):
            return authors().fetch(id=id)

        @app.route("/authors/")
        @author.collection(lazy=True)
        def authors():
            return SQLASet(Author)

        @app.route("/books/<id>")
        @app.resource(lazy=True)
        def book(id):
            return SQLASet(Book).fetch(id=id)

        @app.route("/books/")
        @book.collection(lazy=True)
        def books():
            return SQLASet(Book)

        @app.route("/pairs/")
        @author.collection
        def pairs():
            return []

        @pairs.model("make")
        def make_pair(data):
            # Two authors in one request: both or neither.
            first = SQLASet(Author).add({"name": data["name"], "email": data["email"]})
            SQLASet(Author).add({"name": data["name"] + "2", "email": data["other"]})
            return first

        @app.route("/boom/")
        @author.collection
        def boom():
            return []

        @boom.model("make")
        def make_boom(data):
            SQLASet(Author).add({"name": data["name"]})
            raise RuntimeError("something broke after the write")

    def client(self):
        return Client(self.app)

    def count(self, table="author"):
        with self.engine.connect() as conn:
            return conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()

    def rows(self):
        with self.engine.connect() as conn:
            result = conn.execute(
                text("SELECT id, name, email FROM author ORDER BY id")
            )
            return [tuple(row) for row in result]


def no_internals(body: bytes) -> None:
    lowered = body.lower()
    for word in (
        b"insert",
        b"update ",
        b"select",
        b"values",
        b"sqlalchemy",
        b"psycopg",
    ):
        assert word not in lowered, body


# -- SQLA ------------------------------------------------------------------------------


def test_base_derives_table_names(sqlite):
    db = SQLA(sqlite)

    class Task(db.Base):
        id = Column(Integer, primary_key=True)

    class TaskList(db.Base):
        id = Column(Integer, primary_key=True)

    class HTTPLog(db.Base):
        id = Column(Integer, primary_key=True)

    class Named(db.Base):
        __tablename__ = "my_table"
        id = Column(Integer, primary_key=True)
        kind = Column(String(10))
        __mapper_args__ = {"polymorphic_on": kind, "polymorphic_identity": "named"}

    class Special(Named):  # single-table inheritance: no table of its own
        __mapper_args__ = {"polymorphic_identity": "special"}

    assert Task.__tablename__ == "task"
    assert TaskList.__tablename__ == "task_list"
    assert HTTPLog.__tablename__ == "http_log"
    assert Named.__table__.name == "my_table"
    assert Special.__table__ is Named.__table__
    db.create_all()
    assert set(inspect(sqlite).get_table_names()) == {
        "task",
        "task_list",
        "http_log",
        "my_table",
    }


def test_each_helper_has_its_own_base(sqlite):
    first, second = SQLA(sqlite), SQLA(sqlite)
    assert first.Base is not second.Base
    assert first.Base.metadata is not second.Base.metadata


def test_engine_may_be_a_url(tmp_path):
    db = SQLA(f"sqlite:///{tmp_path / 'url.sqlite'}")
    assert db.engine.url.database.endswith("url.sqlite")
    db.engine.dispose()
    with pytest.raises(TypeError):
        SQLA(42)


def test_tables_are_created_on_the_first_request(engine):
    api = Api(engine)
    assert "author" not in inspect(engine).get_table_names()
    assert api.client().get("/authors/").json == []
    assert {"author", "book"} <= set(inspect(engine).get_table_names())


def test_auto_create_can_be_turned_off(sqlite):
    api = Api(sqlite, auto_create=False)
    with pytest.raises(Exception):  # noqa: B017 - the database says: no such table
        with api.app.test_context(path="/authors/"):
            list(SQLASet(api.Author))
    assert inspect(sqlite).get_table_names() == []


def test_create_all_without_checkfirst_overwrites(sqlite):
    api = Api(sqlite)
    api.db.create_all()
    SQLASet(api.Author).add({"name": "ann"})
    api.db.create_all()  # checkfirst: nothing happens
    assert api.count() == 1
    api.db.create_all(checkfirst=False)
    assert api.count() == 0


def test_one_session_per_request_committed_and_closed(sqlite):
    api = Api(sqlite)
    seen = []

    @api.app.route("/session")
    @api.app.resource
    def session_info():
        session = api.db.session
        seen.append(session)
        assert session is ctx.sqla_session
        return {"id": id(session)}

    client = api.client()
    client.get("/session")
    client.get("/session")
    assert len(seen) == 2
    assert seen[0] is not seen[1]
    assert not seen[0].in_transaction()
    # A write is committed by the end of the request.
    assert client.post("/authors/", json={"name": "ann"}).status_code == 201
    assert api.rows() == [(1, "ann", None)]


def test_session_needs_a_request(sqlite):
    db = SQLA(sqlite)
    with pytest.raises(RuntimeError, match="only available during a request"):
        db.session  # noqa: B018
    app = App()
    with (
        app.test_context(create_route=True),
        pytest.raises(RuntimeError, match=r"ctx\.sqla_session"),
    ):
        db.session  # noqa: B018 - this app was not hooked up


def test_configure_session_factory(sqlite):
    api = Api(sqlite)
    api.db.configure_session_factory(info={"tag": "configured"})
    with api.app.test_context(path="/authors/"):
        assert api.db.session.info["tag"] == "configured"


def test_transaction_commits_or_rolls_back(engine):
    api = Api(engine)
    api.db.create_all()
    with api.db.transaction(new_session=True) as session:
        session.add(api.Author(name="ann"))
    assert api.rows() == [(1, "ann", None)]

    with (
        pytest.raises(ZeroDivisionError),
        api.db.transaction(new_session=True) as session,
    ):
        session.add(api.Author(name="bob"))
        session.flush()
        1 / 0  # noqa: B018
    assert api.count() == 1

    with pytest.raises(SQLASet.CommitError) as caught:
        with api.db.transaction(new_session=True) as session:
            session.add(api.Author(name=None))
    assert "'name'" in caught.value.description
    assert api.count() == 1


def test_transaction_uses_the_request_session(sqlite):
    api = Api(sqlite)

    @api.app.route("/tx")
    @api.app.resource
    def tx():
        with api.db.transaction() as session:
            assert session is ctx.sqla_session
            session.add(api.Author(name="tx"))
        return {}

    assert api.client().get("/tx").status_code == 200
    assert api.rows() == [(1, "tx", None)]


# -- transactions and commit errors ----------------------------------------------------


def test_constraint_violations_answer_400_naming_the_problem(engine):
    api = Api(engine)
    client = api.client()
    assert (
        client.post("/authors/", json={"name": "ann", "email": "a@x"}).status_code
        == 201
    )

    cases = [
        ({"email": "b@x"}, "not_null", ["name"]),
        ({"name": "bob", "email": "a@x"}, "unique", ["email"]),
        ({"name": "cid", "rank": -1}, "check", []),
    ]
    for data, constraint, fields in cases:
        response = client.post("/authors/", json=data)
        assert response.status_code == 400, data
        body = response.json
        assert body["error"]["type"] == "constraint_violation"
        assert body["error"]["constraint"] == constraint
        assert body["error"]["fields"] == fields
        for field in fields:
            assert f"'{field}'" in body["message"]
        no_internals(response.data)
    check = client.post("/authors/", json={"name": "cid", "rank": -1}).json
    assert "rank_not_negative" in check["message"]

    book = client.post("/books/", json={"author_id": 99, "title": "Orphan"})
    assert book.status_code == 400
    assert book.json["error"]["constraint"] == "foreign_key"
    assert "refers to a record that does not exist" in book.json["message"]
    no_internals(book.data)

    assert api.rows() == [(1, "ann", "a@x")]
    assert api.count("book") == 0


def test_commit_error_wraps_the_sqlalchemy_error(sqlite):
    api = Api(sqlite)
    api.db.create_all()
    with pytest.raises(SQLASet.CommitError) as caught:
        SQLASet(api.Author).add({"email": "x@y"})
    error = caught.value
    assert isinstance(error, BadRequest)
    assert error.code == 400
    assert isinstance(error.inner, IntegrityError)
    assert error.error_info == {
        "type": "constraint_violation",
        "constraint": "not_null",
        "fields": ["name"],
    }
    assert api.count() == 0


def test_failed_update_leaves_the_record_unchanged(engine):
    api = Api(engine)
    client = api.client()
    client.post("/authors/", json={"name": "ann", "email": "a@x"})
    client.post("/authors/", json={"name": "bob", "email": "b@x"})
    assert client.put("/authors/2", json={"email": "c@x"}).status_code == 400
    assert client.patch("/authors/2", json={"email": "a@x"}).status_code == 400
    assert client.patch("/authors/2", json={"name": None}).status_code == 400
    assert api.rows() == [(1, "ann", "a@x"), (2, "bob", "b@x")]


def test_nothing_is_half_written(engine):
    api = Api(engine)
    client = api.client()
    ok = client.post("/pairs/", json={"name": "ann", "email": "a@x", "other": "b@x"})
    assert ok.status_code == 201
    clash = client.post("/pairs/", json={"name": "cid", "email": "c@x", "other": "a@x"})
    assert clash.status_code == 400
    assert clash.json["error"]["fields"] == ["email"]
    assert api.rows() == [(1, "ann", "a@x"), (2, "ann2", "b@x")]


def test_an_error_anywhere_rolls_back(engine, caplog):
    api = Api(engine)
    with caplog.at_level(logging.CRITICAL, logger="findig"):
        response = api.client().post("/boom/", json={"name": "ann"})
    assert response.status_code == 500
    assert b"something broke" not in response.data
    assert api.count() == 0


def test_errors_at_commit_time_are_commit_errors(postgres_url):
    """A deferred constraint fails only at COMMIT, after the resource ran:
    the commit happens before the response is made, and answers 400."""
    engine = create_engine(postgres_url)
    try:
        app = App()
        db = SQLA(engine, app=app)

        class Badge(db.Base):
            id = Column(Integer, primary_key=True)
            code = Column(String(10), nullable=False)
            __table_args__ = (
                UniqueConstraint(
                    "code", name="badge_code", deferrable=True, initially="DEFERRED"
                ),
            )

        @app.route("/badges/<id>")
        @app.resource(lazy=True)
        def badge(id):
            return badges().fetch(id=id)

        @app.route("/badges/")
        @badge.collection(lazy=True)
        def badges():
            return SQLASet(Badge)

        @app.route("/twins/")
        @badge.collection
        def twins():
            return []

        @twins.model("make")
        def make_twins(data):
            SQLASet(Badge).add({"code": data["code"]})
            return SQLASet(Badge).add({"code": data["code"]})  # flushes fine

        client = Client(app)
        response = client.post("/twins/", json={"code": "gold"})
        assert response.status_code == 400
        assert response.json["error"] == {
            "type": "constraint_violation",
            "constraint": "unique",
            "fields": ["code"],
        }
        no_internals(response.data)
        assert client.get("/badges/").json == []
        assert client.post("/badges/", json={"code": "gold"}).status_code == 201
    finally:
        engine.dispose()


# -- schema checks ---------------------------------------------------------------------


def test_data_is_checked_against_the_schema(engine):
    api = Api(engine)
    client = api.client()
    cases = [
        ({"name": "ann", "bogus": 1, "extra": 2}, "unknown_fields", ["bogus", "extra"]),
        ({"name": "ann", "rank": "high"}, "invalid_fields", ["rank"]),
        ({"name": "a" * 21}, "invalid_fields", ["name"]),
        ({"name": "ann", "joined": "yesterday"}, "invalid_fields", ["joined"]),
        ({"name": "ann", "born": 1990}, "invalid_fields", ["born"]),
        ({"name": 7}, "invalid_fields", ["name"]),
    ]
    for data, kind, fields in cases:
        response = client.post("/authors/", json=data)
        assert response.status_code == 400, data
        assert response.json["error"] == {"type": kind, "fields": fields}
        for field in fields:
            assert f"'{field}'" in response.json["message"]
    assert api.count() == 0


def test_string_forms_of_dates_and_decimals_are_accepted(engine):
    api = Api(engine)
    client = api.client()
    created = client.post(
        "/authors/",
        json={
            "name": "ann",
            "joined": "2015-07-19 00:00:00+04:00",
            "born": "1990-02-03",
            "balance": "12.50",
        },
    )
    assert created.status_code == 201
    got = client.get("/authors/1").json
    # The naive column keeps the instant, in UTC.
    assert got["joined"] == "2015-07-18T20:00:00"
    assert got["born"] == "1990-02-03"
    assert Decimal(got["balance"]) == Decimal("12.50")
    # What GET shows can be written back as it is.
    assert client.put("/authors/1", json=got).status_code == 200
    assert client.get("/authors/1").json == got


def test_aware_datetimes_are_stored_in_utc(sqlite):
    api = Api(sqlite)
    api.db.create_all()
    items = SQLASet(api.Author)
    aware = datetime(2020, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    items.add({"name": "ann", "joined": aware})
    record = items.fetch_now(id=1)
    assert record["joined"] == datetime(2020, 1, 1, 17, 0)
    assert items.fetch_now(joined=aware)["name"] == "ann"
    assert items.fetch_now(joined="2020-01-01T17:00:00")["name"] == "ann"
    assert list(items.filtered(born=date(2000, 1, 1))) == []


# -- queries run in the database -------------------------------------------------------


def test_filters_sorts_and_limits_run_in_sql(engine):
    api = Api(engine)
    api.db.create_all()
    authors = SQLASet(api.Author)
    for name, rank in [("ann", 3), ("bob", None), ("cid", 1), ("dan", 2)]:
        authors.add({"name": name, "rank": rank})
    statements = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, *args):
        statements.append(statement.upper())

    query = authors.filtered(name=lambda n: n != "dan").sorted("rank").limit(2, 1)
    assert [r["name"] for r in authors.sorted("rank").limit(2, offset=1)] == [
        "dan",
        "ann",
    ]
    sql = statements[-1]
    assert "ORDER BY" in sql
    assert "NULLS LAST" in sql
    assert "LIMIT" in sql
    assert "OFFSET" in sql
    assert [r["name"] for r in authors.filtered(name="cid")] == ["cid"]
    assert "WHERE" in statements[-1]
    # A filter after a limit selects from the limited rows (a subquery).
    assert [r["name"] for r in authors.limit(2).filtered(rank=None)] == ["bob"]
    assert statements[-1].count("SELECT") == 2
    # Predicates are Python: the database gets no WHERE for them.
    assert [r["name"] for r in query] == ["ann", "bob"]
    assert "WHERE" not in statements[-1]
    event.remove(engine, "before_cursor_execute", record)


def test_composite_primary_keys(sqlite):
    db = SQLA(sqlite)

    class Seat(db.Base):
        row = Column(String(2), primary_key=True)
        number = Column(Integer, primary_key=True)
        holder = Column(String(20))

    db.create_all()
    seats = SQLASet(Seat)
    assert seats.add({"row": "A", "number": 3, "holder": "ann"}) == {
        "row": "A",
        "number": 3,
    }
    seat = seats.fetch_now(row="A", number="3")
    seat.patch({"holder": "bob"})
    assert dict(seats.fetch_now(row="A", number=3)) == {
        "row": "A",
        "number": 3,
        "holder": "bob",
    }
    seat.delete()
    assert list(seats) == []


# -- sessions the application manages --------------------------------------------------


def test_sets_work_with_a_session_the_application_sets(sqlite):
    """Without the SQLA helper, a set uses ctx.sqla_session and commits it."""

    class Base(DeclarativeBase):
        pass

    class Note(Base):
        __tablename__ = "note"
        id = Column(Integer, primary_key=True)
        body = Column(String(50), nullable=False)

    Base.metadata.create_all(sqlite)
    factory = sessionmaker(bind=sqlite)
    app = App()

    @app.context
    def sqla_session():
        session = factory()
        try:
            yield session
        finally:
            session.close()

    @app.route("/notes/<id>")
    @app.resource(lazy=True)
    def note(id):
        return notes().fetch(id=id)

    @app.route("/notes/")
    @note.collection(lazy=True)
    def notes():
        return SQLASet(Note)

    client = Client(app)
    assert client.post("/notes/", json={"body": "one"}).json == {"id": 1}
    assert client.post("/notes/", json={"body": "two"}).json == {"id": 2}
    assert client.put("/notes/1", json={"body": "uno"}).status_code == 200
    assert client.delete("/notes/2").status_code == 200
    assert client.post("/notes/", json={}).status_code == 400
    assert client.get("/notes/").json == [{"id": 1, "body": "uno"}]
    with sqlite.connect() as conn:
        assert list(conn.execute(text("SELECT id, body FROM note"))) == [(1, "uno")]
    # Outside a request, such a set has no session to use.
    with pytest.raises(RuntimeError, match="no session"):
        list(SQLASet(Note))


def test_two_helpers_on_one_app_keep_their_sessions_apart(tmp_path):
    first_engine = sqlite_engine(tmp_path / "first.sqlite")
    second_engine = sqlite_engine(tmp_path / "second.sqlite")
    app = App()
    first, second = SQLA(first_engine, app=app), SQLA(second_engine, app=app)

    class Apple(first.Base):
        id = Column(Integer, primary_key=True)

    class Pear(second.Base):
        id = Column(Integer, primary_key=True)

    @app.route("/fruit/")
    @app.resource
    def fruit():
        return {}

    @fruit.model("write")
    def write(data):
        SQLASet(Apple).add({})
        SQLASet(Pear).add({})
        assert first.session is not second.session

    assert Client(app).put("/fruit/", json={}).status_code == 200
    assert [r["id"] for r in SQLASet(Apple)] == [1]
    assert [r["id"] for r in SQLASet(Pear)] == [1]

    # A model of a helper not hooked to an app uses its own database there.
    third_engine = sqlite_engine(tmp_path / "third.sqlite")
    third = SQLA(third_engine)

    class Plum(third.Base):
        id = Column(Integer, primary_key=True)

    third.create_all()
    with app.test_context(path="/fruit/"):
        assert SQLASet(Plum).add({}) == {"id": 1}
    assert [r["id"] for r in SQLASet(Plum)] == [1]
    assert "plum" not in inspect(second_engine).get_table_names()
    third_engine.dispose()
    first_engine.dispose()
    second_engine.dispose()


def test_a_set_is_a_mutable_data_set_with_a_repr(sqlite):
    db = SQLA(sqlite)

    class Thing(db.Base):
        id = Column(Integer, primary_key=True)

    things = SQLASet(Thing)
    assert isinstance(things, MutableDataSet)
    assert repr(things) == "<SQLASet Thing>"
    with pytest.raises(TypeError, match="mapped SQLAlchemy class"):
        SQLASet(dict)
    assert json.loads(json.dumps(things.data_operations(), default=repr))
