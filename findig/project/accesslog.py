"""The structured access log: one JSON line per request.

With the ``ACCESS_LOG`` setting on (as in generated projects), the
project's application (:class:`~findig.project.wsgi.ProjectApp`) logs every
request it answers on the logger ``findig.access``, at level ``INFO``, as a
JSON object on one line::

    {"time": "2025-01-31T09:15:02.118Z", "method": "GET", "path": "/items/3",
     "status": 200, "duration_ms": 1.42, "bytes": 61, "user": "alice",
     "request_id": "5f0c...", "remote_addr": "127.0.0.1"}

``time``
    When the request arrived (ISO 8601, UTC, milliseconds).
``method``, ``path``
    The request's method and path (the application's ``SCRIPT_NAME`` and
    ``PATH_INFO``), decoded as UTF-8 and cut to :data:`MAX_PATH`
    characters. **The query string is never logged**: it often carries
    tokens, e-mail addresses or search terms. Nor are headers (such as
    ``Authorization``) or bodies.
``status``, ``bytes``
    The response's status code, and the size of the body sent, in bytes.
``duration_ms``
    From the request's arrival to the end of its body, in milliseconds: for
    a streamed body (a large collection), the line is written when the body
    is closed, after the last chunk.
``user``
    Who the request was authenticated as, or ``null`` (see below).
``request_id``
    The request's ID (:mod:`findig.project.requestid`), or ``null`` when
    request IDs are off.
``remote_addr``
    The client's address (as corrected by ``PROXY_FIX``, if set).

**Who is the user?** Whatever sets ``ctx.findig_user`` during the request
(a gatekeeper, a context hook of an app) decides; otherwise the first
:class:`~findig.tools.protector.Protector` attached to the application
whose :attr:`~findig.tools.protector.Protector.authenticated_user` is not
``None`` (so the auth app's users, and any protector's, are logged without
more set-up). Unauthenticated requests, and ``OPTIONS`` requests, log
``null``.

The message of each record is the JSON line; the record also carries the
entry as a :class:`dict`, ``record.access`` (for handlers that format
records themselves), and ``record.request_id``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["MAX_PATH", "USER_ENVIRON_KEY", "AccessLog", "logger", "request_path"]

#: The logger of the access log.
logger = logging.getLogger("findig.access")
#: The longest path logged, in characters (longer ones are cut, with "…").
MAX_PATH = 1024
#: The WSGI environ key where the application keeps the request's user.
USER_ENVIRON_KEY = "findig.user"

_MAX_FIELD = 256


def request_path(environ: Mapping[str, Any]) -> str:
    """The path of a request as logged: ``SCRIPT_NAME`` + ``PATH_INFO``,
    decoded as UTF-8, without the query string, cut to :data:`MAX_PATH`.

    >>> request_path({"PATH_INFO": "/caf\\xc3\\xa9", "QUERY_STRING": "t=secret"})
    '/café'
    """
    raw = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "")
    try:
        # WSGI strings carry the request's bytes as latin-1.
        path = raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:
        path = raw
    if len(path) > MAX_PATH:
        path = path[: MAX_PATH - 1] + "…"
    return path


# The last second formatted, and its text: requests arrive many a second.
_last_second: tuple[int, str] = (-1, "")


def _iso_time(timestamp: float) -> str:
    global _last_second
    seconds = int(timestamp)
    millis = int((timestamp - seconds) * 1000)
    cached, text = _last_second
    if cached != seconds:
        # PERF: strftime once a second, not once a request.
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, text)
    return f"{text}.{millis:03d}Z"


def _short(value: Any) -> Any:
    if value is None or isinstance(value, (int, float)):
        return value
    text = str(value)
    return text if len(text) <= _MAX_FIELD else text[: _MAX_FIELD - 1] + "…"


class AccessLog:
    """Writes the access log's lines (see the module's documentation).

    :param log: The logger to write to (default: ``findig.access``).
    """

    __slots__ = ("logger",)

    def __init__(self, log: logging.Logger | None = None) -> None:
        #: The logger written to.
        self.logger = log if log is not None else logger

    def enabled(self) -> bool:
        """Whether the logger writes ``INFO`` records (checked per request,
        so that a logging change applies at once)."""
        return self.logger.isEnabledFor(logging.INFO)

    def entry(
        self,
        environ: Mapping[str, Any],
        status: str | None,
        size: int | None,
        started: float,
        duration: float,
        request_id: str | None,
    ) -> dict[str, Any]:
        """The entry of one request.

        :param environ: The request's WSGI environ.
        :param status: The response's status line (``None``: none was sent,
            logged as 500).
        :param size: The bytes of body sent, if known.
        :param started: When the request arrived (:func:`time.time`).
        :param duration: How long it took, in seconds.
        :param request_id: The request's ID, if any.
        """
        try:
            code = int(status[:3]) if status else 500
        except ValueError:
            code = 500
        return {
            "time": _iso_time(started),
            "method": _short(environ.get("REQUEST_METHOD", "")),
            "path": request_path(environ),
            "status": code,
            "duration_ms": round(duration * 1000, 3),
            "bytes": size,
            "user": _short(environ.get(USER_ENVIRON_KEY)),
            "request_id": request_id,
            "remote_addr": _short(environ.get("REMOTE_ADDR")),
        }

    def write(self, entry: dict[str, Any]) -> None:
        """Log an entry as a JSON line (``INFO``, on :attr:`logger`).

        :param entry: An entry made by :meth:`entry`.
        """
        # ensure_ascii (the default): the line stays one line of plain
        # ASCII, whatever the path or user hold.
        line = json.dumps(entry)
        log = self.logger
        # PERF: a record made directly: logger.info() would also walk the
        # stack to find its caller, which is always this line.
        record = log.makeRecord(
            log.name,
            logging.INFO,
            __file__,
            0,
            line,
            (),
            None,
            "write",
            {"access": entry, "request_id": entry["request_id"] or "-"},
        )
        log.handle(record)

    def log(
        self,
        environ: Mapping[str, Any],
        status: str | None,
        size: int | None,
        started: float,
        duration: float,
        request_id: str | None,
    ) -> None:
        """Log one request (the arguments are those of :meth:`entry`)."""
        try:
            self.write(self.entry(environ, status, size, started, duration, request_id))
        except Exception:  # pragma: no cover - never fail a request for a log
            logging.getLogger("findig.project").exception("Cannot write the access log")

    def wrap(
        self,
        body: Iterable[bytes],
        environ: Mapping[str, Any],
        status: list[str | None],
        started: float,
        counter_start: float,
        request_id: str | None,
    ) -> Iterable[bytes]:
        """Log a response when its body is done: at once for a body held
        in a list or tuple, else when the server closes it.

        :param body: The WSGI body.
        :param environ: The request's WSGI environ.
        :param status: A one-item list holding the status line (filled when
            the response starts).
        :param started: When the request arrived (:func:`time.time`).
        :param counter_start: The same moment, by :func:`time.perf_counter`.
        :param request_id: The request's ID, if any.
        :returns: The body to give the server.
        """
        if type(body) is tuple or type(body) is list:
            self.log(
                environ,
                status[0],
                sum(len(chunk) for chunk in body),
                started,
                time.perf_counter() - counter_start,
                request_id,
            )
            return body
        return _LoggedBody(
            self, body, environ, status, started, counter_start, request_id
        )


class _LoggedBody:
    """A streamed body that counts its bytes and is logged when closed."""

    __slots__ = (
        "_access",
        "_body",
        "_environ",
        "_logged",
        "_request_id",
        "_size",
        "_start",
        "_started",
        "_status",
    )

    def __init__(
        self,
        access: AccessLog,
        body: Iterable[bytes],
        environ: Mapping[str, Any],
        status: list[str | None],
        started: float,
        counter_start: float,
        request_id: str | None,
    ) -> None:
        self._access = access
        self._body = body
        self._environ = environ
        self._status = status
        self._started = started
        self._start = counter_start
        self._request_id = request_id
        self._size = 0
        self._logged = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._size += len(chunk)
            yield chunk

    def close(self) -> None:
        """Close the body, then log the request (once)."""
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if not self._logged:
                self._logged = True
                self._access.log(
                    self._environ,
                    self._status[0],
                    self._size,
                    self._started,
                    time.perf_counter() - self._start,
                    self._request_id,
                )
