"""Collections queried from the query string (findig.querying), through HTTP,
on every data set: the in-memory reference, SQLASet on SQLite and
PostgreSQL (pushed down into SQL), RedisSet, and plain lists queried in
Python."""

from __future__ import annotations

import doctest
import functools
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from _dataset_backends import (
    Backend,
    MemoryBackend,
    RedisBackend,
    SQLBackend,
    plain,
    sqlite_engine,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from werkzeug.test import Client

from findig import App as PlainApp
from findig.json import App
from findig.querying import InvalidQuery, Query, QuerySpec
from findig.resource import Collection
from findig.tools.dataset import DictDataSet
from findig.tools.openapi import OpenAPI

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["memory", "sqlite", "postgres", "redis"]
WORDS = ["ant", "bee", "cat", "dog", "eel", "fox"]


def seed_data() -> list[dict[str, Any]]:
    """23 items with ties and missing values in every field but ``name``."""
    data = []
    for n in range(1, 24):
        item: dict[str, Any] = {"name": WORDS[(n * 5) % 6]}
        if n % 5:
            item["rank"] = n % 4
        if n % 7:
            item["flag"] = n % 3 == 0
        if n % 4:
            item["score"] = (n * 7) % 10 / 2
        data.append(item)
    return data


SEED = seed_data()
#: The seed as the records are stored (ids 1 to 23).
RECORDS = [{"id": n, **item} for n, item in enumerate(SEED, 1)]

DECLARED = {
    "filterable": ("name", "rank", "flag", "score"),
    "sortable": ("name", "rank", "score", "flag", "id"),
    "max_page_size": 10,
}


def query_app(backend: Backend, **declared: Any) -> App:
    """An app over the backend's data set with a collection that declares
    query parameters (``/items/``), and the same collection returning a
    plain list (``/plain/``), queried in Python."""
    app = App()
    if isinstance(backend, SQLBackend):
        backend.db.init_app(app)
    declared = {**DECLARED, **declared}
    calls = []

    @app.route("/items/<id>")
    @app.resource(lazy=True)
    def item(id):
        return backend.make_set().fetch(id=id)

    @app.route("/items/")
    @item.collection(lazy=True, **declared)
    def items():
        calls.append("items")
        return backend.make_set()

    @app.route("/plain/")
    @item.collection(**declared)
    def plain_items():
        calls.append("plain")
        return [plain(record) for record in backend.make_set()]

    app.calls = calls  # type: ignore[attr-defined]
    return app


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    name = request.param
    if name == "memory":
        made: Backend = MemoryBackend()
    elif name == "sqlite":
        made = SQLBackend("sqlite", sqlite_engine(tmp_path / "query.sqlite"))
    elif name == "postgres":
        from sqlalchemy import create_engine

        url = request.getfixturevalue("postgres_url")
        made = SQLBackend("postgres", create_engine(url))
    else:
        client = request.getfixturevalue("redis_client")
        made = RedisBackend(client, request.getfixturevalue("redis_prefix"))
    items = made.make_set()
    for data in SEED:
        items.add(data)
    try:
        yield made
    finally:
        made.close()


def _seeded_memory() -> MemoryBackend:
    made = MemoryBackend()
    for data in SEED:
        made.make_set().add(data)
    return made


@pytest.fixture
def client(backend):
    return Client(query_app(backend))


# -- a reference written independently of the data sets ----------------------------


def reference(
    filters: dict[str, Any] | None = None, order: list[tuple[str, bool]] = ()
) -> list[int]:
    """The ids a query must give: missing values last in either direction,
    ties in id order."""

    def matches(record):
        return all(record.get(k) == v for k, v in (filters or {}).items())

    def compare(a, b):
        for field, descending in order:
            x, y = a.get(field), b.get(field)
            if x is None or y is None:
                if x is None and y is None:
                    continue
                return 1 if x is None else -1
            if x != y:
                return (-1 if x < y else 1) * (-1 if descending else 1)
        return a["id"] - b["id"]

    rows = sorted(filter(matches, RECORDS), key=functools.cmp_to_key(compare))
    return [row["id"] for row in rows]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return [item["id"] for item in response.json]


def links(response) -> dict[str, str]:
    header = response.headers.get("Link")
    if header is None:
        return {}
    found = dict(
        (rel, url) for url, rel in re.findall(r'<([^>]*)>; rel="(\w+)"', header)
    )
    assert len(found) == header.count("rel="), header
    return found


def walk(client, url: str, rel: str = "next") -> tuple[list[list[int]], list[str]]:
    """Follow the *rel* links from *url*; returns the pages' ids and URLs."""
    pages, urls = [], []
    while url is not None:
        assert len(pages) < 50, "the links go round in circles"
        urls.append(url)
        response = client.get(url)
        pages.append(ids(response))
        url = links(response).get(rel)
    return pages, urls


# -- paging ------------------------------------------------------------------------


def test_walking_the_next_links_gets_every_item_exactly_once(client):
    expected = reference(order=[("rank", True), ("name", False)])
    pages, urls = walk(client, "/items/?sort=-rank,name&limit=4")
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 3]
    assert [i for page in pages for i in page] == expected
    # The links are absolute and keep the other parameters.
    for number, url in enumerate(urls[1:], 1):
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == (
            "http",
            "localhost",
            "/items/",
        )
        assert dict(parse_qsl(parts.query)) == {
            "sort": "-rank,name",
            "limit": "4",
            "offset": str(4 * number),
        }
    # And back again from the last page.
    back, _ = walk(client, urls[-1], rel="prev")
    assert back == pages[::-1]


