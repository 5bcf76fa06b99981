"""One contract for every data set: the in-memory reference, SQLASet on
SQLite and PostgreSQL, and RedisSet.

Each test runs against every implementation, through the data set API and
through the HTTP API of a lazy resource and collection (see
``_dataset_backends``).
"""

from __future__ import annotations

import threading
import time

import pytest
from _dataset_backends import (
    Backend,
    MemoryBackend,
    RedisBackend,
    SQLBackend,
    plain,
    sqlite_engine,
)
from werkzeug.test import Client

from findig.tools.dataset import AbstractRecord, MutableDataSet, MutableRecord

BACKENDS = ["memory", "sqlite", "postgres", "redis"]

# Ids 1 to 5, in this order. "dog" has no rank, "eel" no flag, "bee" no score.
SEED = [
    {"name": "ant", "rank": 3, "score": 1.5, "flag": True},
    {"name": "bee", "rank": 1, "flag": False},
    {"name": "cat", "rank": 2, "score": 0.5, "flag": True},
    {"name": "dog", "score": 2.5, "flag": True},
    {"name": "eel", "rank": 2, "score": 9.0},
]


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    name = request.param
    if name == "memory":
        made: Backend = MemoryBackend()
    elif name == "sqlite":
        made = SQLBackend("sqlite", sqlite_engine(tmp_path / "contract.sqlite"))
    elif name == "postgres":
        from sqlalchemy import create_engine

        url = request.getfixturevalue("postgres_url")
        made = SQLBackend("postgres", create_engine(url, pool_size=8))
    else:
        client = request.getfixturevalue("redis_client")
        made = RedisBackend(client, request.getfixturevalue("redis_prefix"))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def seeded(backend):
    """The backend with SEED added (outside any request)."""
    items = backend.make_set()
    tokens = [items.add(data) for data in SEED]
    assert tokens == [{"id": n} for n in range(1, 6)]
    return backend


def names(records):
    return [record["name"] for record in records]


# -- reading ---------------------------------------------------------------------------


def test_iteration_yields_records_in_insertion_order(seeded):
    records = list(seeded.make_set())
    assert all(isinstance(r, MutableRecord) for r in records)
    assert [plain(r) for r in records] == [
        {"id": n, **data} for n, data in enumerate(SEED, 1)
    ]


def test_fetch_is_lazy_outside_a_request(seeded):
    items = seeded.make_set()
    missing = items.fetch(id=99)  # no error: nothing is queried yet
    assert isinstance(missing, MutableRecord)
    with pytest.raises(LookupError):
        dict(missing)
    later = items.fetch(name="fox")
    items.add({"name": "fox", "rank": 7})
    assert plain(later) == {"id": 6, "name": "fox", "rank": 7}


def test_fetch_now_always_queries(seeded):
    items = seeded.make_set()
    with pytest.raises(LookupError):
        items.fetch_now(id=99)
    with pytest.raises(LookupError):
        items.fetch_now(name="nobody")
    assert plain(items.fetch_now(name="cat")) == {"id": 3, **SEED[2]}
    # A URL variable is a string: it finds the record with the integer id.
    assert items.fetch_now(id="4")["name"] == "dog"
    with pytest.raises(LookupError):
        items.fetch_now(id="not-a-number")


def test_fetch_queries_during_a_request(seeded):
    items = seeded.make_set()
    with seeded.app.test_context(path="/items/2"):
        record = items.fetch(id="2")
        assert record["name"] == "bee"
        with pytest.raises(LookupError):
            items.fetch(id="99")


def test_filtered_by_value(seeded):
    items = seeded.make_set()
    assert names(items.filtered(flag=True)) == ["ant", "cat", "dog"]
    assert names(items.filtered(rank=2)) == ["cat", "eel"]
    assert names(items.filtered(rank="2")) == ["cat", "eel"]
    assert names(items.filtered(rank=None)) == ["dog"]
    assert names(items.filtered(rank=2, flag=True)) == ["cat"]
    assert names(items.filtered(name="nobody")) == []
    assert names(items.filtered(nonexistent=1)) == []


def test_filtered_by_predicate(seeded):
    items = seeded.make_set()
    seen = []

    def has_rank(value):
        seen.append(value)
        return value is not None

    assert names(items.filtered(rank=has_rank)) == ["ant", "bee", "cat", "eel"]
    assert None in seen  # the record without a rank got None
    assert names(items.filtered(score=lambda v: v is not None and v > 1)) == [
        "ant",
        "dog",
        "eel",
    ]
    assert names(
        items.filtered(flag=True, rank=lambda r: r is not None and r >= 3)
    ) == ["ant"]


