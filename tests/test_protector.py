"""findig.tools.protector, exercised through HTTP."""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import pytest
from _support import run_guide
from werkzeug.exceptions import Unauthorized as WerkzeugUnauthorized
from werkzeug.test import Client

from findig import App as PlainApp
from findig.context import request
from findig.json import App
from findig.resource import AbstractResource
from findig.tools.protector import (
    BasicProtector,
    Forbidden,
    GateKeeper,
    Protector,
    Unauthorized,
    compare_secrets,
)
from findig.tools.protector.scopeutil import ANY

# -- a token gatekeeper -------------------------------------------------------


class TokenGateKeeper(GateKeeper):
    """Bearer tokens: token -> (username, client id, scopes)."""

    challenge = 'Bearer realm="test"'

    def __init__(self, tokens: Mapping[str, tuple[str, str | None, Any]]) -> None:
        self.tokens = tokens

    def check_auth(self) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            raise Unauthorized()
        return self.tokens[token]

    def get_username(self, grant: Any) -> Any:
        return grant[0]

    def get_clientid(self, grant: Any) -> Any:
        return grant[1]

    def get_scopes(self, grant: Any) -> Any:
        return grant[2]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(userpass: bytes | str) -> dict[str, str]:
    if isinstance(userpass, str):
        userpass = userpass.encode("utf-8")
    return {"Authorization": "Basic " + base64.b64encode(userpass).decode("ascii")}


def scoped_app(
    scopes: dict[str, Any], sep: str | None = "/"
) -> tuple[App, Protector, Client]:
    """An app with a token gatekeeper; token name -> its scopes."""
    app = App()
    tokens = {name: (f"user-{name}", f"client-{name}", s) for name, s in scopes.items()}
    protector = Protector(
        app, subscope_separator=sep, gatekeeper=TokenGateKeeper(tokens)
    )
    return app, protector, Client(app)


# -- the spec's examples --------------------------------------------------------


def test_spec_first_example_denies_everything_without_a_gatekeeper():
    app = PlainApp()
    protector = Protector(app)
    calls = []

    @app.route("/resource")
    def resource():
        calls.append(1)
        return {}

    assert protector.guard(resource) is resource
    client = Client(app)
    response = client.get("/resource")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="guarded"'
    response = client.get("/resource", headers=basic("any:thing"))
    assert response.status_code == 401
    assert calls == []


def test_spec_decorated_resources_foo_bar_baz():
    app, protector, client = scoped_app(
        {
            "none": [],
            "user": ["user"],
            "emails": ["user/email_addresses"],
            "phones": ["user/phone_numbers"],
            "both": ["user/phone_numbers", "user/contact"],
        }
    )

    @protector.guard
    @app.route("/foo")
    def foo():
        return {"name": "foo"}

    @protector.guard("user/email_addresses")
    @app.route("/bar")
    def bar():
        return {"name": "bar"}

    @protector.guard("user/phone_numbers", "user/contact")
    @app.route("/baz")
    def baz():
        return {"name": "baz"}

    expected = {
        # token: (foo, bar, baz)
        "none": (200, 403, 403),
        "user": (200, 200, 200),  # the super-scope covers all of them
        "emails": (200, 200, 403),
        "phones": (200, 403, 403),  # baz needs BOTH scopes
        "both": (200, 403, 200),
    }
    for token, statuses in expected.items():
        got = tuple(
            client.get(url, headers=bearer(token)).status_code
            for url in ("/foo", "/bar", "/baz")
        )
        assert got == statuses, token
    for url in ("/foo", "/bar", "/baz"):
        response = client.get(url)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="test"'
        assert client.get(url, headers=bearer("forged")).status_code == 401
    assert client.get("/baz", headers=bearer("both")).json == {"name": "baz"}


def test_spec_several_guards_are_alternatives():
    app, protector, client = scoped_app(
        {
            "user": ["user"],
            "friends": ["friends"],
            "user-friends": ["user", "friends"],
            "foo": ["foo"],
            "foo-sub": ["foo/bar"],
        }
    )

    @app.route("/res")
    def res():
        return {"ok": True}

    protector.guard(res, "user", "friends")
    protector.guard(res, "foo")
    statuses = {
        t: client.get("/res", headers=bearer(t)).status_code
        for t in ("user", "friends", "user-friends", "foo", "foo-sub")
    }
    assert statuses == {
        "user": 403,
        "friends": 403,
        "user-friends": 200,
        "foo": 200,
        "foo-sub": 403,  # a sub-scope does not cover its super-scope
    }