def test_the_last_page_has_no_next_link_even_when_full(client):
    response = client.get("/items/?limit=10&offset=13")
    assert ids(response) == list(range(14, 24))
    assert set(links(response)) == {"prev"}
    response = client.get("/items/?limit=10&offset=30")
    assert ids(response) == []
    assert set(links(response)) == {"prev"}


def test_first_page_has_no_prev_link_and_a_short_prev_page_when_misaligned(client):
    response = client.get("/items/?limit=5")
    assert ids(response) == [1, 2, 3, 4, 5]
    assert links(response) == {"next": "http://localhost/items/?limit=5&offset=5"}
    response = client.get("/items/?limit=5&offset=3")
    assert ids(response) == [4, 5, 6, 7, 8]
    # The previous page holds the three items before this one, no more.
    assert links(response)["prev"] == "http://localhost/items/?limit=3"
    assert ids(client.get(links(response)["prev"])) == [1, 2, 3]


def test_the_python_fallback_pages_the_same(client):
    for url in ("/items/?sort=score,-name&limit=3", "/plain/?sort=score,-name&limit=3"):
        pages, _ = walk(client, url)
        assert [i for page in pages for i in page] == reference(
            order=[("score", False), ("name", True)]
        )


def test_default_page_size_and_maximum(backend):
    client = Client(query_app(backend, page_size=4, max_page_size=6))
    response = client.get("/items/")
    assert ids(response) == [1, 2, 3, 4]
    # The default page size is not spelled out in the links.
    assert links(response) == {"next": "http://localhost/items/?offset=4"}
    pages, _ = walk(client, "/items/")
    assert [i for page in pages for i in page] == list(range(1, 24))
    assert ids(client.get("/items/?limit=6")) == list(range(1, 7))
    assert client.get("/items/?limit=7").status_code == 400
    # max_page_size defaults to page_size.
    client = Client(query_app(backend, page_size=3, max_page_size=None))
    assert ids(client.get("/items/?offset=20")) == [21, 22, 23]
    assert client.get("/items/?limit=4").json["error"]["parameters"] == ["limit"]


