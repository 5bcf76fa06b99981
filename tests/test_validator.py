"""Tests of findig.tools.validator: every documented example, through HTTP."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from _support import run_guide
from werkzeug.exceptions import BadRequest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from findig.json import App
from findig.tools.validator import (
    InvalidFields,
    MissingFields,
    UnexpectedFields,
    ValidationFailed,
    Validator,
)
from findig.utils import DataPipe

UTC_PLUS_4 = datetime.timezone(datetime.timedelta(hours=4))


def body(response: Any) -> Any:
    return json.loads(response.get_data(as_text=True))


def writable(app: App, rule: str, **resource_args: Any) -> tuple[Any, list[Any]]:
    """A routed resource whose write operation records what it receives."""
    received: list[Any] = []

    def read() -> dict[str, Any]:
        return {"read": True}

    resource = app.route(app.resource(read, **resource_args), rule)

    @resource.model("write")
    def write(data: Any) -> None:
        received.append(data)

    return resource, received


# -- the examples of the module documentation ---------------------------------


def test_spec_example_converter_function():
    app = App()
    validator = Validator(app)
    seen = []

    @validator.enforce(id=int)
    @app.route("/test")
    def resource():
        pass

    @resource.model("write")
    def write_resource(data):
        assert isinstance(data["id"], int)
        seen.append(data)

    client = Client(app)
    assert client.put("/test", json={"id": "12"}).status_code == 200
    assert seen == [{"id": 12}]
    response = client.put("/test", json={"id": "twelve"})
    assert response.status_code == 400
    assert body(response)["error"] == {"type": "invalid_fields", "fields": ["id"]}
    assert len(seen) == 1


def test_spec_example_list_converter():
    app = App()
    validator = Validator(app)
    seen = []

    @validator.enforce(ids=[int])
    @app.route("/test2")
    def resource2():
        pass

    @resource2.model("write")
    def write_resource(data):
        for id in data["ids"]:
            assert isinstance(id, int)
        seen.append(data)

    client = Client(app)
    assert client.put("/test2", json={"ids": ["1", 2, "3"]}).status_code == 200
    assert seen == [{"ids": [1, 2, 3]}]
    # Not a list, or a list with a bad item.
    for ids in ("1", 1, ["1", "x"], {"a": 1}):
        response = client.put("/test2", json={"ids": ids})
        assert response.status_code == 400, ids
        assert body(response)["error"]["fields"] == ["ids"]
    assert len(seen) == 1


def test_spec_example_string_specifications():
    app = App()
    validator = Validator(app)
    seen = []

    @validator.enforce(foo="any(bar,baz)", cid="string(length=3)")
    @app.route("/test3")
    def resource3():
        pass

    @resource3.model("write")
    def write_resource(data):
        assert data["foo"] in ("bar", "baz")
        assert len(data["cid"]) == 3
        seen.append(data)

    client = Client(app)
    assert client.put("/test3", json={"foo": "baz", "cid": "abc"}).status_code == 200
    assert seen == [{"foo": "baz", "cid": "abc"}]
    response = client.put("/test3", json={"foo": "qux", "cid": "abcd"})
    assert response.status_code == 400
    assert body(response)["error"] == {
        "type": "invalid_fields",
        "fields": ["cid", "foo"],
    }
    assert len(seen) == 1


def test_enforce_examples_as_plain_calls():
    app = App()
    validator = Validator(app)
    resource, seen = writable(app, "/r")
    game_uuid = uuid.uuid4()
    assert validator.enforce(resource, game_id=int) is resource
    validator.enforce(resource, duration=float)
    validator.enforce(resource, student_id="string(length=10)")
    validator.enforce(resource, field="any(foo, 1000, True)")
    validator.enforce(resource, game_no="int")
    validator.enforce(resource, limit="float(max=1000)")
    validator.enforce(resource, games=[int])
    validator.enforce(resource, components=["uuid"])
    validator.enforce(resource, students=["string(length=10)"])
    client = Client(app)
    good = {
        "game_id": "42",
        "duration": "2.5",
        "student_id": "0123456789",
        "field": "1000",
        "game_no": "7",
        "limit": "999.5",
        "games": ["1", 2],
        "components": [str(game_uuid)],
        "students": ["abcdefghij", "klmnopqrst"],
    }
    assert client.put("/r", json=good).status_code == 200
    assert seen == [
        {
            "game_id": 42,
            "duration": 2.5,
            "student_id": "0123456789",
            "field": "1000",
            "game_no": 7,
            "limit": 999.5,
            "games": [1, 2],
            "components": [game_uuid],
            "students": ["abcdefghij", "klmnopqrst"],
        }
    ]
    for option in ("foo", "True"):
        assert client.put("/r", json={"field": option}).status_code == 200
    bad = {
        "game_id": "4 2",
        "duration": "fast",
        "student_id": "012345678",
        "field": "bar",
        "game_no": "-7",
        "limit": "1000.5",
        "games": [1, "two"],
        "components": ["not-a-uuid"],
        "students": ["abcdefghij", "short"],
    }
    response = client.put("/r", json=bad)
    assert response.status_code == 400
    assert body(response)["error"]["fields"] == sorted(bad)
    assert len(seen) == 3


def test_enforce_decorator_example_returns_the_resource():
    app = App()
    validator = Validator(app)

    @validator.enforce(uid=int, friends=[int])
    @app.route("/")
    def res():
        return {}

    seen = []
    res.model("write")(seen.append)
    client = Client(app)
    assert client.get("/").status_code == 200
    assert client.put("/", json={"uid": "1", "friends": [2, "3"]}).status_code == 200
    assert seen == [{"uid": 1, "friends": [2, 3]}]
    assert client.put("/", json={"uid": "1", "friends": 2}).status_code == 400


def test_validation_failed_handler_example():
    app = App()
    validator = Validator(app)
    resource, seen = writable(app, "/r")
    validator.enforce(resource, id=int, other=int)

    @app.error_handler.register(ValidationFailed)
    def on_validation_failed(e):
        msg = "Failed to convert input data for the following fields: "
        msg += str(e.fields)
        return Response(msg, status=e.status)

    response = Client(app).put("/r", json={"id": "x", "other": "y"})
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        "Failed to convert input data for the following fields: ['id', 'other']"
    )
    assert seen == []


# -- the tutorial ---------------------------------------------------------------


class Record(Mapping[str, Any]):
    """A mutable record of an in-memory task table (lazy until read)."""

    def __init__(self, table: dict[str, dict[str, Any]], id: str) -> None:
        self.table = table
        self.id = id

    def __getitem__(self, key: str) -> Any:
        return {"id": int(self.id), **self.table[self.id]}[key]

    def __iter__(self) -> Iterator[str]:
        return iter({"id": None, **self.table[self.id]})

    def __len__(self) -> int:
        return len(self.table[self.id]) + 1

    def data_operations(self) -> dict[str, Any]:
        return {"write": self.write, "delete": self.delete}

    def write(self, data: Mapping[str, Any]) -> None:
        if self.id not in self.table:
            raise LookupError(self.id)
        self.table[self.id] = {k: v for k, v in data.items() if k != "id"}

    def delete(self) -> None:
        del self.table[self.id]


class TaskSet:
    """A mutable in-memory data set standing in for the tutorial's SQLASet."""

    def __init__(self, table: dict[str, dict[str, Any]]) -> None:
        self.table = table

    def __iter__(self) -> Iterator[Record]:
        return (Record(self.table, id) for id in list(self.table))

    def data_operations(self) -> dict[str, Any]:
        return {"make": self.add}

    def add(self, data: Mapping[str, Any]) -> dict[str, int]:
        new_id = str(len(self.table) + 1)
        self.table[new_id] = dict(data)
        return {"id": int(new_id)}

    def fetch(self, id: str) -> Record:
        return Record(self.table, id)


