"""Request IDs in the project's application, through HTTP."""

from __future__ import annotations

import logging
import re

import pytest
from werkzeug.test import Client

from findig.project.conf import ImproperlyConfigured, settings
from findig.project.requestid import RequestIdFilter, current_request_id
from findig.project.wsgi import get_wsgi_application

RESOURCES = """
import logging

from findig.context import ctx
from findig.dispatcher import Dispatcher
from findig.project.requestid import current_request_id

dispatcher = Dispatcher()
log = logging.getLogger("findig.tests.requestid")


@dispatcher.route("/seen")
@dispatcher.resource
def seen():
    log.warning("handling")
    return {"ctx": ctx.request_id, "current": current_request_id()}


@dispatcher.route("/current")
@dispatcher.resource
def current():
    return {"current": current_request_id()}


@dispatcher.route("/stream")
@dispatcher.resource
def stream():
    # A generator: the JSON app streams it, after the WSGI call returned.
    return ({"n": n, "id": current_request_id()} for n in range(2))
"""

HEX32 = re.compile(r"[0-9a-f]{32}")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _client(
    make_project, settings_text: str = "REQUEST_ID_HEADER = 'X-Request-ID'\n"
) -> Client:
    make_project(apps={"ids": {"resources.py": RESOURCES}}, settings_text=settings_text)
    return Client(get_wsgi_application())


def test_a_request_id_is_made_and_echoed(make_project):
    client = _client(make_project)
    first = client.get("/seen")
    second = client.get("/seen")
    made = first.headers["X-Request-ID"]
    assert HEX32.fullmatch(made)
    assert second.headers["X-Request-ID"] != made
    # ctx.request_id and current_request_id() know it during the request.
    assert first.json == {"ctx": made, "current": made}
    # Not outside.
    assert current_request_id() is None


def test_an_incoming_request_id_is_kept(make_project):
    client = _client(make_project)
    response = client.get("/seen", headers={"X-Request-ID": "edge-42 abc"})
    assert response.headers["X-Request-ID"] == "edge-42 abc"
    assert response.json == {"ctx": "edge-42 abc", "current": "edge-42 abc"}
    longest = "r" * 128
    response = client.get("/seen", headers={"X-Request-ID": longest})
    assert response.headers["X-Request-ID"] == longest


@pytest.mark.parametrize("bad", ["r" * 129, "caf\xe9", "tab\there", "\x7f"])
def test_an_invalid_request_id_is_replaced(make_project, bad):
    client = _client(make_project)
    response = client.get("/seen", headers={"X-Request-ID": bad})
    made = response.headers["X-Request-ID"]
    assert HEX32.fullmatch(made)
    assert response.json["ctx"] == made


def test_the_request_id_is_in_log_records(make_project):
    client = _client(make_project)
    handler = _Records()
    log = logging.getLogger("findig.tests.requestid")
    log.addHandler(handler)
    try:
        response = client.get("/seen", headers={"X-Request-ID": "trace-me"})
    finally:
        log.removeHandler(handler)
    assert response.status_code == 200
    (record,) = handler.records
    assert record.request_id == "trace-me"  # type: ignore[attr-defined]
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    RequestIdFilter().filter(outside)
    assert outside.request_id == "-"  # type: ignore[attr-defined]


def test_streamed_bodies_know_the_request_id(make_project):
    client = _client(make_project)
    response = client.get("/stream", headers={"X-Request-ID": "streamed"})
    assert response.headers["X-Request-ID"] == "streamed"
    assert response.json == [{"n": 0, "id": "streamed"}, {"n": 1, "id": "streamed"}]


def test_errors_and_unknown_paths_carry_it(make_project):
    client = _client(
        make_project,
        "ALLOWED_HOSTS = ['api.example.com']\nREQUEST_ID_HEADER = 'X-Request-ID'\n",
    )
    response = client.get("/nowhere", headers={"Host": "api.example.com"})
    assert response.status_code == 404
    assert HEX32.fullmatch(response.headers["X-Request-ID"])
    # Even a refused Host header.
    refused = client.get("/seen", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert HEX32.fullmatch(refused.headers["X-Request-ID"])


def test_another_header(make_project):
    client = _client(make_project, "REQUEST_ID_HEADER = 'X-Correlation-ID'\n")
    response = client.get("/seen", headers={"X-Correlation-ID": "corr-1"})
    assert response.headers["X-Correlation-ID"] == "corr-1"
    assert "X-Request-ID" not in response.headers
    assert response.json["ctx"] == "corr-1"


def test_off_by_default(make_project):
    client = _client(make_project, "")
    assert settings.REQUEST_ID_HEADER is None
    response = client.get("/current", headers={"X-Request-ID": "ignored"})
    assert "X-Request-ID" not in response.headers
    assert response.json == {"current": None}


def test_from_the_environment(make_project, monkeypatch):
    monkeypatch.setenv("FINDIG_REQUEST_ID_HEADER", "X-Trace")
    client = _client(make_project, "")
    assert client.get("/current", headers={"X-Trace": "t-1"}).json == {"current": "t-1"}


def test_the_environment_turns_them_off(make_project, monkeypatch):
    monkeypatch.setenv("FINDIG_REQUEST_ID_HEADER", "")
    client = _client(make_project)
    assert settings.REQUEST_ID_HEADER == ""
    response = client.get("/current", headers={"X-Request-ID": "ignored"})
    assert "X-Request-ID" not in response.headers
    assert response.json == {"current": None}


def test_a_malformed_header_name_is_refused(make_project):
    make_project(settings_text="REQUEST_ID_HEADER = 'X Request'\n")
    with pytest.raises(ImproperlyConfigured, match="REQUEST_ID_HEADER"):
        get_wsgi_application()


def test_logging_settings_get_the_filter(make_project):
    make_project(
        settings_text="""
        LOGGING = {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"f": {"format": "[%(request_id)s] %(message)s"}},
            "handlers": {
                "h": {
                    "class": "logging.StreamHandler",
                    "formatter": "f",
                    "stream": "ext://sys.stdout",
                }
            },
            "loggers": {"findig.tests.configured": {"handlers": ["h"]}},
        }
        """
    )
    get_wsgi_application()
    log = logging.getLogger("findig.tests.configured")
    try:
        (handler,) = log.handlers
        assert any(isinstance(f, RequestIdFilter) for f in handler.filters)
        record = log.makeRecord(log.name, logging.INFO, __file__, 1, "hi", None, None)
        assert handler.filter(record)
        assert handler.format(record) == "[-] hi"
    finally:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()
