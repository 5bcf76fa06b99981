"""Request context variables.

These variables are assigned while a request is handled and cleared as soon
as it is done. :data:`ctx` is the context object itself; every other name
here is a proxy to one of its attributes (:data:`app` is ``ctx.app``, and so
on). The values are kept in a :class:`contextvars.ContextVar`, so each
thread (and each asyncio task) sees only the request it is handling.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from werkzeug.local import LocalProxy

if TYPE_CHECKING:
    from werkzeug.routing import MapAdapter

__all__ = [
    "app",
    "ctx",
    "dispatcher",
    "request",
    "resource",
    "url_adapter",
    "url_values",
]


class RequestState:
    """The attributes of one request context.

    Findig sets ``app``, ``dispatcher``, ``request``, ``resource`` and
    ``url_values``; ``url_adapter`` is bound on first use. Any other
    attribute may be set by application code and lives as long as the
    request.
    """

    def __init__(self, app: Any, environ: Any, request: Any) -> None:
        self.app = app
        self.dispatcher = app
        self.environ = environ
        self.request = request
        #: The precomputed route of the matched URL rule (None if none matched).
        self.route: Any = None
        self.resource: Any = None
        self.url_values: dict[str, Any] = {}
        #: An error to answer instead of calling the resource (a routing
        #: error, or one raised by a context hook).
        self.error: Exception | None = None

    @property
    def url_adapter(self) -> MapAdapter:
        # PERF: binding a MapAdapter to the environ costs more than matching a
        # static path, so it is done only when something builds a URL.
        adapter = self.app.url_map.bind_to_environ(self.environ)
        self.__dict__["url_adapter"] = adapter
        return adapter


_state: ContextVar[RequestState] = ContextVar("findig.request_state")


class RequestContextLocal:
    """The request-local namespace behind :data:`ctx`.

    Attribute reads and writes go to the current request's
    :class:`RequestState`. Reading an attribute outside a request raises
    :class:`AttributeError`; writing one raises :class:`RuntimeError`.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            state = _state.get()
        except LookupError:
            raise AttributeError(
                f"ctx.{name}: there is no active request context"
            ) from None
        return getattr(state, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(_current_state(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(_current_state(), name)

    def __repr__(self) -> str:
        try:
            state = _state.get()
        except LookupError:
            return "<findig.context.ctx unbound>"
        return f"<findig.context.ctx {state.environ.get('PATH_INFO', '')!r}>"


def _current_state() -> RequestState:
    try:
        return _state.get()
    except LookupError:
        raise RuntimeError(
            "This needs an active request context: use it while a request is "
            "handled, or inside app.test_context()."
        ) from None


def push_state(state: RequestState) -> Token[RequestState]:
    """Make *state* the current request context; returns the token to pop it."""
    return _state.set(state)


def pop_state(token: Token[RequestState]) -> None:
    """Restore the request context that was current before :func:`push_state`."""
    _state.reset(token)


def current_state() -> RequestState | None:
    """Return the current :class:`RequestState`, or ``None`` outside a request."""
    return _state.get(None)


_UNBOUND = "there is no active request context"

ctx: Any = RequestContextLocal()
#: The :class:`findig.App` handling the current request.
app: Any = LocalProxy(_state, "app", unbound_message=_UNBOUND)
#: The current request, an instance of the app's ``request_class``.
request: Any = LocalProxy(_state, "request", unbound_message=_UNBOUND)
#: A :class:`werkzeug.routing.MapAdapter` bound to the current request.
url_adapter: Any = LocalProxy(_state, "url_adapter", unbound_message=_UNBOUND)
#: The :class:`~findig.dispatcher.Dispatcher` that routed the current request.
dispatcher: Any = LocalProxy(_state, "dispatcher", unbound_message=_UNBOUND)
#: The :class:`~findig.resource.AbstractResource` the request is directed to.
resource: Any = LocalProxy(_state, "resource", unbound_message=_UNBOUND)
#: The values extracted from the request path by the matching URL rule.
url_values: Any = LocalProxy(_state, "url_values", unbound_message=_UNBOUND)