def tutorial_app(
    table: dict[str, dict[str, Any]], error_handler: bool = False, **validator_args: Any
) -> App:
    app = App()
    validator = Validator(app, **validator_args)

    @validator.restrict("*title", "desc", "*due")
    @validator.enforce(due=validator.date("%Y-%m-%d %H:%M:%S%z"))
    @app.route("/tasks/<id>")
    @app.resource(lazy=True)
    def task(id):
        return tasks().fetch(id=id)

    @app.route("/tasks/")
    @task.collection(lazy=True)
    def tasks():
        return TaskSet(table)

    if error_handler:

        @app.error_handler.register(MissingFields)
        def on_missing_fields(err):
            output = {
                "error": {"type": "missing_fields", "fields": err.fields},
                "message": "The input is missing one or more parameters.",
            }
            return app.make_response(output, status=400)

    return app


def test_tutorial_through_http():
    table: dict[str, dict[str, Any]] = {}
    client = Client(tutorial_app(table))
    assert body(client.get("/tasks/")) == []

    # The collection inherits the rules of its items: 'due' is required.
    response = client.post("/tasks/", json={"title": "My Task"})
    assert response.status_code == 400
    assert response.content_type == "application/json"
    assert body(response) == {
        "message": "The input is missing required fields: due.",
        "error": {"type": "missing_fields", "fields": ["due"]},
    }
    assert table == {}

    response = client.post(
        "/tasks/", json={"title": "My Task", "due": "2015-07-19 00:00:00+0400"}
    )
    assert response.status_code == 201
    assert body(response) == {"id": 1}
    assert response.headers["Location"] == "http://localhost/tasks/1"
    assert table == {
        "1": {
            "title": "My Task",
            "due": datetime.datetime(2015, 7, 19, tzinfo=UTC_PLUS_4),
        }
    }

    # PUT: converted, and an extra field is stripped.
    response = client.put(
        "/tasks/1",
        json={
            "title": "My Task",
            "due": "2015-07-19 00:00:00+0400",
            "desc": "My awesome task dawg.",
            "colour": "red",
        },
    )
    assert response.status_code == 200
    assert response.get_data() == b""
    assert table["1"] == {
        "title": "My Task",
        "due": datetime.datetime(2015, 7, 19, tzinfo=UTC_PLUS_4),
        "desc": "My awesome task dawg.",
    }
    assert body(client.get("/tasks/1")) == {
        "id": 1,
        "title": "My Task",
        "due": "2015-07-19T00:00:00+04:00",
        "desc": "My awesome task dawg.",
    }

    # A badly formed date.
    response = client.put("/tasks/1", json={"title": "T", "due": "tomorrow"})
    assert response.status_code == 400
    assert body(response)["error"] == {"type": "invalid_fields", "fields": ["due"]}
    assert table["1"]["title"] == "My Task"

    assert client.delete("/tasks/1").status_code == 200
    assert table == {}


