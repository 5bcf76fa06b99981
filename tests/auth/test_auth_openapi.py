"""The OpenAPI document of the OAuth endpoints (``/auth/token`` and
``/auth/revoke``) describes what they answer: RFC 6749 error bodies as
``application/json``, the token, and the empty revocation answer."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from .auth_helpers import basic


def _document(project: Any) -> tuple[Any, dict[str, Any]]:
    from findig.project.wsgi import get_openapi

    app = project.app()
    document = get_openapi(app).document(app)
    validate(document)
    return app, document


def _check(document: dict[str, Any], path: str, answer: Any) -> dict[str, Any]:
    """Check *answer* against the documented response of ``POST path``;
    return that response."""
    responses = document["paths"][path]["post"]["responses"]
    documented = responses.get(str(answer.status_code))
    assert documented is not None, (path, answer.status_code, sorted(responses))
    assert "$ref" not in documented  # declared by the endpoint itself
    content = documented["content"]
    assert answer.mimetype in content, (path, answer.status_code, answer.mimetype)
    schema = content[answer.mimetype]["schema"]
    body = answer.json if answer.mimetype == "application/json" else answer.text
    Draft202012Validator(schema).validate(body)
    for name, header in documented.get("headers", {}).items():
        value = answer.headers.get(name)
        assert value is not None, (path, answer.status_code, name)
        if header["schema"]["type"] == "integer":
            value = int(value)
        Draft202012Validator(header["schema"]).validate(value)
    return documented


def test_oauth_answers_are_documented(project: Any) -> None:
    project.configure(LOGIN_MAX_ATTEMPTS=2, LOGIN_WINDOW=60)
    project.user("alice", scopes="things+crud")
    app, document = _document(project)
    client = project.client(app)
    grant = {"grant_type": "password", "username": "alice"}
    answers = [
        client.post("/auth/token", data={**grant, "password": "correct horse"}),
        client.post("/auth/token", json={**grant, "password": "correct horse"}),
        client.post("/auth/token", data={}),
        client.post("/auth/token", data={**grant, "grant_type": "client_credentials"}),
        client.post(
            "/auth/token", data={**grant, "password": "correct horse", "scope": "admin"}
        ),
        client.post("/auth/token", data="x", content_type="text/csv"),
        client.post("/auth/token", data={**grant, "password": "wrong"}),
        client.post("/auth/token", data={**grant, "password": "wrong"}),
        client.post("/auth/token", data={**grant, "password": "correct horse"}),
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 200, 400, 400, 400, 400, 400, 400, 429]
    errors = set()
    for answer in answers:
        _check(document, "/auth/token", answer)
        errors.add(answer.json.get("error"))
    assert errors == {
        None,
        "invalid_request",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_grant",
        "slow_down",
    }
    token = answers[0].json["access_token"]
    revoked = client.post("/auth/revoke", data={"token": token})
    assert revoked.status_code == 200
    _check(document, "/auth/revoke", revoked)
    missing = client.post("/auth/revoke", data={})
    assert missing.json["error"] == "invalid_request"
    _check(document, "/auth/revoke", missing)


@pytest.mark.parametrize("path", ["/auth/token", "/auth/revoke"])
def test_oauth_errors_are_not_the_projects_error_format(
    project: Any, path: str
) -> None:
    _, document = _document(project)
    operation = document["paths"][path]["post"]
    assert "security" not in operation  # public
    responses = operation["responses"]
    assert list(responses["400"]["content"]) == ["application/json"]
    schema = responses["400"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["error", "error_description"]
    # A body of another type is an invalid_request, never a 415; no client
    # authentication, so never a 401 (invalid_client).
    assert "415" not in responses
    assert "401" not in responses
    # What the app itself answers stays the app's error format.
    assert responses["406"] == {"$ref": "#/components/responses/NotAcceptable"}


def test_no_client_authentication_so_never_401(project: Any) -> None:
    """RFC 6749 requires 401 with WWW-Authenticate for invalid_client when
    the client authenticated with an Authorization header; the endpoints
    do not authenticate clients, so credentials there change nothing."""
    project.user("alice")
    client = project.client()
    for headers in (basic("someclient", "wrong"), {"Authorization": "Bearer nope"}):
        answer = client.post(
            "/auth/token",
            data={"grant_type": "password", "username": "alice", "password": "x"},
            headers=headers,
        )
        assert answer.status_code == 400
        assert answer.json["error"] == "invalid_grant"
        assert "WWW-Authenticate" not in answer.headers
