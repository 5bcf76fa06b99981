"""The hostile input corpus, through the WSGI app and over real sockets.

Every case is sent to a fresh :mod:`hostile_app`; whatever the input, the
answer is never a 5xx, a 4xx has a JSON body with a ``"message"``, a refused
request reaches no data operation, no response header carries CR or LF, and
good requests still work afterwards. A subset goes over real sockets to
gunicorn (2 ``gthread`` workers), whose workers must stay alive.
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
from _support import free_port
from gunicorn.http.errors import InvalidChunkSize
from werkzeug.test import run_wsgi_app

from .hostile_app import GOOD_ITEM, PASSWORD, USER, HostileApp

HERE = Path(__file__).resolve().parent
LIMIT = 10 * 1024 * 1024
GOOD = json.dumps(GOOD_ITEM).encode()
GOOD_AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@dataclass
class Case:
    """One hostile request and what must come of it."""

    id: str
    method: str = "POST"
    path: str = "/items/"
    body: bytes = b""
    #: Environ entries to set (a None value removes the entry).
    environ: dict[str, Any] = field(default_factory=dict)
    query: str = ""
    #: "fail" (a 4xx), "ok" (a 2xx) or "any" (anything under 500).
    expect: str = "fail"
    status: int | None = None
    #: The body must not be read at all (``wsgi.input`` fails if read).
    unread: bool = False
    marks: tuple[Any, ...] = ()


class ExplodingInput(io.RawIOBase):
    """A ``wsgi.input`` that records and fails any attempt to read it."""

    touched = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        ExplodingInput.touched = True
        raise AssertionError("the body of this request must not be read")


class FailingInput(io.RawIOBase):
    """A ``wsgi.input`` whose reads fail with *error*."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise self.error