def test_tutorial_missing_fields_error_handler():
    table: dict[str, dict[str, Any]] = {}
    client = Client(tutorial_app(table, error_handler=True))
    response = client.post("/tasks/", json={"title": "My Task"})
    assert response.status_code == 400
    assert body(response) == {
        "error": {"type": "missing_fields", "fields": ["due"]},
        "message": "The input is missing one or more parameters.",
    }
    # Other validation errors still get the default JSON body.
    response = client.post("/tasks/", json={"title": "My Task", "due": "2015-07-19"})
    assert response.status_code == 400
    assert body(response)["error"]["type"] == "invalid_fields"
    assert table == {}


def test_tutorial_without_collection_rules():
    table: dict[str, dict[str, Any]] = {}
    client = Client(tutorial_app(table, include_collections=False))
    response = client.post("/tasks/", json={"title": "My Task", "extra": 1})
    assert response.status_code == 201
    assert table == {"1": {"title": "My Task", "extra": 1}}
    # The item itself is still validated.
    response = client.put("/tasks/1", json={"title": "My Task"})
    assert response.status_code == 400
    assert body(response)["error"]["fields"] == ["due"]


# -- errors -----------------------------------------------------------------------


def test_error_classes():
    validator = Validator()
    for cls, kind in (
        (MissingFields, "missing_fields"),
        (UnexpectedFields, "unexpected_fields"),
        (InvalidFields, "invalid_fields"),
    ):
        err = cls(["b", "a"], validator)
        assert isinstance(err, ValidationFailed)
        assert isinstance(err, BadRequest)
        assert err.code == err.status == 400
        assert err.fields == ["a", "b"]
        assert err.validator is validator
        assert err.error_info == {"type": kind, "fields": ["a", "b"]}
        assert "a, b" in err.description
    assert ValidationFailed().fields == []


