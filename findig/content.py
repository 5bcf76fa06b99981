"""Formatters, parsers and error handlers.

:class:`Parser`, :class:`Formatter` and :class:`ErrorHandler` act like
functions, but collect handler functions for specific content types or
exception types and call the right one. Applications are not required to
use them: any callable with the same call signature works in their place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    NotAcceptable,
    UnsupportedMediaType,
)
from werkzeug.http import parse_accept_header

from .context import current_state

if TYPE_CHECKING:
    from .wrappers import Request

__all__ = ["ErrorHandler", "Formatter", "Parser"]

F = TypeVar("F", bound=Callable[..., Any])

#: The fallback formatter's content type, used when no default is registered.
_FALLBACK_MIME = "text/plain"
# PERF: negotiation results are cached per Accept value; the cap keeps a client
# that sends endless distinct Accept headers from growing the cache forever.
_NEGOTIATION_CACHE_SIZE = 512


class _ContentRegistry:
    """Handlers keyed by content type, with an optional default."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.default: str | None = None

    @overload
    def register(
        self, mime_type: str, handler: None = None, default: bool = False
    ) -> Callable[[F], F]: ...
    @overload
    def register(self, mime_type: str, handler: F, default: bool = False) -> F: ...
    def register(
        self, mime_type: str, handler: F | None = None, default: bool = False
    ) -> F | Callable[[F], F]:
        """Register a handler function for a particular content type.

        :param mime_type: A content type, such as ``"application/json"``.
        :param handler: The handler function for the content type. If it is
            omitted, a decorator that registers the function it decorates
            is returned.
        :param default: Whether the handler is used for requests that do
            not name a content type. Only one default is kept: the last one
            registered with ``default=True``.
        :returns: The handler (or a decorator, without *handler*).
        """
        if handler is None:

            def decorator(func: F) -> F:
                self.register(mime_type, func, default=default)
                return func

            return decorator
        if not isinstance(mime_type, str) or "/" not in mime_type:
            raise ValueError(f"{mime_type!r} is not a content type (type/subtype)")
        self.handlers[mime_type.lower()] = handler
        if default:
            self.default = mime_type.lower()
        self._changed()
        return handler

    def _changed(self) -> None:
        """Hook for subclasses that cache anything derived from the handlers."""

    def _merge_into(self, merged: _ContentRegistry, fallback: _ContentRegistry) -> None:
        merged.handlers = {**fallback.handlers, **self.handlers}
        merged.default = self.default or fallback.default
        merged._changed()

    def __contains__(self, mime_type: str) -> bool:
        return mime_type.lower() in self.handlers


