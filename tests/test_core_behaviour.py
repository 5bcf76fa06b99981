"""Core request handling: methods, errors, hooks, contexts, registration."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading

import pytest
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import NotFound, TooManyRequests, Unauthorized
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Response

from findig import App as PlainApp
from findig.context import ctx, request, url_values
from findig.json import App
from findig.resource import Result


def make_app():
    app = App()
    store = {1: {"name": "one", "tags": {"a": 1, "b": 2}}}

    @app.route("/items/<int:id>")
    def item(id):
        return store[id]

    @item.model("write")
    def write(data, id):
        store[id] = data

    @item.model("delete")
    def delete(id):
        del store[id]

    return app, store


def test_head_matches_get_without_body():
    app, _ = make_app()
    client = Client(app)
    get = client.get("/items/1")
    head = client.head("/items/1")
    assert head.status_code == get.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert client.head("/items/2").status_code == 404


def test_options_and_405_list_every_allowed_method():
    app, _ = make_app()
    client = Client(app)
    options = client.options("/items/1")
    assert options.status_code == 200
    assert options.headers["Allow"] == "HEAD, GET, PUT, PATCH, DELETE, OPTIONS"
    post = client.post("/items/1", json={})
    assert post.status_code == 405
    assert post.headers["Allow"] == "HEAD, GET, PUT, PATCH, DELETE, OPTIONS"
    assert post.mimetype == "application/json"


def test_url_variables_are_passed_only_where_named():
    app, store = make_app()
    client = Client(app)
    assert client.put("/items/5", json={"name": "five"}).status_code == 200
    assert store[5] == {"name": "five"}
    assert client.delete("/items/5").status_code == 200
    assert 5 not in store


def test_patch_applies_a_merge_patch_through_write():
    app, store = make_app()
    client = Client(app)
    response = client.patch("/items/1", json={"tags": {"a": None, "c": 3}})
    assert response.status_code == 200
    assert store[1] == {"name": "one", "tags": {"b": 2, "c": 3}}
    assert client.patch("/items/1", json=[1]).status_code == 400


def test_lookup_error_is_404_and_resource_attribute_binding():
    app = App()
    seen = []

    @app.route("/things/<name>/<int:n>")
    def thing(name, n):
        seen.append((thing.n, url_values["name"]))
        return {"n": n}["missing"]

    response = Client(app).get("/things/x/3")
    assert response.status_code == 404
    assert seen == [(3, "x")]
    with pytest.raises(AttributeError):
        _ = thing.n


def test_resource_variables_are_context_safe_across_threads():
    app = App()
    barrier = threading.Barrier(8)

    @app.route("/echo/<int:n>")
    def echo(n):
        barrier.wait(timeout=10)
        return {"n": echo.n, "path": request.path}

    results = {}

    def call(i):
        results[i] = Client(app).get(f"/echo/{i}").json

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == {i: {"n": i, "path": f"/echo/{i}"} for i in range(8)}


def test_http_errors_keep_status_and_headers_in_json():
    app = App()

    @app.route("/limited")
    def limited():
        raise TooManyRequests("slow down", retry_after=30)

    @app.route("/private")
    def private():
        raise Unauthorized(
            "who are you?", www_authenticate=WWWAuthenticate("basic", {"realm": "x"})
        )

    client = Client(app)
    limited_response = client.get("/limited")
    assert limited_response.status_code == 429
    assert limited_response.headers["Retry-After"] == "30"
    assert limited_response.json == {"message": "slow down"}
    private_response = client.get("/private")
    assert private_response.status_code == 401
    assert private_response.headers["WWW-Authenticate"] == "Basic realm=x"


def test_error_handlers_resource_first_then_app():
    app = App()

    @app.route("/a")
    def a():
        raise KeyError("x")  # a LookupError: becomes NotFound first

    @app.route("/b")
    def b():
        raise ValueError("bad")

    @b.error_handler.register(ValueError)
    def on_value_error(err):
        return app.make_response({"resource": True}, status=422)

    @app.route("/c")
    def c():
        raise ValueError("bad")

    @app.error_handler.register(NotFound)
    def on_not_found(err):
        return app.make_response({"custom": "not found"}, status=404)

    client = Client(app)
    assert client.get("/a").json == {"custom": "not found"}
    assert client.get("/nowhere").json == {"custom": "not found"}
    assert client.get("/b").status_code == 422
    assert client.get("/b").json == {"resource": True}
    assert client.get("/c").status_code == 500


def test_custom_error_handler_function(caplog):
    def handler(err):
        if isinstance(err, NotFound):
            return Response("gone", status=404)
        raise err

    app = App(error_handler=handler)

    @app.route("/boom")
    def boom():
        raise RuntimeError("x")

    client = Client(app)
    assert client.get("/nothing").data == b"gone"
    with caplog.at_level(logging.CRITICAL, logger="findig"):
        assert client.get("/boom").status_code == 500


def test_plain_app_errors_are_text():
    app = PlainApp()
    response = Client(app).get("/nothing")
    assert response.status_code == 404
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).startswith("404 Not Found")


def test_result_and_response_passthrough():
    app = App()

    @app.route("/accepted")
    def accepted():
        return Result({"queued": True}, 202, [("X-Job", "7")])

    @app.route("/raw")
    def raw():
        return Response("raw!", mimetype="text/csv")

    client = Client(app)
    response = client.get("/accepted")
    assert (response.status_code, response.json, response.headers["X-Job"]) == (
        202,
        {"queued": True},
        "7",
    )
    assert client.get("/raw").data == b"raw!"


def test_redirect_to_canonical_slash_uses_the_request_host():
    app = App()

    @app.route("/tasks/")
    def tasks():
        return []

    response = Client(app).get("/tasks", base_url="http://api.example:8080")
    assert response.status_code == 308
    assert response.headers["Location"] == "http://api.example:8080/tasks/"


def test_registration_after_first_request_raises():
    app = App()

    @app.route("/x")
    def x():
        return {}

    Client(app).get("/x")
    with pytest.raises(RuntimeError, match="first request"):
        app.route(lambda: {}, "/y")
    with pytest.raises(RuntimeError, match="first request"):

        @app.context
        def late():
            yield


def test_generated_names_are_unique():
    app = App()
    first = app.route(lambda: {"n": 1}, "/one")
    second = app.route(lambda: {"n": 2}, "/two")
    assert first.name != second.name
    client = Client(app)
    assert client.get("/one").json == {"n": 1}
    assert client.get("/two").json == {"n": 2}


def test_hooks_run_in_order_and_errors_are_handled():
    app = App()
    events = []

    @app.startup_hook
    def startup():
        events.append("startup")

    @app.cleanup_hook
    def cleanup():
        events.append("cleanup")

    @app.context
    def guard():
        events.append("enter")
        if request.headers.get("X-Deny"):
            raise Unauthorized("denied")
        yield "granted"
        events.append("exit")

    @app.route("/r")
    def r():
        events.append(f"resource:{ctx.guard}")
        return {}

    client = Client(app)
    assert client.get("/r").status_code == 200
    assert client.get("/r", headers={"X-Deny": "1"}).status_code == 401
    assert events == [
        "startup",
        "enter",
        "resource:granted",
        "exit",
        "cleanup",
        "enter",
        "cleanup",
    ]


def test_test_context_without_route_raises_not_found():
    app = App()
    with pytest.raises(NotFound):
        with app.test_context(path="/nowhere"):
            pass
    with app.test_context(path="/nowhere", create_route=True):
        assert request.path == "/nowhere"
    with pytest.raises(AttributeError):
        _ = ctx.request


def test_lazy_resource_probe_failure_names_the_resource():
    app = App()

    @app.route("/broken/<id>")
    @app.resource(lazy=True, name="broken")
    def broken(id):
        raise RuntimeError("cannot probe")

    with pytest.raises(RuntimeError, match="'broken'"):
        Client(app).get("/broken/1")


CORE_MODULES = [
    "findig",
    "findig.app",
    "findig.content",
    "findig.context",
    "findig.data_model",
    "findig.dispatcher",
    "findig.json",
    "findig.querying",
    "findig.resource",
    "findig.utils",
    "findig.wrappers",
]


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_modules_stay_light(module):
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('findig.project', 'sqlalchemy', 'redis', 'alembic', "
        "'passlib', 'gunicorn', 'findig.tools', 'findig.extras') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""


def test_include_mounts_another_dispatcher_under_a_prefix():
    from findig.dispatcher import Dispatcher

    part = Dispatcher()

    @part.route("/token/<int:n>")
    def token(n):
        return {"n": n}

    app = App()
    app.include(part, prefix="/auth")
    client = Client(app)
    assert client.get("/auth/token/3").json == {"n": 3}
    assert client.get("/token/3").status_code == 404
    with pytest.raises(ValueError, match="prefix"):
        App().include(part, prefix="auth/")


def test_lazy_iterables_are_streamed_within_the_request_context():
    app = App()
    events = []

    @app.cleanup_hook
    def cleanup():
        events.append("cleanup")

    @app.route("/numbers")
    def numbers():
        def produce():
            for i in range(20_000):
                # the request context is available while the body is sent
                assert request.path == "/numbers"
                yield {"n": i}
            events.append("produced")

        return produce()

    client = Client(app)
    response = client.get("/numbers")
    assert "Content-Length" not in response.headers
    assert events == []  # nothing produced before the body is read
    body = response.get_data()
    assert [item["n"] for item in json.loads(body)] == list(range(20_000))
    assert events == ["produced", "cleanup"]
    # the context variables were cleared once the response was returned
    with pytest.raises(AttributeError):
        _ = ctx.request
    # an abandoned stream still finishes the request when closed
    events.clear()
    response = client.get("/numbers")
    response.close()
    assert events == ["cleanup"]
    assert client.head("/numbers").data == b""
    assert client.get("/empty-stream").status_code == 404


def test_empty_stream_is_an_empty_array():
    app = App()

    @app.route("/none")
    def none():
        return (x for x in ())

    assert Client(app).get("/none").json == []


def test_stream_that_cannot_start_is_an_error_response():
    # A lazy collection reads its first item before the status line is
    # sent: a failure there (say, its database is gone) is an answer of its
    # own, not a 200 cut short.
    from werkzeug.exceptions import ServiceUnavailable

    app = App()
    fetched = []

    @app.route("/down")
    def down():
        def produce():
            raise ServiceUnavailable(retry_after=5)
            yield {}

        return produce()

    @app.route("/items")
    def items():
        def produce():
            for i in range(3):
                fetched.append(i)
                yield {"n": i}

        return produce()

    client = Client(app)
    response = client.get("/down")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["message"]
    statuses = []
    body = app(
        EnvironBuilder(path="/items").get_environ(),
        lambda status, headers, exc_info=None: statuses.append(status),
    )
    assert statuses == ["200 OK"]
    assert fetched == [0]  # only the first item before the body is read
    assert json.loads(b"".join(body)) == [{"n": 0}, {"n": 1}, {"n": 2}]
    body.close()


def test_problem_details_errors():
    from werkzeug.exceptions import BadRequest

    class FieldError(BadRequest):
        error_info = {"type": "invalid_fields", "fields": ["due", "title"]}

    app = App(problem_details=True)

    @app.route("/x")
    def x():
        raise FieldError("Some fields are invalid.")

    client = Client(app)
    response = client.get("/x")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "Some fields are invalid.",
        "errors": [
            {"field": "due", "type": "invalid_fields"},
            {"field": "title", "type": "invalid_fields"},
        ],
    }
    missing = client.post("/x")
    assert missing.status_code == 405
    assert missing.json["status"] == 405
    assert missing.headers["Allow"] == "HEAD, GET, OPTIONS"


def test_urls_include_the_script_root_of_a_mounted_app():
    app = App()

    @app.route("/items/<int:id>")
    def item(id):
        return {"id": id}

    @app.route("/items/")
    @item.collection(include_urls=True)
    def items():
        return [{"id": 1}]

    @items.model("make")
    def make(data):
        return {"id": 2}

    client = Client(app)
    base = "http://api.example/v1/"
    assert client.get("/items/", base_url=base).json == [
        {"id": 1, "url": "/v1/items/1"}
    ]
    created = client.post("/items/", json={}, base_url=base)
    assert created.headers["Location"] == "http://api.example/v1/items/2"


def test_custom_url_converters_registered_on_the_map():
    from werkzeug.routing import BaseConverter

    class HexConverter(BaseConverter):
        regex = "[0-9a-f]+"

        def to_python(self, value):
            return int(value, 16)

        def to_url(self, value):
            return format(value, "x")

    app = App()
    app.url_map.converters["hex"] = HexConverter

    @app.route("/colours/<hex:value>")
    def colour(value):
        return {"value": value}

    client = Client(app)
    assert client.get("/colours/ff").json == {"value": 255}
    assert client.get("/colours/zz").status_code == 404
    assert [route.rule.rule for route in app.routes] == ["/colours/<hex:value>"]


def test_success_hooks_run_before_the_response_and_can_fail_it():
    from werkzeug.exceptions import Conflict

    app = App()
    events = []

    @app.success_hook
    def commit():
        events.append("commit")
        if request.headers.get("X-Fail-Commit"):
            raise Conflict("the change conflicts with another")

    @app.route("/x")
    def x():
        events.append("resource")
        return {}

    @app.route("/boom")
    def boom():
        raise KeyError("missing")

    client = Client(app)
    assert client.get("/x").status_code == 200
    failed = client.get("/x", headers={"X-Fail-Commit": "1"})
    assert failed.status_code == 409
    assert failed.json == {"message": "the change conflicts with another"}
    assert client.get("/boom").status_code == 404
    assert events == ["resource", "commit", "resource", "commit"]
