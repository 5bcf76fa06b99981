"""Low-level dispatchers: resource registration, routing and dispatch.

:class:`Dispatcher` is the base of :class:`findig.App`; it is rarely
instantiated directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    NotFound,
)
from werkzeug.routing import Map, RequestRedirect, Rule
from werkzeug.wrappers import Response

from ._matching import FastMatcher
from .conditional import (
    UNSAFE_METHODS,
    PreconditionRequired,
    entity_tag,
    if_match_passes,
    if_none_match_hits,
    precondition_failed,
)
from .content import ErrorHandler, Formatter, Parser
from .context import _state
from .resource import AbstractResource, Resource, Result, _function_name
from .utils import DataPipe
from .wrappers import RawResponse, StreamingResponse

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

__all__ = ["Dispatcher"]

logger = logging.getLogger("findig")

#: The order in which methods are listed in ``Allow`` headers.
_METHOD_ORDER = ("HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_METHODS = frozenset({"GET", "HEAD"})
#: Types of resource data that are neither a Result nor a response.
_PLAIN_DATA = frozenset({dict, list})


class Route:
    """What a matched URL rule leads to, precomputed when routes are built.

    :ivar resource: The resource the rule routes to.
    :ivar methods: The HTTP methods allowed through this rule (OPTIONS aside).
    :ivar allow: Every allowed method, in ``Allow`` header order.
    :ivar formatter: The formatter for the resource's data.
    :ivar parser: The parser for request content.
    :ivar error_handler: The error handler for the resource's errors.
    :ivar rule: The werkzeug rule.
    """

    __slots__ = (
        "allow",
        "error_handler",
        "formatter",
        "hooks",
        "methods",
        "parser",
        "require_if_match",
        "resource",
        "rule",
        "vary",
    )

    def __init__(
        self,
        resource: AbstractResource,
        methods: frozenset[str],
        dispatcher: Dispatcher,
        rule: Rule,
    ) -> None:
        self.resource = resource
        self.rule = rule
        self.methods = methods
        self.allow = [m for m in _METHOD_ORDER if m in methods or m == "OPTIONS"]
        self.formatter = _combine(
            getattr(resource, "formatter", None), dispatcher.formatter
        )
        self.parser = _combine(getattr(resource, "parser", None), dispatcher.parser)
        self.error_handler = _combine(
            getattr(resource, "error_handler", None), dispatcher.error_handler
        )
        self.require_if_match = bool(getattr(resource, "require_if_match", False))
        offered = getattr(self.formatter, "offered", ())
        self.vary = [("Vary", "Accept")] if len(offered) > 1 else []
        #: The app's context hooks to run for requests routed here, as
        #: planned by :class:`findig.App` (``None``: all of them).
        self.hooks: Any = None


def _combine(own: Any, fallback: Any) -> Any:
    """The resource's content handler merged over the app's."""
    if own is None:
        return fallback
    kinds = (Formatter, Parser, ErrorHandler)
    if isinstance(own, kinds) and type(own) is type(fallback):
        if not own.handlers:
            return fallback
        return own.merged_with(fallback)  # type: ignore[arg-type]
    if isinstance(own, kinds) and not own.handlers:
        return fallback
    return own


class Dispatcher:
    """Creates resources and routes requests to them.

    :param formatter: A function converting resource data to output; it
        returns ``(mime_type, output)``. By default a generic
        :class:`findig.content.Formatter`.
    :param parser: A function taking the request and returning
        ``(mime_type, data)`` parsed from its content. By default a generic
        :class:`findig.content.Parser`.
    :param error_handler: A function converting an exception to a response.
        By default a generic :class:`findig.content.ErrorHandler`.
    :param pre_processor: A function called on request data just after it
        is parsed. By default an empty :class:`findig.utils.DataPipe`.
    :param post_processor: A function called on resource data just before
        it is formatted. By default an empty :class:`findig.utils.DataPipe`.

    Resources and routes must be registered before the first request;
    registering them afterwards raises :class:`RuntimeError`.
    """

    #: Whether GET and HEAD answers carry an ``ETag`` (and ``If-None-Match``
    #: is answered with 304). Set it to ``False`` to opt out.
    etags = True

    #: The class of responses built by applications (see
    #: :meth:`findig.json.App.make_response`).
    response_class = Response

    def __init__(
        self,
        formatter: Callable[[Any], tuple[str, Any]] | None = None,
        parser: Callable[..., tuple[str, Any]] | None = None,
        error_handler: Callable[[BaseException], Any] | None = None,
        pre_processor: Callable[[Any], Any] | None = None,
        post_processor: Callable[[Any], Any] | None = None,
    ) -> None:
        self.formatter: Any = formatter if formatter is not None else Formatter()
        self.parser: Any = parser if parser is not None else Parser()
        self.error_handler: Any = (
            error_handler if error_handler is not None else ErrorHandler()
        )
        self.pre_processor: Any = (
            pre_processor if pre_processor is not None else DataPipe()
        )
        self.post_processor: Any = (
            post_processor if post_processor is not None else DataPipe()
        )
        self.url_map = Map(strict_slashes=True, merge_slashes=True)
        self._resources: list[AbstractResource] = []
        self._names: dict[str, int] = {}
        self._routes: list[tuple[AbstractResource, str, dict[str, Any]]] = []
        self._rule_routes: dict[int, Route] = {}
        self._static: dict[str, Route] = {}
        self._adapter: Any = None
        self._fast_matcher: FastMatcher | None = None
        self._success_hooks: list[Callable[[], Any]] = []
        self._frozen = False
        self._freeze_lock = threading.RLock()

    # -- registration -----------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._frozen:
            raise RuntimeError(
                f"Cannot {what} after the application has handled its first "
                "request: register resources, routes and hooks at start-up."
            )

    def resource(self, wrapped: Callable[..., Any] | None = None, **args: Any) -> Any:
        """Create a :class:`findig.resource.Resource` instance.

        :param wrapped: The resource function; usually it takes the named
            route arguments of the resource and returns its data.

        Keyword arguments go to the :class:`~findig.resource.Resource`
        constructor, except that ``name`` defaults to ``{module}.{name}`` of
        the function (made unique within the dispatcher). Usable as a
        decorator, with or without arguments::

            @dispatcher.resource(name='my-very-special-resource')
            def my_resource(route, param):
                return {'id': 10}
        """
        if wrapped is None:
            return lambda func: self.resource(func, **args)
        self._check_open("create resources")
        if "name" not in args:
            args["name"] = self._unique_name(_function_name(wrapped))
        resource = Resource(wrapped=wrapped, **args)
        self._resources.append(resource)
        return resource

    def _unique_name(self, name: str) -> str:
        count = self._names.get(name, 0) + 1
        self._names[name] = count
        return name if count == 1 else f"{name}#{count}"

    def route(
        self, resource: Any = None, rulestr: str | None = None, **ruleargs: Any
    ) -> Any:
        """Add a route to a resource.

        :param resource: The resource (a :class:`~findig.resource.Resource`,
            or a plain function, which is made into one).
        :param rulestr: A URL rule in werkzeug's syntax; other keyword
            arguments are :class:`werkzeug.routing.Rule` parameters, and
            ``methods`` narrows the HTTP methods allowed through the route.
        :returns: The resource.

        Usable as a decorator factory::

            @route("/index")
            @resource(name='index')
            def index_generator():
                return ( ... )
        """
        if isinstance(resource, str) and rulestr is None:
            rule = resource
            return lambda res: self.route(res, rule, **ruleargs)
        if resource is None or rulestr is None:
            raise TypeError("route() needs a resource and a URL rule")
        self._check_open("add routes")
        if not isinstance(resource, AbstractResource):
            if not callable(resource):
                raise TypeError(f"{resource!r} is neither a resource nor a function")
            resource = self.resource(resource)
        if resource not in self._resources:
            self._resources.append(resource)
        methods = ruleargs.get("methods")
        if methods is not None:
            ruleargs["methods"] = frozenset(m.upper() for m in methods)
        self._routes.append((resource, rulestr, ruleargs))
        return resource

    def include(self, dispatcher: Dispatcher, prefix: str = "") -> None:
        """Add every route of another dispatcher, under a URL prefix.

        This is how a larger application is assembled from parts: each part
        registers its resources and routes on a :class:`Dispatcher` of its
        own, and the app includes them. The part's resources keep their own
        formatters, parsers and error handlers; the app's serve as fallback.

        :param dispatcher: The dispatcher whose routes to add.
        :param prefix: Prepended to each of its URL rules (``"/auth"``).
        :raises ValueError: if *prefix* does not start with ``/`` or ends
            with one.
        """
        self._check_open("include dispatchers")
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(
                f"URL prefix {prefix!r} must start with '/' and not end with one"
            )
        for resource, rulestr, ruleargs in dispatcher._routes:
            self.route(resource, prefix + rulestr, **ruleargs)

    @property
    def unrouted_resources(self) -> list[AbstractResource]:
        """The resources created by the dispatcher that have no routes."""
        routed = {id(r) for r, _, _ in self._routes}
        return [r for r in self._resources if id(r) not in routed]

    def build_rules(self) -> Iterator[Rule]:
        """Return a generator of the URL rules collected by the dispatcher.

        Resource names are frozen once this is called; do not change them
        afterwards.

        :rtype: Iterable of :class:`werkzeug.routing.Rule`
        """
        for resource, rulestr, ruleargs in self._routes:
            args = {k: v for k, v in ruleargs.items() if k != "methods"}
            yield Rule(rulestr, endpoint=resource.name, **args)

    # -- building ---------------------------------------------------------

    @property
    def routes(self) -> list[Route]:
        """The routes built at the first request, in registration order.

        Empty until the routes are built (see :meth:`freeze`).
        """
        return list(self._rule_routes.values())

    @property
    def frozen(self) -> bool:
        """Whether the routes are built (after the first request)."""
        return self._frozen

    def freeze(self) -> None:
        """Build the URL map and precompute every route.

        Called before the first request; afterwards, registration raises.
        """
        with self._freeze_lock:
            if self._frozen:
                return
            self._compile()
            self._frozen = True

    def _compile(self) -> None:
        rules = list(self.build_rules())
        self.url_map = Map(
            rules,
            strict_slashes=True,
            merge_slashes=True,
            converters=self.url_map.converters,
        )
        arguments: dict[int, set[str]] = {}
        for (resource, _, _), rule in zip(self._routes, rules, strict=True):
            arguments.setdefault(id(resource), set()).update(rule.arguments)
        for resource in self._resources:
            resource.url_arguments = frozenset(arguments.get(id(resource), ()))
            if isinstance(resource, Resource):
                resource.prepare()
        for (resource, _, ruleargs), rule in zip(self._routes, rules, strict=True):
            methods = frozenset(resource.get_supported_methods())
            narrowed = ruleargs.get("methods")
            if narrowed is not None:
                if "GET" in narrowed:
                    narrowed = narrowed | {"HEAD"}
                methods = methods & narrowed
            route = Route(resource, methods, self, rule)
            self._rule_routes[id(rule)] = route
            if not rule.arguments and not _is_special(rule):
                self._static.setdefault(rule.rule, route)
        self._adapter = self.url_map.bind("localhost")
        self._fast_matcher = FastMatcher.for_map(self.url_map)

    # -- dispatch ---------------------------------------------------------

    def match(self, environ: WSGIEnvironment) -> tuple[Route, dict[str, Any]]:
        """Find the route for a request.

        :returns: ``(route, url_values)``.
        :raises werkzeug.exceptions.HTTPException: 404 when nothing matches,
            or a redirect (308) to the canonical URL.
        """
        path = environ.get("PATH_INFO") or "/"
        # PERF: rules without variables are found with one dictionary lookup.
        route = self._static.get(path)
        if route is not None:
            return route, {}
        # PERF: werkzeug's matcher walks a state machine, recursively, for
        # every request; the FastMatcher answers alike with precompiled
        # expressions (or None: werkzeug must redirect).
        fast = self._fast_matcher
        if fast is not None:
            found = fast.match(path)
            if found is not None:
                return self._rule_routes[id(found[0])], found[1]
        try:
            rule, values = self._adapter.match(path, return_rule=True)
        except RequestRedirect:
            # The shared adapter does not know the request's host; bind one
            # that does to build the redirect's target.
            rule, values = self.url_map.bind_to_environ(environ).match(
                path, return_rule=True
            )
        return self._rule_routes[id(rule)], values

    def build_path(self, endpoint: str, values: Mapping[str, Any]) -> str:
        """Build the path of a URL rule, relative to the application's root.

        :param endpoint: The resource name the rule routes to.
        :param values: Values for the rule's variables.
        :raises werkzeug.routing.BuildError: if no rule can be built.
        """
        # PERF: the adapter bound once at route building is enough to build a
        # path; binding one to each request's environ costs several µs.
        return self._adapter.build(endpoint, values)

    def dispatch(self) -> Any:
        """Dispatch the current request to the resource it is routed to.

        Requires an active request context.

        :returns: A WSGI response. Errors are turned into responses by the
            error handlers.
        """
        state = _state.get()
        route = state.route
        try:
            error = state.error
            if error is not None:
                raise error
            assert route is not None
            request = state.request
            method = request.method
            if method not in route.methods:
                if method == "OPTIONS":
                    return RawResponse(200, [("Allow", ", ".join(route.allow))])
                raise MethodNotAllowed(valid_methods=route.allow)
            environ = state.environ
            url_values = state.url_values
            try:
                if method in UNSAFE_METHODS:
                    self._check_if_match(route, environ, url_values)
                result = route.resource.handle_request(request, url_values)
                for hook in self._success_hooks:
                    hook()
                return self._respond(route, method, result, environ)
            except LookupError:
                raise NotFound() from None
        except Exception as exc:
            return self.handle_error(exc, route)

    def _respond(
        self, route: Route, method: str, result: Any, environ: WSGIEnvironment
    ) -> Any:
        status = 200
        headers = route.vary
        # PERF: plain data (a dict, a list) skips the checks for the others.
        if type(result) not in _PLAIN_DATA:
            if type(result) is Result:
                status = result.status
                headers = headers + result.headers
                result = result.data
            elif isinstance(result, Response):
                return result
        post = self.post_processor
        # PERF: an empty DataPipe returns its argument; skip calling it.
        data = result if type(post) is DataPipe and not post.funcs else post(result)
        if data is None and method not in _BODILESS:
            # A write or delete that returns nothing: 200 with an empty body.
            return RawResponse(
                status, [*headers, ("Content-Type", "text/plain; charset=utf-8")]
            )
        mime_type, output = self._format(route, data, environ)
        headers = [("Content-Type", _content_type(mime_type)), *headers]
        if isinstance(output, str):
            output = output.encode("utf-8")
        elif not isinstance(output, bytes):
            return StreamingResponse(status, headers, output)
        if status == 200 and method in _READ_METHODS and self.etags:
            etag = entity_tag(output)
            headers.append(("ETag", etag))
            if_none_match = environ.get("HTTP_IF_NONE_MATCH")
            if if_none_match and if_none_match_hits(if_none_match, etag):
                return RawResponse(304, headers[1:])
        return RawResponse(status, headers, output)

    @staticmethod
    def _format(route: Route, data: Any, environ: WSGIEnvironment) -> tuple[str, Any]:
        formatter = route.formatter
        if type(formatter) is Formatter:
            mime_type = formatter.negotiate(environ.get("HTTP_ACCEPT"))
            return mime_type, formatter.handler_for(mime_type)(data)
        return formatter(data)

    def _check_if_match(
        self, route: Route, environ: WSGIEnvironment, url_values: Mapping[str, Any]
    ) -> None:
        """Refuse an unsafe request whose If-Match does not match (412), or
        that lacks one where the resource requires it (428)."""
        header = environ.get("HTTP_IF_MATCH")
        if header is None:
            if route.require_if_match:
                raise PreconditionRequired()
            return
        resource = route.resource
        if not isinstance(resource, Resource):
            return
        try:
            data = self.post_processor(resource.current_data(url_values))
            output = self._format(route, data, environ)[1]
        except LookupError:
            etag = None
        else:
            if isinstance(output, str):
                output = output.encode("utf-8")
            elif not isinstance(output, bytes):
                output = b"".join(
                    c.encode("utf-8") if isinstance(c, str) else c for c in output
                )
            etag = entity_tag(output)
        if not if_match_passes(header, etag):
            raise precondition_failed()

    def handle_error(self, exc: Exception, route: Route | None = None) -> Any:
        """Turn an exception into a response.

        The resource's error handler is tried first, then the app's; an
        exception neither handles goes to :meth:`error_response`.

        :param exc: The exception.
        :param route: The route of the request, if it matched one.
        """
        handler = route.error_handler if route is not None else self.error_handler
        try:
            if isinstance(handler, ErrorHandler):
                func = handler.find(type(exc))
                if func is not None:
                    return func(exc)
            else:
                return handler(exc)
        except Exception as raised:
            if raised is not exc:
                exc = raised
        return self.error_response(exc)

    def error_response(self, exc: Exception) -> Any:
        """Build the response for an error that no handler took care of.

        HTTP exceptions keep their status and headers; any other exception is
        logged (with its traceback) and answered with a 500 that reveals
        nothing of it. Subclasses change the body's format.

        :param exc: The exception.
        """
        http_exc = self._as_http_exception(exc)
        if http_exc.response is not None:
            return http_exc.response
        body = f"{http_exc.code} {http_exc.name}: {http_exc.description}"
        headers = self.error_headers(http_exc)
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
        return RawResponse(http_exc.code or 500, headers, body.encode("utf-8"))

    @staticmethod
    def _as_http_exception(exc: Exception) -> HTTPException:
        if isinstance(exc, HTTPException):
            return exc
        logger.error("Unhandled exception while handling a request", exc_info=exc)
        return InternalServerError()

    @staticmethod
    def error_headers(exc: HTTPException) -> list[tuple[str, str]]:
        """The headers an HTTP exception carries, less its ``Content-Type``."""
        state = _state.get(None)
        environ = state.environ if state is not None else None
        headers = [h for h in exc.get_headers(environ) if h[0] != "Content-Type"]
        if isinstance(exc, RequestRedirect):
            headers.append(("Location", exc.new_url))
        return headers


def _is_special(rule: Rule) -> bool:
    """Whether a rule needs werkzeug's matcher even without variables."""
    return bool(
        rule.defaults
        or rule.redirect_to
        or rule.host
        or rule.subdomain
        or rule.websocket
        or rule.build_only
        or rule.alias
        # werkzeug matches the rule with its slashes merged: "/a//b" is
        # "/a/b", and a request for "/a//b" is redirected there.
        or "//" in rule.rule
    )


_CONTENT_TYPES: dict[str, str] = {}


def _content_type(mime_type: str) -> str:
    """The Content-Type header for *mime_type*, with a charset for text."""
    try:
        return _CONTENT_TYPES[mime_type]
    except KeyError:
        value = mime_type
        if mime_type.startswith("text/") and "charset" not in mime_type:
            value = f"{mime_type}; charset=utf-8"
        if len(_CONTENT_TYPES) < 256:
            _CONTENT_TYPES[mime_type] = value
        return value
