"""CORS in the project's application, through HTTP."""

from __future__ import annotations

import importlib.util

import pytest
from _support import run_guide
from werkzeug.test import Client

from findig.project.conf import ImproperlyConfigured, settings
from findig.project.cors import CORSPolicy
from findig.project.wsgi import get_wsgi_application

APP = "https://app.example.com"

RESOURCES = """
from findig.dispatcher import Dispatcher

dispatcher = Dispatcher()
ITEMS = {1: {"id": 1, "name": "one"}}


@dispatcher.route("/<int:id>")
@dispatcher.resource
def item(id):
    return ITEMS[id]


@item.model("write")
def write_item(data, id):
    ITEMS[id] = data


@dispatcher.route("/")
@item.collection
def items():
    return list(ITEMS.values())
"""

GUARDED_APPS = """
from findig.context import request
from findig.project.apps import AppConfig
from findig.tools.protector import GateKeeper, Protector, Unauthorized


class Keeper(GateKeeper):
    def check_auth(self):
        if request.headers.get("Authorization") == "Bearer good":
            return "alice"
        raise Unauthorized()

    def get_username(self, grant):
        return grant


class ThingsConfig(AppConfig):
    url_prefix = "/things"

    def ready(self, app):
        from .resources import item

        Protector(app, gatekeeper=Keeper()).guard(item)
"""

APPS = """
from findig.project.apps import AppConfig


class ThingsConfig(AppConfig):
    url_prefix = "/things"
"""


def _client(make_project, settings_text: str, guarded: bool = False) -> Client:
    files = {"resources.py": RESOURCES, "apps.py": GUARDED_APPS if guarded else APPS}
    make_project(apps={"things": files}, settings_text=settings_text)
    return Client(get_wsgi_application())


def _cors_headers(response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


def _vary(response) -> set[str]:
    return {v.strip() for v in response.headers.get("Vary", "").split(",") if v}


def test_allowed_origin_gets_the_cors_headers(make_project):
    client = _client(make_project, f"CORS_ALLOWED_ORIGINS = [{APP!r}]\n")
    response = client.get("/things/1", headers={"Origin": APP})
    assert response.status_code == 200
    assert response.json == {"id": 1, "name": "one"}
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "Origin" in _vary(response)
    exposed = {
        h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {
        "ETag",
        "Location",
        "Link",
        "X-Request-ID",
        "Retry-After",
        "X-Total-Count",
    } <= exposed
    assert "Access-Control-Allow-Credentials" not in response.headers
    # Errors carry them too, so that the page can read them.
    missing = client.get("/things/99", headers={"Origin": APP})
    assert missing.status_code == 404
    assert missing.headers["Access-Control-Allow-Origin"] == APP


def test_disallowed_origin_gets_no_cors_headers(make_project):
    client = _client(make_project, f"CORS_ALLOWED_ORIGINS = [{APP!r}]\n")
    response = client.get("/things/1", headers={"Origin": "https://evil.example"})
    # Answered as usual, with nothing that lets the browser show it.
    assert response.status_code == 200
    assert response.json == {"id": 1, "name": "one"}
    assert _cors_headers(response) == {}
    assert "Origin" in _vary(response)
    # A look-alike of an allowed origin is no better.
    for origin in (APP + ".evil.example", "http://app.example.com", "null"):
        response = client.get("/things/1", headers={"Origin": origin})
        assert _cors_headers(response) == {}, origin


def test_requests_without_origin_are_untouched(make_project):
    client = _client(make_project, f"CORS_ALLOWED_ORIGINS = [{APP!r}]\n")
    response = client.get("/things/1")
    assert _cors_headers(response) == {}
    assert "Origin" not in _vary(response)


def test_preflight_allows_the_resources_methods(make_project):
    client = _client(
        make_project, f"CORS_ALLOWED_ORIGINS = [{APP!r}]\nCORS_MAX_AGE = 120\n"
    )
    response = client.options(
        "/things/1",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, x-evil, if-match",
        },
    )
    assert response.status_code in (200, 204)
    allow = {m.strip() for m in response.headers["Allow"].split(",")}
    assert response.headers["Access-Control-Allow-Origin"] == APP
    methods = {
        m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")
    }
    # The methods are the resource's own (the Allow header of the core).
    assert methods == allow
    assert "PUT" in methods
    assert "DELETE" not in methods
    # Only the allowed headers among those asked for.
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type, If-Match"
    assert response.headers["Access-Control-Max-Age"] == "120"
    assert "Origin" in _vary(response)


def test_preflight_for_an_unsupported_method_allows_nothing(make_project):
    client = _client(make_project, f"CORS_ALLOWED_ORIGINS = [{APP!r}]\n")
    for path, method in (("/things/1", "DELETE"), ("/things/", "PUT")):
        response = client.options(
            path, headers={"Origin": APP, "Access-Control-Request-Method": method}
        )
        assert response.status_code == 200
        assert method not in response.headers["Allow"]
        assert _cors_headers(response) == {}, (path, method)
    # No resource at all: nothing either.
    response = client.options(
        "/nowhere", headers={"Origin": APP, "Access-Control-Request-Method": "GET"}
    )
    assert response.status_code == 404
    assert _cors_headers(response) == {}


def test_preflight_from_a_disallowed_origin_allows_nothing(make_project):
    client = _client(make_project, f"CORS_ALLOWED_ORIGINS = [{APP!r}]\n")
    response = client.options(
        "/things/1",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
        },
    )
    assert _cors_headers(response) == {}


