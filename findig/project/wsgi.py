"""The bridge from settings and apps to a WSGI application.

:func:`get_wsgi_application` builds the project's :class:`findig.json.App`;
a generated project's ``<name>/wsgi.py`` calls it and is what gunicorn
serves::

    # mysite/wsgi.py
    import os
    os.environ.setdefault("FINDIG_SETTINGS_MODULE", "mysite.settings")

    from findig.project.wsgi import get_wsgi_application

    application = get_wsgi_application()

``findig.project.wsgi:application`` is also a ready-made target, built on
first access from ``FINDIG_SETTINGS_MODULE``.
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

from findig.context import current_state
from findig.json import App

from .accesslog import USER_ENVIRON_KEY, AccessLog
from .apps import apps
from .conf import ImproperlyConfigured, settings
from .cors import _TOKEN as _HEADER_NAME
from .cors import CORSPolicy
from .discovery import find_tools
from .requestid import (
    ENVIRON_KEY as REQUEST_ID_KEY,
)
from .requestid import (
    RequestIdFilter,
    _bind,
    _unbind,
    new_request_id,
    valid_request_id,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from findig.tools.openapi import OpenAPI

__all__ = ["ProjectApp", "get_openapi", "get_wsgi_application"]

logger = logging.getLogger("findig.project")

#: The request context attribute naming the request's user for the access
#: log (set by a gatekeeper or an app's hook; see findig.project.accesslog).
USER_ATTRIBUTE = "findig_user"


class ProjectApp(App):
    """The :class:`findig.json.App` of a project.

    It adds what a deployed service needs around the core application: a
    check of the ``Host`` header against ``ALLOWED_HOSTS``, when
    ``PROXY_FIX`` is set :class:`werkzeug.middleware.proxy_fix.ProxyFix`,
    and, each when configured, CORS (:mod:`findig.project.cors`), request
    IDs (:mod:`findig.project.requestid`) and the access log
    (:mod:`findig.project.accesslog`). Build it with
    :func:`get_wsgi_application`.

    :param allowed_hosts: Host names to answer (``"*"`` any, a leading dot
        a domain and its subdomains); ``None`` answers any host.
    :param proxy_fix: Keyword arguments for ``ProxyFix``, or ``None``.
    :param cors: The CORS policy, or ``None`` for no CORS headers.
    :param request_id_header: The header carrying request IDs (such as
        ``"X-Request-ID"``), or ``None`` for no request IDs.
    :param access_log: Log each request (``True``, or an
        :class:`~findig.project.accesslog.AccessLog` writing elsewhere).
    :raises ValueError: for a malformed *request_id_header*.

    Other keyword arguments are those of :class:`findig.json.App` (such as
    ``problem_details``).
    """

    def __init__(
        self,
        allowed_hosts: Iterable[str] | None = None,
        proxy_fix: dict[str, int] | None = None,
        *,
        cors: CORSPolicy | None = None,
        request_id_header: str | None = None,
        access_log: bool | AccessLog = False,
        **args: Any,
    ) -> None:
        super().__init__(**args)
        hosts = [h.lower() for h in allowed_hosts or ("*",)]
        if "*" in hosts:
            self._hosts: frozenset[str] | None = None
            self._domains: tuple[str, ...] = ()
        else:
            self._hosts = frozenset(h for h in hosts if not h.startswith("."))
            self._domains = tuple(h for h in hosts if h.startswith("."))
        self._entry: Any = super().__call__
        if proxy_fix:
            from werkzeug.middleware.proxy_fix import ProxyFix

            self._entry = ProxyFix(self._entry, **proxy_fix)
        message = "The Host header is not allowed."
        if self.problem_details:
            body: dict[str, Any] = {
                "type": "about:blank",
                "title": "Bad Request",
                "status": 400,
                "detail": message,
            }
            self._bad_host = (json.dumps(body).encode(), "application/problem+json")
        else:
            self._bad_host = (
                json.dumps({"message": message}).encode(),
                "application/json",
            )
        if request_id_header is not None and not _HEADER_NAME.fullmatch(
            request_id_header
        ):
            raise ValueError(f"Not a header name: {request_id_header!r}")
        #: The CORS policy, if any.
        self.cors = cors
        #: The header carrying request IDs, if request IDs are on.
        self.request_id_header = request_id_header
        # PERF: the environ key of the request header is computed once.
        self._request_id_key = (
            None
            if request_id_header is None
            else "HTTP_" + request_id_header.upper().replace("-", "_")
        )
        if access_log is True:
            access_log = AccessLog()
        #: The access log, if requests are logged.
        self.access_log: AccessLog | None = access_log or None
        #: The :class:`~findig.tools.openapi.OpenAPI` tool serving the
        #: application's description (``OPENAPI`` setting), if any.
        self.openapi: OpenAPI | None = None
        self._protectors: list[Any] = []
        # PERF: with none of the extras on, a request costs one test more;
        # with CORS alone, a request without Origin one lookup more.
        self._plain = cors is None and request_id_header is None and not access_log
        self._cors_only = request_id_header is None and not access_log
        if request_id_header is not None or access_log:
            self.context(self._request_hook())
        self.startup_hook(self._find_tools)

    def host_allowed(self, host: str) -> bool:
        """Whether *host* (a ``Host`` header value) is allowed.

        >>> app = ProjectApp(allowed_hosts=["api.example.com", ".example.org"])
        >>> [app.host_allowed(h) for h in ("api.example.com:8000",
        ...  "example.org", "a.example.org", "evil.com")]
        [True, True, True, False]
        """
        if self._hosts is None:
            return True
        host = host.lower()
        if host.startswith("["):
            name = host[: host.find("]") + 1]
        else:
            name = host.rpartition(":")[0] if ":" in host else host
        if name in self._hosts:
            return True
        return any(
            name.endswith(domain) or name == domain[1:] for domain in self._domains
        )

    def _request_hook(self) -> Any:
        log_users = self.access_log is not None

        def request_id() -> Generator[str | None, None, None]:
            # Sets ctx.request_id; after the response, notes the user for
            # the access log (the grants are still on the context).
            state: Any = current_state()
            environ = state.environ
            yield environ.get(REQUEST_ID_KEY)
            if log_users:
                environ[USER_ENVIRON_KEY] = self._user(state)

        return request_id

    def _user(self, state: Any) -> Any:
        user = getattr(state, USER_ATTRIBUTE, None)
        if user is None:
            for protector in self._protectors:
                try:
                    user = protector.authenticated_user
                except Exception:
                    logger.exception("A protector failed to name the user")
                    continue
                if user is not None:
                    break
        return user

    def _find_tools(self) -> None:
        # A start-up hook: every tool is attached by now.
        if self.access_log is not None:
            from findig.tools.protector import Protector

            self._protectors = find_tools(self, Protector)
        if self.openapi is not None:
            _add_tools(self.openapi, self)

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self._plain or (self._cors_only and "HTTP_ORIGIN" not in environ):
            return self._answer(environ, start_response)
        return self._serve(environ, start_response)

    def _answer(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self._hosts is not None:
            host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
            if not self.host_allowed(host):
                body, content_type = self._bad_host
                start_response(
                    "400 BAD REQUEST",
                    [
                        ("Content-Type", content_type),
                        ("Content-Length", str(len(body))),
                    ],
                )
                return [body]
        result: Iterable[bytes] = self._entry(environ, start_response)
        return result

    def _serve(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        access = self.access_log
        if access is not None and not access.enabled():
            access = None
        if access is not None:
            started = time.time()
            counter_start = time.perf_counter()
        request_id = None
        token = None
        key = self._request_id_key
        if key is not None:
            request_id = valid_request_id(environ.get(key)) or new_request_id()
            environ[REQUEST_ID_KEY] = request_id
            token = _bind(request_id)
        cors = self.cors
        origin = environ.get("HTTP_ORIGIN") if cors is not None else None
        add_cors = cors.headers if cors is not None and origin is not None else None
        header = self.request_id_header or ""
        status: list[str | None] = [None]

        def start(
            status_line: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            if request_id is not None:
                headers = [*headers, (header, request_id)]
            if add_cors is not None:
                headers = add_cors(origin or "", environ, status_line, headers)
            status[0] = status_line
            return start_response(status_line, headers, exc_info)

        try:
            body = self._answer(environ, start)
        except BaseException:
            if access is not None:
                access.log(
                    environ,
                    None,
                    None,
                    started,
                    time.perf_counter() - counter_start,
                    request_id,
                )
            raise
        finally:
            if token is not None:
                _unbind(token)
        if access is None:
            return body
        return access.wrap(body, environ, status, started, counter_start, request_id)


def _add_tools(openapi: Any, app: Any) -> None:
    """Give *openapi* the validators, protectors and counters attached to
    *app* that it does not know yet."""
    from findig.tools.counter import Counter
    from findig.tools.protector import Protector
    from findig.tools.validator import Validator

    for attribute, kind in (
        ("validators", Validator),
        ("protectors", Protector),
        ("counters", Counter),
    ):
        known: list[Any] = getattr(openapi, attribute)
        known += [t for t in find_tools(app, kind) if all(t is not k for k in known)]


def get_openapi(app: ProjectApp) -> OpenAPI:
    """The OpenAPI tool describing a project's application.

    It is the one the application serves (``OPENAPI`` setting) or, if it
    serves none, a new one with the ``OPENAPI_TITLE`` and
    ``OPENAPI_VERSION`` settings that serves nothing. Either knows the
    validators, protectors and counters attached to the application (see
    :func:`findig.project.discovery.find_tools`). The application's routes
    are built (:meth:`findig.App.freeze`).

    :param app: An application made by :func:`get_wsgi_application`.
    """
    app.freeze()
    if app.openapi is not None:
        return app.openapi
    from findig.tools.openapi import OpenAPI

    tool = OpenAPI(
        title=str(settings.OPENAPI_TITLE),
        version=str(settings.OPENAPI_VERSION),
        spec_path=None,
        docs_path=None,
    )
    _add_tools(tool, app)
    return tool


def _add_request_id_filter(handlers: Iterable[logging.Handler]) -> None:
    for handler in handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())


def _configure_logging() -> None:
    config = settings.LOGGING
    if config:
        logging.config.dictConfig(config)
        # %(request_id)s works in the configured formats.
        names = [None, "findig", *dict(config.get("loggers") or {})]
        for name in names:
            _add_request_id_filter(logging.getLogger(name).handlers)
        return
    root = logging.getLogger()
    findig_logger = logging.getLogger("findig")
    findig_logger.setLevel(str(settings.LOG_LEVEL).upper())
    if not findig_logger.handlers and not root.handlers:
        # Nobody configured logging (gunicorn does not for the app): show
        # Findig's messages on standard error.
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
            )
        )
        _add_request_id_filter([handler])
        findig_logger.addHandler(handler)
    if settings.ACCESS_LOG:
        access = logging.getLogger("findig.access")
        access.setLevel(logging.INFO)
        if not access.handlers and not root.handlers:
            # The lines alone, one JSON object each, on standard error.
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            access.addHandler(handler)
            access.propagate = False


def _health_resource(app: App) -> Any:
    from werkzeug.wrappers import Response

    from findig.context import ctx

    from . import db

    ok = app.make_response({"status": "ok"})
    ok_body = ok.get_data()

    def health() -> Any:
        if db.ping(ctx.sqla_session):
            return Response(ok_body, status=200, content_type="application/json")
        return app.make_response(
            {"status": "unavailable", "database": "unreachable"}, status=503
        )

    return app.resource(health, name="findig.project.health")


def _attach_openapi(app: ProjectApp) -> None:
    from findig.tools.openapi import OpenAPI

    try:
        app.openapi = OpenAPI(
            app,
            title=str(settings.OPENAPI_TITLE),
            version=str(settings.OPENAPI_VERSION),
            spec_path=settings.OPENAPI_URL or None,
            docs_path=settings.OPENAPI_DOCS_URL or None,
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"OPENAPI_URL/OPENAPI_DOCS_URL: {exc}") from None


def get_wsgi_application(*, check_settings: bool = True) -> ProjectApp:
    """Build the project's WSGI application from the settings and apps.

    In order: check the settings (``SECRET_KEY`` is required unless
    ``DEBUG``), configure logging, make a :class:`ProjectApp`
    (:class:`findig.json.App`, with the resource list at ``/`` if
    ``AUTOLIST``, problem details if ``PROBLEM_DETAILS``, CORS, request IDs
    and the access log as configured), import every app's models, include
    every app's dispatcher at its ``url_prefix``, install the database
    sessions (:func:`findig.project.db.install`), add the health check at
    ``HEALTH_URL`` (``GET /health``: 200 ``{"status": "ok"}`` after a
    ``SELECT 1``, 503 when the database does not answer), the OpenAPI
    document and documentation page if ``OPENAPI``, then call every app's
    :meth:`~findig.project.apps.AppConfig.ready`.

    :param check_settings: Refuse invalid settings (a missing
        ``SECRET_KEY``...); commands that build the application only to
        inspect it (``routes``, ``shell``) pass ``False``.
    :returns: A new application on each call.
    :raises ImproperlyConfigured: for invalid settings or an app that fails
        to import (the message names it).
    """
    problems = settings.check() if check_settings else []
    if problems:
        raise ImproperlyConfigured("; ".join(problems))
    _configure_logging()
    app = ProjectApp(
        allowed_hosts=settings.ALLOWED_HOSTS,
        proxy_fix=settings.PROXY_FIX,
        indent=settings.JSON_INDENT,
        autolist=bool(settings.AUTOLIST),
        problem_details=bool(settings.PROBLEM_DETAILS),
        cors=CORSPolicy.from_settings(settings),
        request_id_header=_request_id_header(),
        access_log=bool(settings.ACCESS_LOG),
    )
    configs = apps.get_app_configs()
    for config in configs:
        config.import_models()
    for config in configs:
        dispatcher = config.get_dispatcher()
        if dispatcher is not None:
            app.include(dispatcher, config.url_prefix)
    from . import db

    db.install(app)
    health_url = settings.HEALTH_URL
    if health_url:
        app.route(_health_resource(app), health_url)
    if settings.OPENAPI:
        _attach_openapi(app)
    for config in configs:
        config.ready(app)
    return app


def _request_id_header() -> str | None:
    header = settings.REQUEST_ID_HEADER
    if not header:
        return None
    if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
        raise ImproperlyConfigured(
            f"REQUEST_ID_HEADER must be a header name (or None), not {header!r}"
        )
    return header


_application: ProjectApp | None = None


def __getattr__(name: str) -> Any:
    # ``findig.project.wsgi:application``, built on first access.
    global _application
    if name == "application":
        if _application is None:
            _application = get_wsgi_application()
        return _application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