def test_without_a_default_page_size_the_whole_collection_is_sent(client):
    response = client.get("/items/")
    assert ids(response) == list(range(1, 24))
    assert "Link" not in response.headers
    # An offset without a limit gives a page of the maximum size, and the
    # links spell it out.
    response = client.get("/items/?offset=2")
    assert ids(response) == list(range(3, 13))
    assert links(response) == {
        "next": "http://localhost/items/?offset=12&limit=10",
        "prev": "http://localhost/items/?limit=2",
    }


# -- sorting -----------------------------------------------------------------------


SORTS = [
    "rank",
    "-rank",
    "rank,name",
    "-rank,name",
    "rank,-name",
    "-rank,-name",
    "name,-score",
    "-flag,rank,-score",
    "flag,-rank,name,-id",
    "-score,-rank",
]


def parse_sort(text: str) -> list[tuple[str, bool]]:
    return [(t.lstrip("-"), t.startswith("-")) for t in text.split(",")]


@pytest.mark.parametrize("path", ["/items/", "/plain/"])
def test_mixed_direction_sorts(client, path):
    for sort in SORTS:
        response = client.get(f"{path}?sort={sort}")
        assert ids(response) == reference(order=parse_sort(sort)), sort


def test_sorted_pages_match_the_reference(client):
    expected = reference(order=parse_sort("-flag,rank,-score"))
    for offset in (0, 7, 20):
        response = client.get(f"/items/?sort=-flag,rank,-score&limit=7&offset={offset}")
        assert ids(response) == expected[offset : offset + 7]


# -- filtering ---------------------------------------------------------------------


FILTERS = [
    ("flag=true", {"flag": True}),
    ("flag=false", {"flag": False}),
    ("flag=TRUE", {"flag": True}),
    ("flag=null", {"flag": None}),
    ("rank=2", {"rank": 2}),
    ("rank=null", {"rank": None}),
    ("score=2.5", {"score": 2.5}),
    ("score=0", {"score": 0.0}),
    ("name=cat", {"name": "cat"}),
    ("name=cat&flag=false", {"name": "cat", "flag": False}),
    ("rank=1&flag=null&score=3.5", {"rank": 1, "flag": None, "score": 3.5}),
]


@pytest.mark.parametrize("path", ["/items/", "/plain/"])
def test_filters_convert_their_values_to_the_fields_types(client, path):
    for query, spec in FILTERS:
        expected = reference(spec)
        assert ids(client.get(f"{path}?{query}")) == expected, query
        assert expected, query  # the test would be weaker with no match


def test_values_of_the_wrong_type_match_nothing(client):
    for query in ("rank=two", "flag=yes", "score=much", "rank=1.5", "name="):
        assert ids(client.get(f"/items/?{query}")) == [], query
        assert ids(client.get(f"/plain/?{query}")) == [], query


def test_everything_at_once(client):
    url = "/items/?flag=true&sort=-score,name&limit=2&offset=1&count=true"
    expected = reference({"flag": True}, parse_sort("-score,name"))
    response = client.get(url)
    assert ids(response) == expected[1:3]
    assert response.headers["X-Total-Count"] == str(len(expected))
    assert links(response) == {
        "next": "http://localhost/items/?flag=true&sort=-score,name&limit=2"
        "&offset=3&count=true",
        "prev": "http://localhost/items/?flag=true&sort=-score,name&limit=1&count=true",
    }
    pages, _ = walk(client, url)
    assert [i for page in pages for i in page] == expected[1:]
    plain_response = client.get(url.replace("/items/", "/plain/"))
    assert plain_response.json == [plain(item) for item in response.json]
    assert plain_response.headers["X-Total-Count"] == str(len(expected))


