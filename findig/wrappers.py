"""The Findig request object."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.utils import cached_property
from werkzeug.wrappers import Request as _WerkzeugRequest

from .context import current_state

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["RawResponse", "Request", "StreamingResponse", "status_line"]


class Request(_WerkzeugRequest):
    """The default class wrapping WSGI environs in Findig applications.

    Besides everything :class:`werkzeug.wrappers.Request` offers, it parses
    request content with the parser chosen for the current resource.
    """

    #: The largest request body accepted, in bytes (10 MiB). Larger bodies
    #: are refused with 413 before any of the body is read.
    max_content_length: int | None = 10 * 1024 * 1024

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
        data = parser(self)[1] if self.get_data(cache=True) else None
        return state.dispatcher.pre_processor(data)


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