def test_guard_without_scopes_among_others_lets_any_grant_through():
    app, protector, client = scoped_app({"none": [], "a": ["a"]})

    @protector.guard("a")
    @app.route("/x")
    def x():
        return {}

    @protector.guard
    @protector.guard("a")
    @app.route("/y")
    def y():
        return {}

    assert client.get("/x", headers=bearer("none")).status_code == 403
    assert client.get("/y", headers=bearer("none")).status_code == 200
    assert client.get("/y", headers=bearer("a")).status_code == 200
    assert client.get("/y").status_code == 401


def test_guard_called_with_no_arguments_is_a_decorator():
    app, protector, client = scoped_app({"none": []})

    @protector.guard()
    @app.route("/x")
    def x():
        return {}

    assert client.get("/x").status_code == 401
    assert client.get("/x", headers=bearer("none")).status_code == 200


# -- the grant, as seen by resources -------------------------------------------


def test_custom_gatekeeper_grant_is_visible_to_the_resource():
    app, protector, client = scoped_app({"t1": ["notes+rd", "profile"]})

    @protector.guard("notes")
    @app.route("/notes")
    def notes():
        return {
            "user": protector.authenticated_user,
            "client": protector.authenticated_client,
            "scope": sorted(protector.authorized_scope),
        }

    @app.route("/open")
    def open_resource():
        return {
            "user": protector.authenticated_user,
            "client": protector.authenticated_client,
            "scope": sorted(protector.authorized_scope),
        }

    assert client.get("/notes", headers=bearer("t1")).json == {
        "user": "user-t1",
        "client": "client-t1",
        "scope": ["notes+d", "notes+r", "profile+r"],
    }
    # An unguarded resource has no grant, even if the request carries one.
    empty: dict[str, Any] = {"user": None, "client": None, "scope": []}
    assert client.get("/open", headers=bearer("t1")).json == empty
    # Outside a request: nothing.
    assert protector.authenticated_user is None
    assert protector.authenticated_client is None
    assert protector.authorized_scope == frozenset()


def test_default_get_scopes_is_any_and_clientid_none():
    class NameOnly(GateKeeper):
        def check_auth(self):
            return "alice" if request.headers.get("X-User") == "alice" else None

        def get_username(self, grant):
            return grant.upper()

    app = App()
    protector = Protector(app, gatekeeper=NameOnly())

    @protector.guard("deep/scope/anything")
    @app.route("/x")
    @app.resource(model={"delete": lambda: None})
    def x():
        return {
            "user": protector.authenticated_user,
            "client": protector.authenticated_client,
            "any": protector.authorized_scope == ANY,
        }

    client = Client(app)
    headers = {"X-User": "alice"}
    assert client.get("/x", headers=headers).json == {
        "user": "ALICE",
        "client": None,
        "any": True,
    }
    assert client.delete("/x", headers=headers).status_code == 200
    # check_auth returning None is a failed check, never a grant.
    response = client.get("/x")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="guarded"'


def test_unauthorized_raised_with_a_challenge_keeps_it():
    from werkzeug.datastructures import WWWAuthenticate

    class Custom(GateKeeper):
        def check_auth(self):
            raise WerkzeugUnauthorized(
                "nope", www_authenticate=WWWAuthenticate("digest", {"realm": "r"})
            )

        def get_username(self, grant):
            return grant

    app = App()
    protector = Protector(app, gatekeeper=Custom())
    protector.guard(app.route(lambda: {}, "/x"))
    response = Client(app).get("/x")
    assert response.status_code == 401
    assert response.headers.getlist("WWW-Authenticate") == ['Digest realm="r"']
    assert response.json == {"message": "nope"}


# -- methods and permissions ------------------------------------------------------

METHOD_NEEDS = {
    "GET": {"r"},
    "HEAD": {"r"},
    "POST": {"c"},
    "PUT": {"c", "u"},
    "PATCH": {"u"},
    "DELETE": {"d"},
}
PERMS = ["", "r", "c", "u", "d", "cu", "rd", "crud"]


