"""OpenAPI 3.1 documents and interactive API documentation.

:class:`OpenAPI` describes a Findig application as an `OpenAPI 3.1
<https://spec.openapis.org/oas/v3.1.0>`_ document, generated from what the
app already knows: its routes and the HTTP methods of its resources, the
converters of its URL rules, the rules of a
:class:`~findig.tools.validator.Validator`, the guards of a
:class:`~findig.tools.protector.Protector` and the limits of a
:class:`~findig.tools.counter.Counter`. It serves the document at
``/openapi.json`` and an interactive documentation page at ``/docs``,
made with `Swagger UI <https://swagger.io/tools/swagger-ui/>`_, whose files
ship inside Findig (no CDN is involved)::

    from findig.json import App
    from findig.tools.openapi import OpenAPI
    from findig.tools.validator import Validator

    app = App()
    validator = Validator(app)
    openapi = OpenAPI(app, title="Tasks", version="1.0", validator=validator)

A resource describes the answers Findig cannot tell (its data, statuses and
error bodies of its own) in an ``openapi_responses`` attribute (see
:class:`OpenAPI`).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import html
import json
import posixpath
import re
import threading
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from werkzeug.wrappers import Response

from findig._cache import remember

from ..context import current_state
from ..resource import AbstractResource
from ._openapi_doc import DocumentBuilder, as_list

__all__ = ["OpenAPI"]

#: The files of the documentation page, with their content types.
_UI_FILES: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "findig-swagger-init.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
    "swagger-ui-bundle.js.LICENSE.txt": "text/plain; charset=utf-8",
    "LICENSE": "text/plain; charset=utf-8",
    "NOTICE": "text/plain; charset=utf-8",
    "SWAGGER_UI_VERSION": "text/plain; charset=utf-8",
}
#: Files at least this large are also kept gzip-compressed.
_COMPRESS_FROM = 1024
#: How long browsers may keep a static file requested without its version.
_UNVERSIONED_MAX_AGE = 3600
#: ... and with it (the URL changes whenever the file does).
_VERSIONED_MAX_AGE = 365 * 24 * 3600
#: The most variants of the served document kept (one per script root).
_MAX_CACHED_DOCUMENTS = 16

_RATE = re.compile(
    r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*"
    r"(s|sec|second|m|min|minute|h|hour|d|day)?s?\s*",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{static}/swagger-ui.css?v={v_css}">
<link rel="icon" type="image/png" sizes="32x32" href="{static}/favicon-32x32.png?v={v_i32}">
<link rel="icon" type="image/png" sizes="16x16" href="{static}/favicon-16x16.png?v={v_i16}">
</head>
<body>
<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{static}/swagger-ui-bundle.js?v={v_js}"></script>
<script src="{static}/findig-swagger-init.js?v={v_init}"></script>
</body>
</html>
"""  # noqa: E501 - HTML


class _Asset:
    """A static file of the documentation page, loaded once."""

    __slots__ = ("body", "content_type", "etag", "gzipped", "version")

    def __init__(self, name: str) -> None:
        body = (resources.files("findig.tools.openapi_ui") / name).read_bytes()
        self.body = body
        self.content_type = _UI_FILES[name]
        digest = hashlib.sha256(body).hexdigest()
        #: Part of the file's URL on the page, so browsers may cache it for
        #: good.
        self.version = digest[:16]
        self.etag = digest[:32]
        self.gzipped: bytes | None = None
        if len(body) >= _COMPRESS_FROM and not self.content_type.startswith("image/"):
            # mtime=0: the same bytes (and so the same ETag) in every process.
            self.gzipped = gzip.compress(body, compresslevel=9, mtime=0)


def _parse_rate(spec: Any, resource: Any) -> dict[str, Any]:
    """``"100/hour"``, ``"10/30s"`` or ``(100, 3600)`` as a limit entry."""
    if isinstance(spec, tuple) and len(spec) == 2:
        limit, window = spec
        if (
            isinstance(limit, int)
            and not isinstance(limit, bool)
            and limit >= 0
            and isinstance(window, (int, float))
            and not isinstance(window, bool)
            and window > 0
        ):
            return {"limit": limit, "window": window}
    elif isinstance(spec, str):
        match = _RATE.fullmatch(spec)
        if match is not None and (match.group(2) or match.group(3)):
            count, amount, unit = match.groups()
            seconds = float(amount) if amount else 1.0
            if unit:
                seconds *= _UNIT_SECONDS[unit[0].lower()]
            if seconds > 0:
                return {
                    "limit": int(count),
                    "window": int(seconds) if seconds.is_integer() else seconds,
                }
    raise ValueError(
        f"Invalid rate limit {spec!r} for {resource!r}: write it as "
        "'<count>/<unit>' (unit: second, minute, hour or day, optionally with a "
        "number: '10/30s'), '<count>/<seconds>', or a (count, seconds) tuple"
    )