def test_sorted_by_fields_puts_missing_fields_last(seeded):
    items = seeded.make_set()
    assert names(items.sorted("rank")) == ["bee", "cat", "eel", "ant", "dog"]
    assert names(items.sorted("flag", "rank")) == ["bee", "cat", "ant", "dog", "eel"]
    assert names(items.sorted("score")) == ["cat", "ant", "dog", "eel", "bee"]


def test_sorted_descending_keeps_missing_last_and_ties_in_order(seeded):
    items = seeded.make_set()
    assert names(items.sorted("rank", descending=True)) == [
        "ant",
        "cat",
        "eel",
        "bee",
        "dog",
    ]
    assert names(items.sorted("score", descending=True)) == [
        "eel",
        "dog",
        "ant",
        "cat",
        "bee",
    ]


def test_sorted_by_key(seeded):
    items = seeded.make_set()
    reversed_name = lambda record: record["name"][::-1]  # noqa: E731
    assert names(items.sorted(reversed_name)) == ["bee", "dog", "eel", "cat", "ant"]
    assert names(items.sorted(reversed_name, descending=True)) == [
        "ant",
        "cat",
        "eel",
        "dog",
        "bee",
    ]


def test_bad_sort_and_limit_arguments_are_refused(seeded):
    items = seeded.make_set()
    with pytest.raises(ValueError):
        items.sorted()
    with pytest.raises(TypeError):
        items.sorted("rank", 3)
    with pytest.raises(ValueError):
        items.limit(-1)
    with pytest.raises(ValueError):
        items.limit(1, offset=-2)


def test_limit_and_offset(seeded):
    items = seeded.make_set()
    assert names(items.limit(2)) == ["ant", "bee"]
    assert names(items.limit(2, offset=1)) == ["bee", "cat"]
    assert names(items.limit(10, offset=3)) == ["dog", "eel"]
    assert names(items.limit(0)) == []
    assert names(items.limit(3, 1).limit(1, 1)) == ["cat"]
    assert names(items.limit(2, 1).limit(5, 1)) == ["cat"]


def test_operations_compose_in_call_order(seeded):
    items = seeded.make_set()
    assert names(items.sorted("rank").limit(3).filtered(flag=True)) == ["cat"]
    assert names(items.filtered(flag=True).sorted("rank").limit(3)) == [
        "cat",
        "ant",
        "dog",
    ]
    assert names(items.limit(3).sorted("rank", descending=True)) == [
        "ant",
        "cat",
        "bee",
    ]
    assert names(items.sorted("score", descending=True).limit(3).sorted("name")) == [
        "ant",
        "dog",
        "eel",
    ]
    assert names(items.limit(3, 2).filtered(flag=True)) == ["cat", "dog"]
    assert names(
        items.sorted("name", descending=True)
        .limit(4)
        .filtered(flag=True)
        .sorted("rank")
    ) == ["cat", "dog"]
    assert names(
        items.sorted("name", descending=True)
        .limit(4)
        .filtered(score=lambda v: v is not None)
        .sorted("rank")
        .limit(2)
    ) == ["eel", "cat"]
    # The newest sort decides; earlier ones only break its ties.
    assert names(items.sorted("name", descending=True).sorted("rank")) == [
        "bee",
        "eel",
        "cat",
        "ant",
        "dog",
    ]


def test_views_are_lazy_and_mutable(seeded):
    items = seeded.make_set()
    view = items.filtered(flag=True).sorted("rank").limit(10)
    assert isinstance(view, MutableDataSet)
    assert view.data_operations().keys() == {"make"}
    view.add({"name": "fox", "rank": 0, "flag": True})  # added to the whole set
    assert names(view) == ["fox", "cat", "ant", "dog"]


def test_data_operations(seeded):
    items = seeded.make_set()
    assert set(items.data_operations()) == {"make"}
    record = items.fetch(id="1")
    assert isinstance(record, AbstractRecord)
    assert set(record.data_operations()) == {"write", "update", "delete"}


def test_records_change_and_disappear(seeded):
    items = seeded.make_set()
    record = items.fetch_now(id=2)
    record.update({"name": "bumblebee", "rank": 4})
    assert plain(record) == {"id": 2, "name": "bumblebee", "rank": 4}
    assert plain(items.fetch_now(id=2)) == {"id": 2, "name": "bumblebee", "rank": 4}
    record.patch({"rank": None, "score": 0.25})
    assert plain(items.fetch_now(id=2)) == {"id": 2, "name": "bumblebee", "score": 0.25}
    record.delete()
    with pytest.raises(LookupError):
        items.fetch_now(id=2)
    for operation in (
        lambda: record.update({"name": "x"}),
        lambda: record.patch({"name": "x"}),
        record.delete,
    ):
        with pytest.raises(LookupError):
            operation()
    assert seeded.stored_ids() == [1, 3, 4, 5]


# -- through HTTP ----------------------------------------------------------------------