@pytest.fixture
def notes_app():
    store: dict[int, dict[str, Any]] = {1: {"text": "one"}}
    calls: list[str] = []
    tokens = {p or "none": [f"notes+{p}"] if p else [] for p in PERMS}
    tokens["super"] = ["app+crud"]  # a super-scope of app/notes
    tokens["sibling"] = ["app/notesx+crud", "app/note+crud", "App/notes+crud"]
    app, protector, client = scoped_app(tokens)

    @app.route("/notes/<int:id>")
    def note(id):
        calls.append("read")
        return store[id]

    @note.model("write")
    def write(data, id):
        calls.append("write")
        store[id] = data

    @note.model("delete")
    def delete(id):
        calls.append("delete")
        store.pop(id, None)

    @app.route("/notes/")
    @note.collection
    def notes():
        calls.append("list")
        return [dict(v, id=k) for k, v in store.items()]

    @notes.model("make")
    def make(data):
        calls.append("make")
        new_id = max(store, default=0) + 1
        store[new_id] = data
        return {"id": new_id}

    # The token scopes above are "notes+...": guard with "notes" (and the
    # super/sibling tokens with "app/notes", as an alternative).
    for resource in (note, notes):
        protector.guard(resource, "notes")
        protector.guard(resource, "app/notes")
    return client, store, calls


def _request(client: Client, method: str, token: str | None):
    headers = bearer(token) if token else {}
    url = "/notes/" if method == "POST" else "/notes/1"
    body = None if method in ("GET", "HEAD", "DELETE") else '{"text": "new"}'
    return client.open(
        url, method=method, headers=headers, data=body, content_type="application/json"
    )


@pytest.mark.parametrize("method", sorted(METHOD_NEEDS))
@pytest.mark.parametrize("perms", PERMS)
def test_permission_matrix(notes_app, method, perms):
    client, store, calls = notes_app
    before = dict(store)
    response = _request(client, method, perms or "none")
    allowed = METHOD_NEEDS[method] <= set(perms)
    if allowed:
        assert response.status_code in (200, 201), response.data
        assert calls, "the resource ran"
    else:
        assert response.status_code == 403
        # RFC 6750, section 3.1: the bearer challenge names the error and the
        # scope the method needs (the guard's first alternative, "notes").
        needed = " ".join(sorted(f"notes+{p}" for p in METHOD_NEEDS[method]))
        assert response.headers["WWW-Authenticate"] == (
            f'Bearer realm="test", error="insufficient_scope", scope="{needed}"'
        )
        if method == "HEAD":
            assert response.data == b""
        else:
            assert response.json == {
                "message": response.json["message"],
                "error": {"type": "insufficient_scope"},
            }
        assert calls == []
        assert store == before


class BasicLikeGateKeeper(TokenGateKeeper):
    challenge = 'Basic realm="test"'


@pytest.mark.parametrize(
    ("gatekeeper", "scope", "expected"),
    [
        # RFC 6750 is about bearer tokens: other schemes get no challenge.
        (BasicLikeGateKeeper, "notes", None),
        # A scope a header cannot carry is left out, not mangled.
        (TokenGateKeeper, 'no"tes', 'Bearer realm="test", error="insufficient_scope"'),
    ],
)
def test_insufficient_scope_challenge_limits(gatekeeper, scope, expected):
    app = App()
    protector = Protector(app, gatekeeper=gatekeeper({"t": ("u", None, [])}))

    @app.route("/x")
    def x():
        return {}

    protector.guard(x, scope)
    response = Client(app).get("/x", headers=bearer("t"))
    assert response.status_code == 403
    assert response.headers.get("WWW-Authenticate") == expected


@pytest.mark.parametrize("method", sorted(METHOD_NEEDS))
def test_no_credentials_is_401_for_every_method(notes_app, method):
    client, store, calls = notes_app
    before = dict(store)
    response = _request(client, method, None)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="test"'
    if method != "HEAD":
        assert set(response.json) == {"message"}
    assert calls == []
    assert store == before