def _check_path(name: str, path: Any) -> None:
    if not isinstance(path, str) or not path.startswith("/") or "<" in path:
        raise ValueError(
            f"{name} must be a URL path starting with '/' and without variables, "
            f"not {path!r}"
        )


class OpenAPI:
    """Describe an application with OpenAPI 3.1, and serve interactive
    documentation for it.

    :param app: The application to describe; if given, the tool is attached
        to it (see :meth:`attach_to`).
    :param title: The API's title (``info.title``).
    :param version: The API's version (``info.version``; not Findig's).
    :param validator: A :class:`~findig.tools.validator.Validator` (or a list
        of them) whose rules describe the request bodies of PUT, POST and
        PATCH operations.
    :param protector: A :class:`~findig.tools.protector.Protector` (or a
        list of them) whose guards describe the security of operations.
    :param counter: A :class:`~findig.tools.counter.Counter` (or a list of
        them) whose limiter callbacks (``every(1, after=n)``) describe rate
        limits.
    :param spec_path: Where the document is served (``None``: nowhere).
    :param docs_path: Where the documentation page is served (``None``:
        nowhere); its files are served under ``<docs_path>/static/``.
    :param description: The API's description (``info.description``,
        CommonMark).
    :param servers: The document's ``servers``: a list of URLs or of Server
        Objects. By default the document names none, so the API is the one
        serving the document (behind a URL prefix, the document served
        names that prefix).
    :param rate_limits: Rate limits to document explicitly, for limits the
        counter cannot tell: a mapping of resource to ``"100/hour"``,
        ``"10/30s"``, ``"1000/3600"`` (seconds) or ``(count, seconds)``, or
        to a list of those.
    :raises ValueError: for a path or rate limit that is malformed.

    The document is generated once, when first asked for (after the app's
    routes are built), and cached. Resources added by the tool itself are
    not described in it.

    A resource may declare responses of its own in an ``openapi_responses``
    attribute: a mapping of HTTP method to a mapping of status (``409``,
    ``"4XX"`` or ``"default"``) to an OpenAPI Response Object, which is
    added to the operation or replaces the response generated for that
    status; ``None`` removes a generated response. A malformed declaration
    raises :class:`ValueError` (naming the resource) when the document is
    generated.
    """

    def __init__(
        self,
        app: Any = None,
        title: str = "API",
        version: str = "0.1.0",
        validator: Any = None,
        protector: Any = None,
        counter: Any = None,
        spec_path: str | None = "/openapi.json",
        docs_path: str | None = "/docs",
        *,
        description: str | None = None,
        servers: Iterable[str | Mapping[str, Any]] | None = None,
        rate_limits: Mapping[Any, Any] | None = None,
    ) -> None:
        if spec_path is not None:
            _check_path("spec_path", spec_path)
        if docs_path is not None:
            _check_path("docs_path", docs_path)
            if spec_path is None:
                raise ValueError("The docs page needs the document: set spec_path")
        #: The API's title.
        self.title = title
        #: The API's version.
        self.version = version
        #: The API's description, if any.
        self.description = description
        #: Where the document is served.
        self.spec_path = spec_path
        #: Where the documentation page is served.
        self.docs_path = docs_path
        self.validators = as_list(validator)
        self.protectors = as_list(protector)
        self.counters = as_list(counter)
        self.servers: list[dict[str, Any]] | None = None
        if servers is not None:
            self.servers = [
                {"url": s} if isinstance(s, str) else dict(s) for s in servers
            ]
        self._rate_limits: dict[int, list[dict[str, Any]]] = {}
        self._rate_resources: list[Any] = []  # keeps the ids above valid
        for resource, specs in (rate_limits or {}).items():
            if not isinstance(resource, AbstractResource):
                raise TypeError(f"rate_limits keys must be resources, not {resource!r}")
            entries = as_list(specs) if isinstance(specs, list) else [specs]
            self._rate_limits[id(resource)] = [
                _parse_rate(s, resource) for s in entries
            ]
            self._rate_resources.append(resource)
        #: The resource serving the document, in the app the tool was last
        #: attached to (guard it with a protector to restrict it).
        self.spec_resource: AbstractResource | None = None
        #: The resource serving the documentation page (likewise).
        self.docs_resource: AbstractResource | None = None
        #: The resource serving the page's files (likewise).
        self.static_resource: AbstractResource | None = None
        self._apps: list[Any] = []
        self._own: set[int] = set()
        self._own_resources: list[Any] = []
        self._lock = threading.RLock()
        self._documents: dict[int, dict[str, Any]] = {}
        self._encoded: dict[tuple[int, str], tuple[bytes, str]] = {}
        self._assets: dict[str, _Asset] = {}
        self._page: tuple[bytes, str] | None = None
        if app is not None:
            self.attach_to(app)

    # -- attaching ------------------------------------------------------------

    def attach_to(self, app: Any) -> None:
        """Register the tool's resources on an application.

        The document is served at :attr:`spec_path`, the documentation page
        at :attr:`docs_path`, and the page's files (Swagger UI) under
        ``<docs_path>/static/``. This is called automatically for an app
        passed to the constructor; attaching twice to one app does nothing
        more.

        :param app: A Findig application (:class:`findig.App` or a subclass).
        :raises RuntimeError: if the app has already handled its first
            request (its routes are built).
        """
        if any(attached is app for attached in self._apps):
            return
        if getattr(app, "frozen", False):
            raise RuntimeError(
                "Cannot attach an OpenAPI tool to an application that has already "
                "handled its first request: create it at start-up, before any "
                "request."
            )
        added = []
        if self.spec_path is not None:

            def openapi_document() -> Response:
                return self._serve_document(app)

            self.spec_resource = app.route(
                app.resource(openapi_document, name="findig.openapi.document"),
                self.spec_path,
            )
            added.append(self.spec_resource)
        if self.docs_path is not None:
            self.docs_resource = app.route(
                app.resource(self._serve_page, name="findig.openapi.docs"),
                self.docs_path,
            )
            static = self.docs_path.rstrip("/") + "/static/<string:filename>"
            self.static_resource = app.route(
                app.resource(self._serve_static, name="findig.openapi.static"),
                static,
            )
            added += [self.docs_resource, self.static_resource]
        self._own_resources += added
        self._own.update(id(r) for r in added)
        self._apps.append(app)

    def _app(self, app: Any) -> Any:
        if app is not None:
            return app
        if len(self._apps) != 1:
            raise RuntimeError(
                "Name the application: this OpenAPI tool is attached to "
                f"{len(self._apps)} applications"
            )
        return self._apps[0]

    # -- the document ---------------------------------------------------------

    def document(self, app: Any = None) -> dict[str, Any]:
        """Return the OpenAPI document of an application.

        If the app has not handled a request yet, its routes are built first
        (as its first request would: :meth:`findig.App.freeze`), after which
        no more resources or routes can be registered on it.

        :param app: The application; by default the one the tool is attached
            to (it need not be attached to it).
        :returns: The document: a new :class:`dict` of JSON-compatible
            values each time.
        :raises RuntimeError: if no app is given and the tool is not attached
            to exactly one.
        :raises ValueError: for a resource's malformed ``openapi_responses``.
        """
        return copy.deepcopy(self._document(self._app(app)))

    def to_json(self, app: Any = None, indent: int | None = 2) -> str:
        """Return the OpenAPI document of an application as JSON text.

        :param app: As for :meth:`document`.
        :param indent: The indentation of the JSON text (``None``: none).
        """
        return json.dumps(self._document(self._app(app)), indent=indent)

    def _document(self, app: Any) -> dict[str, Any]:
        document = self._documents.get(id(app))
        if document is not None:
            return document
        with self._lock:
            document = self._documents.get(id(app))
            if document is None:
                if not getattr(app, "frozen", True):
                    app.freeze()
                document = self._build(app)
                self._documents[id(app)] = document
            return document

    def _build(self, app: Any) -> dict[str, Any]:
        info: dict[str, Any] = {"title": self.title, "version": self.version}
        if self.description:
            info["description"] = self.description
        builder = DocumentBuilder(
            app,
            info,
            validators=self.validators,
            protectors=self.protectors,
            counters=self.counters,
            rate_limits=self._rate_limits,
            servers=self.servers,
            exclude=frozenset(self._own),
        )
        return builder.build()

    # -- serving --------------------------------------------------------------

    def _serve_document(self, app: Any) -> Response:
        request = _request()
        root = request.script_root
        key = (id(app), root)
        encoded = self._encoded.get(key)
        if encoded is None:
            document = self._document(app)
            if root and self.servers is None:
                document = {**document, "servers": [{"url": root}]}
                # Keep "servers" where the specification puts it.
                document = {
                    k: document[k]
                    for k in ("openapi", "info", "servers", *document)
                    if k in document
                }
            body = json.dumps(document, separators=(",", ":")).encode("utf-8")
            encoded = (body, hashlib.sha256(body).hexdigest()[:32])
            remember(self._encoded, key, encoded, _MAX_CACHED_DOCUMENTS)
        body, etag = encoded
        response = Response(body, content_type="application/json")
        response.headers["Cache-Control"] = "no-cache"
        response.set_etag(etag)
        return response.make_conditional(request)

    def _asset(self, name: str) -> _Asset:
        asset = self._assets.get(name)
        if asset is None:
            if name not in _UI_FILES:
                raise KeyError(name)  # a 404
            asset = self._assets[name] = _Asset(name)
        return asset

    def _serve_page(self) -> Response:
        request = _request()
        if self._page is None:
            assert self.docs_path is not None and self.spec_path is not None
            here = posixpath.dirname(self.docs_path)
            static = self.docs_path.rstrip("/") + "/static"
            if self.docs_path.endswith("/"):
                here = self.docs_path
            versions = {
                key: self._asset(name).version
                for key, name in (
                    ("v_css", "swagger-ui.css"),
                    ("v_js", "swagger-ui-bundle.js"),
                    ("v_init", "findig-swagger-init.js"),
                    ("v_i32", "favicon-32x32.png"),
                    ("v_i16", "favicon-16x16.png"),
                )
            }
            page = _PAGE.format(
                title=html.escape(f"{self.title} {self.version} — API documentation"),
                static=html.escape(posixpath.relpath(static, here)),
                spec=html.escape(posixpath.relpath(self.spec_path, here)),
                **versions,
            ).encode("utf-8")
            self._page = (page, hashlib.sha256(page).hexdigest()[:32])
        body, etag = self._page
        response = Response(body, content_type="text/html; charset=utf-8")
        headers = response.headers
        headers["Cache-Control"] = "no-cache"
        headers["Content-Security-Policy"] = self._content_security_policy()
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        response.set_etag(etag)
        return response.make_conditional(request)

    def _content_security_policy(self) -> str:
        connect = ["'self'"]
        for server in self.servers or ():
            url = str(server.get("url", ""))
            match = re.match(r"(https?://[^/{}\s;,]+)", url)
            if match and match.group(1) not in connect:
                connect.append(match.group(1))
        return (
            "default-src 'none'; script-src 'self'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"font-src 'self' data:; connect-src {' '.join(connect)}; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
        )

    def _serve_static(self, filename: str) -> Response:
        request = _request()
        asset = self._asset(filename)
        body = asset.body
        headers: dict[str, str] = {"X-Content-Type-Options": "nosniff"}
        etag = asset.etag
        if asset.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
            if request.accept_encodings["gzip"]:
                body = asset.gzipped
                headers["Content-Encoding"] = "gzip"
                etag += "-gzip"
        if request.args.get("v") == asset.version:
            headers["Cache-Control"] = (
                f"public, max-age={_VERSIONED_MAX_AGE}, immutable"
            )
        else:
            headers["Cache-Control"] = f"public, max-age={_UNVERSIONED_MAX_AGE}"
        response = Response(body, content_type=asset.content_type, headers=headers)
        response.set_etag(etag)
        return response.make_conditional(request)


def _request() -> Any:
    state = current_state()
    if state is None:  # pragma: no cover - resources run in requests
        raise RuntimeError("The OpenAPI resources need an active request context")
    return state.request