def _body(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def _malformed() -> Iterable[Case]:
    bodies = [
        b"{bad",
        b'{"name": }',
        b'{"name": "x",}',
        b"[1, 2,]",
        b"'single'",
        b'{"name": NaN}',
        b'{"name": "x", "count": Infinity}',
        b"-Infinity",
        b'{"name": "x" "count": 1}',
        b'{name: "x"}',
        b'{"name": "x"}}',
        b'{"name": "x"} trailing',
        b"\x00",
        b"\xef\xbb\xbf{}",
        b"{" * 3,
        b'{"name": "\\u12"}',
        b'{"name": "\\x41"}',
        b'{"name": "a\nb"}',
        b"[" + b"1," * 100 + b"]",
        b"01",
        b"+1",
        b".5",
        b"1.",
        b"0x10",
        b'"\\',
        b"tru",
        b"nul",
        b"/* c */ {}",
    ]
    for i, body in enumerate(bodies):
        yield Case(f"malformed-{i}", body=body, status=400)
    # every truncation of a good document
    for n in range(1, len(GOOD)):
        yield Case(f"truncated-{n}", body=GOOD[:n], status=400)
    for method, path in (("PUT", "/items/1"), ("PATCH", "/items/1")):
        for i, body in enumerate([b"{bad", GOOD[:-1], b'{"name": NaN}']):
            yield Case(f"malformed-{method}-{i}", method, path, body, status=400)


def _content_types() -> Iterable[Case]:
    wrong = [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "image/png",
        "application/jsonx",
        "json",
        "application/",
        "/json",
        "*/*",
        "application/json-patch+json",
        "text/json\r\nX-Injected: 1",
        "\x00",
        "a" * 10_000,
    ]
    for i, ctype in enumerate(wrong):
        yield Case(f"ctype-wrong-{i}", body=GOOD, environ={"CONTENT_TYPE": ctype})
        yield Case(
            f"ctype-wrong-put-{i}", "PUT", "/items/1", GOOD, {"CONTENT_TYPE": ctype}
        )
    odd = [
        None,
        "",
        "application/json, application/json",
        "application/json,text/plain",
        "application/json;;;",
        "application/json; charset=utf-8",
        "application/json; charset=latin-1",
        "application/json; charset=\xff",
        "APPLICATION/JSON",
        "application/json; boundary",
        " application/json ",
    ]
    for i, odd_type in enumerate(odd):
        yield Case(
            f"ctype-odd-{i}",
            body=GOOD,
            environ={"CONTENT_TYPE": odd_type},
            expect="any",
        )


def _encodings() -> Iterable[Case]:
    bodies = [
        b'{"name": "\xff"}',
        b'{"name": "\xc0\xae"}',
        b'{"name": "\xed\xa0\x80"}',
        b'{"name": "\xf8\x88\x80\x80\x80"}',
        b'{"\xfe": 1, "name": "x"}',
        b"\xff\xfe{\x00}\x00",
        b'{"name": "x\x80"}',
        b"\x80" * 100,
        '{"name": "x"}'.encode("utf-16"),
        '{"name": "x"}'.encode("utf-32"),
    ]
    for i, body in enumerate(bodies):
        yield Case(f"utf8-{i}", body=body, status=400)
    # valid JSON escapes of a lone surrogate and a NUL
    yield Case("surrogate-name", body=b'{"name": "\\ud800"}', expect="any")
    yield Case("nul-name", body=b'{"name": "a\\u0000b"}', expect="any")


def _nesting() -> Iterable[Case]:
    for depth in (33, 40, 1000, 100_000):
        yield Case(f"nest-array-{depth}", body=b"[" * depth + b"]" * depth, status=400)
        yield Case(
            f"nest-object-{depth}",
            body=b'{"a":' * depth + b"1" + b"}" * depth,
            status=400,
        )
        inner = b"[" * depth + b"]" * depth
        yield Case(
            f"nest-field-{depth}",
            body=b'{"name": "x", "tags": ' + inner + b"}",
            status=400,
        )
    # unclosed: the parser must not recurse to death either
    yield Case("nest-unclosed-100000", body=b"[" * 100_000, status=400)
    yield Case("nest-mixed-100000", body=b'[{"a":' * 50_000, status=400)


def _numbers() -> Iterable[Case]:
    values = [
        b"1e999",
        b"-1e999",
        b"1" * 5000,
        b"-" + b"1" * 5000,
        b"1" + b"0" * 4400,
        b"1.5",
        b"-1",
        b"1e2",
        b"0.0",
        b"1e-999",
        b"9" * 400 + b".5",
        b"-0",
    ]
    # integral floats and -1 are integers to ``[int]`` (by design), and
    # ``int(min=0)`` takes -0 as 0
    tags_ok = {b"-1", b"1e2", b"0.0", b"1e-999", b"-0"}
    for i, value in enumerate(values):
        body = b'{"name": "x", "count": ' + value + b"}"
        yield Case(
            f"number-count-{i}", body=body, expect="any" if value == b"-0" else "fail"
        )
        yield Case(
            f"number-tags-{i}",
            body=b'{"name": "x", "tags": [' + value + b"]}",
            expect="any" if value in tags_ok else "fail",
        )
    yield Case("number-toplevel-5000", body=b"7" * 5000, status=400)
    yield Case(
        "number-4300-digits",
        body=b'{"name": "x", "count": ' + b"9" * 4300 + b"}",
        expect="ok",
    )


def _overflow() -> Iterable[Case]:
    bodies = [b'{"a": 1e999}', b'{"a": -1e999}', b"[1e400]", b'{"a": [{"b": 9e9999}]}']
    for i, body in enumerate(bodies):
        yield Case(
            f"overflow-echo-{i}",
            "PUT",
            "/echo",
            body,
            status=400,
        )
    big = b"1" * 4300
    yield Case("echo-big-int", "PUT", "/echo", b'{"a": ' + big + b"}", expect="ok")
    yield Case("echo-1e308", "PUT", "/echo", b'{"a": 1e308}', expect="ok")


def _huge() -> Iterable[Case]:
    big = LIMIT - 1024
    yield Case("huge-name", body=_body({"name": "x" * big}), status=400)
    yield Case(
        "huge-extra-field", body=_body({"name": "x", "junk": "y" * big}), expect="ok"
    )
    yield Case(
        "huge-tags",
        body=b'{"name": "x", "tags": [' + b"1," * 1_000_000 + b"1]}",
        expect="ok",
    )
    yield Case(
        "huge-tags-bad-last",
        body=b'{"name": "x", "tags": [' + b"1," * 1_000_000 + b"true]}",
        status=400,
    )
    yield Case(
        "huge-keys",
        body=b"{"
        + b"".join(b'"k%d": 1,' % i for i in range(200_000))
        + b'"name": "x"}',
        expect="ok",
    )
    yield Case("huge-whitespace", body=b" " * big + GOOD, expect="ok")
    yield Case("at-limit", body=GOOD + b" " * (LIMIT - len(GOOD)), expect="ok")


def _over_limit() -> Iterable[Case]:
    for i, length in enumerate((LIMIT + 1, 11 * 1024 * 1024, 2**31, 2**63, 10**30)):
        for method, path in (("POST", "/items/"), ("PUT", "/items/1")):
            yield Case(
                f"over-limit-{method}-{i}",
                method,
                path,
                environ={"CONTENT_LENGTH": str(length)},
                status=413,
                unread=True,
            )
    yield Case(
        "over-limit-guarded",
        "PUT",
        "/guarded",
        unread=True,
        environ={"CONTENT_LENGTH": str(LIMIT + 1), "HTTP_AUTHORIZATION": GOOD_AUTH},
        status=413,
    )
    chunked = {
        "CONTENT_LENGTH": None,
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input_terminated": True,
    }
    yield Case(
        "chunked-at-limit",
        body=GOOD + b" " * (LIMIT - len(GOOD)),
        environ=chunked,
        expect="ok",
    )
    yield Case(
        "over-limit-chunked",
        body=b" " * (LIMIT + 10) + GOOD,
        status=413,
        environ=chunked,
    )
    # a client that disconnects mid-body
    yield Case(
        "input-os-error",
        body=GOOD,
        status=400,
        environ={"wsgi.input": FailingInput(ConnectionResetError())},
    )
    # what gunicorn's wsgi.input raises for a malformed chunked body
    yield Case(
        "input-chunk-error",
        body=GOOD,
        status=400,
        environ={"wsgi.input": FailingInput(InvalidChunkSize(b"zz"))},
    )
    for i, bad_length in enumerate(("-1", "abc", "1e3", " 12", "0x10", "")):
        yield Case(
            f"bad-length-{i}",
            body=GOOD,
            environ={"CONTENT_LENGTH": bad_length},
            expect="any",
        )


def _type_confusion() -> Iterable[Case]:
    bad: dict[str, list[Any]] = {
        "count": [True, False, [1], {}, 1.5, -1, "", [], {"a": 1}, "1.0", "x"],
        "name": [1, [], ["x"], {}, {"a": "b"}, True, "x" * 51, None, 1.5],
        "tags": ["1", 1, {}, [True], ["x"], [1.5], [[1]], [None], True, [{}]],
        "kind": ["c", 1, ["a"], {}, "A", "a,b", "", True],
    }
    for name, values in bad.items():
        for i, value in enumerate(values):
            data = dict(GOOD_ITEM)
            data[name] = value
            for method, path in (("POST", "/items/"), ("PUT", "/items/1")):
                yield Case(
                    f"type-{method}-{name}-{i}", method, path, _body(data), status=400
                )
            yield Case(
                f"type-PATCH-{name}-{i}",
                "PATCH",
                "/items/1",
                _body({name: value}),
                status=400,
            )
    for i, body in enumerate([{}, {"count": 1}, [], [GOOD_ITEM], "x", 1, None, True]):
        yield Case(f"shape-{i}", body=_body(body), status=400)
    yield Case(
        "null-required-PATCH", "PATCH", "/items/1", b'{"name": null}', status=400
    )
    # accepted by design: integer strings and integral floats are integers,
    # and a PATCH may set an optional field to null
    lenient = [{"count": "1"}, {"tags": ["1", -1.0]}, {"count": None}, {"kind": None}]
    for i, patch in enumerate(lenient):
        yield Case(f"lenient-PATCH-{i}", "PATCH", "/items/1", _body(patch), expect="ok")


def _paths() -> Iterable[Case]:
    paths = [
        "/items/%2e%2e%2f",
        "/items/..%2f..%2fetc%2fpasswd",
        "/items/%2e%2e",
        "/items/%252e%252e%252f",
        "/items/%00",
        "/items/a%00b",
        "/items/1%00",
        "/items/%ff",
        "/items/%c0%ae%c0%ae",
        "/items/%e2%80%ae",
        "/items/..%5c..%5c",
        "/items/%0d%0aSet-Cookie:x",
        "/%2e%2e/items/1",
        "/items/" + "a" * 10_000,
        "/items/%",
        "/items/%zz",
    ]
    for i, path in enumerate(paths):
        yield Case(f"path-GET-{i}", "GET", path, status=404)
        yield Case(f"path-PUT-bad-{i}", "PUT", path, b"{bad")
    for i, query in enumerate(["id=%00", "a=%00&b=\x00", "%ff%fe=%c0", "x=%"]):
        yield Case(f"query-nul-{i}", "GET", "/items/", query=query, expect="ok")


def _headers() -> Iterable[Case]:
    injections = [
        "a\r\nSet-Cookie: x=1",
        "a\nX-Injected: 1",
        "a\rX-Injected: 1",
        "\r\n\r\n<html>",
        "a\x00b",
        "\x7f\x80\xff",
    ]
    keys = (
        "HTTP_X_CUSTOM",
        "HTTP_ACCEPT",
        "HTTP_IF_NONE_MATCH",
        "HTTP_ORIGIN",
        "HTTP_HOST",
    )
    for i, value in enumerate(injections):
        for key in keys:
            yield Case(
                f"header-{key}-{i}",
                "GET",
                "/items/1",
                environ={key: value},
                expect="any",
            )
    for i, size in enumerate((8_000, 100_000, 1_000_000)):
        yield Case(
            f"query-long-{i}", "GET", "/items/", query="a=" + "x" * size, expect="ok"
        )
        yield Case(
            f"query-many-{i}", "GET", "/items/", query="a=1&" * (size // 4), expect="ok"
        )
        yield Case(
            f"header-long-{i}",
            "GET",
            "/items/1",
            environ={"HTTP_X_LONG": "y" * size},
            expect="ok",
        )


def _authorization() -> Iterable[Case]:
    def basic(raw: bytes) -> str:
        return "Basic " + base64.b64encode(raw).decode()

    values = [
        None,
        "",
        "Basic",
        "Basic ",
        "Basic !!!!",
        "Basic =",
        "Basic YWJj",
        "Basic " + "A" * 10_000,
        basic(b"admin:" + b"x" * 10_000),
        basic(b"\xff\xfe:\xff"),
        basic(b"admin"),
        basic(b":"),
        basic(b"\x00:\x00"),
        basic(f"{USER}:{PASSWORD}x".encode()),
        basic(f"{USER}x:{PASSWORD}".encode()),
        basic(f"{USER}:{PASSWORD}\r\n".encode()),
        GOOD_AUTH + "garbage",
        GOOD_AUTH.replace("Basic", "Bearer"),
        "Bearer abc",
        "Digest username=a",
        "Negotiate YII=",
        GOOD_AUTH + ", Basic abc",
        "Basic\t" + GOOD_AUTH[6:],
        "Basic \xff\xfe\xfd",
        "\xff" * 100,
        "x" * 10_240,
    ]
    for i, value in enumerate(values):
        yield Case(
            f"auth-GET-{i}",
            "GET",
            "/guarded",
            environ={"HTTP_AUTHORIZATION": value},
            status=401,
        )
        yield Case(
            f"auth-PUT-{i}",
            "PUT",
            "/guarded",
            GOOD,
            environ={"HTTP_AUTHORIZATION": value},
            status=401,
        )
    # the scheme is case-insensitive (RFC 9110): this one is good
    yield Case(
        "auth-lowercase-scheme",
        "GET",
        "/guarded",
        expect="ok",
        environ={"HTTP_AUTHORIZATION": "basic" + GOOD_AUTH[5:]},
    )


def _accept() -> Iterable[Case]:
    values = [
        "garbage",
        "*/*;q=abc",
        "application/json;q=abc",
        ",".join(["a/b"] * 1000),
        ",".join(f"type{i}/sub{i};q=0.{i % 10}" for i in range(1000)),
        "text/html",
        "application/json;q=0",
        "*/*;q=0",
        ";;;;",
        "",
        "/",
        "*",
        "application/*;q=1e999",
        "application/json;q=-1",
        "x" * 100_000,
        "application/json;" + "a=b;" * 1000,
    ]
    for i, value in enumerate(values):
        yield Case(
            f"accept-GET-{i}",
            "GET",
            "/items/1",
            environ={"HTTP_ACCEPT": value},
            expect="any",
        )
        yield Case(
            f"accept-POST-bad-{i}",
            body=b"{bad",
            environ={"HTTP_ACCEPT": value},
            status=400,
        )


def _methods() -> Iterable[Case]:
    for method in ("FOO", "CONNECT", "TRACE", "G\x00T", "PROPFIND", "GET\r\nX"):
        yield Case(f"method-{method!r}", method, "/items/", GOOD)
    # werkzeug upper-cases the method: "get" is GET
    yield Case("method-lowercase", "get", "/items/", expect="any")
    yield Case("delete-collection", "DELETE", "/items/")
    yield Case("post-item", "POST", "/items/1", GOOD)


CASES: list[Case] = [
    case
    for family in (
        _malformed,
        _content_types,
        _encodings,
        _nesting,
        _numbers,
        _overflow,
        _huge,
        _over_limit,
        _type_confusion,
        _paths,
        _headers,
        _authorization,
        _accept,
        _methods,
    )
    for case in family()
]


def build_environ(case: Case) -> dict[str, Any]:
    """Build the WSGI environ of *case* by hand, as a server would."""
    target = case.path + ("?" + case.query if case.query else "")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": case.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(case.path).decode("latin-1"),
        "REQUEST_URI": target,
        "RAW_URI": target,
        "QUERY_STRING": case.query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(case.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": ExplodingInput() if case.unread else io.BytesIO(case.body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in case.environ.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    return environ


def call(target: HostileApp, environ: dict[str, Any]) -> tuple[int, Any, bytes]:
    """Run the app on *environ*: ``(status, headers, body)``."""
    app_iter, status, headers = run_wsgi_app(target.app, environ)
    try:
        body = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    return int(status.split(" ", 1)[0]), headers, body


def check_still_works(target: HostileApp) -> None:
    """A good write, a good read and a good guarded read still succeed."""
    before = target.total_calls()
    status, _, body = call(target, build_environ(Case("good", body=GOOD)))
    assert status == 201, body
    assert target.total_calls() == before + 1
    status, _, body = call(target, build_environ(Case("get", "GET", "/items/1")))
    assert status == 200 and json.loads(body)["name"] == GOOD_ITEM["name"]
    auth = Case("auth", "GET", "/guarded", environ={"HTTP_AUTHORIZATION": GOOD_AUTH})
    status, _, body = call(target, build_environ(auth))
    assert status == 200 and json.loads(body) == {"user": USER}
    status, _, body = call(target, build_environ(Case("echo", "GET", "/echo")))
    assert status == 200, body


def test_the_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CASES) >= 200
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.id, marks=case.marks) for case in CASES]
)
def test_hostile_request_through_wsgi(case: Case, hostile: HostileApp) -> None:
    target = hostile
    ExplodingInput.touched = False
    status, headers, body = call(target, build_environ(case))
    assert status < 500, body[:500]
    assert not ExplodingInput.touched
    for name, value in headers.items():
        assert "\r" not in value and "\n" not in value, (name, value)
    assert "Set-Cookie" not in headers and "X-Injected" not in headers
    if status >= 400:
        assert headers.get("Content-Type", "").startswith("application/json")
        document = json.loads(body)
        assert isinstance(document.get("message"), str) and document["message"]
        assert target.total_calls() == 0, target.calls
    else:
        assert target.total_calls() <= 1
    if case.status is not None:
        assert status == case.status, body[:500]
    elif case.expect == "fail":
        assert 400 <= status < 500, body[:500]
    elif case.expect == "ok":
        assert 200 <= status < 300, body[:500]
    check_still_works(target)


