"""The findings of the reliability suite, each as a minimal reproduction.

All are fixed; each test is the regression test of its finding. A finding
not fixed yet would be a strict xfail here, so that it fails the suite once
fixed and the mark is removed.
"""

from __future__ import annotations

import io
import json
import os
import time
from typing import Any

import pytest
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from findig.json import App
from findig.tools.validator import UnexpectedFields, Validator

from .rel_fixtures import PrivateRedis, redis_fixture

pytest.importorskip("sqlalchemy")
pytest.importorskip("redis")

private_redis = redis_fixture()


def _echo_app() -> tuple[App, list[Any]]:
    app = App()
    seen: list[Any] = []

    @app.route("/echo")
    @app.resource
    def echo() -> dict[str, Any]:
        return {}

    @echo.model("write")
    def write(data: Any) -> Any:
        seen.append(data)
        return data

    return app, seen


# -- fixed here ------------------------------------------------------------------


def test_validator_error_bodies_are_bounded() -> None:
    # An input with 100,000 unknown fields (or a 1 MB field name) used to be
    # echoed whole in the 400's "fields".
    app = App()
    validator = Validator(app)
    seen = []

    @validator.restrict("name", strip_extra=False)
    @app.route("/r")
    @app.resource
    def r() -> dict[str, Any]:
        return {}

    @r.model("write")
    def write(data: Any) -> None:
        seen.append(data)

    body = {f"f{i:06d}": i for i in range(100_000)}
    body["k" * 1_000_000] = 1
    response = Client(app).put("/r", json=body)
    assert response.status_code == 400
    assert len(response.data) < 8192
    error = response.json["error"]
    assert error["type"] == "unexpected_fields"
    assert error["fields"] == [f"f{i:06d}" for i in range(50)]
    assert error["more"] == 100_001 - 50
    assert seen == []
    # The exception itself still knows every field.
    err = UnexpectedFields(["b", "a", "x" * 200], None)
    assert err.fields == ["a", "b", "x" * 200]
    assert err.error_info == {
        "type": "unexpected_fields",
        "fields": ["a", "b"],
        "more": 1,
    }
    small = UnexpectedFields(["a"], None)
    assert small.error_info == {"type": "unexpected_fields", "fields": ["a"]}


@pytest.fixture
def notes(tmp_path: Any) -> Any:
    from sqlalchemy import Column, Integer, String

    from findig.extras.sql import SQLA, SQLASet

    app = App()
    db = SQLA(f"sqlite:///{tmp_path / 'n.sqlite3'}", app=app)

    class Note(db.Base):  # type: ignore[name-defined,misc]
        __tablename__ = "notes"
        id = Column(Integer, primary_key=True)
        title = Column(String(50))
        n = Column(Integer)

    @app.route("/notes/<int:id>")
    @app.resource(lazy=True)
    def note(id: int) -> Any:
        return SQLASet(Note).fetch(id=id)

    @app.route("/notes/")
    @note.collection(lazy=True, filterable=("n", "title"))
    def all_notes() -> Any:
        return SQLASet(Note)

    client = Client(app)
    yield client
    db.engine.dispose()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "a", "n": 2**63}, "n"),
        ({"title": "a", "n": -(2**63) - 1}, "n"),
        ({"title": "a", "n": int("9" * 4000)}, "n"),
        ({"title": "\ud800", "n": 1}, "title"),
        ({"title": "a\udfffb", "n": 1}, "title"),
    ],
)
def test_sqlaset_refuses_unstorable_values(
    notes: Client, body: Any, field: str
) -> None:
    # SQLite's driver raised OverflowError / UnicodeEncodeError: 500.
    text = json.dumps(body)
    response = notes.post("/notes/", data=text, content_type="application/json")
    assert response.status_code == 400, response.data
    assert response.json["error"] == {"type": "invalid_fields", "fields": [field]}
    assert notes.get("/notes/").json == []
    assert (
        notes.post("/notes/", json={"title": "ok", "n": 2**63 - 1}).status_code == 201
    )


def test_sqlaset_lookups_of_unstorable_values_find_nothing(notes: Client) -> None:
    assert notes.post("/notes/", json={"title": "a", "n": -(2**63)}).status_code == 201
    assert notes.get("/notes/99999999999999999999999999").status_code == 404
    assert notes.delete("/notes/99999999999999999999999999").status_code == 404
    assert notes.get("/notes/?n=99999999999999999999999").json == []
    assert notes.get("/notes/?title=%ED%A0%80").json == []
    assert len(notes.get(f"/notes/?n={-(2**63)}").json) == 1


