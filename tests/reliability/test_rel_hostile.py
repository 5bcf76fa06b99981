"""The hostile input corpus (``rel_corpus.py``) against the everything-app, in
process through WSGI and over real sockets through gunicorn (2 ``gthread``
workers).

For every case: never a 5xx; a 4xx made by Findig is JSON (or problem+json)
with a ``message`` (or ``detail``), of bounded size; no response header
carries CR or LF; no data operation ran (unless the case allows it); and
the server is alive and unchanged afterwards (same worker processes, and a
follow-up request succeeds).
"""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from .rel_corpus import SERVER_REFUSALS, Case, cases
from .rel_everything import Calls, build
from .rel_fixtures import HERE, Answer, Gunicorn, http_request, raw_request

CASES = cases()
#: The largest error body: errors never echo large input back.
MAX_ERROR_BODY = 8192


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 200
    assert len([c for c in CASES if c.where != "wsgi"]) >= 200


class _ExplodingInput(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body over the limit was read")


def _seed(app: Any) -> None:
    """Note 1, which the item cases address."""
    from werkzeug.test import Client

    response = Client(app).post("/notes/", json={"title": "first", "count": 1})
    assert response.status_code == 201


@pytest.fixture(scope="module")
def wsgi_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Calls]]:
    directory = tmp_path_factory.mktemp("hostile-wsgi")
    app, db = build(directory / "db.sqlite3", directory / "calls")
    db.create_all()
    _seed(app)
    calls = Calls(directory / "calls")
    yield app, calls
    db.engine.dispose()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Gunicorn, Calls]]:
    directory = tmp_path_factory.mktemp("hostile-wire")
    database, calls_path = directory / "db.sqlite3", directory / "calls"
    app, db = build(database, calls_path)
    db.create_all()
    db.engine.dispose()
    gunicorn = Gunicorn(
        "rel_wsgi:app",
        env={"REL_DATABASE": str(database), "REL_CALLS": str(calls_path)},
        pythonpath=[HERE],
        log=directory / "gunicorn.log",
    )
    with gunicorn:
        answer = http_request(
            gunicorn.port,
            "POST",
            "/notes/",
            json.dumps({"title": "first", "count": 1}),
            {"Content-Type": "application/json"},
        )
        assert answer.status == 201
        yield gunicorn, Calls(calls_path)


def _check(case: Case, answer: Answer, calls_before: int, calls_after: int) -> None:
    status = answer.status
    assert status < 500, f"{case.name}: {status} {answer.body[:300]!r}"
    for name, value in answer.headers:
        assert "\r" not in name + value and "\n" not in name + value, (name, value)
        assert name.lower() != "set-cookie", (name, value)
    assert status in case.expect, f"{case.name}: {status} {answer.body[:300]!r}"
    if 400 <= status < 500:
        assert answer.content_type in (
            "application/json",
            "application/problem+json",
        ), (
            case.name,
            answer.headers,
        )
        assert len(answer.body) <= MAX_ERROR_BODY, (case.name, len(answer.body))
        document = json.loads(answer.body)
        assert isinstance(document, dict)
        assert document.get("message") or document.get("detail"), document
    if not case.op_may_run:
        assert calls_after == calls_before, f"{case.name}: a data operation ran"


def _environ(case: Case) -> dict[str, Any]:
    headers = [
        (name, value.decode("latin-1") if isinstance(value, bytes) else value)
        for name, value in case.headers
        if name.lower() not in ("content-length", "transfer-encoding")
    ]
    path, _, query = case.path.partition("?")
    builder = EnvironBuilder(
        path=path,
        query_string=query,
        method=case.method,
        headers=headers,
        data=case.body if case.body is not None else None,
        content_type=case.content_type if case.body and case.content_type else None,
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    for name, value in case.headers:
        if name.lower() == "content-length":
            environ["CONTENT_LENGTH"] = value
    environ.update(case.environ)
    if case.explode:
        environ["wsgi.input"] = _ExplodingInput()
    return environ


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.where != "wire"], ids=lambda c: c.name
)
def test_wsgi(case: Case, wsgi_app: tuple[Any, Calls]) -> None:
    app, calls = wsgi_app
    before = calls.count()
    app_iter, status, headers = run_wsgi_app(app, _environ(case), buffered=True)
    try:
        body = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    answer = Answer(int(status.split()[0]), list(headers.items()), body)
    _check(case, answer, before, calls.count())
    follow_up = run_wsgi_app(app, EnvironBuilder(path="/pid").get_environ(), True)
    assert follow_up[1].startswith("200")


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name) for c in CASES if c.where != "wsgi"],
)
def test_gunicorn(case: Case, server: tuple[Gunicorn, Calls]) -> None:
    gunicorn, calls = server
    before = calls.count()
    try:
        answer = raw_request(
            gunicorn.port,
            case.wire_bytes(),
            timeout=case.timeout,
            then=case.raw_then,
            shutdown=case.shutdown,
        )
    except (http.client.HTTPException, ConnectionError) as exc:
        # Only a request malformed at the HTTP level may go unanswered.
        assert case.server_may_refuse, f"{case.name}: no answer ({exc!r})"
        answer = None
    if answer is not None:
        refused_by_server = (
            case.server_may_refuse
            and answer.status in SERVER_REFUSALS
            and answer.content_type
            not in ("application/json", "application/problem+json")
        )
        if refused_by_server:
            assert calls.count() == before
        else:
            _check(case, answer, before, calls.count())
    # The worker processes all survived, and the server still answers.
    assert gunicorn.alive()
    assert gunicorn.worker_pids() == gunicorn.initial_workers
    assert http_request(gunicorn.port, "GET", "/pid").status == 200


def test_nothing_partial_was_stored(
    server: tuple[Gunicorn, Calls], tmp_path: Path
) -> None:
    # Every stored note is one that a successful request sent: each row is
    # complete and valid.
    gunicorn, _ = server
    answer = http_request(gunicorn.port, "GET", "/notes/?limit=100")
    assert answer.status == 200
    for note in json.loads(answer.body):
        assert isinstance(note["title"], str) and 0 < len(note["title"]) <= 100
        assert isinstance(note["count"], int)