@settings(max_examples=80, deadline=None)
@given(
    filters=st.dictionaries(
        st.sampled_from(["name", "rank", "flag"]),
        st.sampled_from(["ant", "cat", "0", "1", "2", "true", "false", "null"]),
        max_size=2,
    ),
    order=st.lists(
        st.tuples(st.sampled_from(["name", "rank", "score", "flag"]), st.booleans()),
        max_size=3,
        unique_by=lambda term: term[0],
    ),
    limit=st.integers(1, 10),
    offset=st.integers(0, 25),
)
def test_any_query_matches_the_reference(filters, order, limit, offset):
    client = HYPOTHESIS_CLIENT
    query = [*filters.items(), ("limit", str(limit)), ("offset", str(offset))]
    if order:
        query.append(("sort", ",".join(("-" if d else "") + f for f, d in order)))
    values = {"true": True, "false": False, "null": None}
    spec = {}
    for field, text in filters.items():
        value = values.get(text, text)
        if field == "rank" and text != "null":
            # Only digits make an integer (True == 1 must not match).
            value = int(text) if text.isdigit() else "no match"
        if field == "flag" and text in ("0", "1"):
            value = "no match"  # booleans are written true or false
        spec[field] = value
    expected = reference(spec, order)
    for path in ("/items/", "/plain/"):
        response = client.get(path, query_string=query)
        assert ids(response) == expected[offset : offset + limit]
        assert ("next" in links(response)) == (len(expected) > offset + limit)
        assert ("prev" in links(response)) == (offset > 0)


HYPOTHESIS_CLIENT = Client(query_app(_seeded_memory()))


# -- counting ----------------------------------------------------------------------


def test_count_only_when_asked(client):
    response = client.get("/items/?limit=2")
    assert "X-Total-Count" not in response.headers
    for value in ("true", "1", "True"):
        response = client.get(f"/items/?limit=2&count={value}")
        assert response.headers["X-Total-Count"] == "23"
    response = client.get("/items/?count=false")
    assert "X-Total-Count" not in response.headers
    assert len(response.json) == 23
    response = client.get("/items/?rank=null&count=true&limit=1")
    assert response.headers["X-Total-Count"] == str(len(reference({"rank": None})))
    response = client.get("/plain/?flag=true&count=true")
    assert response.headers["X-Total-Count"] == str(len(reference({"flag": True})))


def test_count_method_of_every_data_set(backend):
    items = backend.make_set()
    assert items.count() == 23
    assert items.limit(5, offset=20).count() == 3
    assert items.limit(5, offset=30).count() == 0
    assert items.filtered(flag=True).count() == len(reference({"flag": True}))
    assert items.filtered(rank="2").limit(3).count() == 3
    assert items.sorted("rank").filtered(name=lambda n: n == "ant").count() == len(
        reference({"name": "ant"})
    )


# -- refused queries ---------------------------------------------------------------


BAD_QUERIES = [
    ("colour=red", ["colour"]),
    ("limit=abc", ["limit"]),
    ("limit=-1", ["limit"]),
    ("limit=0", ["limit"]),
    ("limit=11", ["limit"]),
    ("limit=1.5", ["limit"]),
    ("limit=+3", ["limit"]),
    ("limit=%203", ["limit"]),
    ("limit=99999999999999999999", ["limit"]),
    ("offset=-1", ["offset"]),
    ("offset=x", ["offset"]),
    ("offset=99999999999999999", ["offset"]),
    ("sort=colour", ["sort"]),
    ("sort=name,,rank", ["sort"]),
    ("sort=-", ["sort"]),
    ("sort=name,", ["sort"]),
    ("sort=rank,-rank", ["sort"]),
    ("sort=%2Bname", ["sort"]),
    ("sort=name&sort=rank", ["sort"]),
    ("flag=true&flag=false", ["flag"]),
    ("count=maybe", ["count"]),
    ("count=true&count=true", ["count"]),
    ("limit=0&colour=red&sort=nope&rank=1", ["limit", "colour", "sort"]),
]


