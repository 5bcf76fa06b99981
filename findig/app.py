"""The Findig application: a WSGI callable made of routed resources."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

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
        # The options of context hooks registered with some, by position.
        self._hook_options: dict[int, tuple[Callable[[Any], bool] | None, bool]] = {}
        # Built with the routes (see _plan_hooks): the hooks to run, as
        # (function, name, plain), for every route, for unmatched requests,
        # and for a mock route; and the names of hooks that may be skipped.
        self._all_hooks: tuple[_HookEntry, ...] = ()
        self._unrouted_hooks: tuple[_HookEntry, ...] = ()
        self._skippable_hooks: frozenset[str] = frozenset()
        self._startup_hooks: list[Callable[[], Any]] = []
        self._cleanup_hooks: list[Callable[[], Any]] = []
        if autolist:
            self.route(self.resource(self._list_resources, name="findig.autolist"), "/")

    # -- hooks --------------------------------------------------------------

    @overload
    def context(self, func: F) -> F: ...
    @overload
    def context(
        self,
        func: None = None,
        *,
        applies_to: Callable[[Any], bool] | None = None,
        plain: bool = False,
    ) -> Callable[[F], F]: ...
    @overload
    def context(
        self,
        func: F,
        *,
        applies_to: Callable[[Any], bool] | None = None,
        plain: bool = False,
    ) -> F: ...
    def context(
        self,
        func: F | None = None,
        *,
        applies_to: Callable[[Any], bool] | None = None,
        plain: bool = False,
    ) -> F | Callable[[F], F]:
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

        Two options make the hooks that tools add cost less on every
        request; pass them as ``@app.context(applies_to=..., plain=True)``:

        :param applies_to: A function taking a resource (``None`` for a
            request no route matches) and telling whether the hook concerns
            it. It is called once per route when the routes are built (at
            the first request), and the hook then runs only for requests to
            the resources it concerns; for the others,
            ``ctx.<function name>`` is ``None``.
        :param plain: *func* is a plain function rather than a generator
            function: it is called where a generator would run up to its
            ``yield``, its return value is the one made available on
            :data:`~findig.context.ctx`, and nothing runs after the response.
        :returns: *func* (or, without it, a decorator registering a function
            with these options).
        :raises RuntimeError: after the application has handled a request.
        """
        if func is None:
            return lambda f: self.context(f, applies_to=applies_to, plain=plain)
        self._check_open("register context hooks")
        self._context_hooks.append(func)
        if applies_to is not None or plain:
            self._hook_options[len(self._context_hooks) - 1] = (applies_to, plain)
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
            self._plan_hooks()
            self._frozen = True

    def _plan_hooks(self) -> None:
        """Work out which context hooks run for each route (at freezing)."""
        planned: list[tuple[_HookEntry, Callable[[Any], bool] | None]] = []
        for index, func in enumerate(self._context_hooks):
            applies_to, plain = self._hook_options.get(index, (None, False))
            planned.append(((func, func.__name__, plain), applies_to))

        # PERF: a hook that does not concern a route's resource is not even
        # called for its requests.
        def hooks_for(resource: Any) -> tuple[_HookEntry, ...]:
            return tuple(
                entry
                for entry, applies_to in planned
                if applies_to is None or applies_to(resource)
            )

        self._all_hooks = tuple(entry for entry, _ in planned)
        self._unrouted_hooks = hooks_for(None)
        for route in self._rule_routes.values():
            route.hooks = hooks_for(route.resource)
        self._skippable_hooks = frozenset(
            entry[1] for entry, applies_to in planned if applies_to is not None
        )

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
        # Imported here: only tests need it. (``werkzeug/__init__.py`` imports
        # werkzeug.test anyway, so this saves no start-up time today.)
        from werkzeug.test import EnvironBuilder

        environ = EnvironBuilder(**args).get_environ()
        context = RequestContext(self, environ, mock_route=create_route)
        context.raise_routing_errors = True
        return context

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if not self._frozen:
            self.freeze()
        # PERF: this is what a RequestContext does (enter, dispatch, close),
        # without making one, and without hook bookkeeping for an app that
        # has no hooks.
        state = _start(self, environ)
        token = _state.set(state)
        hooks: list[Generator[Any, None, None]] | tuple[()] = ()
        route = state.route  # what _hooks_of() does, inline
        entries = self._unrouted_hooks if route is None else route.hooks
        if entries is None:
            entries = self._all_hooks
        if entries:
            hooks = _enter_hooks(entries, state)
        streaming = False
        try:
            response = self.dispatch()
            if type(response) is StreamingResponse:
                # The body reads lazy data while it is sent: the request
                # finishes when the body is exhausted or closed.
                context = RequestContext(self, environ)
                context.state = state
                context.hooks = hooks
                response.chunks = context.stream(response.chunks)
                streaming = True
            return response(environ, start_response)
        finally:
            try:
                if not streaming and (hooks or self._cleanup_hooks):
                    _finish(hooks, self._cleanup_hooks)
            finally:
                _state.reset(token)

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
        #: The context hooks entered, to resume (a list once there are any).
        self.hooks: list[Generator[Any, None, None]] | tuple[()] = ()
        self.token: Any = None
        self.state: RequestState | None = None

    def __enter__(self) -> RequestState:
        app = self.app
        if not app._frozen:
            app.freeze()
        state = _start(app, self.environ, self.mock_route, self.raise_routing_errors)
        self.state = state
        self.token = _state.set(state)
        entries = _hooks_of(app, state)
        if entries:
            self.hooks = _enter_hooks(entries, state)
        return state

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
        _finish(self.hooks, self.app._cleanup_hooks)