def test_openapi_documents_the_empty_answer_of_operations() -> None:
    # A write or delete returning nothing answers 200 with an empty
    # text/plain body; the document said application/json only.
    from findig.tools.openapi import OpenAPI

    app, _ = _echo_app()

    @app.route("/gone")
    @app.resource
    def gone() -> dict[str, Any]:
        return {}

    @gone.model("delete")
    def delete() -> None:
        pass

    document = OpenAPI(app, title="t", version="1").document()
    done = document["paths"]["/gone"]["delete"]["responses"]["200"]["content"]
    assert done["text/plain"] == {"schema": {"type": "string", "maxLength": 0}}
    assert "application/json" in done
    response = Client(app).delete("/gone")
    assert response.status_code == 200 and response.data == b""
    assert response.mimetype in done


def test_redis_log_stops_asking_a_failed_server_for_a_while(
    private_redis: PrivateRedis,
) -> None:
    # A request touching two logs of a hung Redis waited for the timeout
    # twice (1 s); now the first failure answers for the next second.
    import signal

    from findig.extras.redis import RedisLog
    from findig.tools.counter import Counter

    storage = RedisLog.configure(url=private_redis.url, timeout=0.3)
    app = App()
    counter = Counter(app, duration=60, storage=storage)
    limited = app.resource(lambda: {"ok": True}, name="limited")
    app.route(limited, "/")
    counter.every(1000, lambda: None, resource=limited)
    client = Client(app)
    assert client.get("/").status_code == 200
    assert counter.hits().count() == 1
    assert private_redis.process is not None
    os.kill(private_redis.process.pid, signal.SIGSTOP)
    try:
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.get("/").status_code == 200  # fails open
            timings.append(time.perf_counter() - started)
    finally:
        os.kill(private_redis.process.pid, signal.SIGCONT)
    assert timings[0] < 0.5  # one timeout (0.3 s), not one per log
    assert max(timings[1:]) < 0.1  # not asked again for a second
    time.sleep(storage.retry_after + 0.1)
    before = counter.hits().count()  # the hung server may have kept one
    assert client.get("/").status_code == 200
    assert counter.hits().count() == before + 1  # counted again


# -- bugs of the core: three fixed there, one reported --------------------------------


def test_json_overflowing_numbers_are_refused() -> None:
    # 1e999 parsed as float('inf'), which the strict encoder then refused:
    # 500 when the data was echoed (fixed in the core, findig/json.py).
    app, seen = _echo_app()
    response = Client(app).put(
        "/echo", data='{"a": 1e999}', content_type="application/json"
    )
    assert response.status_code == 400
    assert seen == []


def _post(app: App, stream: Any, environ: dict[str, Any]) -> tuple[str, bytes]:
    """PUT *stream* to the echo app; environ keys set to ``None`` are removed."""
    built = EnvironBuilder(
        path="/echo", method="PUT", content_type="application/json"
    ).get_environ()
    built.update(environ)
    for key in [k for k, v in environ.items() if v is None]:
        del built[key]
    built["wsgi.input"] = stream
    app_iter, status, _ = run_wsgi_app(app, built, buffered=True)
    return status, b"".join(app_iter)


def test_terminated_input_over_the_limit_is_413() -> None:
    # With wsgi.input_terminated (as gunicorn sets for chunked bodies),
    # werkzeug cut a body over max_content_length silently (fixed in the
    # core, findig/wrappers.py).
    app, seen = _echo_app()
    body = b'"' + b"a" * (10 * 1024 * 1024) + b'"'
    status, _ = _post(
        app, io.BytesIO(body), {"wsgi.input_terminated": True, "CONTENT_LENGTH": None}
    )
    assert status.startswith("413")
    assert seen == []


def test_body_shorter_than_its_length_is_400() -> None:
    # gunicorn marks its input terminated and hands over what arrived when
    # the client goes away early; it was taken as complete (fixed in the
    # core, findig/wrappers.py).
    app, seen = _echo_app()
    status, _ = _post(
        app,
        io.BytesIO(b'{"a": 1}'),
        {"wsgi.input_terminated": True, "CONTENT_LENGTH": "100"},
    )
    assert status.startswith("400")
    assert seen == []


class _ParseException(Exception):
    """Like gunicorn's (gunicorn.http.errors.ParseException), which its
    input stream raises for a malformed chunked body: not an OSError."""


class _FailingStream(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise _ParseException("Invalid chunk size")


def test_input_stream_errors_are_400() -> None:
    # An error of the server's input stream (gunicorn's InvalidChunkSize)
    # answered 500 (fixed in the core, findig/wrappers.py).
    app, seen = _echo_app()
    status, body = _post(
        app, _FailingStream(), {"wsgi.input_terminated": True, "CONTENT_LENGTH": None}
    )
    assert status.startswith("400"), (status, body)
    assert seen == []
