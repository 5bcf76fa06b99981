"""Bad input gets a clear answer, and the data operation is never called."""

from __future__ import annotations

import io
import logging

import pytest
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from findig.json import App
from findig.wrappers import Request


@pytest.fixture
def setup():
    app = App()
    calls: list = []

    @app.route("/items/<int:id>")
    def item(id):
        return {"id": id}

    @item.model("write")
    def write_item(data):
        calls.append(data)

    @app.route("/items/")
    @item.collection
    def items():
        return []

    @items.model("make")
    def make_item(data):
        calls.append(data)
        return {"id": 1}

    return app, Client(app), calls


def post(client, body, content_type="application/json", **kw):
    return client.post("/items/", data=body, content_type=content_type, **kw)


@pytest.mark.parametrize(
    "body",
    [
        "{bad",
        '{"a": 1',
        '{"a": }',
        "[1, 2,]",
        "'single'",
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -Infinity}',
        "NaN",
    ],
)
def test_malformed_or_non_finite_json_is_400(setup, body):
    app, client, calls = setup
    response = post(client, body)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert "message" in response.json
    assert calls == []


def test_nesting_over_the_limit_is_400(setup):
    app, client, calls = setup
    ok = "[" * 32 + "]" * 32
    assert post(client, ok).status_code == 201
    calls.clear()
    assert post(client, "[" * 33 + "]" * 33).status_code == 400
    assert post(client, '{"a":' * 40 + "1" + "}" * 40).status_code == 400
    # far deeper than the interpreter's recursion limit: still a clean 400
    response = post(client, "[" * 200_000 + "]" * 200_000)
    assert response.status_code == 400
    assert "deeper" in response.json["message"]
    assert calls == []


def test_depth_limit_is_configurable():
    app = App(max_depth=3)
    seen = []

    @app.route("/x")
    def x():
        return {}

    @x.model("write")
    def write(data):
        seen.append(data)

    client = Client(app)
    assert (
        client.put("/x", data="[[[1]]]", content_type="application/json").status_code
        == 200
    )
    assert (
        client.put("/x", data="[[[[1]]]]", content_type="application/json").status_code
        == 400
    )
    assert seen == [[[[1]]]]


def test_wrong_content_type_is_415(setup):
    app, client, calls = setup
    response = post(client, "<a/>", content_type="text/xml")
    assert response.status_code == 415
    assert "application/json" in response.json["message"]
    assert calls == []


def test_invalid_utf8_is_400_and_unknown_charset_415(setup):
    app, client, calls = setup
    assert post(client, b'{"a": "\xff\xfe"}').status_code == 400
    assert (
        post(client, "{}", content_type="application/json; charset=klingon").status_code
        == 415
    )
    assert (
        post(
            client,
            '{"a": "é"}'.encode("latin-1"),
            content_type="application/json; charset=latin-1",
        ).status_code
        == 201
    )
    assert calls == [{"a": "é"}]


class _ExplodingInput(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body was read")


def test_body_over_the_limit_is_413_without_reading(setup):
    app, client, calls = setup
    environ = EnvironBuilder(
        path="/items/", method="POST", content_type="application/json"
    ).get_environ()
    environ["CONTENT_LENGTH"] = str(Request.max_content_length + 1)
    environ["wsgi.input"] = _ExplodingInput()
    app_iter, status, headers = run_wsgi_app(app, environ)
    assert status.startswith("413")
    assert b"message" in b"".join(app_iter)
    assert calls == []
    assert Request.max_content_length == 10 * 1024 * 1024


def test_unacceptable_accept_is_406(setup):
    app, client, calls = setup
    response = client.get("/items/1", headers={"Accept": "text/html"})
    assert response.status_code == 406
    assert response.mimetype == "application/json"
    response = client.post(
        "/items/", json={"a": 1}, headers={"Accept": "application/xml;q=1, */*;q=0"}
    )
    assert response.status_code == 406


def test_accept_wildcards_and_quality(setup):
    app, client, calls = setup
    for accept in ["*/*", "application/*", "text/html, */*;q=0.1", "application/json"]:
        response = client.get("/items/1", headers={"Accept": accept})
        assert response.status_code == 200, accept
        assert response.mimetype == "application/json"


def test_failing_url_converter_is_404(setup):
    app, client, calls = setup
    assert client.get("/items/abc").status_code == 404
    assert client.put("/items/abc", json={}).status_code == 404
    assert calls == []


def test_unhandled_exception_is_500_revealing_nothing(caplog):
    app = App()

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret database password is hunter2")

    with caplog.at_level(logging.ERROR, logger="findig"):
        response = Client(app).get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "hunter2" not in body
    assert "RuntimeError" not in body
    assert response.json["message"]
    assert any(
        record.exc_info and "hunter2" in str(record.exc_info[1])
        for record in caplog.records
    )


def test_empty_body_is_no_data(setup):
    app, client, calls = setup
    assert client.post("/items/").status_code == 201
    assert client.put("/items/3", data=b"", content_type="text/xml").status_code == 200
    assert calls == [None, None]


def test_json_lists_stay_lists(setup):
    app, client, calls = setup
    assert post(client, "[1, [2, 3]]").status_code == 201
    assert calls == [[1, [2, 3]]]
    assert type(calls[0]) is list