_END = object()


#: A context hook to run: ``(function, name, plain)``.
_HookEntry = tuple[Callable[[], Any], str, bool]


def _hooks_of(app: App, state: RequestState) -> tuple[_HookEntry, ...]:
    """The context hooks to run for the request of *state*."""
    route = state.route
    if route is None:
        return app._unrouted_hooks
    entries: tuple[_HookEntry, ...] | None = route.hooks
    return app._all_hooks if entries is None else entries


def _enter_hooks(
    entries: tuple[_HookEntry, ...], state: RequestState
) -> list[Generator[Any, None, None]]:
    """Run the context hooks up to their ``yield``; return those entered.

    The value each yields (or, for a plain hook, returns) is set on *state*
    under the hook's name. An exception a hook raises becomes the request's
    error (the resource is not called), and the later hooks are not entered.
    """
    hooks: list[Generator[Any, None, None]] = []
    for func, name, plain in entries:
        try:
            if plain:
                value = func()
            else:
                generator = func()
                value = next(generator)
        except Exception as exc:
            # Handled as the request's error: the resource is not called.
            if state.error is None:
                state.error = exc
            return hooks
        if not plain:
            hooks.append(generator)
        setattr(state, name, value)
    return hooks


def _finish(
    hooks: list[Generator[Any, None, None]] | tuple[()],
    cleanup_hooks: list[Callable[[], Any]],
) -> None:
    """Resume the entered context hooks (the last first), emptying *hooks*,
    then run the clean-up hooks; log what they raise."""
    while hooks:
        generator = hooks.pop()
        try:
            # PERF: with a default, a finished generator raises nothing.
            leftover = next(generator, _END)
        except Exception:
            logger.exception("A request context hook failed after the request")
        else:
            if leftover is not _END:
                generator.close()
    for hook in cleanup_hooks:
        try:
            hook()
        except Exception:
            logger.exception("A clean-up hook failed")


def _start(
    app: App,
    environ: WSGIEnvironment,
    mock_route: bool = False,
    raise_routing_errors: bool = False,
) -> RequestState:
    """Make the state of a request: its request object and matched route.

    A routing error (404, a redirect) becomes the state's error, answered
    instead of calling a resource; with *mock_route*, an unmatched request is
    routed to a mock resource instead, and with *raise_routing_errors*, the
    error is raised.
    """
    state = RequestState(app, environ, app.request_class(environ))
    try:
        route, state.url_values = app.match(environ)
    except HTTPException as exc:
        if mock_route:
            route = _mock_route(app)
        elif raise_routing_errors:
            raise
        else:
            state.error = exc
            return state
    state.route = route
    state.resource = route.resource
    return state


def _mock_route(app: App) -> Route:
    resource = Resource(wrapped=lambda: None, name="findig.test_context.mock")
    rule = Rule("/", endpoint=resource.name)
    return Route(resource, frozenset({"GET", "HEAD"}), app, rule)
