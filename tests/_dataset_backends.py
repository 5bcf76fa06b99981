"""The data set implementations the contract suite runs against.

Each backend offers the same little JSON API over its data set::

    /items/        the collection (GET, POST)
    /items/<id>    an item (GET, PUT, PATCH, DELETE)
    /items/top     the two items of highest rank (a lazy view of the set)

plus direct access to the storage, to check what really got written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from findig.json import App
from findig.tools.dataset import DictDataSet, MutableDataSet


def build_app(make_set: Callable[[], MutableDataSet], app: App | None = None) -> App:
    """The items API over the data sets returned by *make_set*."""
    if app is None:
        app = App()

    @app.route("/items/<id>")
    @app.resource(lazy=True)
    def item(id):
        return items().fetch(id=id)

    @app.route("/items/")
    @item.collection(lazy=True)
    def items():
        return make_set()

    @app.route("/items/top")
    @item.collection(lazy=True)
    def top():
        return make_set().sorted("rank", descending=True).limit(2)

    return app


def plain(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as a dict, without the fields it lacks (None for SQL)."""
    return {k: v for k, v in record.items() if v is not None}


class Backend:
    """A data set implementation under test."""

    name: str
    app: App

    def make_set(self) -> MutableDataSet:
        raise NotImplementedError

    def stored_ids(self) -> list[int]:
        """The ids of every record in the storage itself."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class MemoryBackend(Backend):
    name = "memory"

    def __init__(self) -> None:
        self.store = DictDataSet()
        self.app = build_app(self.make_set)

    def make_set(self) -> MutableDataSet:
        return self.store

    def stored_ids(self) -> list[int]:
        return list(self.store._items)


class SQLBackend(Backend):
    def __init__(self, name: str, engine: Any) -> None:
        from sqlalchemy import JSON, Boolean, Column, Float, Integer, String, text

        from findig.extras.sql import SQLA, SQLASet

        self.name = name
        self.engine = engine
        self._text = text
        app = App()
        self.db = db = SQLA(engine, app=app)

        class Item(db.Base):
            id = Column(Integer, primary_key=True)
            name = Column(String(50))
            rank = Column(Integer)
            score = Column(Float)
            flag = Column(Boolean)
            meta = Column(JSON)

        self.Item = Item
        db.create_all()
        self.app = build_app(lambda: SQLASet(Item), app)

    def make_set(self) -> MutableDataSet:
        from findig.extras.sql import SQLASet

        return SQLASet(self.Item)

    def stored_ids(self) -> list[int]:
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(self._text("SELECT id FROM item"))]

    def close(self) -> None:
        self.engine.dispose()


def sqlite_engine(path: Any) -> Any:
    """A file SQLite engine fit for concurrent writers: WAL and a busy
    timeout, so that writers wait for the lock instead of failing."""
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


class RedisBackend(Backend):
    name = "redis"

    def __init__(self, client: Any, prefix: str) -> None:
        from findig.extras.redis import RedisSet

        self.client = client
        self.key = f"{prefix}items"
        self._cls = RedisSet
        self.app = build_app(self.make_set)

    def make_set(self) -> MutableDataSet:
        return self._cls(self.key, client=self.client)

    def stored_ids(self) -> list[int]:
        keys = self.client.scan_iter(match=f"{self.key}:item:*", count=1000)
        from_keys = sorted(int(k.rsplit(b":", 1)[1]) for k in keys)
        from_index = sorted(
            int(m) for m in self.client.zrange(f"{self.key}:index", 0, -1)
        )
        assert from_keys == from_index, "the index and the items disagree"
        return from_keys