def test_error_description_is_bounded():
    names = [f"field{n:03d}" for n in range(100)] + ["x" * 1000]
    err = UnexpectedFields(names, None)
    assert len(err.fields) == 101
    assert len(err.description) < 300
    assert "(and 91 more)" in err.description


def test_failure_order_missing_then_unexpected_then_invalid():
    app = App()
    validator = Validator(app)
    resource, seen = writable(app, "/r")
    validator.restrict(resource, "*b", "*a", "c", "d", strip_extra=False)
    validator.enforce(resource, c=int, d=int)
    client = Client(app)

    response = client.put("/r", json={"c": "x", "y": 1, "x": 2})
    assert body(response)["error"] == {"type": "missing_fields", "fields": ["a", "b"]}
    response = client.put("/r", json={"a": 1, "b": 2, "c": "x", "z": 1, "y": 2})
    assert body(response)["error"] == {
        "type": "unexpected_fields",
        "fields": ["y", "z"],
    }
    response = client.put("/r", json={"a": 1, "b": 2, "d": "x", "c": "y"})
    assert body(response) == {
        "message": "The input has fields with invalid values: c, d.",
        "error": {"type": "invalid_fields", "fields": ["c", "d"]},
    }
    assert seen == []
    assert client.put("/r", json={"a": 1, "b": 2, "c": "3"}).status_code == 200
    assert seen == [{"a": 1, "b": 2, "c": 3}]


def test_strip_extra():
    app = App()
    validator = Validator(app)
    stripping, stripped = writable(app, "/strip")
    strict, kept = writable(app, "/strict")
    validator.restrict(stripping, "a")
    validator.restrict(strict, "a", strip_extra=False)
    client = Client(app)
    assert client.put("/strip", json={"a": 1, "b": 2}).status_code == 200
    assert stripped == [{"a": 1}]
    response = client.put("/strict", json={"a": 1, "b": 2})
    assert response.status_code == 400
    assert body(response)["error"] == {"type": "unexpected_fields", "fields": ["b"]}
    assert kept == []


def test_restrict_to_no_fields():
    app = App()
    validator = Validator(app)
    resource, seen = writable(app, "/r")
    validator.restrict(resource, strip_extra=False)
    client = Client(app)
    assert client.put("/r", json={}).status_code == 200
    assert client.put("/r", json={"a": 1}).status_code == 400
    assert seen == [{}]


def test_asterisk_escaping():
    app = App()
    validator = Validator(app)

    @validator.restrict("**star", "***needed", "*plain", "****two", strip_extra=False)
    @app.route("/r")
    def resource():
        return {}

    seen = []
    resource.model("write")(seen.append)
    client = Client(app)
    response = client.put("/r", json={})
    assert body(response)["error"] == {
        "type": "missing_fields",
        "fields": ["*needed", "plain"],
    }
    data = {"*needed": 1, "plain": 2, "*star": 3, "**two": 4}
    assert client.put("/r", json=data).status_code == 200
    assert seen == [data]
    response = client.put("/r", json={"*needed": 1, "plain": 2, "star": 3})
    assert body(response)["error"] == {"type": "unexpected_fields", "fields": ["star"]}


def test_restrict_rejects_bad_field_names():
    app = App()
    validator = Validator(app)
    resource, _ = writable(app, "/r")
    with pytest.raises(ValueError, match=r"'\*'"):
        validator.restrict("*")
    with pytest.raises(TypeError):
        validator.restrict(resource, 5)


def test_non_mapping_input_is_refused():
    app = App()
    validator = Validator(app)
    resource, seen = writable(app, "/r")
    validator.enforce(resource, a=int)
    client = Client(app)
    for data in ([{"a": 1}], "a", 3):
        response = client.put("/r", json=data)
        assert response.status_code == 400
        assert body(response) == {
            "message": "The input must be a mapping of field names to values "
            "(a JSON object).",
            "error": {"type": "malformed_input", "fields": []},
        }
    assert seen == []