# -- over real sockets, against gunicorn ---------------------------------------


def _gunicorn() -> str:
    for candidate in (
        HERE.parents[1] / ".venv" / "bin" / "gunicorn",
        Path(sys.executable).parent / "gunicorn",
    ):
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("gunicorn is not installed next to the interpreter")


@pytest.fixture(scope="module")
def gunicorn_port() -> Iterator[int]:
    """Serve ``hostile_app:app`` with gunicorn (2 gthread workers).

    :returns: The port, on 127.0.0.1. The server is stopped by its PID.
    """
    port = free_port()
    process = subprocess.Popen(
        [
            _gunicorn(),
            "--chdir",
            str(HERE),
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "30",
            "--graceful-timeout",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "critical",
            "hostile_app:app",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "gunicorn exited at startup"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start in 20 s"
                time.sleep(0.1)
        yield port
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _request(
    method: str,
    target: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    raw_headers: bytes = b"",
) -> bytes:
    """Build the bytes of an HTTP/1.1 request (``Connection: close``)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if headers is None:
        headers = [("Content-Type", "application/json")]
    lines += [f"{k}: {v}" for k, v in headers]
    framed = any(
        k.lower() in ("content-length", "transfer-encoding") for k, _ in headers
    )
    if not framed and method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines).encode("latin-1") + b"\r\n" + raw_headers + b"\r\n"
    return head + body


def _chunked(body: bytes, size: int = 65536) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


CHUNKED = [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]
JSON_CT = [("Content-Type", "application/json")]
BIG_OK = b'{"name": "x", "junk": "' + b"y" * (LIMIT - 100) + b'"}'

#: (id, request bytes, the status expected or None for "anything < 500", marks)
SOCKET_CASES: list[tuple[str, bytes, int | None, tuple[Any, ...]]] = [
    ("good-get", _request("GET", "/items/1"), 200, ()),
    ("good-post", _request("POST", "/items/", GOOD), 201, ()),
    ("malformed", _request("POST", "/items/", b"{bad"), 400, ()),
    ("truncated", _request("POST", "/items/", GOOD[:-3]), 400, ()),
    ("utf8", _request("POST", "/items/", b'{"name": "\xff"}'), 400, ()),
    (
        "nest-100000",
        _request("POST", "/items/", b"[" * 100_000 + b"]" * 100_000),
        400,
        (),
    ),
    (
        "int-5000",
        _request("POST", "/items/", b'{"name":"x","count":' + b"1" * 5000 + b"}"),
        400,
        (),
    ),
    ("inf", _request("POST", "/items/", b'{"name": "x", "count": 1e999}'), 400, ()),
    (
        "type-true",
        _request("POST", "/items/", b'{"name": "x", "count": true}'),
        400,
        (),
    ),
    (
        "length-over",
        _request(
            "POST", "/items/", headers=[*JSON_CT, ("Content-Length", str(LIMIT + 1))]
        ),
        413,
        (),
    ),
    (
        "length-huge",
        _request("PUT", "/items/1", headers=[*JSON_CT, ("Content-Length", "9" * 20)]),
        None,
        (),
    ),
    ("chunked-good", _request("POST", "/items/", _chunked(GOOD, 7), CHUNKED), 201, ()),
    (
        "chunked-bad-json",
        _request("POST", "/items/", _chunked(b"{bad"), CHUNKED),
        400,
        (),
    ),
    (
        "chunked-big-ok",
        _request("POST", "/items/", _chunked(BIG_OK), CHUNKED),
        201,
        (),
    ),
    (
        "chunked-over",
        _request("POST", "/items/", _chunked(b" " * (LIMIT + 4096) + GOOD), CHUNKED),
        413,
        (),
    ),
    (
        "chunked-bad-size",
        _request("POST", "/items/", b"zz\r\n{}\r\n0\r\n\r\n", CHUNKED),
        400,
        (),
    ),
    (
        "chunked-no-terminator",
        _request("POST", "/items/", b"2\r\n{}XX0\r\n\r\n", CHUNKED),
        400,
        (),
    ),
    (
        "ctype-text",
        _request("POST", "/items/", GOOD, [("Content-Type", "text/plain")]),
        415,
        (),
    ),
    ("ctype-missing", _request("POST", "/items/", GOOD, []), None, ()),
    ("ctype-twice", _request("POST", "/items/", GOOD, JSON_CT * 2), None, ()),
    ("traversal", _request("GET", "/items/%2e%2e%2f"), 404, ()),
    ("nul", _request("GET", "/items/%00"), 404, ()),
    ("nul-inside", _request("GET", "/items/a%00b?x=%00"), 404, ()),
    ("dotdot-raw", _request("GET", "/items/../items/1"), None, ()),
    ("query-long", _request("GET", "/items/?a=" + "x" * 3000), 200, ()),
    (
        "header-long",
        _request("GET", "/items/1", raw_headers=b"X-Long: " + b"y" * 6000 + b"\r\n"),
        200,
        (),
    ),
    (
        "header-bare-lf",
        _request("GET", "/items/1", raw_headers=b"X-A: a\nX-B: b\r\n"),
        None,
        (),
    ),
    (
        "header-obs-fold",
        _request("GET", "/items/1", raw_headers=b"X-A: a\r\n b\r\n"),
        None,
        (),
    ),
    (
        "auth-bad-base64",
        _request("GET", "/guarded", headers=[("Authorization", "Basic !!!")]),
        401,
        (),
    ),
    (
        "auth-not-utf8",
        _request(
            "GET",
            "/guarded",
            raw_headers=b"Authorization: Basic "
            + base64.b64encode(b"\xff:\xfe")
            + b"\r\n",
        ),
        401,
        (),
    ),
    (
        "auth-raw-bytes",
        _request("GET", "/guarded", raw_headers=b"Authorization: Basic \xff\xfe\r\n"),
        401,
        (),
    ),
    (
        "auth-long",
        _request("GET", "/guarded", headers=[("Authorization", "Basic " + "A" * 6000)]),
        401,
        (),
    ),
    (
        "auth-bearer",
        _request("GET", "/guarded", headers=[("Authorization", "Bearer x")]),
        401,
        (),
    ),
    (
        "accept-garbage",
        _request("GET", "/items/1", headers=[("Accept", "garbage")]),
        None,
        (),
    ),
    (
        "accept-q-abc",
        _request("GET", "/items/1", headers=[("Accept", "*/*;q=abc")]),
        None,
        (),
    ),
    (
        "accept-many",
        _request("GET", "/items/1", headers=[("Accept", ",".join(["a/b"] * 1000))]),
        None,
        (),
    ),
    ("garbage-line", b"HELLO\r\n\r\n", None, ()),
    ("no-host", b"GET /items/1 HTTP/1.1\r\nConnection: close\r\n\r\n", None, ()),
]


def exchange(port: int, request: bytes, timeout: float = 20.0) -> bytes:
    """Send *request* and return the whole response (the server closes).

    The request is sent in pieces; as soon as the server answers (say with
    413 before the whole body is sent), sending stops and the answer is read.
    """
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        view = memoryview(request)
        try:
            while view:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sent = sock.send(view[:65536])
                view = view[sent:]
        except (BrokenPipeError, ConnectionResetError):
            pass
        chunks = []
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    """:returns: The status code of a raw HTTP response."""
    assert response.startswith(b"HTTP/1."), response[:200]
    return int(response.split(b" ", 2)[1])


def test_the_socket_corpus_has_thirty_cases() -> None:
    assert len(SOCKET_CASES) >= 30
    assert len({case[0] for case in SOCKET_CASES}) == len(SOCKET_CASES)


@pytest.mark.parametrize(
    ("request_bytes", "expected"),
    [pytest.param(r, s, id=i, marks=m) for i, r, s, m in SOCKET_CASES],
)
def test_hostile_request_over_gunicorn(
    gunicorn_port: int, request_bytes: bytes, expected: int | None
) -> None:
    response = exchange(gunicorn_port, request_bytes)
    status = status_of(response)
    assert status < 500, response[:500]
    if expected is not None:
        assert status == expected, response[:500]
        if expected >= 400:
            head, _, body = response.partition(b"\r\n\r\n")
            assert b"application/json" in head.lower()
            assert isinstance(json.loads(body)["message"], str)
    # the workers are alive: good requests still succeed
    for _ in range(4):
        assert status_of(exchange(gunicorn_port, _request("GET", "/items/1"))) == 200