@pytest.mark.parametrize("method", sorted(METHOD_NEEDS))
def test_super_scope_covers_and_lookalikes_do_not(notes_app, method):
    client, _, calls = notes_app
    assert _request(client, method, "sibling").status_code == 403
    assert calls == []
    assert _request(client, method, "super").status_code in (200, 201)
    assert calls


def test_options_needs_no_authorization_and_never_runs_the_resource(notes_app):
    client, _, calls = notes_app
    response = client.options("/notes/1")
    assert response.status_code == 200
    assert set(response.headers["Allow"].split(", ")) == {
        "HEAD",
        "GET",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
    }
    assert calls == []


def test_unknown_paths_are_404_not_401(notes_app):
    client, _, _ = notes_app
    assert client.get("/nowhere").status_code == 404
    assert client.get("/notes/abc").status_code == 404


def test_unsupported_method_needs_authentication_first(notes_app):
    client, _, calls = notes_app
    # POST on the item resource: 401 before the 405 ...
    assert client.post("/notes/1").status_code == 401
    # ... 403 without "c" ...
    assert client.post("/notes/1", headers=bearer("r")).status_code == 403
    # ... and 405 once authorized.
    assert client.post("/notes/1", headers=bearer("crud")).status_code == 405
    assert calls == []


# -- escalation attempts ----------------------------------------------------------


@pytest.mark.parametrize(
    "granted",
    [
        ["user+r"],  # read only
        ["user2+crud"],
        ["users+crud"],
        ["use+crud"],
        ["User+crud"],
        ["USER+crud"],
        ["user+CRUD"],  # malformed: ignored, grants nothing
        ["user+rd+cu"],  # malformed
        ["user/emails+crud"],  # a sub-scope does not cover the super-scope
        ["user +crud"],  # malformed
        [next(iter(ANY))[: -len("crud")] + "cu"],  # ANY's name, fewer permissions
        ["user+r", "user/x+cu"],
    ],
)
def test_escalation_attempts_fail_for_writes(granted):
    app, protector, client = scoped_app({"t": granted})
    calls = []

    @protector.guard("user")
    @app.route("/user")
    @app.resource(
        model={
            "write": lambda data: calls.append("w"),
            "delete": lambda: calls.append("d"),
        }
    )
    def user():
        return {}

    for method in ("PUT", "DELETE", "PATCH"):
        response = client.open(
            "/user", method=method, headers=bearer("t"), json={"a": 1}
        )
        assert response.status_code == 403, (granted, method)
    assert calls == []


def test_users_x_is_not_under_user():
    app, protector, client = scoped_app({"user": ["user+crud"], "users": ["users"]})

    @protector.guard("users/x")
    @app.route("/ux")
    def ux():
        return {}

    @protector.guard("user/x")
    @app.route("/u")
    def u():
        return {}

    assert client.get("/ux", headers=bearer("user")).status_code == 403
    assert client.get("/ux", headers=bearer("users")).status_code == 200
    assert client.get("/u", headers=bearer("user")).status_code == 200
    assert client.get("/u", headers=bearer("users")).status_code == 403


def test_scopes_returned_as_a_string_fail_closed(caplog):
    # A gatekeeper bug: iterating "user" would grant "u", "s", "e", "r".
    app, protector, client = scoped_app({"t": "user"})

    @protector.guard("u")
    @app.route("/x")
    def x():
        return {}

    response = client.get("/x", headers=bearer("t"))
    assert response.status_code == 500
    body = response.get_json()
    assert list(body) == ["message"]
    assert "user" not in body["message"]
    assert "not the string" in caplog.text  # logged for the developer


def test_subscope_separator_none_and_custom():
    app, protector, client = scoped_app(
        {"user": ["user"], "sub": ["user:emails"]}, sep=None
    )

    @protector.guard("user/emails")
    @app.route("/e")
    def e():
        return {}

    assert client.get("/e", headers=bearer("user")).status_code == 403

    app, protector, client = scoped_app(
        {"user": ["user"], "slash": ["user/emails"]}, sep=":"
    )

    @protector.guard("user:emails")
    @app.route("/e")
    def e2():
        return {}

    @protector.guard("user/emails")
    @app.route("/s")
    def s():
        return {}

    assert client.get("/e", headers=bearer("user")).status_code == 200
    # With ":" as separator, "/" is an ordinary character.
    assert client.get("/s", headers=bearer("user")).status_code == 403
    assert client.get("/s", headers=bearer("slash")).status_code == 200
    with pytest.raises(ValueError, match="empty sub-scope"):
        protector.guard(s, "user:")


