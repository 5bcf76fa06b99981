"""The Findig application: a WSGI callable made of routed resources."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.test import EnvironBuilder

from .context import RequestState, _state
from .dispatcher import _METHOD_ORDER, Dispatcher, Route
from .resource import Collection, Resource
from .wrappers import Request, StreamingResponse

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["App"]

logger = logging.getLogger("findig")

F = TypeVar("F", bound=Callable[..., Any])


class App(Dispatcher):
    """A Findig application: a WSGI callable that routes to resources.

    :param autolist: If ``True``, a resource at ``/`` lists every resource
        of the app with its URL rule and HTTP methods.

    Other keyword arguments are those of
    :class:`~findig.dispatcher.Dispatcher`.
    """

    #: The class used to wrap WSGI environs.
    request_class: type[Request] = Request

    def __init__(self, autolist: bool = False, **dispatcher_args: Any) -> None:
        super().__init__(**dispatcher_args)
        self._context_hooks: list[Callable[[], Any]] = []
        self._startup_hooks: list[Callable[[], Any]] = []
        self._cleanup_hooks: list[Callable[[], Any]] = []
        if autolist:
            self.route(self.resource(self._list_resources, name="findig.autolist"), "/")

    # -- hooks --------------------------------------------------------------

    def context(self, func: F) -> F:
        """Register a request context manager for the application.

        A request context manager is a generator function that yields once.
        It is called when a request context starts (after the URL is
        matched, so :data:`findig.context.resource` is known), runs up to its
        ``yield``, and resumes after the response is made. The value it yields
        is available as an attribute of :data:`findig.context.ctx` named
        after the function. An exception it raises before yielding is handled
        like an error of the resource, which is then not called.

        Example:

        >>> from findig.context import ctx
        >>> from findig import App
        >>>
        >>> app = App()
        >>> items = []
        >>> @app.context
        ... def meaning():
        ...     items.extend(["Life", "Universe", "Everything"])
        ...     yield 42
        ...     items.clear()
        ...
        >>> with app.test_context(create_route=True):
        ...     print("The meaning of", end=" ")
        ...     print(*items, sep=", ", end=": ")
        ...     print(ctx.meaning)
        ...
        The meaning of Life, Universe, Everything: 42
        >>> items
        []
        """
        self._check_open("register context hooks")
        self._context_hooks.append(func)
        return func

    def startup_hook(self, func: F) -> F:
        """Register a function to run before the very first request."""
        self._check_open("register start-up hooks")
        self._startup_hooks.append(func)
        return func

    def success_hook(self, func: F) -> F:
        """Register a function to run when a resource has handled a request
        without error, before the response is made.

        This is where a unit of work is committed: an exception the function
        raises is handled like an error of the resource (for example a failed
        database commit answered with 400), so no client is told that a
        change succeeded when it did not.
        """
        self._check_open("register success hooks")
        self._success_hooks.append(func)
        return func

    def cleanup_hook(self, func: F) -> F:
        """Register a function to run after each request."""
        self._check_open("register clean-up hooks")
        self._cleanup_hooks.append(func)
        return func

    def freeze(self) -> None:
        """Build the routes and run the start-up hooks (once)."""
        with self._freeze_lock:
            if self._frozen:
                return
            self._compile()
            for hook in self._startup_hooks:
                hook()
            self._frozen = True

    # -- request contexts ---------------------------------------------------

    def build_context(self, environ: WSGIEnvironment) -> RequestContext:
        """Start a request context.

        :param environ: A WSGI environ.
        :returns: A context manager for the request. When it exits, the
            request context variables are destroyed and the clean-up hooks
            run.

        This is intended for Findig's internal use. It is not re-entrant for
        one request.
        """
        return RequestContext(self, environ)

    def test_context(self, create_route: bool = False, **args: Any) -> RequestContext:
        """Make a mock request context for testing.

        The keyword arguments are those of :class:`werkzeug.test.EnvironBuilder`;
        the environ it builds is passed to :meth:`build_context`::

            app = App()
            with app.test_context(path="/items/1"):
                do_some_stuff_in_the_request_context()

        :param create_route: Route the mock request to a mock resource if no
            rule matches its path. Without it, an unmatched path raises
            :class:`werkzeug.exceptions.NotFound`.
        :returns: A context manager for the mock request.
        """
        environ = EnvironBuilder(**args).get_environ()
        context = RequestContext(self, environ, mock_route=create_route)
        context.raise_routing_errors = True
        return context

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        context = RequestContext(self, environ)
        context.__enter__()
        streaming = False
        try:
            response = self.dispatch()
            if type(response) is StreamingResponse:
                # The body reads lazy data while it is sent: the request
                # finishes when the body is exhausted or closed.
                response.chunks = context.stream(response.chunks)
                streaming = True
            return response(environ, start_response)
        finally:
            if streaming:
                context.detach()
            else:
                context.close()

    # -- autolist -----------------------------------------------------------

    def _list_resources(self) -> list[dict[str, Any]]:
        listing = []
        for route in self._rule_routes.values():
            listing.append(
                {
                    "methods": [m for m in _METHOD_ORDER if m in route.methods],
                    "url": route.rule.rule,
                    "is_strict_collection": isinstance(route.resource, Collection),
                }
            )
        return listing


class RequestContext:
    """The context of one request: sets up :data:`findig.context.ctx`,
    runs the app's context hooks, and clears everything on exit.
    """

    __slots__ = (
        "app",
        "environ",
        "hooks",
        "mock_route",
        "raise_routing_errors",
        "state",
        "token",
    )

    def __init__(self, app: App, environ: WSGIEnvironment, mock_route: bool = False):
        self.app = app
        self.environ = environ
        self.mock_route = mock_route
        self.raise_routing_errors = False
        self.hooks: list[Generator[Any, None, None]] = []
        self.token: Any = None
        self.state: RequestState | None = None

    def __enter__(self) -> RequestState:
        app = self.app
        if not app._frozen:
            app.freeze()
        environ = self.environ
        state = RequestState(app, environ, app.request_class(environ))
        try:
            route, state.url_values = app.match(environ)
        except HTTPException as exc:
            if self.mock_route:
                route = _mock_route(app)
            elif self.raise_routing_errors:
                raise
            else:
                route = None
                state.error = exc
        if route is not None:
            state.route = route
            state.resource = route.resource
        self.state = state
        self.token = _state.set(state)
        if app._context_hooks:
            self._enter_hooks(state)
        return state

    def _enter_hooks(self, state: RequestState) -> None:
        for func in self.app._context_hooks:
            try:
                generator = func()
                value = next(generator)
            except Exception as exc:
                # Handled as the request's error: the resource is not called.
                if state.error is None:
                    state.error = exc
                return
            self.hooks.append(generator)
            setattr(state, func.__name__, value)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Finish the request and clear the context variables."""
        try:
            self._finish()
        finally:
            self.detach()

    def detach(self) -> None:
        """Clear the context variables, leaving the request unfinished."""
        if self.token is not None:
            _state.reset(self.token)
            self.token = None

    def stream(self, chunks: Iterable[Any]) -> Iterator[Any]:
        """Produce *chunks* with this request's context variables set, and
        finish the request when they are exhausted or closed."""
        state = self.state
        assert state is not None, "the request context was not entered"
        iterator = iter(chunks)
        try:
            while True:
                token = _state.set(state)
                try:
                    chunk = next(iterator, _END)
                finally:
                    _state.reset(token)
                if chunk is _END:
                    return
                yield chunk
        finally:
            token = _state.set(state)
            try:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
                self._finish()
            finally:
                _state.reset(token)

    def _finish(self) -> None:
        """Resume the context hooks and run the clean-up hooks."""
        while self.hooks:
            generator = self.hooks.pop()
            try:
                next(generator)
            except StopIteration:
                pass
            except Exception:
                logger.exception("A request context hook failed after the request")
            else:
                generator.close()
        for hook in self.app._cleanup_hooks:
            try:
                hook()
            except Exception:
                logger.exception("A clean-up hook failed")


_END = object()


def _mock_route(app: App) -> Route:
    resource = Resource(wrapped=lambda: None, name="findig.test_context.mock")
    rule = Rule("/", endpoint=resource.name)
    return Route(resource, frozenset({"GET", "HEAD"}), app, rule)
