"""The protector's fast paths (and the core paths a guarded request takes):
each gives what the slow path gives."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from werkzeug.datastructures import EnvironHeaders
from werkzeug.test import Client, EnvironBuilder

from findig.context import request
from findig.json import App
from findig.tools import protector as protector_module
from findig.tools.protector import BasicProtector, GateKeeper, Protector, Unauthorized
from findig.wrappers import Request


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def basic_app() -> tuple[App, list[tuple[str, str]]]:
    app = App()
    seen: list[tuple[str, str]] = []
    protector = BasicProtector(app)

    @protector.auth_func
    def check(username: str, password: str) -> bool:
        seen.append((username, password))
        return password == "right"

    @protector.guard
    @app.route("/x")
    def x():
        return {"user": protector.authenticated_user}

    return app, seen


# -- Basic credentials: parsed once per header, verified on every request ----


def test_basic_credentials_are_verified_on_every_request():
    app, seen = basic_app()
    client = Client(app)
    for _ in range(3):
        assert client.get("/x", headers=basic("ann", "right")).json == {"user": "ann"}
        assert client.get("/x", headers=basic("ann", "wrong")).status_code == 401
    # The parsing is cached, never the verification: auth_func sees each one.
    assert seen == [("ann", "right"), ("ann", "wrong")] * 3


def test_malformed_basic_headers_stay_refused_when_cached():
    app, seen = basic_app()
    client = Client(app)
    for _ in range(2):
        for header in ("Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
            response = client.get("/x", headers={"Authorization": header})
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert seen == []


def test_the_basic_credentials_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(protector_module, "_CREDENTIALS", {})
    monkeypatch.setattr(protector_module, "_CREDENTIALS_SIZE", 4)
    app, seen = basic_app()
    client = Client(app)
    for i in range(10):
        response = client.get("/x", headers=basic(f"user{i}", "right"))
        assert response.json == {"user": f"user{i}"}
        assert 1 <= len(protector_module._CREDENTIALS) <= 4
    assert seen == [(f"user{i}", "right") for i in range(10)]
    # An over-long header is refused and not kept.
    protector_module._CREDENTIALS.clear()
    long = basic("u", "p" * 4096)
    assert client.get("/x", headers=long).status_code == 401
    assert protector_module._CREDENTIALS == {}


# -- scope checks: an exact grant, a super-scope, alternatives ---------------


class Tokens(GateKeeper):
    def __init__(self, tokens: dict[str, Any]) -> None:
        self.tokens = tokens
        self.asked = 0

    def check_auth(self) -> Any:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            raise Unauthorized()
        return self.tokens[token]

    def get_username(self, grant: Any) -> Any:
        return "u"

    def get_scopes(self, grant: Any) -> Any:
        self.asked += 1
        return grant


@pytest.mark.parametrize(
    ("scopes", "method", "status"),
    [
        (["user/emails+r"], "GET", 200),  # exactly the item needed
        (["user"], "GET", 200),  # a super-scope covers it
        (["user+d"], "GET", 403),
        (["user/emails+cu"], "PUT", 200),
        (["user/emails+c"], "PUT", 403),  # PUT needs both c and u
        (["user+u", "user/emails+c"], "PUT", 200),  # one each way
        (["admin/x"], "GET", 403),  # a sub-scope of the alternative's scope
        (["admin"], "GET", 200),  # the other alternative
    ],
)
def test_scope_checks(scopes, method, status):
    app = App()
    keeper = Tokens({"t": scopes})
    protector = Protector(app, gatekeeper=keeper)

    @app.route("/emails")
    def emails():
        return {"scope": sorted(protector.authorized_scope)}

    @emails.model("write")
    def write(data):
        return {}

    protector.guard(emails, "user/emails")
    protector.guard(emails, "admin")
    client = Client(app)
    headers = {"Authorization": "Bearer t"}
    response = client.open("/emails", method=method, headers=headers, json={})
    assert response.status_code == status, response.data
    assert keeper.asked == 1


def test_authorized_scope_of_a_guard_without_scopes_is_read_once():
    app = App()
    keeper = Tokens({"t": ["a+r"]})
    protector = Protector(app, gatekeeper=keeper)

    @protector.guard
    @app.route("/x")
    def x():
        first = protector.authorized_scope
        assert protector.authorized_scope is first
        return {"scope": sorted(first)}

    assert Client(app).get("/x", headers={"Authorization": "Bearer t"}).json == {
        "scope": ["a+r"]
    }
    assert keeper.asked == 1


# -- the request proxy and the request headers -------------------------------


class Noted(Request):
    reads = 0

    @property
    def failing(self) -> Any:
        type(self).reads += 1
        raise AttributeError("failing is not here")


def test_a_failed_attribute_read_through_the_proxy_runs_once():
    app = App()
    app.request_class = Noted
    with app.test_context(path="/x", create_route=True):
        Noted.reads = 0
        with pytest.raises(AttributeError, match="failing is not here"):
            _ = request.failing
        assert Noted.reads == 1
        assert not hasattr(request, "failing")
        assert Noted.reads == 2
        with pytest.raises(AttributeError, match="no_such_attribute"):
            _ = request.no_such_attribute
        # Called directly, __getattr__ looks the attribute up.
        assert request.__getattr__("path") == "/x"
        assert request.path == "/x"
        assert request._get_current_object().path == "/x"


def test_request_headers_are_werkzeugs_environ_headers():
    environ = EnvironBuilder(headers={"Authorization": "Bearer t"}).get_environ()
    headers = Request(environ).headers
    theirs = EnvironHeaders(environ)
    assert type(headers) is EnvironHeaders
    assert vars(headers) == vars(theirs)
    assert headers.get("Authorization") == "Bearer t"
    assert headers == theirs
