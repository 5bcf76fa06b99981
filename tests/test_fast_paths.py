"""The hot path's shortcuts give exactly what the general code gives.

Each shortcut (see the ``# PERF:`` comments in the core) is checked against
the code it stands in for: werkzeug's request attributes and host URL,
:meth:`json.JSONEncoder.encode`, and the request handling of apps with and
without hooks.
"""

from __future__ import annotations

import io
import json
import math
import tracemalloc
from collections import OrderedDict
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import EnvironHeaders
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

from findig import wrappers
from findig.context import ctx, request
from findig.json import App, JSONEncoder, _encode
from findig.utils import ArgumentBinder
from findig.wrappers import Request

FIELDS = (
    "method",
    "scheme",
    "server",
    "root_path",
    "path",
    "query_string",
    "remote_addr",
)

ENVIRONS = [
    {},
    {"path": "/a%C3%A9//b/", "query_string": "x=1&y=%C3%A9", "method": "patch"},
    {"base_url": "https://h.example:8443/r%C3%A9/", "path": "/items/"},
    {"base_url": "http://xn--bcher-kva.example/", "path": "/"},
    {"environ_base": {"REMOTE_ADDR": "192.0.2.1"}, "path": "/x"},
    {"environ_overrides": {"SERVER_PORT": "not-a-port", "PATH_INFO": ""}},
    {"environ_overrides": {"REQUEST_METHOD": "DELETE", "SCRIPT_NAME": "/app/"}},
]


def make_environ(**args: Any) -> dict[str, Any]:
    builder = EnvironBuilder(**args)
    try:
        return builder.get_environ()
    finally:
        builder.close()


def test_the_lazy_request_fields_are_in_use():
    # Otherwise these tests would compare werkzeug with itself.
    assert wrappers._LAZY
    assert "method" not in vars(Request(make_environ()))


@pytest.mark.parametrize("args", ENVIRONS)
def test_lazy_request_fields_are_werkzeugs(args):
    environ = make_environ(**args)
    ours = Request(environ.copy())
    theirs = WerkzeugRequest(environ.copy())
    for name in FIELDS:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert type(ours.headers) is EnvironHeaders
    assert dict(ours.headers) == dict(theirs.headers)
    for name in ("url", "host", "host_url", "root_url", "base_url", "args"):
        assert getattr(ours, name) == getattr(theirs, name), name


def test_lazy_request_fields_are_computed_once_and_writable():
    environ = make_environ(path="/x")
    req = Request(environ)
    assert environ["werkzeug.request"] is req
    assert req.headers is req.headers
    assert "method" not in vars(req)
    assert req.method == "GET"
    assert vars(req)["method"] == "GET"  # computed once, then a plain attribute
    req.method = "PUT"
    assert req.method == "PUT"
    shallow = Request(make_environ(), shallow=True)
    assert shallow.shallow
    assert "werkzeug.request" not in shallow.environ
    quiet = Request(make_environ(), populate_request=False)
    assert "werkzeug.request" not in quiet.environ


@pytest.mark.parametrize(
    "base_url",
    [
        "http://localhost/",
        "https://api.example:8443/",
        "http://xn--bcher-kva.example/",
        "http://[::1]:5000/",
    ],
)
def test_the_cached_host_url_is_werkzeugs(base_url):
    environ = make_environ(base_url=base_url)
    expected = WerkzeugRequest(environ.copy()).host_url
    assert Request(environ.copy()).host_url == expected
    assert Request(environ.copy()).host_url == expected  # from the cache


def test_the_host_url_cache_is_bounded():
    for number in range(wrappers._HOST_URLS_SIZE + 10):
        environ = make_environ(base_url=f"http://h{number}.example/")
        assert Request(environ).host_url == f"http://h{number}.example/"
    assert len(wrappers._HOST_URLS) <= wrappers._HOST_URLS_SIZE


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
        | st.tuples(children, children)
    ),
    max_leaves=20,
)

ENCODERS = [
    JSONEncoder(allow_nan=False),
    JSONEncoder(),
    json.JSONEncoder(sort_keys=True, ensure_ascii=False),
    json.JSONEncoder(separators=(",", ":"), check_circular=False),
]