def test_empty_body():
    app = App()
    validator = Validator(app)
    required, seen_required = writable(app, "/required")
    optional, seen_optional = writable(app, "/optional")
    validator.restrict(required, "*a", "*b")
    validator.enforce(optional, a=int)
    client = Client(app)
    response = client.put("/required")
    assert response.status_code == 400
    assert body(response)["error"] == {"type": "missing_fields", "fields": ["a", "b"]}
    assert seen_required == []
    assert client.put("/optional").status_code == 200
    assert seen_optional == [None]


# -- methods ------------------------------------------------------------------------


def test_only_put_post_patch_are_validated():
    app = App()
    validator = Validator(app)
    table: dict[str, dict[str, Any]] = {"1": {"a": "x"}}

    @validator.restrict("*a", strip_extra=False)
    @app.route("/items/<id>")
    @app.resource(lazy=True)
    def item(id):
        return Record(table, id)

    client = Client(app)
    assert client.get("/items/1").status_code == 200
    assert client.head("/items/1").status_code == 200
    assert client.delete("/items/1", json={"junk": True}).status_code == 200
    assert table == {}


def test_patch_is_partial():
    app = App()
    validator = Validator(app)
    table: dict[str, dict[str, Any]] = {"1": {"title": "T", "count": 1}}

    @validator.restrict("*title", "count", "note", strip_extra=False)
    @validator.enforce(count="int(max=10)")
    @app.route("/items/<id>")
    @app.resource(lazy=True)
    def item(id):
        return Record(table, id)

    client = Client(app)
    # The required title need not be sent; count is converted.
    assert client.patch("/items/1", json={"count": "5"}).status_code == 200
    assert table["1"] == {"title": "T", "count": 5}
    # Present fields are still validated.
    response = client.patch("/items/1", json={"count": "50"})
    assert body(response)["error"] == {"type": "invalid_fields", "fields": ["count"]}
    response = client.patch("/items/1", json={"colour": "red"})
    assert body(response)["error"] == {
        "type": "unexpected_fields",
        "fields": ["colour"],
    }
    # A required field cannot be removed; an optional one can.
    response = client.patch("/items/1", json={"title": None})
    assert body(response)["error"] == {"type": "missing_fields", "fields": ["title"]}
    assert client.patch("/items/1", json={"note": "n"}).status_code == 200
    assert client.patch("/items/1", json={"count": None}).status_code == 200
    assert table["1"] == {"title": "T", "note": "n"}
    # PUT is not partial.
    response = client.put("/items/1", json={"count": 2})
    assert body(response)["error"] == {"type": "missing_fields", "fields": ["title"]}
    assert table["1"] == {"title": "T", "note": "n"}


# -- precedence and collections ---------------------------------------------------


def test_enforce_all_has_lower_precedence():
    app = App()
    validator = Validator(app)
    specific, seen_specific = writable(app, "/specific")
    _, seen_plain = writable(app, "/plain")
    validator.enforce_all(n=int, tag="string(maxlength=3)")
    validator.enforce(specific, n=Validator.regex("[a-z]+"))
    client = Client(app)
    assert client.put("/plain", json={"n": "4", "tag": "abc"}).status_code == 200
    assert seen_plain == [{"n": 4, "tag": "abc"}]
    assert client.put("/plain", json={"n": "four"}).status_code == 400
    assert client.put("/specific", json={"n": "four"}).status_code == 200
    assert client.put("/specific", json={"n": "4"}).status_code == 400
    # The global rules still apply to the fields the resource does not cover.
    assert client.put("/specific", json={"tag": "abcd"}).status_code == 400
    assert seen_specific == [{"n": "four"}]


def collection_app(include_collections: bool = True) -> tuple[App, Validator, Any]:
    app = App()
    validator = Validator(app, include_collections=include_collections)
    made: list[Any] = []

    @validator.restrict("*name", strip_extra=False)
    @validator.enforce(name="string(maxlength=5)")
    @app.route("/items/<id>")
    def item(id):
        return {}

    @app.route("/items/")
    @item.collection
    def items():
        return []

    @items.model("make")
    def make(data):
        made.append(data)
        return {"id": len(made)}

    return app, validator, (item, items, made)