def test_http_collection_and_items(backend):
    client = Client(backend.app)
    assert client.get("/items/").json == []
    created = client.post("/items/", json={"name": "ant", "rank": 3, "meta": {"a": 1}})
    assert created.status_code == 201
    assert created.json == {"id": 1}
    assert created.headers["Location"] == "http://localhost/items/1"
    second = client.post("/items/", json={"name": "bee", "rank": 5})
    assert second.json == {"id": 2}

    got = client.get("/items/1")
    assert got.status_code == 200
    assert plain(got.json) == {"id": 1, "name": "ant", "rank": 3, "meta": {"a": 1}}
    assert [plain(item) for item in client.get("/items/").json] == [
        {"id": 1, "name": "ant", "rank": 3, "meta": {"a": 1}},
        {"id": 2, "name": "bee", "rank": 5},
    ]
    assert [item["name"] for item in client.get("/items/top").json] == ["bee", "ant"]
    assert client.options("/items/1").headers["Allow"] == (
        "HEAD, GET, PUT, PATCH, DELETE, OPTIONS"
    )
    assert client.options("/items/").headers["Allow"] == "HEAD, GET, POST, OPTIONS"
    assert backend.stored_ids() == [1, 2]


def test_http_put_replaces(backend):
    client = Client(backend.app)
    client.post("/items/", json={"name": "ant", "rank": 3, "score": 1.5})
    put = client.put("/items/1", json={"name": "ant", "flag": True})
    assert put.status_code == 200
    assert put.data == b""
    assert plain(client.get("/items/1").json) == {"id": 1, "name": "ant", "flag": True}


def test_http_patch_merges(backend):
    client = Client(backend.app)
    client.post(
        "/items/",
        json={"name": "ant", "rank": 3, "score": 1.5, "meta": {"a": 1, "b": {"c": 2}}},
    )
    patched = client.patch(
        "/items/1", json={"rank": 4, "score": None, "meta": {"b": {"c": None, "d": 3}}}
    )
    assert patched.status_code == 200
    assert plain(client.get("/items/1").json) == {
        "id": 1,
        "name": "ant",
        "rank": 4,
        "meta": {"a": 1, "b": {"d": 3}},
    }


def test_http_delete(backend):
    client = Client(backend.app)
    client.post("/items/", json={"name": "ant"})
    client.post("/items/", json={"name": "bee"})
    deleted = client.delete("/items/1")
    assert deleted.status_code == 200
    assert deleted.data == b""
    assert client.get("/items/1").status_code == 404
    assert [item["name"] for item in client.get("/items/").json] == ["bee"]
    assert backend.stored_ids() == [2]


def test_http_404_for_missing_records(backend):
    client = Client(backend.app)
    client.post("/items/", json={"name": "ant"})
    for path in ("/items/2", "/items/abc", "/items/0"):
        assert client.get(path).status_code == 404
        assert client.put(path, json={"name": "x"}).status_code == 404
        assert client.patch(path, json={"name": "x"}).status_code == 404
        assert client.delete(path).status_code == 404
    assert [item["name"] for item in client.get("/items/").json] == ["ant"]


def test_http_refuses_data_that_is_not_an_object(backend):
    client = Client(backend.app)
    assert client.post("/items/", json=[1, 2]).status_code == 400
    assert client.post("/items/", data=b"").status_code == 400
    client.post("/items/", json={"name": "ant"})
    assert client.put("/items/1", json="text").status_code == 400
    assert client.patch("/items/1", json=[]).status_code == 400
    assert backend.stored_ids() == [1]


# -- concurrency -----------------------------------------------------------------------

THREADS = 8
PER_THREAD = 500


def test_concurrent_creation_through_the_app(backend):
    """8 threads x 500 POSTs: exactly 4,000 records, all with unique ids."""
    tokens: list[list[int]] = [[] for _ in range(THREADS)]
    failures: list[str] = []
    barrier = threading.Barrier(THREADS)

    def work(n: int) -> None:
        client = Client(backend.app)
        try:
            barrier.wait(timeout=30)
            for i in range(PER_THREAD):
                response = client.post("/items/", json={"name": f"{n}-{i}", "rank": i})
                if response.status_code != 201:
                    failures.append(f"{response.status}: {response.get_data(True)}")
                    return
                tokens[n].append(response.json["id"])
        except Exception as exc:  # reported below, not lost in the thread
            failures.append(repr(exc))

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "workers hung"
    assert failures == []
    ids = [i for chunk in tokens for i in chunk]
    assert len(ids) == THREADS * PER_THREAD
    assert len(set(ids)) == len(ids)
    assert sorted(backend.stored_ids()) == sorted(ids)
    assert sum(1 for _ in backend.make_set()) == THREADS * PER_THREAD
    print(f"{backend.name}: {len(ids)} POSTs in {time.monotonic() - started:.1f}s")