def outcome(encode: Any, data: Any) -> Any:
    try:
        return ("ok", encode(data))
    except Exception as exc:
        return ("error", type(exc), str(exc))


@settings(max_examples=300, deadline=None)
@given(data=json_values, which=st.integers(0, len(ENCODERS) - 1))
def test_the_direct_json_encoding_is_the_encoders(data, which):
    encoder = ENCODERS[which]
    assert outcome(lambda d: _encode(encoder, d), data) == outcome(encoder.encode, data)


def test_the_direct_json_encoding_handles_what_the_encoder_handles():
    encoder = JSONEncoder(allow_nan=False)
    data = {
        "when": datetime(2024, 5, 6, 7, 8, 9),
        "day": date(2024, 5, 6),
        "price": Decimal("1.10"),
        "id": UUID(int=5),
        "ordered": OrderedDict([("b", 1), ("a", 2)]),
        "numbers": (n for n in range(3)),
        "text": "naïve ☃",
    }
    expected = JSONEncoder(allow_nan=False).encode(
        {**data, "numbers": (n for n in range(3))}
    )
    assert _encode(encoder, data) == expected
    circular: list[Any] = []
    circular.append(circular)
    for bad in (circular, math.nan, {"x": object()}):
        assert outcome(lambda d: _encode(encoder, d), bad) == outcome(
            encoder.encode, bad
        )


def test_encoders_with_their_own_encode_are_called():
    class Shouting(json.JSONEncoder):
        def encode(self, o: Any) -> str:
            return super().encode(o).upper()

    assert _encode(Shouting(), {"a": "b"}) == '{"A": "B"}'
    assert _encode(JSONEncoder(indent=2), [1]) == "[\n  1\n]"


def test_argument_binder_passes_only_named_variables():
    def one(id: int) -> Any:
        return id

    def two(data: Any, id: int, kind: str) -> Any:
        return (data, id, kind)

    assert ArgumentBinder(one)(values={"id": 4}) == 4
    assert ArgumentBinder(one)(values={"id": 4, "other": 5}) == 4
    assert ArgumentBinder(two)("d", values={"kind": "k", "id": 1}) == ("d", 1, "k")
    with pytest.raises(TypeError):
        ArgumentBinder(one)(values={})


def test_streaming_without_hooks_keeps_the_request_context():
    app = App()
    seen = []

    @app.route("/numbers")
    def numbers():
        def produce():
            for i in range(3):
                seen.append(request.path)
                yield i

        return produce()

    client = Client(app)
    response = client.get("/numbers")
    assert app._context_hooks == [] and app._cleanup_hooks == []
    assert response.json == [0, 1, 2]
    assert seen == ["/numbers"] * 3
    with pytest.raises(AttributeError):
        _ = ctx.request
    response = client.get("/numbers")
    response.close()
    with pytest.raises(AttributeError):
        _ = ctx.request


def test_the_url_adapter_is_bound_once_per_request():
    app = App()

    @app.route("/x")
    def x():
        return {"same": ctx.url_adapter is ctx.url_adapter}

    assert Client(app).get("/x").json == {"same": True}


def test_an_empty_post_processor_is_skipped_and_a_filled_one_is_not():
    app = App()
    app.post_processor.append(lambda data: {**data, "processed": True})

    @app.route("/x")
    def x():
        return {"a": 1}

    assert Client(app).get("/x").json == {"a": 1, "processed": True}


def test_the_context_proxies_read_attributes_like_local_proxies():
    from werkzeug.local import LocalProxy

    from findig.context import app as current_app
    from findig.context import resource, url_values

    assert isinstance(request, LocalProxy)
    with pytest.raises(RuntimeError, match="no active request context"):
        _ = request.path
    assert not request
    assert repr(request).endswith("unbound>")
    app = App()

    @app.route("/items/<int:id>")
    def item(id):
        request.findig_note = "set through the proxy"
        return {
            "path": request.path,
            "note": ctx.request.findig_note,
            "app": current_app.name if hasattr(current_app, "name") else None,
            "resource": resource.name,
            "keys": list(url_values.keys()),
        }

    assert Client(app).get("/items/3").json == {
        "path": "/items/3",
        "note": "set through the proxy",
        "app": None,
        "resource": item.name,
        "keys": ["id"],
    }
    with app.test_context(path="/items/3"):
        with pytest.raises(AttributeError):
            _ = request.no_such_attribute