def test_collection_inherits_item_rules():
    app, _, (_, _, made) = collection_app()
    client = Client(app)
    response = client.post("/items/", json={"name": "toolong", "x": 1})
    assert body(response)["error"] == {"type": "unexpected_fields", "fields": ["x"]}
    response = client.post("/items/", json={})
    assert body(response)["error"] == {"type": "missing_fields", "fields": ["name"]}
    response = client.post("/items/", json={"name": "short"})
    assert response.status_code == 201
    assert response.headers["Location"] == "http://localhost/items/1"
    assert made == [{"name": "short"}]


def test_collection_rules_off():
    app, _, (_, _, made) = collection_app(include_collections=False)
    client = Client(app)
    assert client.post("/items/", json={"anything": [1]}).status_code == 201
    assert made == [{"anything": [1]}]


def test_collection_own_rules_override_inherited_ones():
    app, validator, (_, items, made) = collection_app()
    validator.enforce(items, size=int)
    client = Client(app)
    assert client.post("/items/", json={"name": "toolong", "x": 1}).status_code == 201
    assert client.post("/items/", json={"size": "x"}).status_code == 400
    assert made == [{"name": "toolong", "x": 1}]


def test_collection_opts_out_with_empty_rules():
    app, validator, (_, items, made) = collection_app()
    assert validator.enforce(items) is items
    assert Client(app).post("/items/", json={"x": 1}).status_code == 201
    assert made == [{"x": 1}]


# -- type confusion -------------------------------------------------------------


def convert(spec: Any, value: Any) -> tuple[bool, Any]:
    """Validate ``{"f": value}`` for a field with the converter *spec*."""
    app = App()
    validator = Validator(app)
    resource, _ = writable(app, "/r")
    validator.enforce(resource, f=spec)
    with app.test_context(path="/r", method="PUT"):
        try:
            return True, validator.validate({"f": value})["f"]
        except InvalidFields as err:
            assert err.fields == ["f"]
            return False, None


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("int", "12", 12),
        ("int", 12, 12),
        ("int", "007", 7),
        ("int(fixed_digits=3)", "007", 7),
        ("int(min=1, max=10)", 10, 10),
        ("int(signed=True)", -3, -3),
        ("int(signed=True)", "-3", -3),
        ("float", "2.5", 2.5),
        ("float", 2, 2.0),
        ("float", 2.5, 2.5),
        ("float(max=1000)", 1000, 1000.0),
        ("float(signed=True)", -0.5, -0.5),
        ("string", "a", "a"),
        ("string(minlength=2, maxlength=3)", "abc", "abc"),
        ("any(foo, 1000, True)", "1000", "1000"),
        ("any(foo, 1000, True)", "True", "True"),
        ("any('a,b', c)", "a,b", "a,b"),
        ("any('application/json', html)", "application/json", "application/json"),
        ("path", "a/b", "a/b"),
        (
            "uuid",
            "12345678-1234-5678-1234-567812345678",
            uuid.UUID(int=0x12345678123456781234567812345678),
        ),
        (int, "12", 12),
        (int, "-12", -12),
        (int, 3.0, 3),
        (float, "1e3", 1000.0),
        (float, 4, 4.0),
        (str, "s", "s"),
        (bool, False, False),
        ([int], [], []),
        ([["int"]], [["1"], [2]], [[1], [2]]),
        (lambda v: v * 2, 4, 8),
        (Validator.date("%Y-%m-%d"), "2015-07-17", datetime.datetime(2015, 7, 17)),
    ],
)
def test_valid_values(spec, value, expected):
    ok, result = convert(spec, value)
    assert ok
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("int", True),
        ("int", False),
        ("int", 1.5),
        ("int", 1.0),
        ("int", "1.0"),
        ("int", [1]),
        ("int", {"a": 1}),
        ("int", None),
        ("int", "12 "),
        ("int", " 12"),
        ("int", "1_000"),
        ("int", "\u0661\u0662"),
        ("int", "-3"),
        ("int", -3),
        ("int", ""),
        ("int(fixed_digits=3)", "7"),
        ("int(fixed_digits=3)", 7),
        ("int(min=1, max=10)", 11),
        ("int(min=1, max=10)", "0"),
        ("float", True),
        ("float", "2"),
        ("float", "abc"),
        ("float", -1.5),
        ("float", [2.5]),
        ("float(max=1000)", 1000.5),
        ("float(min=1)", "0.5"),
        ("string", 123),
        ("string", True),
        ("string", ["a"]),
        ("string", ""),
        ("string", None),
        ("string(length=3)", "abcd"),
        ("string(length=2)", "/e"),
        ("string(maxlength=3)", "abcd"),
        ("any(bar,baz)", "barx"),
        ("any(bar,baz)", "xbar"),
        ("any(foo, 1000, True)", 1000),
        ("any(foo, 1000, True)", True),
        ("uuid", "not-a-uuid"),
        ("uuid", 5),
        (int, True),
        (int, 3.5),
        (int, "3.5"),
        (int, [3]),
        (int, None),
        (float, True),
        (float, "nan"),
        (float, "inf"),
        (float, [1.0]),
        (str, 5),
        (str, None),
        (bool, "false"),
        (bool, 0),
        (uuid.UUID, 5),
        ([int], "1"),
        ([int], {"a": 1}),
        ([int], [True]),
        (Validator.date("%Y-%m-%d"), 20150717),
        (Validator.regex("a+"), ["a"]),
    ],
)
def test_invalid_values(spec, value):
    ok, _ = convert(spec, value)
    assert not ok