class Formatter(_ContentRegistry):
    """A formatter 'function' that picks its handler from the ``Accept`` header.

    Calling a formatter with resource data returns ``(mime_type, output)``,
    where *output* is a :class:`str` or :class:`bytes`. The handler is chosen
    by content negotiation against the current request's ``Accept`` header;
    with no header (or ``*/*``) the default handler is used. If no default
    was registered, Findig falls back to ``text/plain``, formatting the data
    with :func:`str`. When nothing registered is acceptable to the client,
    :class:`~werkzeug.exceptions.NotAcceptable` (406) is raised.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[str | None, str] = {}
        self._offered: list[str] = []

    def _changed(self) -> None:
        default = self.default or _FALLBACK_MIME
        others = [m for m in self.handlers if m != default]
        self._offered = [default, *others]
        self._cache = {}

    def handler_for(self, mime_type: str) -> Callable[[Any], Any]:
        """Return the handler registered for *mime_type* (or the fallback)."""
        handler = self.handlers.get(mime_type)
        if handler is None:
            if mime_type == _FALLBACK_MIME:
                return str
            raise KeyError(mime_type)
        return handler

    @property
    def offered(self) -> list[str]:
        """The content types this formatter can produce, the default first."""
        if not self._offered:
            self._changed()
        return self._offered

    def negotiate(self, accept: str | None) -> str:
        """Choose the content type to answer a request with.

        :param accept: The value of the request's ``Accept`` header, if any.
        :returns: One of the registered content types.
        :raises NotAcceptable: when no registered type is acceptable.
        """
        try:
            return self._cache[accept]
        except KeyError:
            pass
        offered = self.offered
        if not accept:
            choice = offered[0]
        else:
            best = parse_accept_header(accept, MIMEAccept).best_match(offered)
            if best is None:
                raise NotAcceptable(
                    "None of the acceptable content types can be produced; "
                    f"available: {', '.join(offered)}."
                )
            choice = best
        if len(self._cache) < _NEGOTIATION_CACHE_SIZE:
            self._cache[accept] = choice
        return choice

    def __call__(self, data: Any) -> tuple[str, Any]:
        state = current_state()
        accept = state.environ.get("HTTP_ACCEPT") if state is not None else None
        mime_type = self.negotiate(accept)
        return mime_type, self.handler_for(mime_type)(data)

    def merged_with(self, fallback: Formatter) -> Formatter:
        """Return a formatter with this one's handlers over *fallback*'s."""
        merged = Formatter()
        self._merge_into(merged, fallback)
        return merged


class Parser(_ContentRegistry):
    """A parser 'function' that picks its handler from the ``Content-Type``.

    Calling a parser with a request returns ``(mime_type, data)``. The
    handler receives the request body decoded to :class:`str` with the
    charset named in the ``Content-Type`` header (UTF-8 by default); its
    other parameters are on ``request.mimetype_params``. A request without
    a ``Content-Type`` is parsed by the default handler; with no default, or
    with a type nothing is registered for, the parser raises
    :class:`~werkzeug.exceptions.UnsupportedMediaType` (415). A handler that
    raises :class:`ValueError` makes the request a 400 Bad Request.
    """

    def __call__(self, request: Request) -> tuple[str, Any]:
        mime_type = request.mimetype or self.default
        handler = self.handlers.get(mime_type) if mime_type else None
        if handler is None or mime_type is None:
            accepted = ", ".join(self.handlers) or "none"
            raise UnsupportedMediaType(
                f"Request content of type {request.mimetype or '(none)'!r} is "
                f"not supported; accepted: {accepted}."
            )
        charset = request.mimetype_params.get("charset", "utf-8")
        try:
            text = request.get_data().decode(charset)
        except LookupError:
            raise UnsupportedMediaType(f"Unknown charset {charset!r}.") from None
        except UnicodeDecodeError:
            raise BadRequest(f"The request body is not valid {charset}.") from None
        try:
            return mime_type, handler(text)
        except HTTPException:
            raise
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"The request body could not be parsed: {exc}") from None

    def merged_with(self, fallback: Parser) -> Parser:
        """Return a parser with this one's handlers over *fallback*'s."""
        merged = Parser()
        self._merge_into(merged, fallback)
        return merged


class ErrorHandler:
    """An error handler 'function' that picks its handler by exception type.

    When called with an exception, the handler registered for the closest
    superclass of the exception's type is called, and its result (a
    response) returned. If no handler is registered for the exception, it is
    raised again.
    """

    def __init__(self) -> None:
        self.handlers: dict[type[BaseException], Callable[[Any], Any]] = {}
        self._cache: dict[type[BaseException], Callable[[Any], Any] | None] = {}

    @overload
    def register(
        self, err_type: type[BaseException], handler: None = None
    ) -> Callable[[F], F]: ...
    @overload
    def register(self, err_type: type[BaseException], handler: F) -> F: ...
    def register(
        self, err_type: type[BaseException], handler: F | None = None
    ) -> F | Callable[[F], F]:
        """Register a handler for an exception type and its subclasses.

        :param err_type: A subclass of :class:`BaseException`.
        :param handler: A function taking the exception and returning a
            response. If omitted, a decorator is returned.
        :returns: The handler (or a decorator, without *handler*).
        """
        if handler is None:

            def decorator(func: F) -> F:
                self.register(err_type, func)
                return func

            return decorator
        if not (isinstance(err_type, type) and issubclass(err_type, BaseException)):
            raise TypeError(f"{err_type!r} is not an exception type")
        self.handlers[err_type] = handler
        self._cache = {}
        return handler

    def find(self, err_type: type[BaseException]) -> Callable[[Any], Any] | None:
        """Return the handler for *err_type*, or ``None`` if there is none."""
        try:
            return self._cache[err_type]
        except KeyError:
            pass
        handler = None
        for klass in err_type.__mro__:
            handler = self.handlers.get(klass)
            if handler is not None:
                break
        self._cache[err_type] = handler
        return handler

    def __call__(self, err: BaseException) -> Any:
        handler = self.find(type(err))
        if handler is None:
            raise err
        return handler(err)

    def merged_with(self, fallback: ErrorHandler) -> ErrorHandler:
        """Return an error handler with this one's handlers over *fallback*'s.

        A handler registered here for a broad type does not hide a handler
        registered on *fallback* for a narrower one: the closest match over
        both wins, this handler's entry winning a tie.
        """
        merged = ErrorHandler()
        merged.handlers = {**fallback.handlers, **self.handlers}
        return merged