# -- context hooks that run only where they apply, or without a generator ---


def make_hooked_app() -> tuple[App, list[Any], list[Any]]:
    app = App()
    events: list[Any] = []
    asked: list[Any] = []

    @app.route("/guarded")
    def guarded():
        events.append(("resource", ctx.guard, ctx.around))
        return {"guard": ctx.guard}

    @app.route("/open")
    def open_():
        events.append(("resource", ctx.guard, ctx.around))
        return {"guard": ctx.guard}

    def concerns(resource: Any) -> bool:
        asked.append(resource)
        return resource is guarded

    @app.context
    def around():
        events.append("around in")
        yield "around"
        events.append("around out")

    @app.context(applies_to=concerns, plain=True)
    def guard():
        events.append("guard")
        if request.headers.get("X-Deny"):
            from werkzeug.exceptions import Forbidden

            raise Forbidden()
        return "granted"

    @app.context(applies_to=lambda resource: resource is not None)
    def tail():
        events.append("tail in")
        yield None
        events.append("tail out")

    return app, events, asked


def test_a_hook_runs_only_for_the_resources_it_applies_to():
    app, events, asked = make_hooked_app()
    client = Client(app)
    assert client.get("/guarded").json == {"guard": "granted"}
    assert events == [
        "around in",
        "guard",
        "tail in",
        ("resource", "granted", "around"),
        "tail out",
        "around out",
    ]
    events.clear()
    assert client.get("/open").json == {"guard": None}
    assert events == [
        "around in",
        "tail in",
        ("resource", None, "around"),
        "tail out",
        "around out",
    ]
    events.clear()
    assert client.get("/nowhere").status_code == 404
    assert events == ["around in", "around out"]
    client.get("/guarded")
    # asked once per route and once for unmatched requests, when the routes
    # were built
    assert len(asked) == 3 and None in asked


def test_a_plain_hook_that_raises_stops_the_request():
    app, events, _ = make_hooked_app()
    response = Client(app).get("/guarded", headers={"X-Deny": "1"})
    assert response.status_code == 403
    assert response.json == {"message": response.json["message"]}
    # the resource was not called, nor the later hook; the entered one ended
    assert events == ["around in", "guard", "around out"]


def test_hooks_with_options_in_test_contexts_and_after_the_first_request():
    app, events, _ = make_hooked_app()
    with app.test_context(create_route=True):
        assert (ctx.around, ctx.guard) == ("around", "granted")
    assert events[-1] == "around out"
    with pytest.raises(RuntimeError, match="first request"):
        app.context(lambda: None, plain=True)
    with pytest.raises(AttributeError, match="no attribute 'unknown'"):
        with app.test_context(path="/open"):
            _ = ctx.unknown


class _Trickle:
    """A WSGI input that hands out at most 3 bytes a read of a given size."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        size = len(self.data) if size < 0 else min(size, 3)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


BODY = json.dumps({"name": "x" * 40, "n": 3}).encode()


def _post_environ(stream: Any, terminated: bool) -> dict[str, Any]:
    environ = EnvironBuilder(method="POST", data=BODY).get_environ()
    environ["wsgi.input"] = stream
    if terminated:
        environ["wsgi.input_terminated"] = True
    return environ


@pytest.mark.parametrize("terminated", [False, True])
def test_a_body_of_known_length_is_read_as_werkzeug_reads_it(terminated):
    # Read by its Content-Length, in as many reads as the stream needs, and
    # cached where get_data() caches it.
    expected = WerkzeugRequest(_post_environ(_Trickle(BODY), terminated)).get_data()
    request = Request(_post_environ(_Trickle(BODY), terminated))
    assert request._read_body() == BODY == expected
    assert request.get_data() == BODY


@pytest.mark.parametrize("terminated", [False, True])
def test_a_small_body_costs_little_memory(terminated):
    # werkzeug reads 64 KiB at a time, allocating as much for a few bytes.
    request = Request(_post_environ(io.BytesIO(BODY), terminated))
    tracemalloc.start()
    try:
        assert request._read_body() == BODY
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024
