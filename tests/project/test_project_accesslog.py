"""The structured access log of the project's application, through HTTP."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from werkzeug.test import Client

from findig.project.accesslog import MAX_PATH
from findig.project.apps import apps
from findig.project.conf import settings
from findig.project.wsgi import get_wsgi_application

RESOURCES = """
from findig.dispatcher import Dispatcher

dispatcher = Dispatcher()


@dispatcher.route("/<int:id>")
@dispatcher.resource
def item(id):
    if id > 10:
        raise LookupError(id)
    return {"id": id, "name": "x" * id}


@dispatcher.route("/stream")
@dispatcher.resource
def stream():
    # A generator: the JSON app streams it.
    return ({"n": n} for n in range(3))


@dispatcher.route("/<path:rest>")
@dispatcher.resource
def anything(rest):
    return {"rest": rest[:10]}
"""

APPS = """
from findig.context import ctx, request
from findig.project.apps import AppConfig
from findig.tools.protector import GateKeeper, Protector, Unauthorized


class Keeper(GateKeeper):
    def check_auth(self):
        if request.headers.get("Authorization") == "Bearer secret-token":
            return "alice"
        raise Unauthorized()

    def get_username(self, grant):
        return grant


class LogConfig(AppConfig):
    url_prefix = "/log"

    def ready(self, app):
        from .resources import item

        Protector(app, gatekeeper=Keeper()).guard(item)

        @app.context
        def named_user():
            # A hook naming the user its own way: ctx.findig_user wins.
            if request.headers.get("X-Test-User"):
                ctx.findig_user = request.headers["X-Test-User"]
            yield
