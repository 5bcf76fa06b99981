"""Deny by default, public resources, required scopes: the 401/403 matrix
over methods and scopes, with bearer tokens and Basic logins."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from findig.contrib.auth import public, requires

from .auth_helpers import basic, bearer

METHODS = {
    "GET": ("get", "/things/1", None),
    "HEAD": ("head", "/things/1", None),
    "POST": ("post", "/things/", {"name": "new"}),
    "PUT": ("put", "/things/2", {"name": "put"}),
    "PATCH": ("patch", "/things/2", {"name": "patched"}),
    "DELETE": ("delete", "/things/3", None),
}

# token scopes -> the methods on /things that must be allowed (others 403)
MATRIX = [
    ("things+r", {"GET", "HEAD"}),
    ("things", {"GET", "HEAD"}),
    ("things+crud", {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}),
    ("things+c", {"POST"}),
    ("things+u", {"PATCH"}),
    ("things+cu", {"POST", "PUT", "PATCH"}),
    ("things+d", {"DELETE"}),
    ("things+rd", {"GET", "HEAD", "DELETE"}),
    # a sub-scope does not grant its parent
    ("things/sub+crud", set()),
    # look-alikes and case games
    ("thingsx+crud", set()),
    ("thing+crud", set()),
    ("Things+crud", set()),
    ("THINGS+crud", set()),
    ("things-admin+crud", set()),
    ("user+crud", set()),
    ("", set()),
]


def _call(client, method, headers):
    verb, url, body = METHODS[method]
    kwargs = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    return getattr(client, verb)(url, **kwargs)


@pytest.mark.parametrize(("scopes", "allowed"), MATRIX)
def test_bearer_matrix(project, scopes, allowed):
    project.user(
        "alice",
        scopes="things+crud user+crud Things+crud thingsx+crud "
        "thing+crud THINGS+crud things-admin+crud",
    )
    token = project.token("alice", scopes)
    client = project.client()
    for method in METHODS:
        response = _call(client, method, bearer(token))
        expected = (200, 201) if method in allowed else (403,)
        assert response.status_code in expected, (scopes, method, response.data)
        if response.status_code == 403:
            challenge = response.headers["WWW-Authenticate"]
            assert challenge.startswith(
                'Bearer realm="api", error="insufficient_scope"'
            )
        if response.status_code == 403 and method != "HEAD":
            assert response.json["error"] == {"type": "insufficient_scope"}


@pytest.mark.parametrize(("scopes", "allowed"), MATRIX[:8])
def test_basic_matrix(project, scopes, allowed):
    # A Basic login carries the user's own scopes.
    project.user("bob", "bob's password", scopes)
    client = project.client()
    for method in METHODS:
        response = _call(client, method, basic("bob", "bob's password"))
        expected = (200, 201) if method in allowed else (403,)
        assert response.status_code in expected, (scopes, method, response.data)


def test_no_credentials_is_401_with_every_challenge(project):
    client = project.client()
    for method in METHODS:
        response = _call(client, method, {})
        assert response.status_code == 401, method
        challenges = response.headers.getlist("WWW-Authenticate")
        assert challenges == [
            'Bearer realm="api"',
            'Basic realm="api", charset="UTF-8"',
        ]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer nonsense",
        "Bearer " + "A" * 10 + "b" * 43,
        "Bearer " + "x" * 5000,
        "Bearer \u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
        "Token abc",
        "Basic !!!notbase64",
        "Basic " + "QQ==" * 2000,
        "Digest username=alice",
    ],
)
def test_bad_credentials_are_401(project, header):
    project.user("alice", scopes="things+crud")
    response = project.client().get("/things/1", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers.getlist("WWW-Authenticate")
    assert "access_token" not in response.get_data(as_text=True)


def test_unknown_token_names_invalid_token(project):
    response = project.client().get("/things/1", headers=bearer("Z" * 10 + "q" * 43))
    assert response.status_code == 401
    challenge = response.headers.getlist("WWW-Authenticate")[0]
    assert challenge.startswith('Bearer realm="api", error="invalid_token"')


def test_revoked_expired_and_inactive_tokens(project):
    project.user("alice", scopes="things+crud")
    project.user("carol", scopes="things+crud")
    live = project.token("alice")
    revoked = project.token("alice")
    expired = project.token("alice", lifetime=-1)
    of_inactive = project.token("carol")
    client = project.client()
    assert client.get("/things/1", headers=bearer(live)).status_code == 200
    assert client.get("/things/1", headers=bearer(revoked)).status_code == 200
    assert client.post("/auth/revoke", data={"token": revoked}).status_code == 200
    from findig.contrib.auth import store

    with project.session() as session:
        store.deactivate_user(session, "carol")
    expectations = {
        revoked: "The access token was revoked.",
        expired: "The access token has expired.",
        of_inactive: "The access token is invalid.",
    }
    for token, description in expectations.items():
        response = client.get("/things/1", headers=bearer(token))
        assert response.status_code == 401
        challenge = response.headers.getlist("WWW-Authenticate")[0]
        assert 'error="invalid_token"' in challenge
        assert response.json["message"] == description
    assert client.get("/things/1", headers=bearer(live)).status_code == 200


def test_sub_scopes_and_look_alikes(project):
    project.user(
        "alice", scopes="user+r users+crud User+crud user/emailsx+crud user/emails+d"
    )
    client = project.client()
    cases = {
        "user+r": {"GET": 200, "DELETE": 403},
        "user/emails+r": {"GET": 200, "DELETE": 403},
        # allowed through, then refused: the resource cannot be deleted
        "user/emails+d": {"GET": 403, "DELETE": 405},
        "users+crud": {"GET": 403, "DELETE": 403},
        "User+crud": {"GET": 403, "DELETE": 403},
        "user/emailsx+crud": {"GET": 403, "DELETE": 403},
    }
    for scopes, expected in cases.items():
        token = project.token("alice", scopes)
        got = {
            "GET": client.get("/things/emails", headers=bearer(token)).status_code,
            "DELETE": client.delete(
                "/things/emails", headers=bearer(token)
            ).status_code,
        }
        assert got == expected, scopes


def test_alternatives_and_conjunctions(project):
    project.user("alice", scopes="red blue admin")
    client = project.client()
    for scopes, status in [
        ("red", 403),
        ("blue", 403),
        ("red blue", 200),
        ("admin", 200),
        ("red admin", 200),
    ]:
        token = project.token("alice", scopes)
        assert client.get("/things/either", headers=bearer(token)).status_code == (
            status
        ), scopes


def test_unmarked_resources_need_any_authentication(project):
    project.user("alice", scopes="")
    client = project.client()
    assert client.get("/things/open").status_code == 401
    assert client.get("/").status_code == 401  # the resource list too
    assert client.get("/auth/me").status_code == 401
    token = project.token("alice")
    response = client.get("/things/open", headers=bearer(token))
    assert response.status_code == 200
    assert response.json == {"user": "alice", "scopes": []}
    assert client.get("/things/1", headers=bearer(token)).status_code == 403


def test_public_resources(project):
    client = project.client()
    response = client.get("/things/public")
    assert response.status_code == 200
    assert response.json == {"user": None, "scopes": None}
    assert client.get("/health").status_code == 200
    assert client.get("/things/listed").status_code == 401
    # Public resources ignore credentials, even bad ones.
    response = client.get("/things/public", headers=bearer("bad"))
    assert response.status_code == 200


def test_public_paths_setting(project):
    project.configure(AUTH_PUBLIC_PATHS=["/things/list*", "/"])
    client = project.client()
    assert client.get("/things/listed").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/things/open").status_code == 401
    # requires() wins over a public path
    project.configure(AUTH_PUBLIC_PATHS=["/things/*"])
    client = project.client()
    assert client.get("/things/open").status_code == 200
    assert client.get("/things/1").status_code == 401


def test_options_needs_no_credentials(project):
    response = project.client().options("/things/1")
    assert response.status_code == 200
    assert "DELETE" in response.headers["Allow"]


def test_unknown_paths_are_404(project):
    assert project.client().get("/nowhere").status_code == 404


def test_auth_methods_setting(project):
    project.user("alice", "pw", scopes="things+r")
    token = project.token("alice")
    project.configure(AUTH_METHODS=["bearer"])
    client = project.client()
    assert client.get("/things/1", headers=basic("alice", "pw")).status_code == 401
    assert client.get("/things/1", headers=bearer(token)).status_code == 200
    response = client.get("/things/1")
    assert response.headers.getlist("WWW-Authenticate") == ['Bearer realm="api"']
    project.configure(AUTH_METHODS=["basic"], AUTH_REALM="tasks")
    client = project.client()
    assert client.get("/things/1", headers=basic("alice", "pw")).status_code == 200
    assert client.get("/things/1", headers=bearer(token)).status_code == 401
    response = client.get("/things/1")
    assert response.headers.getlist("WWW-Authenticate") == [
        'Basic realm="tasks", charset="UTF-8"'
    ]


def test_token_scopes_follow_the_users_current_scopes(project):
    project.user("alice", scopes="things+crud")
    token = project.token("alice", "things+rd")
    client = project.client()
    assert client.delete("/things/9", headers=bearer(token)).status_code == 200
    from findig.contrib.auth import store

    with project.session() as session:
        store.set_scopes(session, "alice", "things+r")
    assert client.delete("/things/9", headers=bearer(token)).status_code == 403
    assert client.get("/things/1", headers=bearer(token)).status_code == 200


def test_guard_attributes_and_public_routes(project):
    from findig.contrib.auth import public_routes
    from findig.project.cli.routes import route_table

    app = project.app()
    assert sorted(public_routes(app)) == [
        "/auth/revoke",
        "/auth/token",
        "/health",
        "/things/pid",
        "/things/public",
    ]
    table = {row["url"]: row["scopes"] for row in route_table(app)}
    assert table["/things/<int:id>"] == [["things"]]
    assert table["/things/either"] == [["admin"], ["red", "blue"]]
    assert table["/things/open"] == [[]]
    assert table["/auth/me"] == [[]]
    assert table["/auth/token"] is None
    assert table["/health"] is None


def test_routes_command_shows_protection(project):
    from findig.project.cli import cli

    result = CliRunner().invoke(cli, ["routes", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["url"]: row for row in json.loads(result.output)}
    assert rows["/things/emails"]["scopes"] == [["user/emails"]]
    assert rows["/auth/revoke"]["scopes"] is None
    result = CliRunner().invoke(cli, ["routes"])
    assert "(authenticated)" in result.output
    assert "user/emails" in result.output


def test_markers_refuse_contradictions():
    from findig.dispatcher import Dispatcher

    dispatcher = Dispatcher()

    @dispatcher.resource
    def a():
        return {}

    @dispatcher.resource
    def b():
        return {}

    requires("x")(a)
    with pytest.raises(ValueError, match="requires scopes"):
        public(a)
    public(b)
    with pytest.raises(ValueError, match="is public"):
        requires("x")(b)
    for bad in ["x+r", "a//b", "", "sp ace", "/x"]:
        with pytest.raises(ValueError):
            requires(bad)
    with pytest.raises(TypeError):
        public(lambda: None)


def test_testing_helpers(project):
    from findig.contrib.auth.testing import auth_headers, make_token

    client = project.client()
    headers = auth_headers("things+r")
    assert client.get("/things/1", headers=headers).status_code == 200
    assert client.delete("/things/5", headers=headers).status_code == 403
    # The same user gains the scopes a later token needs.
    assert (
        client.delete("/things/5", headers=auth_headers("things+d")).status_code == 200
    )
    assert client.get("/things/1", headers=headers).status_code == 200
    assert project.get_user("tester").password_hash is None
    assert len(make_token("", "other")) == 53