def test_unknown_methods_need_every_permission():
    class Propfind(AbstractResource):
        name = "propfind"
        calls: list[str] = []

        def get_supported_methods(self):
            return {"GET", "HEAD", "PROPFIND"}

        def handle_request(self, request, url_values):
            self.calls.append(request.method)
            return {"method": request.method}

    app, protector, client = scoped_app({"r": ["dav"], "crud": ["dav+crud"]})
    resource = Propfind()
    app.route(resource, "/dav")
    protector.guard(resource, "dav")
    assert (
        client.open("/dav", method="PROPFIND", headers=bearer("r")).status_code == 403
    )
    assert resource.calls == []
    response = client.open("/dav", method="PROPFIND", headers=bearer("crud"))
    assert response.json == {"method": "PROPFIND"}
    assert client.get("/dav", headers=bearer("r")).status_code == 200


# -- collections and items are guarded separately ---------------------------------


def test_guarding_a_collection_does_not_guard_its_items_nor_back():
    app, protector, client = scoped_app({})

    @app.route("/things/<int:id>")
    def thing(id):
        return {"id": id}

    @app.route("/things/")
    @thing.collection
    def things():
        return [{"id": 1}]

    @app.route("/others/<int:id>")
    def other(id):
        return {"id": id}

    @app.route("/others/")
    @other.collection
    def others():
        return [{"id": 1}]

    protector.guard(things)
    protector.guard(other)
    assert client.get("/things/").status_code == 401
    assert client.get("/things/1").status_code == 200
    assert client.get("/others/").status_code == 200
    assert client.get("/others/1").status_code == 401


# -- errors through the app ------------------------------------------------------


def test_errors_go_through_the_app_error_handler():
    app = App()
    protector = Protector(app)

    @app.error_handler.register(Unauthorized)
    def custom(exc):
        return app.make_response(
            {"custom": True}, status=401, headers=exc.get_headers()
        )

    @protector.guard
    @app.route("/x")
    def x():
        return {}

    response = Client(app).get("/x")
    assert response.status_code == 401
    assert response.json == {"custom": True}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="guarded"'


def test_plain_app_keeps_the_challenge():
    app = PlainApp()
    protector = BasicProtector(app, realm="Plain realm")
    protector.guard(app.route(lambda: "hi", "/x"))
    response = Client(app).get("/x")
    assert response.status_code == 401
    assert (
        response.headers["WWW-Authenticate"]
        == 'Basic realm="Plain realm", charset="UTF-8"'
    )
    assert response.mimetype == "text/plain"


def test_two_protectors_on_one_app_both_check():
    app = App()
    first = BasicProtector(app, auth_func=lambda u, p: compare_secrets(p, "pw"))
    tokens = {"tok": ("bob", None, ["a"])}
    second = Protector(app, gatekeeper=TokenGateKeeper(tokens))

    @first.guard
    @app.route("/basic")
    def basic_only():
        return {"user": first.authenticated_user, "other": second.authenticated_user}

    @second.guard("a")
    @app.route("/token")
    def token_only():
        return {"user": second.authenticated_user, "other": first.authenticated_user}

    client = Client(app)
    assert client.get("/basic", headers=basic("ann:pw")).json == {
        "user": "ann",
        "other": None,
    }
    assert client.get("/token", headers=bearer("tok")).json == {
        "user": "bob",
        "other": None,
    }
    assert client.get("/basic", headers=bearer("tok")).status_code == 401
    assert client.get("/token", headers=basic("ann:pw")).status_code == 401


# -- registration --------------------------------------------------------------


def test_registration_after_the_first_request_raises():
    app = App()
    protector = BasicProtector(app)

    @app.route("/x")
    def x():
        return {}

    assert Client(app).get("/x").status_code == 200
    with pytest.raises(RuntimeError, match="first request"):
        protector.guard(x)
    with pytest.raises(RuntimeError, match="first request"):
        protector.guard("scope")(x)
    with pytest.raises(RuntimeError, match="first request"):
        protector.auth_func(lambda u, p: True)
    with pytest.raises(RuntimeError):
        Protector().attach_to(app)
    # x was not guarded by the failed call
    assert Client(app).get("/x").status_code == 200


