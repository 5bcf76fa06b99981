"""The project's OpenAPI document (served and ``manage.py openapi``), and the
defaults of generated projects (problem details, access log, OpenAPI)."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import Client

from findig.project.conf import settings
from findig.project.wsgi import get_openapi, get_wsgi_application

openapi_spec_validator = pytest.importorskip("openapi_spec_validator")

RESOURCES = """
from findig.dispatcher import Dispatcher
from findig.tools.validator import Validator

dispatcher = Dispatcher()
validator = Validator()  # attached in apps.py
ITEMS = {1: {"id": 1, "title": "one"}}


@validator.restrict("*title", "rank")
@validator.enforce(title="string(minlength=1, maxlength=20)", rank=int)
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

APPS = """
from findig.project.apps import AppConfig
from findig.tools.protector import BasicProtector


class DocsConfig(AppConfig):
    url_prefix = "/items"

    def ready(self, app):
        from .resources import item, validator

        validator.attach_to(app)
        protector = BasicProtector(app, auth_func=lambda user, password: False)
        protector.guard(item, "items")
"""


def _project(make_project, settings_text: str = "") -> None:
    make_project(
        apps={"docs": {"resources.py": RESOURCES, "apps.py": APPS}},
        settings_text=settings_text,
    )


def _check_document(document) -> None:
    openapi_spec_validator.validate(document)
    assert document["openapi"].startswith("3.1")
    assert sorted(document["paths"]) == ["/", "/health", "/items/", "/items/{id}"]
    item = document["paths"]["/items/{id}"]
    # The validator attached in ready() describes the request bodies...
    body = item["put"]["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rpartition("/")[2]]
    assert schema["required"] == ["title"]
    assert schema["properties"]["rank"] == {"type": "integer"}
    # ... and the protector the security.
    assert item["get"]["security"] == [{"basicAuth": ["items+r"]}]
    assert "security" not in document["paths"]["/items/"]["get"]


def test_the_app_serves_its_document_and_docs(make_project):
    _project(
        make_project,
        "OPENAPI = True\nOPENAPI_TITLE = 'Items'\nOPENAPI_VERSION = '2.1'\n",
    )
    app = get_wsgi_application()
    client = Client(app)
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json
    _check_document(document)
    assert document["info"] == {"title": "Items", "version": "2.1"}
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert 'data-spec-url="openapi.json"' in page.get_data(as_text=True)
    assert app.openapi is not None
    assert get_openapi(app) is app.openapi


def test_paths_are_settings(make_project, monkeypatch):
    monkeypatch.setenv("FINDIG_OPENAPI", "1")
    monkeypatch.setenv("FINDIG_OPENAPI_URL", "/api/spec.json")
    monkeypatch.setenv("FINDIG_OPENAPI_DOCS_URL", "")
    _project(make_project)
    client = Client(get_wsgi_application())
    assert client.get("/api/spec.json").status_code == 200
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


def test_off_by_default(make_project):
    _project(make_project)
    app = get_wsgi_application()
    assert app.openapi is None
    assert Client(app).get("/openapi.json").status_code == 404


def test_manage_openapi_prints_the_document(make_project, run_cli):
    _project(make_project)
    result = run_cli("openapi")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    _check_document(document)
    assert document["info"] == {"title": "API", "version": "0.1.0"}
    assert result.stdout.startswith('{\n  "openapi"')
    compact = run_cli("openapi", "--indent", "0")
    assert compact.exit_code == 0
    assert compact.stdout.count("\n") == 1
    assert json.loads(compact.stdout) == document


def test_manage_openapi_matches_the_served_document(make_project, run_cli, tmp_path):
    _project(make_project, "OPENAPI = True\n")
    served = Client(get_wsgi_application()).get("/openapi.json").json
    target = tmp_path / "out" / "openapi.json"
    target.parent.mkdir()
    result = run_cli("openapi", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(target.read_text()) == served
    assert "/openapi.json" not in served["paths"]


def test_problem_details_setting(make_project):
    _project(make_project, "PROBLEM_DETAILS = True\n")
    client = Client(get_wsgi_application())
    response = client.put("/items/1", json={"rank": "x"}, headers={})
    # The protector answers first: a problem too.
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 401
    missing = client.get("/items/nothing")
    assert missing.mimetype == "application/problem+json"
    assert missing.json["title"] == "Not Found"
    bad_host = client.get("/items/", headers={"Host": "evil.example"})
    assert bad_host.status_code == 400
    assert bad_host.json == {
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": "The Host header is not allowed.",
    }
    assert bad_host.mimetype == "application/problem+json"


def test_problem_details_are_off_by_default(make_project):
    _project(make_project)
    missing = Client(get_wsgi_application()).get("/items/nothing")
    assert missing.mimetype == "application/json"
    assert set(missing.json) == {"message"}


def test_generated_project_defaults(generated, caplog):
    import logging

    assert settings.PROBLEM_DETAILS is True
    assert settings.ACCESS_LOG is True
    assert settings.OPENAPI is True
    title = settings.OPENAPI_TITLE
    assert title == generated.name
    assert settings.CORS_ALLOWED_ORIGINS == []
    caplog.set_level(logging.INFO, logger="findig.access")
    client = Client(get_wsgi_application())
    document = client.get("/openapi.json").json
    openapi_spec_validator.validate(document)
    assert f"/{generated.app}/" in document["paths"]
    invalid = client.post(f"/{generated.app}/", json={"colour": "red"})
    assert invalid.status_code == 400
    assert invalid.mimetype == "application/problem+json"
    assert any(
        json.loads(r.getMessage())["path"] == f"/{generated.app}/"
        for r in caplog.records
        if r.name == "findig.access"
    )