"""

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
FIELDS = [
    "time",
    "method",
    "path",
    "status",
    "duration_ms",
    "bytes",
    "user",
    "request_id",
    "remote_addr",
]
GOOD = {"Authorization": "Bearer secret-token"}


@pytest.fixture
def client(make_project, caplog) -> Client:
    make_project(
        apps={"log": {"resources.py": RESOURCES, "apps.py": APPS}},
        settings_text=(
            "ACCESS_LOG = True\nALLOWED_HOSTS = ['localhost']\n"
            "REQUEST_ID_HEADER = 'X-Request-ID'\n"
        ),
    )
    caplog.set_level(logging.INFO, logger="findig.access")
    return Client(get_wsgi_application())


def _lines(caplog) -> list[dict[str, Any]]:
    records = [r for r in caplog.records if r.name == "findig.access"]
    caplog.clear()
    lines = []
    for record in records:
        message = record.getMessage()
        assert "\n" not in message
        entry = json.loads(message)
        assert entry == record.access  # type: ignore[attr-defined]
        lines.append(entry)
    return lines


def test_one_json_line_per_request(client, caplog):
    before = datetime.now(timezone.utc)
    response = client.get(
        "/log/3?token=hunter2&page=2",
        headers={**GOOD, "X-Request-ID": "req-1"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 200
    (entry,) = _lines(caplog)
    assert list(entry) == FIELDS
    assert TIME.fullmatch(entry["time"])
    logged = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= logged <= datetime.now(timezone.utc)
    assert entry["method"] == "GET"
    # The query string is never logged, nor the credentials.
    assert entry["path"] == "/log/3"
    assert "hunter2" not in json.dumps(entry)
    assert "secret-token" not in json.dumps(entry)
    assert entry["status"] == 200
    assert entry["bytes"] == len(response.get_data())
    assert isinstance(entry["duration_ms"], float)
    assert 0 <= entry["duration_ms"] < 10_000
    assert entry["user"] == "alice"
    assert entry["request_id"] == "req-1" == response.headers["X-Request-ID"]
    assert entry["remote_addr"] == "192.0.2.7"


def test_errors_and_anonymous_requests(client, caplog):
    assert client.get("/log/3").status_code == 401
    assert client.get("/log/11", headers=GOOD).status_code == 404
    assert client.get("/nowhere").status_code == 404
    assert client.post("/log/stream").status_code == 405
    refused = client.get("/log/stream", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    entries = _lines(caplog)
    assert [(e["method"], e["path"], e["status"], e["user"]) for e in entries] == [
        ("GET", "/log/3", 401, None),
        ("GET", "/log/11", 404, "alice"),
        ("GET", "/nowhere", 404, None),
        ("POST", "/log/stream", 405, None),
        ("GET", "/log/stream", 400, None),
    ]
    assert all(e["request_id"] for e in entries)
    assert entries[-1]["bytes"] == len(refused.get_data())


def test_the_user_named_by_ctx_findig_user(client, caplog):
    client.get("/log/stream", headers={"X-Test-User": "bob"}, buffered=True)
    client.get("/log/2", headers={**GOOD, "X-Test-User": "carol"})
    assert [e["user"] for e in _lines(caplog)] == ["bob", "carol"]


def test_streamed_bodies_are_logged_when_closed(client, caplog):
    response = client.get("/log/stream", buffered=False)
    assert response.status_code == 200
    # Nothing yet: the body is still to be sent.
    assert _lines(caplog) == []
    body = response.get_data()
    response.close()
    (entry,) = _lines(caplog)
    assert json.loads(body) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert entry["bytes"] == len(body)
    assert entry["status"] == 200


def test_head_and_preflight_like_requests(client, caplog):
    assert client.head("/log/2", headers=GOOD).status_code == 200
    assert client.options("/log/2").status_code == 200
    head, options = _lines(caplog)
    assert (head["method"], head["bytes"]) == ("HEAD", 0)
    # OPTIONS goes unauthenticated.
    assert (options["method"], options["status"], options["user"]) == (
        "OPTIONS",
        200,
        None,
    )


def test_paths_are_decoded_and_cut(client, caplog):
    client.get("/log/caf%C3%A9")
    client.get("/log/" + "a" * 3000)
    accented, long = _lines(caplog)
    assert accented["path"] == "/log/café"
    assert len(long["path"]) == MAX_PATH
    assert long["path"].endswith("…")


def test_off_unless_asked(make_project, caplog):
    make_project(apps={"log": {"resources.py": RESOURCES}})
    caplog.set_level(logging.INFO, logger="findig.access")
    app = get_wsgi_application()
    assert app.access_log is None
    assert Client(app).get("/log/stream", buffered=True).status_code == 200
    assert _lines(caplog) == []


def test_silenced_logger_costs_nothing(client, caplog):
    caplog.set_level(logging.WARNING, logger="findig.access")
    assert client.get("/log/stream", buffered=True).status_code == 200
    assert _lines(caplog) == []


def test_from_the_environment(make_project, caplog, monkeypatch):
    monkeypatch.setenv("FINDIG_ACCESS_LOG", "yes")
    make_project(apps={"log": {"resources.py": RESOURCES}})
    caplog.set_level(logging.INFO, logger="findig.access")
    Client(get_wsgi_application()).get("/log/stream", buffered=True)
    (entry,) = _lines(caplog)
    assert entry["path"] == "/log/stream"


@pytest.mark.skipif(
    importlib.util.find_spec("findig.contrib.auth") is None,
    reason="the auth app is not installed",
)
def test_the_auth_apps_user_is_logged(make_project, run_cli, caplog):
    project = make_project(
        apps={"log": {"resources.py": RESOURCES}},
        settings_text="ACCESS_LOG = True\n",
    )
    installed = ["findig.contrib.auth", project.app_name("log")]
    with settings.override(INSTALLED_APPS=installed):
        apps.reset()
        assert run_cli("migrate").exit_code == 0
        created = run_cli("createuser", "alice", "--no-password")
        assert created.exit_code == 0, created.output
        made = run_cli("createtoken", "alice")
        assert made.exit_code == 0, made.output
        token = made.stdout.strip()
        caplog.set_level(logging.INFO, logger="findig.access")
        client = Client(get_wsgi_application())
        ok = client.get("/2", headers={"Authorization": f"Bearer {token}"})
        denied = client.get("/2")
    apps.reset()
    assert (ok.status_code, denied.status_code) == (200, 401)
    entries = _lines(caplog)
    assert [(e["status"], e["user"]) for e in entries] == [(200, "alice"), (401, None)]
    assert token not in json.dumps(entries)