def test_credentials(make_project):
    client = _client(
        make_project,
        f"CORS_ALLOWED_ORIGINS = [{APP!r}]\nCORS_ALLOW_CREDENTIALS = True\n",
    )
    response = client.get("/things/1", headers={"Origin": APP})
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Allow-Origin"] == APP
    preflight = client.options(
        "/things/1", headers={"Origin": APP, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"


def test_any_origin(make_project):
    client = _client(
        make_project, 'CORS_ALLOWED_ORIGINS = ["*"]\nCORS_ALLOWED_HEADERS = ["*"]\n'
    )
    response = client.get("/things/1", headers={"Origin": "https://any.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Origin" not in _vary(response)
    preflight = client.options(
        "/things/",
        headers={
            "Origin": "https://any.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Custom, bad header",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Headers"] == "X-Custom"


def test_origins_are_normalized(make_project):
    client = _client(
        make_project, 'CORS_ALLOWED_ORIGINS = ["HTTPS://App.Example.com:443/"]\n'
    )
    response = client.get("/things/1", headers={"Origin": APP})
    assert response.headers["Access-Control-Allow-Origin"] == APP


def test_preflight_of_a_guarded_resource(make_project):
    client = _client(make_project, f"CORS_ALLOWED_ORIGINS = [{APP!r}]\n", guarded=True)
    # The protector lets OPTIONS through: the preflight needs no credentials.
    preflight = client.options(
        "/things/1",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == APP
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization"
    # The request itself needs them; its 401 is readable by the page.
    denied = client.get("/things/1", headers={"Origin": APP})
    assert denied.status_code == 401
    assert denied.headers["Access-Control-Allow-Origin"] == APP
    allowed = client.get(
        "/things/1", headers={"Origin": APP, "Authorization": "Bearer good"}
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == APP


@pytest.mark.skipif(
    importlib.util.find_spec("findig.contrib.auth") is None,
    reason="the auth app is not installed",
)
def test_preflight_through_the_auth_app(make_project):
    files = {"resources.py": RESOURCES, "apps.py": APPS}
    make_project(
        apps={"things": files},
        settings_text=f"CORS_ALLOWED_ORIGINS = [{APP!r}]\n",
    )
    installed = ["findig.contrib.auth", *settings.INSTALLED_APPS]
    with settings.override(INSTALLED_APPS=installed):
        from findig.project.apps import apps

        apps.reset()
        client = Client(get_wsgi_application())
    preflight = client.options(
        "/things/1",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == APP
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    assert (
        preflight.headers["Access-Control-Allow-Headers"]
        == "Authorization, Content-Type"
    )
    denied = client.get("/things/1", headers={"Origin": APP})
    assert denied.status_code == 401
    assert denied.headers["Access-Control-Allow-Origin"] == APP


def test_settings_from_the_environment(make_project, monkeypatch):
    monkeypatch.setenv(
        "FINDIG_CORS_ALLOWED_ORIGINS", "https://a.example,https://b.example"
    )
    monkeypatch.setenv("FINDIG_CORS_MAX_AGE", "30")
    monkeypatch.setenv("FINDIG_CORS_EXPOSE_HEADERS", '["ETag"]')
    client = _client(make_project, "")
    response = client.get("/things/1", headers={"Origin": "https://b.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert response.headers["Access-Control-Expose-Headers"] == "ETag"
    preflight = client.options(
        "/things/1",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.headers["Access-Control-Max-Age"] == "30"


def test_cors_is_off_by_default(make_project):
    client = _client(make_project, "")
    assert get_wsgi_application().cors is None
    response = client.get("/things/1", headers={"Origin": APP})
    assert _cors_headers(response) == {}


@pytest.mark.parametrize(
    ("settings_text", "message"),
    [
        (
            'CORS_ALLOWED_ORIGINS = ["*"]\nCORS_ALLOW_CREDENTIALS = True\n',
            "allows any origin ('*') while CORS_ALLOW_CREDENTIALS is on",
        ),
        (
            'CORS_ALLOWED_ORIGINS = ["https://a.example/app"]\n',
            "'https://a.example/app' is not an origin",
        ),
        ('CORS_ALLOWED_ORIGINS = ["null"]\n', "must not allow the 'null' origin"),
        ('CORS_ALLOWED_ORIGINS = "https://a.example"\n', "must be a list of origins"),
        ('CORS_ALLOWED_HEADERS = ["X Bad"]\n', "CORS_ALLOWED_HEADERS: not header"),
        ("CORS_MAX_AGE = -1\n", "CORS_MAX_AGE must be a number of seconds"),
    ],
)
def test_invalid_settings_are_refused(make_project, settings_text, message):
    make_project(
        apps={"things": {"resources.py": RESOURCES}}, settings_text=settings_text
    )
    assert any(message in problem for problem in settings.check())
    with pytest.raises(ImproperlyConfigured) as raised:
        get_wsgi_application()
    assert message in str(raised.value)


def test_policy_never_reflects_the_request_origin():
    policy = CORSPolicy([APP])
    # The value sent is the configured origin, whatever the case asked.
    assert policy.allow_origin("HTTPS://APP.EXAMPLE.COM") == APP
    assert policy.allow_origin("https://app.example.com.evil") is None
    assert policy.allow_origin("x" * 100_000) is None
    with pytest.raises(ValueError, match="not an origin"):
        CORSPolicy(["app.example.com"])


def test_the_guide_page_runs():
    # docs/guide/project-http.rst: CORS, request IDs, the access log,
    # problem details and OpenAPI, as one script.
    namespace = run_guide("project-http", min_blocks=10)
    assert namespace["lines"].lines