@pytest.mark.parametrize(("query", "named"), BAD_QUERIES)
def test_bad_queries_are_refused_naming_the_parameters(query, named):
    app = query_app(MemoryBackend())
    client = Client(app)
    assert client.get("/items/").status_code == 200  # builds the routes
    app.calls.clear()
    for path in ("/items/", "/plain/"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert response.json["error"] == {"type": "invalid_query", "parameters": named}
        message = response.json["message"]
        for name in named:
            assert f"'{name}'" in message
    # Refused before the collection's function runs.
    assert app.calls == []


def test_refusals_explain_what_is_accepted():
    client = Client(query_app(MemoryBackend()))
    message = client.get("/items/?colour=red").json["message"]
    assert message == (
        "Invalid query string: 'colour' is not a parameter. This collection "
        "accepts: count, flag, limit, name, offset, rank, score, sort."
    )
    message = client.get("/items/?sort=colour").json["message"]
    assert "sortable: name, rank, score, flag, id" in message
    message = client.get("/items/?limit=11").json["message"]
    assert message == "Invalid query string: 'limit' must be an integer from 1 to 10."


def test_refusals_are_bounded():
    client = Client(query_app(MemoryBackend()))
    query = "&".join(f"{n:02d}{'x' * 100}=1" for n in range(30))
    response = client.get(f"/items/?{query}")
    assert response.status_code == 400
    parameters = response.json["error"]["parameters"]
    assert len(parameters) == 20
    assert all(len(name) == 64 and name.endswith("...") for name in parameters)
    assert "and 10 more problems" in response.json["message"]
    assert len(response.json["message"]) < 3000


def test_problem_details_and_the_plain_app_name_the_parameters():
    app = App(problem_details=True)

    @app.resource
    def thing():
        return {}

    @app.route("/things/")
    @thing.collection(sortable="n", page_size=2)
    def things():
        return [{"n": 2}, {"n": 1}, {"n": 3}]

    response = Client(app).get("/things/?sort=m")
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert response.json["parameters"] == ["sort"]
    assert Client(app).get("/things/?sort=-n").json == [{"n": 3}, {"n": 2}]

    plain_app = PlainApp()
    collection = plain_app.route(
        Collection(plain_app.resource(lambda: {}), wrapped=lambda: [], sortable=["n"]),
        "/stuff/",
    )
    assert isinstance(collection, Collection)
    response = Client(plain_app).get("/stuff/?limit=1")
    assert response.status_code == 400
    assert "'limit' is not a parameter" in response.get_data(as_text=True)


# -- collections that declare nothing, and other methods ---------------------------


def test_collections_without_declarations_ignore_query_strings(backend):
    # The contract suite's app: its collection declares no query parameters.
    client = Client(backend.app)
    everything = client.get("/items/")
    assert [item["id"] for item in everything.json] == list(range(1, 24))
    for query in ("limit=1", "sort=nope&colour=red", "flag=true", "limit=-1&count=x"):
        response = client.get(f"/items/?{query}")
        assert response.status_code == 200
        assert response.json == everything.json
        assert "Link" not in response.headers
        assert "X-Total-Count" not in response.headers


def test_post_to_a_queryable_collection_ignores_the_query_string(backend):
    client = Client(query_app(backend))
    response = client.post("/items/?colour=red&limit=x", json={"name": "gnu"})
    assert response.status_code == 201
    assert response.json == {"id": 24}
    assert client.get("/items/?name=gnu").json[0]["id"] == 24


def test_head_answers_like_get(client):
    get = client.get("/items/?limit=3&count=true")
    head = client.head("/items/?limit=3&count=true")
    assert head.status_code == 200
    assert head.get_data() == b""
    for name in ("Link", "X-Total-Count", "ETag"):
        assert head.headers[name] == get.headers[name]
    assert client.head("/items/?limit=x").status_code == 400


def test_pages_have_etags_and_urls_when_asked(backend):
    app = App()
    if isinstance(backend, SQLBackend):
        backend.db.init_app(app)

    @app.route("/items/<int:id>")
    @app.resource(lazy=True)
    def item(id):
        return backend.make_set().fetch(id=id)

    @app.route("/items/")
    @item.collection(lazy=True, include_urls=True, sortable=["name"], page_size=2)
    def items():
        return backend.make_set()

    client = Client(app)
    response = client.get("/items/?sort=name")
    first_two = reference(order=[("name", False)])[:2]
    assert [item["url"] for item in response.json] == [f"/items/{n}" for n in first_two]
    etag = response.headers["ETag"]
    assert (
        client.get("/items/?sort=name", headers={"If-None-Match": etag}).status_code
        == 304
    )


# -- pushed down into SQL ----------------------------------------------------------


@pytest.fixture
def sql_backend(request, tmp_path):
    if request.param == "sqlite":
        made = SQLBackend("sqlite", sqlite_engine(tmp_path / "sql.sqlite"))
    else:
        from sqlalchemy import create_engine

        made = SQLBackend(
            "postgres", create_engine(request.getfixturevalue("postgres_url"))
        )
    items = made.make_set()
    for data in SEED:
        items.add(data)
    yield made
    made.close()


def captured_sql(
    backend: SQLBackend, client: Client, url: str
) -> tuple[Any, list[str]]:
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(" ".join(statement.split()))

    assert client.get("/items/?limit=1").status_code == 200  # creates the tables
    event.listen(backend.engine, "before_cursor_execute", record)
    try:
        response = client.get(url)
    finally:
        event.remove(backend.engine, "before_cursor_execute", record)
    selects = [s for s in statements if s.upper().startswith("SELECT")]
    return response, selects


@pytest.mark.parametrize("sql_backend", ["sqlite", "postgres"], indirect=True)
def test_queries_are_pushed_down_into_sql(sql_backend):
    client = Client(query_app(sql_backend))
    response, selects = captured_sql(
        sql_backend, client, "/items/?flag=true&sort=-rank,name&limit=3&offset=2"
    )
    assert ids(response) == reference({"flag": True}, parse_sort("-rank,name"))[2:5]
    assert len(selects) == 1, selects
    sql = selects[0]
    assert re.search(r"WHERE item\.flag = \S+", sql), sql
    assert re.search(
        r"ORDER BY item\.rank DESC NULLS LAST, item\.name ASC NULLS LAST, "
        r"item\.id ASC LIMIT \S+ OFFSET \S+$",
        sql,
    ), sql


@pytest.mark.parametrize("sql_backend", ["sqlite", "postgres"], indirect=True)
def test_counts_are_pushed_down_into_sql(sql_backend):
    client = Client(query_app(sql_backend))
    response, selects = captured_sql(
        sql_backend, client, "/items/?rank=2&sort=name&limit=2&count=true"
    )
    assert response.headers["X-Total-Count"] == str(len(reference({"rank": 2})))
    assert len(selects) == 2, selects
    counting = selects[0]
    assert counting.startswith("SELECT count(*) AS count_1 FROM (SELECT"), counting
    assert re.search(r"WHERE item\.rank = \S+\) AS anon_1$", counting), counting
    assert "ORDER BY" not in counting
    assert "LIMIT" in selects[1]


@pytest.mark.parametrize("sql_backend", ["sqlite", "postgres"], indirect=True)
def test_a_page_reads_one_row_more_than_it_sends(sql_backend):
    from sqlalchemy import event

    executed: list[Any] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        executed.append(parameters)

    client = Client(query_app(sql_backend))
    assert client.get("/items/?limit=1").status_code == 200  # creates the tables
    event.listen(sql_backend.engine, "before_cursor_execute", record)
    try:
        response = client.get("/items/?limit=4&offset=8")
    finally:
        event.remove(sql_backend.engine, "before_cursor_execute", record)
    assert ids(response) == [9, 10, 11, 12]
    assert len(executed) == 1  # no count, no second query
    values = executed[0]
    values = list(values.values()) if isinstance(values, dict) else list(values)
    assert values[-2:] == [5, 8]  # LIMIT 5 OFFSET 8


# -- dates -------------------------------------------------------------------------


def test_date_filters_on_the_reference_and_sql(tmp_path):
    from sqlalchemy import Column, Date, Integer, String

    from findig.extras.sql import SQLA, SQLASet

    app = App()
    db = SQLA(f"sqlite:///{tmp_path / 'dates.sqlite'}", app=app)

    class Event(db.Base):
        id = Column(Integer, primary_key=True)
        title = Column(String(20))
        day = Column(Date)

    memory = DictDataSet()
    days = [date(2024, 5, 1), date(2024, 4, 1), None, date(2024, 5, 1)]
    db.create_all()
    for n, day in enumerate(days):
        data = {"title": f"e{n}", "day": day}
        SQLASet(Event).add(data)
        memory.add(data)

    @app.route("/db/")
    @app.resource(wrapped=lambda: None).collection(
        lazy=True, filterable=["day"], sortable=["day", "title"], max_page_size=5
    )
    def in_db():
        return SQLASet(Event)

    @app.route("/memory/")
    @app.resource(wrapped=lambda: None).collection(
        lazy=True, filterable=["day"], sortable=["day", "title"], max_page_size=5
    )
    def in_memory():
        return memory

    client = Client(app)
    for path in ("/db/", "/memory/"):
        assert ids(client.get(f"{path}?day=2024-05-01")) == [1, 4]
        assert ids(client.get(f"{path}?day=null")) == [3]
        assert ids(client.get(f"{path}?day=May")) == []
        assert ids(client.get(f"{path}?sort=-day,-title&limit=3")) == [4, 1, 2]


# -- declarations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"filterable": ["limit"]}, "cannot be named 'limit'"),
        ({"filterable": ["ok", "sort"]}, "cannot be named 'sort'"),
        ({"filterable": [""]}, "empty field name"),
        ({"sortable": ["-due"]}, "cannot start with '-'"),
        ({"sortable": ["a,b"]}, "contain a comma"),
        ({"page_size": 0}, "page_size must be a positive integer"),
        ({"page_size": True}, "page_size must be a positive integer"),
        ({"max_page_size": -5}, "max_page_size must be a positive integer"),
        ({"max_page_size": 2.5}, "max_page_size must be a positive integer"),
        ({"page_size": 20, "max_page_size": 10}, "cannot exceed max_page_size"),
    ],
)
def test_invalid_declarations_fail_when_the_collection_is_made(args, error):
    app = App()
    item = app.resource(lambda: {})
    with pytest.raises(ValueError, match=error):
        item.collection(lambda: [], **args)


