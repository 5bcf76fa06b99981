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

import logging
import logging.config
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from findig.json import App

from .apps import apps
from .conf import ImproperlyConfigured, settings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ProjectApp", "get_wsgi_application"]

logger = logging.getLogger("findig.project")


class ProjectApp(App):
    """The :class:`findig.json.App` of a project.

    It adds what a deployed service needs around the core application: a
    check of the ``Host`` header against ``ALLOWED_HOSTS`` and, when
    ``PROXY_FIX`` is set, :class:`werkzeug.middleware.proxy_fix.ProxyFix`.
    Build it with :func:`get_wsgi_application`.

    :param allowed_hosts: Host names to answer (``"*"`` any, a leading dot
        a domain and its subdomains); ``None`` answers any host.
    :param proxy_fix: Keyword arguments for ``ProxyFix``, or ``None``.

    Other keyword arguments are those of :class:`findig.json.App`.
    """

    def __init__(
        self,
        allowed_hosts: Iterable[str] | None = None,
        proxy_fix: dict[str, int] | None = None,
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

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if self._hosts is not None:
            host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
            if not self.host_allowed(host):
                body = b'{"message": "The Host header is not allowed."}'
                start_response(
                    "400 BAD REQUEST",
                    [
                        ("Content-Type", "application/json"),
                        ("Content-Length", str(len(body))),
                    ],
                )
                return [body]
        result: Iterable[bytes] = self._entry(environ, start_response)
        return result


def _configure_logging() -> None:
    config = settings.LOGGING
    if config:
        logging.config.dictConfig(config)
        return
    findig_logger = logging.getLogger("findig")
    findig_logger.setLevel(str(settings.LOG_LEVEL).upper())
    if not findig_logger.handlers and not logging.getLogger().handlers:
        # Nobody configured logging (gunicorn does not for the app): show
        # Findig's messages on standard error.
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        findig_logger.addHandler(handler)


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


def get_wsgi_application(*, check_settings: bool = True) -> ProjectApp:
    """Build the project's WSGI application from the settings and apps.

    In order: check the settings (``SECRET_KEY`` is required unless
    ``DEBUG``), configure logging, make a :class:`ProjectApp`
    (:class:`findig.json.App`, with the resource list at ``/`` if
    ``AUTOLIST``), import every app's models, include every app's
    dispatcher at its ``url_prefix``, install the database sessions
    (:func:`findig.project.db.install`), add the health check at
    ``HEALTH_URL`` (``GET /health``: 200 ``{"status": "ok"}`` after a
    ``SELECT 1``, 503 when the database does not answer), then call every
    app's :meth:`~findig.project.apps.AppConfig.ready`.

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
    for config in configs:
        config.ready(app)
    return app


_application: ProjectApp | None = None


def __getattr__(name: str) -> Any:
    # ``findig.project.wsgi:application``, built on first access.
    global _application
    if name == "application":
        if _application is None:
            _application = get_wsgi_application()
        return _application
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
