"""Request context variables.

These variables are assigned while a request is handled and cleared as soon
as it is done. :data:`ctx` is the context object itself; every other name
here is a proxy to one of its attributes (:data:`app` is ``ctx.app``, and so
on). The values are kept in a :class:`contextvars.ContextVar`, so each
thread (and each asyncio task) sees only the request it is handling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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


class _bound_on_first_use:  # noqa: N801 - used as a decorator
    """Like :func:`functools.cached_property`, without its lock (Python
    3.11): a request state belongs to one thread."""

    __slots__ = ("func", "name")

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func
        self.name = func.__name__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.func(obj)
        return value


class RequestState:
    """The attributes of one request context.

    Findig sets ``app``, ``dispatcher``, ``request``, ``resource`` and
    ``url_values``; ``url_adapter`` is bound on first use. Any other
    attribute may be set by application code and lives as long as the
    request.
    """

    # PERF: class-level defaults: a request only stores what differs.
    #: The precomputed route of the matched URL rule (None if none matched).
    route: Any = None
    resource: Any = None
    #: An error to answer instead of calling the resource (a routing
    #: error, or one raised by a context hook).
    error: Exception | None = None

    def __init__(self, app: Any, environ: Any, request: Any) -> None:
        self.app = app
        self.dispatcher = app
        self.environ = environ
        self.request = request
        self.url_values: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes never set. A context hook registered
        # with ``applies_to`` is skipped for the resources it does not
        # concern: its value reads None there.
        app = self.__dict__.get("app")
        if app is not None and name in getattr(app, "_skippable_hooks", ()):
            return None
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}"
        )

    @_bound_on_first_use
    def url_adapter(self) -> MapAdapter:
        """A :class:`~werkzeug.routing.MapAdapter` bound to the request."""
        # PERF: binding a MapAdapter to the environ costs more than matching a
        # static path, so it is done only when something builds a URL.
        return self.app.url_map.bind_to_environ(self.environ)


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


class _StateProxy(LocalProxy[Any]):
    """A :class:`~werkzeug.local.LocalProxy` to an attribute of the current
    request state, with a quicker path for reading the proxied object's
    attributes (``request.headers``)."""

    __slots__ = ("_findig_name",)

    def __init__(self, name: str) -> None:
        super().__init__(_state, name, unbound_message=_UNBOUND)
        object.__setattr__(self, "_findig_name", name)

    def __getattribute__(self, name: str) -> Any:
        # PERF: with only __getattr__, Python 3.11 first looks the name up on
        # the proxy, which fails with an AttributeError (its message
        # formatted) before __getattr__ forwards it: about half of the cost
        # of ``request.headers``. The proxy's own attributes are known (the
        # names of its class), so the others are forwarded at once.
        if name in _PROXY_ATTRIBUTES:
            try:
                return object.__getattribute__(self, name)
            except AttributeError:
                pass  # forwarded, as LocalProxy's __getattr__ would
        try:
            state = _state.get()
        except LookupError:
            raise RuntimeError(_UNBOUND) from None
        try:
            return getattr(getattr(state, _proxied_name(self)), name)
        except AttributeError as exc:
            # Python now calls __getattr__: it re-raises this error rather
            # than look the attribute up a second time.
            _failed.lookup = (name, exc)
            raise

    def __getattr__(self, name: str) -> Any:
        failed = _failed.__dict__.pop("lookup", None)
        if failed is not None and failed[0] == name:
            raise failed[1]
        try:
            state = _state.get()
        except LookupError:
            raise RuntimeError(_UNBOUND) from None
        return getattr(getattr(state, _proxied_name(self)), name)


#: The attributes a proxy reads on itself (the others are the proxied
#: object's).
_PROXY_ATTRIBUTES = frozenset(dir(_StateProxy))
_proxied_name: Callable[[_StateProxy], str] = _StateProxy.__dict__[
    "_findig_name"
].__get__
#: The lookup that just failed in a proxy's __getattribute__, per thread.
_failed = threading.local()


ctx: Any = RequestContextLocal()
#: The :class:`findig.App` handling the current request.
app: Any = _StateProxy("app")
#: The current request, an instance of the app's ``request_class``.
request: Any = _StateProxy("request")
#: A :class:`werkzeug.routing.MapAdapter` bound to the current request.
url_adapter: Any = _StateProxy("url_adapter")
#: The :class:`~findig.dispatcher.Dispatcher` that routed the current request.
dispatcher: Any = _StateProxy("dispatcher")
#: The :class:`~findig.resource.AbstractResource` the request is directed to.
resource: Any = _StateProxy("resource")
#: The values extracted from the request path by the matching URL rule.
url_values: Any = _StateProxy("url_values")
