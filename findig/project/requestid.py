"""Request IDs: one identifier per request, in its response and its logs.

The project's application (:class:`~findig.project.wsgi.ProjectApp`, with
the ``REQUEST_ID_HEADER`` setting, ``"X-Request-ID"`` by default) gives every
request an ID:

- the value of the request's ``X-Request-ID`` header, when it is 1 to
  :data:`MAX_LENGTH` printable ASCII characters (a proxy or a client chose
  it: requests can be followed across services); any other value is
  replaced;
- otherwise a new one, 32 hexadecimal digits (:func:`new_request_id`).

The ID is echoed in the response's ``X-Request-ID`` header, is
``ctx.request_id`` while the request is handled (and
:func:`current_request_id` anywhere in its thread or task), is the
``request_id`` of the access log's lines, and the ``request_id`` attribute
of every log record that goes through a :class:`RequestIdFilter` (the
project's logging set-up installs one on the handlers it configures):

>>> import logging
>>> record = logging.LogRecord("x", logging.INFO, __file__, 1, "hi", None, None)
>>> RequestIdFilter().filter(record), record.request_id
(True, '-')
>>> valid_request_id("abc-123"), valid_request_id("a\\nb"), valid_request_id("")
('abc-123', None, None)
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar

from findig.context import current_state

__all__ = [
    "ENVIRON_KEY",
    "MAX_LENGTH",
    "RequestIdFilter",
    "current_request_id",
    "new_request_id",
    "valid_request_id",
]

#: The longest request ID accepted from a request.
MAX_LENGTH = 128
#: The WSGI environ key holding the request's ID.
ENVIRON_KEY = "findig.request_id"

# PERF: one precompiled match decides; printable ASCII, space included.
_VALID = re.compile(rf"[\x20-\x7e]{{1,{MAX_LENGTH}}}")

_current: ContextVar[str | None] = ContextVar("findig.request_id", default=None)


def valid_request_id(value: str | None) -> str | None:
    """*value* if it is an acceptable request ID (1 to :data:`MAX_LENGTH`
    printable ASCII characters), else ``None``.

    :param value: A header value (``None`` when the header is absent).
    """
    if value is None or _VALID.fullmatch(value) is None:
        return None
    return value


def new_request_id() -> str:
    """A new request ID: a random UUID (version 4) as 32 hexadecimal digits.

    >>> import uuid
    >>> made = new_request_id()
    >>> len(made), uuid.UUID(made).version, made == uuid.UUID(made).hex
    (32, 4, True)
    """
    # PERF: the bits of uuid.uuid4() set by hand: a fifth of its cost.
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def current_request_id() -> str | None:
    """The ID of the request being handled, or ``None`` outside a request (or
    when request IDs are off)."""
    value = _current.get()
    if value is None:
        # A streamed body is produced after the WSGI call returned: the
        # request context, set again around each chunk, still knows it.
        state = current_state()
        if state is not None:
            value = state.environ.get(ENVIRON_KEY)
    return value


class RequestIdFilter(logging.Filter):
    """A logging filter that sets ``record.request_id`` to the current
    request's ID (``"-"`` outside a request), so that formats may use
    ``%(request_id)s``. It lets every record through.

    Use it in a ``LOGGING`` setting (:func:`logging.config.dictConfig`)::

        LOGGING = {
            "version": 1,
            "filters": {
                "request_id": {"()": "findig.project.requestid.RequestIdFilter"}
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "filters": ["request_id"],
                    "formatter": "plain",
                }
            },
            "formatters": {
                "plain": {"format": "%(levelname)s [%(request_id)s] %(message)s"}
            },
            "loggers": {"findig": {"handlers": ["console"], "level": "INFO"}},
        }
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Set ``record.request_id`` (unless it is set already).

        :param record: The log record.
        :returns: ``True``: the record is always logged.
        """
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id() or "-"
        return True


def _bind(request_id: str | None) -> object:
    """Make *request_id* the current one; returns the token for :func:`_unbind`."""
    return _current.set(request_id)


def _unbind(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