def test_protector_attached_later_and_attaching_twice():
    app = App()
    protector = Protector(gatekeeper=TokenGateKeeper({"t": ("u", None, ["s"])}))

    @protector.guard("s")
    @app.route("/x")
    def x():
        return {}

    protector.attach_to(app)
    protector.attach_to(app)  # no second hook
    assert len(app._context_hooks) == 1
    client = Client(app)
    assert client.get("/x").status_code == 401
    assert client.get("/x", headers=bearer("t")).status_code == 200


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("user+r",), ValueError),
        (("a//b",), ValueError),
        (("",), ValueError),
        (("a b",), ValueError),
        ((next(iter(ANY)),), ValueError),
        ((["user"],), TypeError),
    ],
)
def test_bad_resource_scopes(args, error):
    app = App()
    protector = Protector(app)
    resource = app.route(lambda: {}, "/x")
    with pytest.raises(error):
        protector.guard(resource, *args)


def test_guard_needs_a_resource():
    protector = Protector()
    with pytest.raises(TypeError, match="not a resource"):
        protector.guard(lambda: None)
    with pytest.raises(TypeError, match="not a resource"):
        protector.guard("scope")(lambda: None)


@pytest.mark.parametrize("sep", ["", "a+b", " ", "\n", 3])
def test_bad_separator(sep):
    with pytest.raises(ValueError, match="subscope_separator"):
        Protector(subscope_separator=sep)


def test_gatekeeper_must_be_a_gatekeeper():
    with pytest.raises(TypeError, match="GateKeeper"):
        Protector(gatekeeper=object())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        GateKeeper()  # type: ignore[abstract]


# -- BasicProtector ------------------------------------------------------------


@pytest.fixture
def basic_app():
    app = App()
    protector = BasicProtector(app, realm="My API")
    seen: list[tuple[str, str]] = []
    users = {"bob": "s3cret", "zoë": "pässwörd", "colon": "a:b:c", "": "empty-user"}

    @protector.auth_func
    def check(username, password):
        seen.append((username, password))
        # Compare against a dummy for unknown users: same work either way.
        expected = users.get(username, "\0unknown")
        return compare_secrets(expected, password) and username in users

    calls = []

    @protector.guard
    @app.route("/secret")
    def secret():
        calls.append(1)
        return {"user": protector.authenticated_user}

    return Client(app), seen, calls


@pytest.mark.parametrize(
    "userpass",
    ["bob:s3cret", "zoë:pässwörd", "colon:a:b:c", ":empty-user"],
)
def test_basic_good_credentials(basic_app, userpass):
    client, _, calls = basic_app
    response = client.get("/secret", headers=basic(userpass))
    assert response.status_code == 200
    assert response.json == {"user": userpass.split(":", 1)[0]}
    assert calls == [1]


def test_basic_scheme_is_case_insensitive_and_spaces_tolerated(basic_app):
    client, _, _ = basic_app
    token = base64.b64encode(b"bob:s3cret").decode()
    for header in (f"basic {token}", f"BASIC {token}", f"Basic   {token}  "):
        assert (
            client.get("/secret", headers={"Authorization": header}).status_code == 200
        )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer " + _b64(b"bob:s3cret"),
        "Digest " + _b64(b"bob:s3cret"),
        "Basic!" + _b64(b"bob:s3cret"),
        "Basic " + _b64(b"bob:s3cret")[:-2],  # bad padding
        "Basic " + _b64(b"bob:s3cret") + "!",  # outside the alphabet
        "Basic !!!!",
        "Basic " + _b64(b"bob:s3cret").replace("=", "") + "===",
        "Basic " + _b64(b"bob:\xff\xfe"),  # not UTF-8
        "Basic " + _b64("bob:s3cret".encode("utf-16")),
        "Basic " + _b64(b"bobs3cret"),  # no colon
        "Basic " + _b64(b"bob\x00:s3cret"),  # control characters
        "Basic " + _b64(b"bob:s3cret\r\n"),
        "Basic " + _b64(b"bob:s3cret") + " extra",
        "Basic " + _b64(b"bob:" + b"x" * 4000),  # over 4 KiB
        "Basic " + _b64(b"bob:wrong"),
        "Basic " + _b64(b"BOB:s3cret"),
        "Basic " + _b64(b"bob:S3CRET"),
        "Basic " + _b64(b"nobody:s3cret"),
        "Basic " + _b64(b"bob:s3cret "),
    ],
)
def test_basic_bad_headers_are_401_never_500(basic_app, header):
    client, _, calls = basic_app
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/secret", headers=headers)
    assert response.status_code == 401
    assert (
        response.headers["WWW-Authenticate"] == 'Basic realm="My API", charset="UTF-8"'
    )
    assert response.json == {
        "message": "Valid credentials are required to access this resource."
    }
    assert calls == []