def test_names_must_be_strings():
    with pytest.raises(TypeError, match="field names"):
        QuerySpec(filterable=[3])  # type: ignore[list-item]


def test_declarations():
    app = App()
    item = app.resource(lambda: {})
    assert item.collection(lambda: []).query_spec is None
    spec = item.collection(
        lambda: [], filterable="done", sortable=("a", "b", "a")
    ).query_spec
    assert spec is not None
    assert spec.filterable == ("done",)
    assert spec.sortable == ("a", "b")
    assert not spec.paged
    assert spec.parameters == {"done", "sort", "count"}
    spec = item.collection(lambda: [], max_page_size=5).query_spec
    assert spec is not None and spec.paged and spec.page_size is None
    assert spec.parameters == {"limit", "offset", "count"}
    assert "max_page_size=5" in repr(spec)


def test_a_mapping_is_not_a_collection():
    with pytest.raises(TypeError, match="not dict"):
        Query(sort=(("n", False),)).run({"n": 1})
    with pytest.raises(TypeError, match="not int"):
        Query().run(3)


def test_invalid_query_is_a_bad_request():
    error = InvalidQuery([("a", "'a' is wrong"), ("a", "'a' again"), ("b", "'b' too")])
    assert error.code == 400
    assert error.parameters == ["a", "b"]
    assert error.error_info == {"type": "invalid_query", "parameters": ["a", "b"]}


