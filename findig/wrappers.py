"""The Findig request object."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.sansio.utils import get_current_url
from werkzeug.utils import cached_property
from werkzeug.wrappers import Request as _WerkzeugRequest

from .context import current_state

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["RawResponse", "Request", "StreamingResponse", "status_line"]


class _FromEnviron:
    """A request attribute read from the WSGI environ when first used.

    A non-data descriptor: the value is stored in the instance's ``__dict__``,
    which later reads (and writes) then use directly.
    """

    __slots__ = ("compute", "name")

    def __init__(self, compute: Callable[[WSGIEnvironment], Any]) -> None:
        self.compute = compute
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.compute(obj.environ)
        return value


def _lazy_fields() -> dict[str, _FromEnviron]:
    """The attributes werkzeug's ``Request.__init__`` computes from the
    environ, each as werkzeug computes it, but on first use."""
    from werkzeug._internal import _wsgi_decoding_dance as decode
    from werkzeug.datastructures import EnvironHeaders
    from werkzeug.wsgi import _get_server

    new = object.__new__

    def headers(environ: WSGIEnvironment) -> EnvironHeaders:
        # PERF: what EnvironHeaders(environ) makes, without its two __init__
        # calls (checked against it by _check_lazy_fields).
        value = new(EnvironHeaders)
        value._list = []
        value.environ = environ
        return value

    return {
        "method": _FromEnviron(lambda e: e.get("REQUEST_METHOD", "GET").upper()),
        "scheme": _FromEnviron(lambda e: e.get("wsgi.url_scheme", "http")),
        "server": _FromEnviron(_get_server),
        "root_path": _FromEnviron(
            lambda e: decode(e.get("SCRIPT_NAME") or "").rstrip("/")
        ),
        "path": _FromEnviron(
            lambda e: "/" + decode(e.get("PATH_INFO") or "").lstrip("/")
        ),
        "query_string": _FromEnviron(
            lambda e: e.get("QUERY_STRING", "").encode("latin1")
        ),
        "headers": _FromEnviron(headers),
        "remote_addr": _FromEnviron(lambda e: e.get("REMOTE_ADDR")),
    }


def _check_lazy_fields(fields: dict[str, _FromEnviron]) -> bool:
    """Whether the lazy fields are exactly what werkzeug's ``__init__`` sets
    (for this werkzeug version), with the same values."""
    from werkzeug.datastructures import EnvironHeaders
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path="/a%C3%A9//b/",
        base_url="https://h.example:8443/r%C3%A9/",
        query_string="x=1&y=%C3%A9",
        environ_base={"REMOTE_ADDR": "192.0.2.1"},
        method="patch",
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    eager = vars(_WerkzeugRequest(environ, populate_request=False))
    if set(eager) != {*fields, "environ", "shallow"}:
        return False
    for name, field in fields.items():
        value = field.compute(environ)
        if isinstance(value, EnvironHeaders):
            if not (
                type(value) is type(eager[name]) is EnvironHeaders
                and vars(value) == vars(eager[name])
            ):
                return False
        elif value != eager[name]:
            return False
    return True


class Request(_WerkzeugRequest):
    """The default class wrapping WSGI environs in Findig applications.

    Besides everything :class:`werkzeug.wrappers.Request` offers, it parses
    request content with the parser chosen for the current resource.
    """

    #: The largest request body accepted, in bytes (10 MiB). Larger bodies
    #: are refused with 413 before any of the body is read.
    max_content_length: int | None = 10 * 1024 * 1024

    def __init__(
        self,
        environ: WSGIEnvironment,
        populate_request: bool = True,
        shallow: bool = False,
    ) -> None:
        if not _LAZY:
            super().__init__(environ, populate_request, shallow)
            return
        # PERF: werkzeug's __init__ decodes the path, parses the server
        # address, wraps the headers... about 2 µs, mostly for values a
        # request never reads. Each is computed, as werkzeug does, when first
        # read (see _FromEnviron); the rest is what werkzeug's __init__ does.
        self.environ = environ
        self.shallow = shallow
        if populate_request and not shallow:
            environ["werkzeug.request"] = self

    @cached_property
    def input(self) -> Any:
        """The request content parsed into a Python object (read-only).

        The body is parsed by the resource's parser (falling back to the
        app's), then passed through the app's ``pre_processor``. An empty
        body is no data: ``None``, and no parser is consulted.
        """
        state = current_state()
        if state is None:
            raise RuntimeError("Request.input needs an active request context")
        route = state.route
        parser = route.parser if route is not None else state.dispatcher.parser
        data = parser(self)[1] if self._read_body() else None
        return state.dispatcher.pre_processor(data)

    def _read_body(self) -> bytes:
        """Read (and cache) the body, refusing one over the limit with 413,
        and with 400 one that cannot be read (a malformed chunked body) or
        that ends before its ``Content-Length`` (the client went away)."""
        try:
            length = self.content_length
            if length is not None and getattr(self, "_cached_data", None) is None:
                # PERF: werkzeug reads a body 64 KiB at a time, allocating
                # 64 KiB for a body of a few bytes; its length is known.
                body = _read_exactly(self.stream, length)
                self._cached_data = body  # where get_data() caches it
            else:
                body = self.get_data(cache=True)
            if length is not None and len(body) < length:
                # A server that marks its input terminated (gunicorn) hands
                # over what arrived; werkzeug only checks unterminated input.
                raise BadRequest("The request body ended before its length.")
            limit = self.max_content_length
            if (
                limit is not None
                and length is None
                and len(body) >= limit
                and self.environ["wsgi.input"].read(1)
            ):
                # Werkzeug cuts a body without Content-Length at the limit;
                # one byte more means the client sent a larger one.
                raise RequestEntityTooLarge()
        except HTTPException:
            raise
        except Exception:
            raise BadRequest("The request body could not be read.") from None
        return body

    @cached_property
    def host_url(self) -> str:
        """The request URL scheme and host only (as werkzeug's)."""
        # PERF: werkzeug rebuilds this for every request, IDNA-decoding the
        # host (about 6 µs); it only depends on the scheme and the host.
        key = (self.scheme, self.host)
        url = _HOST_URLS.get(key)
        if url is None:
            url = get_current_url(*key)
            if len(_HOST_URLS) < _HOST_URLS_SIZE:
                _HOST_URLS[key] = url
        return url


def _read_exactly(stream: Any, length: int) -> bytes:
    """Read *length* bytes of *stream*, or what there is before its end (a
    stream may return less than asked for before its end)."""
    chunks = []
    missing = length
    while missing > 0:
        chunk = stream.read(missing)
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# The host URLs by (scheme, host); capped, as clients choose the Host header.
_HOST_URLS: dict[tuple[str, str], str] = {}
_HOST_URLS_SIZE = 256


def _install_lazy_fields() -> bool:
    """Make :class:`Request` read werkzeug's fields lazily, if this werkzeug's
    ``Request.__init__`` sets just those, computed just so (otherwise
    ``Request.__init__`` stays werkzeug's own)."""
    try:
        fields = _lazy_fields()
    except ImportError:  # pragma: no cover - werkzeug moved its helpers
        return False
    if not _check_lazy_fields(fields):  # pragma: no cover - werkzeug changed
        return False
    for name, field in fields.items():
        field.__set_name__(Request, name)
        setattr(Request, name, field)
    return True


_LAZY = _install_lazy_fields()


def status_line(code: int) -> str:
    """Return the WSGI status line for *code*, such as ``"404 NOT FOUND"``."""
    try:
        return _STATUS_LINES[code]
    except KeyError:
        reason = HTTP_STATUS_CODES.get(code, "UNKNOWN").upper()
        line = _STATUS_LINES[code] = f"{code} {reason}"
        return line


_STATUS_LINES: dict[int, str] = {}


class RawResponse:
    """A minimal WSGI response: a status, a header list and a body.

    Findig answers formatted resource data with these rather than with
    :class:`werkzeug.wrappers.Response`.

    :param status: The HTTP status code.
    :param headers: A list of ``(name, value)`` header pairs; the
        ``Content-Length`` is added from the body.
    :param body: The response body.
    """

    # PERF: a full werkzeug Response builds a Headers object and post-processes
    # every header on the way out; formatted data needs none of that.
    __slots__ = ("body", "headers", "status_code")

    def __init__(
        self, status: int, headers: list[tuple[str, str]], body: bytes = b""
    ) -> None:
        self.status_code = status
        self.headers = headers
        self.body = body

    @property
    def status(self) -> str:
        """The status line, such as ``"200 OK"``."""
        return status_line(self.status_code)

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        body = self.body
        status = self.status_code
        if status == 304 or status == 204:
            # These never have a body, nor a Content-Length for one.
            start_response(status_line(status), self.headers)
            return ()
        start_response(
            status_line(status), [*self.headers, ("Content-Length", str(len(body)))]
        )
        if environ.get("REQUEST_METHOD") == "HEAD":
            return ()
        return (body,)


class StreamingResponse:
    """A WSGI response whose body is produced while it is sent.

    Formatters return an iterable of chunks (instead of a whole ``str`` or
    ``bytes``) to stream large data. :class:`findig.App` keeps the request
    context available to the chunks' producer until the body is exhausted or
    closed, so lazy data (such as a database cursor) can be read as it is
    sent. The response has no ``Content-Length``.

    :param status: The HTTP status code.
    :param headers: A list of ``(name, value)`` header pairs.
    :param chunks: An iterable of ``str`` (encoded as UTF-8) or ``bytes``.
    """

    __slots__ = ("chunks", "headers", "status_code")

    def __init__(
        self, status: int, headers: list[tuple[str, str]], chunks: Iterable[Any]
    ) -> None:
        self.status_code = status
        self.headers = headers
        self.chunks = chunks

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        start_response(status_line(self.status_code), self.headers)
        body = _EncodedBody(self.chunks)
        if environ.get("REQUEST_METHOD") == "HEAD":
            body.close()
            return ()
        return body


class _EncodedBody:
    """Encodes the chunks of a streamed body; closing it closes them."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: Iterable[Any]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()