def test_any_exception_from_a_converter_makes_the_field_invalid():
    class Boom(Exception):
        pass

    def explode(value):
        raise Boom(value)

    def lookup(value):
        return {}[value]

    assert convert(explode, 1) == (False, None)
    # Even a LookupError is a validation failure, not a 404.
    app = App()
    validator = Validator(app)
    resource, seen = writable(app, "/r")
    validator.enforce(resource, f=lookup)
    response = Client(app).put("/r", json={"f": "k"})
    assert response.status_code == 400
    assert seen == []


# -- registration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "nope",
        "int(min=)",
        "int(",
        "int)",
        "int(min=1,(",
        "int(min=1 max=2)",
        "int(min='x')",
        "int(fixed_digits=-1)",
        "int(bogus=1)",
        "float(signed=3)",
        "string(length=abc)",
        "any()",
        "any(a, b=2)",
        "5abc",
        "",
        "int(1, 2, 3, 4, 5)",
        "any(application/json,html)",
    ],
)
def test_malformed_spec_fails_at_registration(spec):
    app = App()
    validator = Validator(app)
    resource, _ = writable(app, "/r")
    with pytest.raises(ValueError) as info:
        validator.enforce(resource, the_field=spec)
    message = str(info.value)
    assert repr(spec) in message
    assert "'the_field'" in message
    with pytest.raises(ValueError, match="the_field"):
        validator.enforce_all(the_field=[spec])
    with pytest.raises(ValueError, match="the_field"):
        validator.enforce(the_field=spec)


@pytest.mark.parametrize("spec", [[int, str], [], 42, None, ("int",)])
def test_invalid_converter_types_fail_at_registration(spec):
    validator = Validator()
    with pytest.raises(ValueError, match="'f'"):
        validator.enforce(f=spec)


def test_registration_after_first_request_fails():
    app = App()
    validator = Validator(app)
    resource, _ = writable(app, "/r")
    validator.enforce(resource, a=int)
    Client(app).get("/r")
    with pytest.raises(RuntimeError, match="first request"):
        validator.enforce(resource, b=int)
    with pytest.raises(RuntimeError, match="first request"):
        validator.restrict(resource, "a")
    with pytest.raises(RuntimeError, match="first request"):
        validator.enforce_all(c=int)
    with pytest.raises(RuntimeError, match="first request"):
        Validator(app)
    # The decorator form fails when it is applied.
    decorator = validator.enforce(b=int)
    with pytest.raises(RuntimeError):
        decorator(resource)


def test_enforce_needs_a_resource():
    validator = Validator()
    with pytest.raises(TypeError, match=r"above @app\.route"):
        validator.enforce(a=int)(lambda: None)
    with pytest.raises(TypeError):
        validator.restrict("a")(lambda: None)


def test_enforce_with_resource_keyword():
    app = App()
    validator = Validator(app)
    resource, seen = writable(app, "/r")
    assert validator.enforce(resource=resource, a=int) is resource
    assert Client(app).put("/r", json={"a": "1"}).status_code == 200
    assert seen == [{"a": 1}]