def test_python_fallback_handles_generators_and_items_without_fields():
    def numbers():
        yield {"n": 2}
        yield "not a mapping"
        yield {"n": 1}

    page = Query(sort=(("n", False),), count=True, limit=2).run(numbers())
    assert page.items == [{"n": 1}, {"n": 2}]
    assert page.total == 3
    assert page.has_next
    page = Query(filters={"n": "1"}).run(numbers())
    assert list(page.items) == [{"n": 1}]
    untouched = numbers()
    assert Query().run(untouched).items is untouched


# -- OpenAPI -----------------------------------------------------------------------


def test_openapi_lists_the_query_parameters():
    app = App()
    store = DictDataSet()

    @app.route("/tasks/<int:id>")
    @app.resource(lazy=True)
    def task(id):
        return store.fetch(id=id)

    @app.route("/tasks/")
    @task.collection(
        lazy=True,
        filterable=("done", "owner"),
        sortable=("due", "title"),
        page_size=20,
        max_page_size=100,
    )
    def tasks():
        return store

    @app.route("/notes/")
    @task.collection
    def notes():
        return []

    doc = OpenAPI(app, title="Tasks").document()
    validate(doc)
    get = doc["paths"]["/tasks/"]["get"]
    params = {p["name"]: p for p in get["parameters"]}
    assert set(params) == {
        "If-None-Match",
        "done",
        "owner",
        "sort",
        "limit",
        "offset",
        "count",
    }
    for name in ("done", "owner", "sort", "limit", "offset", "count"):
        assert params[name]["in"] == "query"
        assert params[name]["required"] is False
    assert params["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
    }
    assert params["offset"]["schema"]["minimum"] == 0
    assert params["count"]["schema"] == {"type": "boolean", "default": False}
    pattern = re.compile(params["sort"]["schema"]["pattern"])
    assert pattern.fullmatch("due,-title")
    assert pattern.fullmatch(params["sort"]["example"])
    assert not pattern.fullmatch("due,,title")
    assert not pattern.fullmatch("owner")
    assert "null" in params["done"]["description"]
    ok = get["responses"]["200"]
    assert {"ETag", "Link", "X-Total-Count"} <= set(ok["headers"])
    assert get["responses"]["400"] == {"$ref": "#/components/responses/BadRequest"}
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert error["properties"]["parameters"]["items"] == {"type": "string"}
    # POST takes no query parameters; an undeclared collection has none.
    assert "parameters" not in doc["paths"]["/tasks/"]["post"] or all(
        p["in"] != "query" for p in doc["paths"]["/tasks/"]["post"]["parameters"]
    )
    notes_get = doc["paths"]["/notes/"]["get"]
    assert all(p["in"] != "query" for p in notes_get.get("parameters", []))
    assert "400" not in notes_get["responses"]
    assert "Link" not in notes_get["responses"]["200"].get("headers", {})


def test_openapi_for_a_collection_without_a_default_page():
    app = App()
    item = app.resource(lambda: {})
    app.route(item.collection(lambda: [], sortable=["n"], max_page_size=5), "/n/")
    doc = OpenAPI(app, title="N").document()
    validate(doc)
    params = {p["name"]: p for p in doc["paths"]["/n/"]["get"]["parameters"]}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert "whole collection" in params["limit"]["description"]


# -- layering and the guide --------------------------------------------------------


def test_querying_stays_in_the_core():
    code = (
        "import sys, findig.querying, findig.resource; "
        "print([m for m in ('findig.tools', 'findig.extras', 'findig.project', "
        "'sqlalchemy', 'redis') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_guide_examples():
    result = doctest.testfile(
        str(ROOT / "docs" / "guide" / "querying.rst"),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert result.attempted >= 20
    assert result.failed == 0