def test_basic_over_long_header_never_reaches_auth_func(basic_app):
    client, seen, _ = basic_app
    client.get("/secret", headers=basic(b"bob:" + b"x" * 4000))
    client.get("/secret", headers=basic(b"bob\x01:s3cret"))
    client.get("/secret", headers=basic(b"bob:\xff"))
    assert seen == []


def test_basic_latin1_header_bytes_are_401():
    # Raw header bytes beyond ASCII arrive as latin-1 text in the environ.
    app = App()
    protector = BasicProtector(app, auth_func=lambda u, p: True)
    protector.guard(app.route(lambda: {}, "/x"))
    environ_header = "Basic " + "é" * 8
    response = Client(app).get("/x", headers={"Authorization": environ_header})
    assert response.status_code == 401


def test_basic_without_auth_func_denies_everyone():
    app = App()
    protector = BasicProtector(app)
    protector.guard(app.route(lambda: {}, "/x"))
    response = Client(app).get("/x", headers=basic("bob:s3cret"))
    assert response.status_code == 401
    assert (
        response.headers["WWW-Authenticate"] == 'Basic realm="guarded", charset="UTF-8"'
    )


def test_basic_auth_func_as_constructor_argument_and_grants_any():
    app = App()
    protector = BasicProtector(app, auth_func=lambda u, p: compare_secrets(p, u[::-1]))

    @protector.guard("anything/at/all")
    @app.route("/x")
    @app.resource(model={"delete": lambda: None})
    def x():
        return {"scope": protector.authorized_scope == ANY}

    client = Client(app)
    assert client.get("/x", headers=basic("abc:cba")).json == {"scope": True}
    assert client.delete("/x", headers=basic("abc:cba")).status_code == 200
    assert client.get("/x", headers=basic("abc:abc")).status_code == 401


@pytest.mark.parametrize(
    "realm",
    ['a"b', "a\r\nSet-Cookie: x=1", "a\nb", "a\\b", "tab\there", "ünï", None, 5],
)
def test_basic_realm_rejects_header_injection(realm):
    with pytest.raises(ValueError, match="realm"):
        BasicProtector(realm=realm)


def test_compare_secrets():
    assert compare_secrets("pässwörd", "pässwörd".encode())
    assert compare_secrets(b"", "")
    assert not compare_secrets("a", "b")
    assert not compare_secrets("a", "ab")
    assert not compare_secrets("\ud800", "?")  # lone surrogates do not raise


# -- the public namespace --------------------------------------------------------


def test_star_import_gives_the_exceptions():
    namespace: dict[str, Any] = {}
    exec("from findig.tools.protector import *", namespace)
    assert namespace["Unauthorized"] is WerkzeugUnauthorized
    assert issubclass(namespace["Forbidden"], Exception)
    assert namespace["Forbidden"] is Forbidden
    for name in ("Protector", "BasicProtector", "GateKeeper", "compare_secrets"):
        assert name in namespace


def test_importing_the_protector_stays_light():
    code = (
        "import sys, findig.tools.protector, findig.tools.protector.scopeutil;"
        "assert 'findig.project' not in sys.modules;"
        "assert 'sqlalchemy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the user guide ----------------------------------------------------------------


def test_guide_examples_run(capsys):
    """The Python blocks of docs/guide/protector.rst run as one script."""
    namespace = run_guide("protector", min_blocks=9)
    assert "first request" in capsys.readouterr().out
    assert namespace["notes"] == {}