def test_repeated_registration_accumulates():
    app = App()
    validator = Validator(app)
    resource, seen = writable(app, "/r")
    validator.enforce(resource, a=int)
    validator.enforce(resource, b=int)
    validator.restrict(resource, "*a")
    validator.restrict(resource, "b", strip_extra=False)
    client = Client(app)
    assert client.put("/r", json={"a": "1", "b": "2"}).status_code == 200
    assert seen == [{"a": 1, "b": 2}]
    assert body(client.put("/r", json={"a": 1, "c": 3}))["error"]["type"] == (
        "unexpected_fields"
    )


# -- attaching ----------------------------------------------------------------------


def test_attach_appends_to_a_data_pipe():
    app = App()
    assert isinstance(app.pre_processor, DataPipe)
    pipe = app.pre_processor
    validator = Validator(app)
    assert app.pre_processor is pipe
    assert pipe.funcs == [validator.validate]
    validator.attach_to(app)  # a second time changes nothing
    assert pipe.funcs == [validator.validate]


def test_attach_wraps_another_pre_processor():
    calls = []

    def lower_keys(data):
        calls.append(data)
        return {k.lower(): v for k, v in data.items()} if data else data

    app = App(pre_processor=lower_keys)
    validator = Validator()
    validator.attach_to(app)
    assert isinstance(app.pre_processor, DataPipe)
    resource, seen = writable(app, "/r")
    validator.restrict(resource, "*name", strip_extra=False)
    assert Client(app).put("/r", json={"NAME": "x"}).status_code == 200
    assert calls == [{"NAME": "x"}]
    assert seen == [{"name": "x"}]


def test_one_validator_for_two_apps():
    validator = Validator()
    first, second = App(), App()
    validator.attach_to(first)
    validator.attach_to(second)
    one, seen_one = writable(first, "/r")
    _, seen_two = writable(second, "/r")
    validator.enforce(one, a=int)
    validator.enforce_all(b=int)
    assert Client(first).put("/r", json={"a": "1", "b": "2"}).status_code == 200
    assert Client(second).put("/r", json={"a": "x", "b": "2"}).status_code == 200
    assert seen_one == [{"a": 1, "b": 2}]
    assert seen_two == [{"a": "x", "b": 2}]


def test_validate_needs_a_request_context():
    with pytest.raises(RuntimeError, match="request context"):
        Validator().validate({})


def test_unruled_resources_pass_data_through_unchanged():
    app = App()
    validator = Validator(app)
    ruled, _ = writable(app, "/ruled")
    _, seen = writable(app, "/free")
    validator.enforce(ruled, a=int)
    data = {"a": "not an int", "b": [1]}
    with app.test_context(path="/free", method="PUT"):
        assert validator.validate(data) is data
    assert Client(app).put("/free", json=data).status_code == 200
    assert seen == [data]


# -- converter factories -----------------------------------------------------------


def test_date_tries_every_format_in_order():
    func = Validator.date("%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S%z")
    assert func("2015-07-17") == datetime.datetime(2015, 7, 17)
    assert func("17/07/2015") == datetime.datetime(2015, 7, 17)
    assert func("2015-07-17 09:00:00+0400") == datetime.datetime(
        2015, 7, 17, 9, tzinfo=UTC_PLUS_4
    )
    with pytest.raises(ValueError, match="any of the formats") as info:
        func("July")
    assert "'%d/%m/%Y'" in str(info.value)
    with pytest.raises(TypeError):
        Validator.date()


def test_regex_converter():
    func = Validator.regex("[a-z]+", flags=0)
    assert func("abc") == "abc"
    with pytest.raises(ValueError):
        func("abc1")
    import re

    func = Validator.regex(
        "(?P<word>[a-z]+)", flags=re.IGNORECASE, template=r"<\g<word>>"
    )
    assert func("AbC") == "<AbC>"
    with pytest.raises(ValueError):
        func(5)


# -- the user guide ---------------------------------------------------------------


def test_guide_examples_run(capsys):
    """The Python blocks of docs/guide/validator.rst run as one script."""
    namespace = run_guide("validator", min_blocks=8)
    printed = capsys.readouterr().out
    assert "'int(min=)' for field 'score'" in printed
    assert "first request" in printed
    assert namespace["tasks"][1]["title"] == "My Task"
