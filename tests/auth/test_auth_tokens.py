"""The token endpoint (OAuth 2 password grant), revocation, /auth/me, hash
upgrades and over-long passwords, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from passlib.hash import bcrypt, pbkdf2_sha256

from findig.contrib.auth.store import token_digest

from .auth_helpers import basic, bearer


def _grant(username="alice", password="correct horse", **extra):
    return {
        "grant_type": "password",
        "username": username,
        "password": password,
        **extra,
    }


def test_password_grant_form_and_json(any_project):
    any_project.user("alice", scopes="things+crud user+r")
    client = any_project.client()
    for kwargs in ({"data": _grant()}, {"json": _grant()}):
        response = client.post("/auth/token", **kwargs)
        assert response.status_code == 200, response.data
        body = response.json
        assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert body["scope"] == "things+crud user+r"
        assert response.headers["Cache-Control"] == "no-store"
        token = body["access_token"]
        assert client.get("/things/1", headers=bearer(token)).status_code == 200
    # Only the digest is stored.
    from sqlalchemy import select

    from findig.contrib.auth.models import Token

    with any_project.session() as session:
        stored = list(session.scalars(select(Token)))
        assert len(stored) == 2
        assert stored[1].token_hash == token_digest(token)
        assert token not in {t.token_hash for t in stored}
        assert stored[1].prefix == token[:10]
        assert token not in repr(stored[1])


def test_me(any_project):
    any_project.user("Alice", scopes="things+crud user+r")
    client = any_project.client()
    token = client.post("/auth/token", data=_grant(scope="things+r")).json[
        "access_token"
    ]
    response = client.get("/auth/me", headers=bearer(token))
    assert response.json == {
        "username": "alice",
        "scopes": ["things+crud", "user+r"],
        "token_scopes": ["things+r"],
        "method": "bearer",
    }
    response = client.get("/auth/me", headers=basic("ALICE", "correct horse"))
    assert response.json["token_scopes"] is None
    assert response.json["method"] == "basic"
    text = response.get_data(as_text=True)
    assert "argon2" not in text and "hash" not in text


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        ("things+r", "things+r"),
        ("things+rd", "things+rd"),
        ("things/sub+crud", "things/sub+crud"),
        ("user/emails", "user/emails+r"),
        ("things+r user+r", "things+r user+r"),
        ("things things+d", "things+rd"),
        ("  ", "things+crud user+r"),
    ],
)
def test_scope_narrows(project, scope, granted):
    project.user("alice", scopes="things+crud user+r")
    response = project.client().post("/auth/token", data=_grant(scope=scope))
    assert response.status_code == 200, response.data
    assert response.json["scope"] == granted


@pytest.mark.parametrize(
    "scope",
    [
        "user+d",  # a permission the user lacks
        "user+rd",
        "admin",  # a scope the user lacks
        "Things+r",  # case games
        "THINGS",
        "things+R",  # malformed
        "thingsx+r",  # look-alike
        "thing+r",
        "things+r admin",
        "user/emails+u",
        "thing\u0455+r",  # a Cyrillic look-alike
        "$^&#THISISGARBAGE#*@&@#$*@$&DFDF#&#@&@&##*&@DHJGDJH#@&*^@#*+crud",  # ANY
        "a//b",
        "+r",
    ],
)
def test_scope_never_widens(project, scope):
    project.user("alice", scopes="things+r user+r")
    response = project.client().post("/auth/token", data=_grant(scope=scope))
    assert response.status_code == 400, response.data
    assert response.json["error"] == "invalid_scope"
    assert "access_token" not in response.json


def test_grant_errors(project):
    project.user("alice")
    client = project.client()
    cases = [
        ({"data": {"username": "alice", "password": "x"}}, "invalid_request"),
        ({"data": _grant(grant_type="client_credentials")}, "unsupported_grant_type"),
        ({"data": _grant(grant_type="authorization_code")}, "unsupported_grant_type"),
        ({"data": {"grant_type": "password", "username": "alice"}}, "invalid_request"),
        ({"data": _grant(password="")}, "invalid_request"),
        ({"json": {**_grant(), "password": 12345}}, "invalid_request"),
        ({"json": ["grant_type", "password"]}, "invalid_request"),
        (
            {
                "data": "grant_type=password&username=alice&username=bob&password=x",
                "content_type": "application/x-www-form-urlencoded",
            },
            "invalid_request",
        ),
        (
            {
                "data": "grant_type=password&username=alice&password=%ff%fe",
                "content_type": "application/x-www-form-urlencoded",
            },
            "invalid_request",
        ),
        (
            {"data": "{not json", "content_type": "application/json"},
            "invalid_request",
        ),
        ({"data": "x", "content_type": "text/plain"}, "invalid_request"),
        ({}, "invalid_request"),
    ]
    for kwargs, error in cases:
        response = client.post("/auth/token", **kwargs)
        assert response.status_code == 400, (kwargs, response.data)
        assert response.json["error"] == error, kwargs
        assert set(response.json) == {"error", "error_description"}
    assert client.get("/auth/token").status_code == 405
    too_many = "&".join(f"f{i}=x" for i in range(30))
    response = client.post(
        "/auth/token",
        data=too_many,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.json["error"] == "invalid_request"


def test_failures_look_alike(any_project):
    any_project.user("alice", "right password")
    any_project.user("idle", "right password", active=False)
    client = any_project.client()
    answers = []
    for username, password in [
        ("nobody", "right password"),
        ("alice", "wrong password"),
        ("idle", "right password"),
        ("idle", "wrong password"),
        ("a:b", "right password"),
        ("x" * 700, "right password"),
    ]:
        response = client.post("/auth/token", data=_grant(username, password))
        answers.append((response.status_code, response.data, sorted(response.headers)))
        basic_response = client.get("/things/open", headers=basic(username, password))
        answers.append(
            (
                basic_response.status_code,
                basic_response.data,
                sorted(basic_response.headers),
            )
        )
    token_answers = answers[0::2]
    basic_answers = answers[1::2]
    assert len(set(map(repr, token_answers))) == 1
    assert len(set(map(repr, basic_answers))) == 1
    assert token_answers[0][0] == 400
    assert json.loads(token_answers[0][1])["error"] == "invalid_grant"
    assert basic_answers[0][0] == 401


def test_inactive_user_cannot_log_in(project):
    project.user("idle", active=False, scopes="things+r")
    client = project.client()
    assert client.post("/auth/token", data=_grant("idle")).status_code == 400
    assert (
        client.get("/things/1", headers=basic("idle", "correct horse")).status_code
        == 401
    )


def test_user_names_are_normalised(project):
    project.user("Ｊöｒｇ", "pw-jorg", scopes="things+r")
    client = project.client()
    for name in ["jörg", "JÖRG", "ｊöｒｇ", "  Jörg  ", "jo\u0308rg"]:
        response = client.post("/auth/token", data=_grant(name, "pw-jorg"))
        assert response.status_code == 200, name
    response = client.get("/things/open", headers=basic("JÖRG", "pw-jorg"))
    assert response.json["user"] == "jörg"


def test_revoke_endpoint(any_project):
    any_project.user("alice", scopes="things+r")
    client = any_project.client()
    token = client.post("/auth/token", data=_grant()).json["access_token"]
    other = client.post("/auth/token", json=_grant()).json["access_token"]
    assert client.get("/things/1", headers=bearer(token)).status_code == 200
    response = client.post("/auth/revoke", data={"token": token})
    assert response.status_code == 200
    assert response.data == b""
    assert client.get("/things/1", headers=bearer(token)).status_code == 401
    assert client.get("/things/1", headers=bearer(other)).status_code == 200
    # Unknown, malformed, already revoked: 200 all the same.
    for value in [token, "nonsense", "A" * 53, other[:10]]:
        assert client.post("/auth/revoke", data={"token": value}).status_code == 200
    # A prefix alone does not revoke anything.
    assert client.get("/things/1", headers=bearer(other)).status_code == 200
    assert client.post("/auth/revoke", json={"token": other}).status_code == 200
    assert client.get("/things/1", headers=bearer(other)).status_code == 401
    response = client.post("/auth/revoke", data={})
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


def test_hash_upgrade(any_project):
    any_project.user("legacy", password=None, scopes="things+r")
    with any_project.session() as session:
        from findig.contrib.auth import store

        user = store.get_user(session, "legacy")
        user.password_hash = pbkdf2_sha256.hash("old password")
    client = any_project.client()
    assert client.post("/auth/token", data=_grant("legacy", "wrong")).status_code == 400
    assert any_project.get_user("legacy").password_hash.startswith("$pbkdf2-sha256$")
    response = client.post("/auth/token", data=_grant("legacy", "old password"))
    assert response.status_code == 200
    stored = any_project.get_user("legacy")
    assert stored.password_hash.startswith("$argon2id$")
    assert stored.last_login is not None
    assert (
        client.post("/auth/token", data=_grant("legacy", "old password")).status_code
        == 200
    )
    assert any_project.get_user("legacy").password_hash == stored.password_hash


def test_hash_upgrade_through_basic(project):
    project.user("legacy", password=None, scopes="things+r")
    with project.session() as session:
        from findig.contrib.auth import store

        store.get_user(session, "legacy").password_hash = bcrypt.hash("old password")
    response = project.client().get(
        "/things/1", headers=basic("legacy", "old password")
    )
    assert response.status_code == 200
    assert project.get_user("legacy").password_hash.startswith("$argon2id$")


def test_weaker_argon2_parameters_are_upgraded(project):
    project.user("alice", "pw", scopes="things+r")
    weak = project.get_user("alice").password_hash
    assert "m=1024" in weak
    project.configure(
        PASSWORD_HASH_OPTIONS={
            "argon2__memory_cost": 2048,
            "argon2__rounds": 1,
            "argon2__parallelism": 1,
        }
    )
    assert (
        project.client().post("/auth/token", data=_grant("alice", "pw")).status_code
        == 200
    )
    assert "m=2048" in project.get_user("alice").password_hash


def test_overlong_passwords(project):
    project.user("alice", "correct horse", scopes="things+r")
    client = project.client()
    for password in ["x" * 1025, "é" * 513, "€" * 400, "x" * 100_000]:
        response = client.post("/auth/token", data=_grant(password=password))
        assert response.status_code == 400
        assert response.json["error"] == "invalid_request"
        assert "long" in response.json["error_description"]
        response = client.get("/things/1", headers=basic("alice", password))
        assert response.status_code in (401,)
    # 1024 bytes exactly is a wrong password, not an error.
    response = client.post("/auth/token", data=_grant(password="x" * 1024))
    assert response.json["error"] == "invalid_grant"


def test_bcrypt_hashes_and_long_passwords(project):
    project.user("old", password=None, scopes="things+r")
    secret = "b" * 72
    with project.session() as session:
        from findig.contrib.auth import store

        store.get_user(session, "old").password_hash = bcrypt.hash(secret)
    client = project.client()
    # Past 72 bytes bcrypt would ignore the rest: refused, and no 500.
    response = client.post("/auth/token", data=_grant("old", secret + "extra"))
    assert response.status_code == 400
    assert response.json["error"] == "invalid_grant"
    response = client.get("/things/1", headers=basic("old", secret + "extra"))
    assert response.status_code == 401
    assert client.post("/auth/token", data=_grant("old", secret)).status_code == 200


def test_token_lifetime_setting(project):
    project.user("alice", scopes="things+r")
    project.configure(AUTH_TOKEN_LIFETIME=None)
    body = project.client().post("/auth/token", data=_grant()).json
    assert "expires_in" not in body
    project.configure(AUTH_TOKEN_LIFETIME=60)
    body = project.client().post("/auth/token", data=_grant()).json
    assert body["expires_in"] == 60
    from datetime import datetime, timezone

    with project.session() as session:
        from findig.contrib.auth.store import check_token

        record = check_token(session, body["access_token"]).token
        left = (record.expires_at - datetime.now(timezone.utc)).total_seconds()
        assert 0 < left <= 60
