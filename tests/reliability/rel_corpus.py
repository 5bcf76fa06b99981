"""The hostile input corpus: a table of requests that clients should not
send, run against ``rel_everything``'s application in-process (WSGI) and
over real sockets through gunicorn.

Each :class:`Case` is one request. The invariant checked for every case
(see ``test_hostile_input``): never a 5xx; a 4xx answered by Findig has a
JSON (or problem+json) body of bounded size; no response header carries a
CR or LF; unless the case says otherwise, no data operation ran; and the
server still answers afterwards. Cases marked ``server_may_refuse`` are
malformed at the HTTP level: gunicorn may refuse them itself (with its own
400/414/431 page, or by closing the connection) before Findig sees them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

#: A valid note, and its JSON.
VALID = {"title": "valid", "count": 1}
VALID_JSON = json.dumps(VALID).encode()
#: Answers a malformed-but-parsed request may get from Findig.
CLIENT_ERRORS = frozenset({400, 401, 403, 404, 405, 406, 409, 411, 413, 415, 422, 429})
#: What gunicorn answers requests it refuses itself.
SERVER_REFUSALS = frozenset({400, 413, 414, 431})
#: The end of a raw request without a body.
_CLOSE = b"Connection: close\r\n\r\n"
#: The largest request body (Findig's Request.max_content_length).
LIMIT = 10 * 1024 * 1024


@dataclass
class Case:
    """One hostile request.

    :param name: A unique name (the test id).
    :param method: The request method.
    :param path: The path and query, as sent on the request line.
    :param body: The body, as bytes (``None``: none).
    :param headers: Header pairs; values are sent as given (bytes) or
        encoded in latin-1 (str). ``Content-Type`` defaults to JSON when
        there is a body (unless ``content_type`` is ``None``).
    :param expect: The statuses allowed (by default any 4xx Findig makes).
    :param op_may_run: Whether a data operation may legitimately run.
    :param where: ``"both"``, ``"wsgi"`` (in-process only) or ``"wire"``.
    :param server_may_refuse: gunicorn may refuse it at the HTTP level.
    :param raw: For wire cases: the exact bytes to send (overrides the rest).
    :param raw_then: For wire cases: bytes sent after ``raw``, errors ignored.
    :param shutdown: For wire cases: half-close after sending (truncation).
    :param environ: For WSGI cases: environ overrides.
    :param explode: For WSGI cases: reading the body fails the test.
    """

    name: str
    method: str = "POST"
    path: str = "/notes/"
    body: bytes | None = None
    headers: list[tuple[str, str | bytes]] = field(default_factory=list)
    content_type: str | None = "application/json"
    expect: frozenset[int] = CLIENT_ERRORS
    op_may_run: bool = False
    where: str = "both"
    server_may_refuse: bool = False
    raw: bytes | None = None
    raw_then: bytes | None = None
    shutdown: bool = False
    environ: dict[str, str] = field(default_factory=dict)
    explode: bool = False
    timeout: float = 10.0

    def wire_bytes(self) -> bytes:
        """The request as sent over the wire."""
        if self.raw is not None:
            return self.raw
        lines = [f"{self.method} {self.path} HTTP/1.1".encode("latin-1")]
        names = {n.lower() for n, _ in self.headers}
        if "host" not in names:
            lines.append(b"Host: 127.0.0.1")
        lines.append(b"Connection: close")
        if self.body is not None and self.content_type and "content-type" not in names:
            lines.append(f"Content-Type: {self.content_type}".encode("latin-1"))
        if (
            self.body is not None
            and "content-length" not in names
            and "transfer-encoding" not in names
        ):
            lines.append(f"Content-Length: {len(self.body)}".encode())
        for name, value in self.headers:
            raw = value if isinstance(value, bytes) else value.encode("latin-1")
            lines.append(name.encode("latin-1") + b": " + raw)
        return b"\r\n".join(lines) + b"\r\n\r\n" + (self.body or b"")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _note(**fields: object) -> bytes:
    return json.dumps({**VALID, **fields}).encode()


def _chunked(body: bytes, size: int = 1024) -> bytes:
    out = []
    for start in range(0, len(body), size):
        chunk = body[start : start + size]
        out.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def _malformed_json() -> Iterator[Case]:
    bodies = [
        b"{",
        b"}",
        b"[",
        b"]",
        b'{"title":',
        b'{"title": "t",}',
        b"{'title': 't'}",
        b'{title: "t"}',
        b"nul",
        b"tru",
        b"undefined",
        b'{"a" 1}',
        b'{"a":1}}',
        b"[]]",
        b'"unterminated',
        b'{"a": "\\x41"}',
        b'{"a": "\\u12"}',
        b'{"a": 01}',
        b'{"a": .5}',
        b'{"a": +1}',
        b'{"a": 0x10}',
        b'{"a": 1.}',
        b'{"a": -}',
        b'{"a": 1e}',
        b"\xef\xbb\xbf{}",
        b'{"a": NaN}',
        b"NaN",
        b"Infinity",
        b"-Infinity",
        b"/* comment */ {}",
        b"{} trailing",
        b"{}{}",
        b'{"title": "a\x01b", "count": 1}',
        b'{"title": "a\nb", "count": 1}',
        b"   ",
        b"\t\r\n",
        b"\x00",
        VALID_JSON + b"\x00",
        b'{"title": "t", "count": 1, "title": "u"}x',
        b"[" * 10 + b"]" * 9,
    ]
    for index, body in enumerate(bodies):
        yield Case(f"malformed-{index}", body=body, expect=frozenset({400}))
    # Every truncation of a valid document is invalid.
    full = json.dumps({"title": "abc", "count": 12, "tags": ["x"]}).encode()
    for cut in range(1, len(full)):
        yield Case(f"truncated-{cut}", body=full[:cut], expect=frozenset({400}))


def _content_types() -> Iterator[Case]:
    refused = [
        "text/plain",
        "text/xml",
        "application/xml",
        "multipart/form-data; boundary=xyz",
        "application/x-www-form-urlencoded",
        "application/jsonx",
        "application/json-patch+json",
        "json",
        "*/*",
        "application/*",
        ";;;",
        "application/json; charset=klingon",
        "text/html; charset=utf-8",
        "\x7f",
    ]
    for index, value in enumerate(refused):
        yield Case(
            f"content-type-{index}",
            body=VALID_JSON,
            content_type=value,
            # No media type at all (";;;") is a missing one: the default.
            expect=frozenset({400, 415, 201} if value == ";;;" else {400, 415}),
            op_may_run=value == ";;;",
            server_may_refuse=value == "\x7f",
        )
    yield Case(
        "content-type-utf16-declared",
        body=VALID_JSON,
        content_type="application/json; charset=utf-16",
        expect=frozenset({400}),
    )
    yield Case(
        "content-type-duplicated",
        body=VALID_JSON,
        content_type=None,
        headers=[("Content-Type", "application/json"), ("Content-Type", "text/plain")],
        expect=frozenset({400, 415, 201}),
        op_may_run=True,  # a server may keep either one
        server_may_refuse=True,
    )
    # Controls: accepted, so the operation runs.
    yield Case(
        "content-type-missing",
        body=VALID_JSON,
        content_type=None,
        expect=frozenset({201}),
        op_may_run=True,
    )
    yield Case(
        "content-type-upper-case",
        body=VALID_JSON,
        content_type="APPLICATION/JSON",
        expect=frozenset({201}),
        op_may_run=True,
    )


def _encodings() -> Iterator[Case]:
    bodies = [
        b'{"title": "\xff", "count": 1}',
        b'{"title": "\xc3\x28", "count": 1}',
        b'{"title": "\xc0\xaf", "count": 1}',
        b'{"title": "\xed\xa0\x80", "count": 1}',
        b'{"title": "\xe2\x82", "count": 1}',
        b'{"title": "\xf4\x90\x80\x80", "count": 1}',
        b"\xff\xfe{\x00}\x00",
        b"\xfe\xff\x00{\x00}",
    ]
    for index, body in enumerate(bodies):
        yield Case(f"invalid-utf8-{index}", body=body, expect=frozenset({400}))
    # Lone surrogates are valid JSON escapes but no text: never a 5xx.
    yield Case(
        "lone-surrogate-title",
        body=b'{"title": "\\ud800", "count": 1}',
        expect=frozenset({400}),
        op_may_run=True,  # the database refuses it (the validator lets it by)
    )
    yield Case(
        "lone-surrogate-key",
        body=b'{"\\udfff": 1, "title": "t", "count": 1}',
        expect=frozenset({400}),
    )


def _nesting_and_size() -> Iterator[Case]:
    for depth in (33, 1000, 100_000):
        yield Case(
            f"nested-list-{depth}",
            body=b"[" * depth + b"]" * depth,
            expect=frozenset({400}),
        )
    yield Case(
        "nested-object-5000",
        body=b'{"a":' * 5000 + b"1" + b"}" * 5000,
        expect=frozenset({400}),
    )
    yield Case("nested-unbalanced", body=b"[" * 200_000, expect=frozenset({400}))
    yield Case(
        "nested-in-field",
        body=_note(tags=json.loads("[" * 31 + "]" * 31)),
        expect=frozenset({400}),
    )
    numbers = [
        ("1e999", b"1e999"),
        ("minus-1e999", b"-1e999"),
        ("digits-100000", b"9" * 100_000),
        ("digits-4300", b"9" * 4300),
        ("float-digits", b"1." + b"1" * 100_000),
        ("exponent-huge", b"1e99999999999999999999"),
        ("two-pow-64", str(2**64).encode()),
        ("minus-two-pow-63-minus-1", str(-(2**63) - 1).encode()),
    ]
    for name, number in numbers:
        yield Case(
            f"number-count-{name}",
            body=b'{"title": "t", "count": ' + number + b"}",
            expect=frozenset({400}),
            # An integer the validator accepts may still be refused by the
            # database: then the operation ran, and nothing was stored.
            op_may_run=name
            in {"digits-4300", "two-pow-64", "minus-two-pow-63-minus-1"},
        )
        yield Case(
            f"number-score-{name}",
            body=b'{"title": "t", "count": 1, "score": ' + number + b"}",
            expect=frozenset({400, 201}),
            op_may_run=True,
        )
    yield Case(
        "number-in-unvalidated-field",
        method="PUT",
        path="/named/x",
        body=b'{"title": "t", "extra": 1e999}',
        expect=frozenset({400, 200}),
        op_may_run=True,
    )
    yield Case("huge-title", body=_note(title="x" * 1_000_000), expect=frozenset({400}))
    yield Case(
        "huge-tags-array",
        body=_note(tags=["x"] * 200_000),
        expect=frozenset({400, 201}),
        op_may_run=True,
    )
    yield Case(
        "huge-tag",
        body=_note(tags=["x" * 2_000_000]),
        expect=frozenset({400, 201}),
        op_may_run=True,
    )
    yield Case("huge-array-body", body=b"[" + b"1," * 1_000_000 + b"1]")
    yield Case(
        "many-unknown-fields",
        body=json.dumps({**VALID, **{f"f{i}": i for i in range(100_000)}}).encode(),
        expect=frozenset({400}),
    )
    yield Case(
        "long-unknown-field-name",
        body=json.dumps({**VALID, "k" * 1_000_000: 1}).encode(),
        expect=frozenset({400}),
    )
    yield Case(
        "body-9mib-string",
        body=b'"' + b"a" * (9 * 1024 * 1024) + b'"',
        expect=frozenset({400}),
    )


def _limits() -> Iterator[Case]:
    # In-process: the body is never read.
    yield Case(
        "over-limit-unread",
        body=b"",
        environ={"CONTENT_LENGTH": str(LIMIT + 1)},
        explode=True,
        expect=frozenset({413}),
        where="wsgi",
    )
    yield Case(
        "over-limit-huge-length",
        body=b"",
        environ={"CONTENT_LENGTH": str(2**62)},
        explode=True,
        expect=frozenset({413}),
        where="wsgi",
    )
    # Over the wire: the length is announced, the body never sent: the
    # answer must come at once (not after a read timeout).
    for name, length in [("plus-one", LIMIT + 1), ("gigabyte", 2**30)]:
        yield Case(
            f"over-limit-announced-{name}",
            raw=(
                b"POST /notes/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n{" % length
            ),
            expect=frozenset({413}),
            where="wire",
            timeout=5,
        )
    yield Case(
        "over-limit-sent",
        body=b"[" + b"0," * (LIMIT // 2) + b"0]",
        expect=frozenset({413}),
    )
    yield Case(
        "at-limit-sent",
        body=b'"' + b"a" * (LIMIT - 2) + b'"',
        expect=frozenset({400}),
    )
    for index, value in enumerate(
        ["-1", "abc", "1e3", "0x10", " 5", "99999999999999999999999"]
    ):
        yield Case(
            f"content-length-bad-{index}",
            body=VALID_JSON,
            headers=[("Content-Length", value)],
            expect=frozenset({400, 411, 413}),
            server_may_refuse=True,
            op_may_run=value == " 5",
            shutdown=True,
        )
    yield Case(
        "content-length-twice",
        raw=(
            b"POST /notes/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n"
            b"Content-Length: 30\r\n\r\n" + VALID_JSON
        ),
        where="wire",
        server_may_refuse=True,
    )
    yield Case(
        "content-length-short-body",
        body=VALID_JSON,
        headers=[("Content-Length", "5")],
        expect=frozenset({400}),
    )
    yield Case(
        "truncated-body",
        raw=(
            b"POST /notes/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
            + VALID_JSON
        ),
        shutdown=True,
        where="wire",
        expect=frozenset({400}),
    )


def _chunked_cases() -> Iterator[Case]:
    te = [("Transfer-Encoding", "chunked")]
    yield Case(
        "chunked-valid",
        body=_chunked(VALID_JSON, 7),
        headers=te,
        expect=frozenset({201}),
        op_may_run=True,
        where="wire",
    )
    yield Case(
        "chunked-malformed-json",
        body=_chunked(b'{"title": "t", "count": ', 5),
        headers=te,
        expect=frozenset({400}),
        where="wire",
    )
    yield Case(
        "chunked-over-limit",
        body=_chunked(b"[" + b"0," * (LIMIT // 2 + 16) + b"0]", 256 * 1024),
        headers=te,
        expect=frozenset({413}),
        where="wire",
        timeout=30,
    )
    yield Case(
        "chunked-bad-size",
        body=b"zz\r\n" + VALID_JSON + b"\r\n0\r\n\r\n",
        headers=te,
        where="wire",
        server_may_refuse=True,
    )
    yield Case(
        "chunked-size-overflow",
        body=b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        headers=te,
        where="wire",
        server_may_refuse=True,
        shutdown=True,  # else gunicorn waits for the 2**80 bytes announced
    )
    yield Case(
        "chunked-truncated",
        body=b"100\r\n" + VALID_JSON,
        headers=te,
        shutdown=True,
        where="wire",
        server_may_refuse=True,
    )
    yield Case(
        "chunked-and-content-length",
        body=_chunked(VALID_JSON),
        headers=[*te, ("Content-Length", "4")],
        where="wire",
        server_may_refuse=True,
        op_may_run=True,
        expect=frozenset({201, *CLIENT_ERRORS}),
    )
    yield Case(
        "chunked-unknown-coding",
        body=VALID_JSON,
        headers=[
            ("Transfer-Encoding", "gzip, chunked"),
            ("Content-Length", str(len(VALID_JSON))),
        ],
        where="wire",
        server_may_refuse=True,
    )
    yield Case(
        "chunked-extension",
        body=b"%x;name=value\r\n%s\r\n0\r\n\r\n" % (len(VALID_JSON), VALID_JSON),
        headers=te,
        where="wire",
        expect=frozenset({201}),
        op_may_run=True,
    )


def _type_confusion() -> Iterator[Case]:
    wrong = {
        "count": [True, False, 1.5, [1], {"a": 1}, None, "", "1e3", " 1", "one", "1.0"],
        "title": [1, True, [], {}, None, ["a"], "", "x" * 101],
        "score": [True, "abc", [], {}, "nan", "inf", "1e999", "-Infinity"],
        "done": [1, 0, "true", "false", None, [], {}],
        "tags": ["a", ["a", 1], [["a"]], [{}], {"0": "a"}, [None], [True], 5],
        "kind": ["c", "A", ["a"], 1, "a,b", "", None],
        "code": ["ab", "abcd", 123, ["abc"], {}, "a/b/c/d"],
    }
    for field_name, values in wrong.items():
        for index, value in enumerate(values):
            body = _note(**{field_name: value})
            yield Case(f"type-{field_name}-{index}", body=body, expect=frozenset({400}))
    for index, body in enumerate([b"[]", b'"string"', b"1", b"true", b"null", b"[{}]"]):
        yield Case(f"type-document-{index}", body=body, expect=frozenset({400}))
    for index, extra in enumerate(["id", "owner", "__proto__", "", "constructor"]):
        yield Case(
            f"unexpected-field-{index}",
            body=_note(**{extra: 5}),
            expect=frozenset({400}),
        )
    # The same against the item: PUT and PATCH.
    for method in ("PUT", "PATCH"):
        for index, body in enumerate(
            [_note(count=True), _note(tags="a"), b"[]", _note(id=9), b'{"title": null}']
        ):
            yield Case(
                f"type-{method.lower()}-{index}",
                method=method,
                path="/notes/1",
                body=body,
                expect=frozenset({400}),
            )
    yield Case(
        "type-named-title",
        method="PUT",
        path="/named/x",
        body=b'{"title": ["x"]}',
        expect=frozenset({400}),
    )


def _paths() -> Iterator[Case]:
    paths = [
        "/notes/%2e%2e%2f",
        "/notes/..%2f..%2fetc%2fpasswd",
        "/notes/%2e%2e/%2e%2e/etc/passwd",
        "/named/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/named/..%252f..%252f",
        "/named/%00",
        "/named/a%00b",
        "/notes/1%00",
        "/notes/%00",
        "/notes/1%2f",
        "/named/%ff%fe",
        "/named/%c0%af",
        "/named/%ed%a0%80",
        "/named/" + "a" * 3000,
        "//notes/",
        "/notes/./1",
        "/notes/1/../2",
        "/notes/-1",
        "/notes/99999999999999999999999999",
        "/notes/1.5",
        "/notes/%31",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/pid/..",
        "/notes/1?%00=%00",
        "/named/%0d%0aSet-Cookie:%20x=1",
    ]
    for index, path in enumerate(paths):
        yield Case(
            f"path-get-{index}",
            method="GET",
            path=path,
            body=None,
            expect=frozenset({200, 301, 308, 400, 404}),
        )
    for index, path in enumerate(["/named/%00", "/named/..%2f..%2f", "/notes/%00"]):
        yield Case(
            f"path-put-{index}",
            method="PUT",
            path=path,
            body=b'{"title": "t"}',
            expect=frozenset({200, 400, 404}),
            op_may_run=True,
        )
    yield Case(
        "path-raw-nul",
        raw=b"GET /named/a\x00b HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _CLOSE,
        where="wire",
        server_may_refuse=True,
        expect=frozenset({200, 400, 404}),
    )
    yield Case(
        "path-raw-utf8-invalid",
        raw=b"GET /named/\xff\xfe HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _CLOSE,
        where="wire",
        server_may_refuse=True,
        expect=frozenset({200, 400, 404}),
    )
    # Query strings the collection parses.
    queries = [
        "limit=-1",
        "limit=abc",
        "limit=99999999999999999999",
        "limit=1e999",
        "offset=-5",
        "offset=" + "9" * 5000,
        "sort=__class__",
        "sort=-nope",
        "sort=" + ",".join(["id"] * 1000),
        "done=maybe",
        "done=%00",
        "kind=%ff",
        "title=%00",
        "count=yes",
        "title=" + "x" * 6000,
        "&".join(f"f{i}=1" for i in range(1000)),
        "%=%&&==&",
        "limit=1&limit=2",
    ]
    for index, query in enumerate(queries):
        yield Case(
            f"query-{index}",
            method="GET",
            path=f"/notes/?{query}",
            body=None,
            expect=frozenset({200, 400}),
            server_may_refuse=len(query) > 4000,
        )
    yield Case(
        "query-1mib",
        method="GET",
        path="/notes/1?" + "a=b&" * 262_144,
        body=None,
        expect=frozenset({200}),
        where="wsgi",
    )
    yield Case(
        "query-over-request-line",
        method="GET",
        path="/notes/1?" + "a" * 10_000,
        body=None,
        expect=frozenset({200}),
        server_may_refuse=True,
    )


def _headers() -> Iterator[Case]:
    # CR/LF never reach a response header.
    yield Case(
        "inject-host-crlf",
        method="GET",
        path="/notes/1",
        body=None,
        environ={"HTTP_HOST": "localhost\r\nSet-Cookie: injected=1"},
        expect=frozenset({200, 400}),
        where="wsgi",
    )
    yield Case(
        "inject-host-crlf-location",
        body=VALID_JSON,
        environ={"HTTP_HOST": "localhost\r\nSet-Cookie: injected=1"},
        expect=frozenset({201, 400}),
        op_may_run=True,
        where="wsgi",
    )
    yield Case(
        "inject-client-crlf",
        method="GET",
        path="/limited",
        body=None,
        environ={"HTTP_X_CLIENT": "a\r\nSet-Cookie: injected=1"},
        expect=frozenset({200, 429}),
        where="wsgi",
    )
    yield Case(
        "inject-obs-fold",
        raw=(
            b"GET /notes/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"X-Client: a\r\n Set-Cookie: injected=1\r\n\r\n"
        ),
        where="wire",
        server_may_refuse=True,
        expect=frozenset({200}),
    )
    yield Case(
        "inject-bare-lf",
        raw=(
            b"GET /notes/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Client: a\nSet-Cookie:"
            b" injected=1\r\nConnection: close\r\n\r\n"
        ),
        where="wire",
        server_may_refuse=True,
        expect=frozenset({200}),
    )
    yield Case(
        "header-nul",
        raw=(
            b"GET /notes/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"X-Client: a\x00b\r\n\r\n"
        ),
        where="wire",
        server_may_refuse=True,
        expect=frozenset({200}),
    )
    yield Case(
        "header-name-invalid",
        raw=(
            b"GET /notes/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"X Client: a\r\n\r\n"
        ),
        where="wire",
        server_may_refuse=True,
        expect=frozenset({200}),
    )
    yield Case(
        "header-8000-bytes",
        method="GET",
        path="/notes/1",
        body=None,
        headers=[("X-Client", "x" * 8000)],
        expect=frozenset({200}),
        server_may_refuse=True,
    )
    yield Case(
        "header-64-kib",
        method="GET",
        path="/notes/1",
        body=None,
        headers=[("X-Client", "x" * 65536)],
        expect=frozenset({200}),
        server_may_refuse=True,
    )
    yield Case(
        "headers-200",
        method="GET",
        path="/notes/1",
        body=None,
        headers=[(f"X-Extra-{i}", "v") for i in range(200)],
        expect=frozenset({200}),
        server_may_refuse=True,
    )
    yield Case(
        "header-latin1-client",
        method="GET",
        path="/limited",
        body=None,
        headers=[("X-Client", b"\xe9\xff\xfe")],
        expect=frozenset({200, 429}),
    )
    yield Case(
        "header-host-garbage",
        method="GET",
        path="/notes/1",
        body=None,
        headers=[("Host", "[[::1]]:x:y")],
        expect=frozenset({200, 400}),
        server_may_refuse=True,
    )


def _authorization() -> Iterator[Case]:
    values: list[str | bytes] = [
        "",
        "Basic",
        "Basic ",
        "Basic !!!",
        "Basic " + _b64(b"nocolon"),
        "Basic " + _b64(b"\xff\xfe:\xfd"),
        "Basic " + _b64(b"alice\x00:s3cret"),
        "Basic " + _b64(b"alice:s3cret\n"),
        "Basic " + _b64(b"alice:" + b"x" * 3000),
        "Basic " + _b64(b"alice:s3cret")[:-2],
        "Basic " + _b64(b"alice:wrong"),
        "Basic " + _b64(b":"),
        "Basic ====",
        b"Basic \xff\xfe",
        "Bearer",
        "Bearer ",
        "Bearer tok-readx",
        "Bearer " + "x" * 7000,
        b"Bearer t\xf6k",
        "Bearer tok-read, Bearer tok-write",
        "Digest username=alice",
        "Negotiate YII=",
        "tok-write",
        " Basic",
        "Basic " + _b64(b"alice:s3cret") + " Bearer tok-write",
    ]
    for index, value in enumerate(values):
        for where, (method, path, body) in {
            "basic": ("GET", "/basic/vault", None),
            "token": ("GET", "/token/vault/1", None),
            "basic-put": ("PUT", "/basic/vault", VALID_JSON),
            "token-put": ("PUT", "/token/vault/1", VALID_JSON),
        }.items():
            yield Case(
                f"auth-{where}-{index}",
                method=method,
                path=path,
                body=body,
                headers=[("Authorization", value)],
                expect=frozenset({401}),
            )
    huge = "Basic " + "A" * 100_000
    yield Case(
        "auth-huge",
        method="GET",
        path="/basic/vault",
        body=None,
        headers=[("Authorization", huge)],
        expect=frozenset({401}),
        server_may_refuse=True,
    )
    yield Case(
        "auth-twice",
        raw=(
            b"PUT /token/vault/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Authorization: Bearer tok-read\r\nAuthorization: Bearer tok-write\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        ),
        where="wire",
        server_may_refuse=True,
        expect=frozenset({401, 403}),
    )
    yield Case(
        "auth-scope-too-narrow",
        method="DELETE",
        path="/token/vault/1",
        headers=[("Authorization", "Bearer tok-read")],
        expect=frozenset({403}),
    )
    yield Case(
        "auth-other-scope",
        method="PUT",
        path="/token/vault/1",
        body=b"{}",
        headers=[("Authorization", "Bearer tok-other")],
        expect=frozenset({403}),
    )


def _accept() -> Iterator[Case]:
    values = [
        "",
        "garbage",
        "*/*;q=abc",
        "application/json;q=0",
        "text/html",
        "application/xml",
        ";;;,,,",
        "a/b/c",
        "application/json;q=1e999",
        "*/*;q=0",
        "application/json;" + "p=1;" * 2000,
        ", ".join(f"type{i}/sub{i};q=0.{i % 10}" for i in range(1000)),
        "\x7f\x01",
    ]
    for index, value in enumerate(values):
        yield Case(
            f"accept-{index}",
            method="GET",
            path="/notes/1",
            body=None,
            headers=[("Accept", value)],
            expect=frozenset({200, 406}),
            server_may_refuse=len(value) > 8000 or "\x01" in value,
        )
        yield Case(
            f"accept-post-{index}",
            body=_note(count=True),
            headers=[("Accept", value)],
            expect=frozenset({400, 406}),
            server_may_refuse=len(value) > 8000 or "\x01" in value,
        )


def _methods() -> Iterator[Case]:
    for index, method in enumerate(["TRACE", "PROPFIND", "FOO", "CONNECT", "LINK"]):
        yield Case(
            f"method-{index}",
            method=method,
            path="/notes/1",
            body=None,
            expect=frozenset({400, 405}),
            server_may_refuse=method == "CONNECT",
        )
    yield Case(
        "method-post-item",
        method="POST",
        path="/notes/1",
        body=VALID_JSON,
        expect=frozenset({405}),
    )
    yield Case(
        "method-delete-collection",
        method="DELETE",
        path="/notes/",
        body=None,
        expect=frozenset({405}),
    )


def _http_garbage() -> Iterator[Case]:
    raws = [
        b"GARBAGE\r\n\r\n",
        b"GET /pid HTTP/9.9\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /pid\r\n\r\n",
        b"GET http://evil.example/pid HTTP/1.1\r\nHost: 127.0.0.1\r\n" + _CLOSE,
        b"GET * HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /p id HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        b"GET /pid HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /notes/ HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/json\r\nContent-Length: 3\r\nConnection: close"
        b"\r\n\r\n{]}",
    ]
    for index, raw in enumerate(raws):
        yield Case(
            f"http-garbage-{index}",
            raw=raw,
            where="wire",
            server_may_refuse=True,
            expect=frozenset({200, 400, 404}),
            shutdown=True,
        )


def cases() -> list[Case]:
    """Every case of the corpus."""
    found = [
        *_malformed_json(),
        *_content_types(),
        *_encodings(),
        *_nesting_and_size(),
        *_limits(),
        *_chunked_cases(),
        *_type_confusion(),
        *_paths(),
        *_headers(),
        *_authorization(),
        *_accept(),
        *_methods(),
        *_http_garbage(),
    ]
    names = [c.name for c in found]
    assert len(names) == len(set(names)), "case names must be unique"
    return found
