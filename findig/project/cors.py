"""Cross-origin resource sharing (CORS) for the project's application.

Browsers let a page of one origin (``https://app.example.com``) read the
responses of an API of another origin (``https://api.example.com``) only if
the API says so with ``Access-Control-*`` headers. The project's application
(:class:`~findig.project.wsgi.ProjectApp`) answers them from the ``CORS_*``
settings, through a :class:`CORSPolicy`:

- a request with an ``Origin`` header from an allowed origin gets
  ``Access-Control-Allow-Origin`` (that origin, as configured, or ``*``),
  ``Vary: Origin``, ``Access-Control-Allow-Credentials: true`` when
  credentials are allowed, and ``Access-Control-Expose-Headers``;
- a *preflight* request (``OPTIONS`` with ``Access-Control-Request-Method``)
  is answered by the application as any ``OPTIONS`` request (200 with an
  ``Allow`` header listing the resource's methods); if the method asked for
  is among them, the answer also allows it
  (``Access-Control-Allow-Methods``: the ``Allow`` list), with the asked
  headers that ``CORS_ALLOWED_HEADERS`` allows
  (``Access-Control-Allow-Headers``) and ``Access-Control-Max-Age``. A
  method the resource does not support, or a path with no resource, is
  allowed nothing;
- a request from any other origin is answered as usual, with no CORS
  header (only ``Vary: Origin``): the browser keeps the response from the
  page.

Requests without an ``Origin`` header are not touched (one dictionary
lookup).

>>> policy = CORSPolicy(["https://app.example.com"])
>>> policy.allow_origin("https://app.example.com"), policy.allow_origin("https://evil.com")
('https://app.example.com', None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DEFAULT_ALLOWED_HEADERS",
    "DEFAULT_EXPOSE_HEADERS",
    "CORSPolicy",
    "settings_problems",
]

#: The default of ``CORS_ALLOWED_HEADERS``: request headers a cross-origin
#: page may send.
DEFAULT_ALLOWED_HEADERS = (
    "Accept",
    "Accept-Language",
    "Authorization",
    "Content-Language",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "X-Request-ID",
)
#: The default of ``CORS_EXPOSE_HEADERS``: response headers a cross-origin
#: page may read (beyond the always-readable ``Content-Type`` and a few
#: others); ``X-Total-Count`` is what collections send for ``?count=true``.
DEFAULT_EXPOSE_HEADERS = (
    "ETag",
    "Location",
    "Link",
    "X-Request-ID",
    "Retry-After",
    "X-Total-Count",
)

_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#\s@]+")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DEFAULT_PORTS = {"http": ":80", "https": ":443"}
#: The most header names read from an ``Access-Control-Request-Headers``.
_MAX_REQUESTED_HEADERS = 64


def _normalize_origin(origin: str) -> str:
    origin = origin.strip().lower().rstrip("/")
    scheme = origin.partition("://")[0]
    port = _DEFAULT_PORTS.get(scheme)
    if port is not None and origin.endswith(port):
        origin = origin[: -len(port)]
    return origin


def _origin_problems(origins: Any, credentials: Any) -> list[str]:
    if isinstance(origins, str) or not isinstance(origins, (list, tuple)):
        return ["CORS_ALLOWED_ORIGINS must be a list of origins"]
    problems = []
    for origin in origins:
        if not isinstance(origin, str):
            problems.append(f"CORS_ALLOWED_ORIGINS: {origin!r} is not a string")
        elif origin == "*":
            if credentials:
                problems.append(
                    "CORS_ALLOWED_ORIGINS allows any origin ('*') while "
                    "CORS_ALLOW_CREDENTIALS is on: list the origins instead"
                )
        elif origin.strip().lower() == "null":
            problems.append(
                "CORS_ALLOWED_ORIGINS must not allow the 'null' origin (sandboxed "
                "pages and local files send it)"
            )
        elif not _ORIGIN.fullmatch(_normalize_origin(origin)):
            problems.append(
                f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin (scheme://host"
                "[:port], without a path), such as 'https://app.example.com'"
            )
    return problems


def _names_problems(name: str, names: Any) -> list[str]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        return [f"{name} must be a list of header names"]
    bad = [n for n in names if not isinstance(n, str) or not _TOKEN.fullmatch(n)]
    if bad:
        return [f"{name}: not header names: {', '.join(map(repr, bad))}"]
    return []


def settings_problems(values: Mapping[str, Any]) -> list[str]:
    """Check the ``CORS_*`` settings.

    :param values: The settings (a mapping of name to value).
    :returns: The problems found, each naming the setting.

    >>> settings_problems({"CORS_ALLOWED_ORIGINS": ["https://a.com/path"]})
    ["CORS_ALLOWED_ORIGINS: 'https://a.com/path' is not an origin (scheme://host[:port], without a path), such as 'https://app.example.com'"]
    """  # noqa: E501 - doctest output
    problems = _origin_problems(
        values.get("CORS_ALLOWED_ORIGINS", []),
        values.get("CORS_ALLOW_CREDENTIALS", False),
    )
    for name, default in (
        ("CORS_ALLOWED_HEADERS", DEFAULT_ALLOWED_HEADERS),
        ("CORS_EXPOSE_HEADERS", DEFAULT_EXPOSE_HEADERS),
    ):
        names = values.get(name, default)
        if name == "CORS_ALLOWED_HEADERS" and isinstance(names, (list, tuple)):
            names = [n for n in names if n != "*"]
        problems += _names_problems(name, names)
    max_age = values.get("CORS_MAX_AGE", None)
    if max_age is not None and (
        not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0
    ):
        problems.append("CORS_MAX_AGE must be a number of seconds (or None)")
    return problems


class CORSPolicy:
    """Which origins may use the API from a browser, and how.

    :param allowed_origins: The origins allowed (``scheme://host[:port]``,
        compared without case and default ports), or ``["*"]`` for any
        origin. Empty: no cross-origin access.
    :param allow_credentials: Let pages send cookies and HTTP
        authentication with their requests
        (``Access-Control-Allow-Credentials``); not with ``"*"``.
    :param allowed_headers: The request headers pages may send (compared
        without case); ``["*"]`` allows any.
    :param expose_headers: The response headers pages may read.
    :param max_age: How long, in seconds, browsers may keep a preflight's
        answer (``None``: not said; browsers cap it anyway).
    :raises ValueError: for a malformed origin or header name, or ``"*"``
        with credentials.
    """

    __slots__ = (
        "_allow_all_headers",
        "_allowed_headers",
        "_any_origin",
        "_credentials",
        "_expose",
        "_max_age",
        "_origins",
    )

    def __init__(
        self,
        allowed_origins: Iterable[str],
        allow_credentials: bool = False,
        allowed_headers: Iterable[str] = DEFAULT_ALLOWED_HEADERS,
        expose_headers: Iterable[str] = DEFAULT_EXPOSE_HEADERS,
        max_age: int | None = 600,
    ) -> None:
        origins = list(allowed_origins)
        allowed = list(allowed_headers)
        expose = list(expose_headers)
        problems = settings_problems(
            {
                "CORS_ALLOWED_ORIGINS": origins,
                "CORS_ALLOW_CREDENTIALS": allow_credentials,
                "CORS_ALLOWED_HEADERS": allowed,
                "CORS_EXPOSE_HEADERS": expose,
                "CORS_MAX_AGE": max_age,
            }
        )
        if problems:
            raise ValueError("; ".join(problems))
        self._any_origin = "*" in origins
        # PERF: the header value is precomputed for each allowed origin, so
        # a request's origin costs one dictionary lookup.
        self._origins = {
            _normalize_origin(o): _normalize_origin(o) for o in origins if o != "*"
        }
        self._credentials = bool(allow_credentials)
        self._allow_all_headers = "*" in allowed
        self._allowed_headers = {n.lower(): n for n in allowed if n != "*"}
        self._expose = ", ".join(expose)
        self._max_age = None if max_age is None else str(max_age)

    @classmethod
    def from_settings(cls, settings: Any) -> CORSPolicy | None:
        """The policy of the ``CORS_*`` settings, or ``None`` when
        ``CORS_ALLOWED_ORIGINS`` is empty.

        :param settings: The project's settings
            (:data:`findig.project.conf.settings`).
        :raises ImproperlyConfigured: for invalid settings.
        """
        from .conf import ImproperlyConfigured

        origins = settings.CORS_ALLOWED_ORIGINS
        if not origins:
            return None
        try:
            return cls(
                origins,
                allow_credentials=settings.CORS_ALLOW_CREDENTIALS,
                allowed_headers=settings.CORS_ALLOWED_HEADERS,
                expose_headers=settings.CORS_EXPOSE_HEADERS,
                max_age=settings.CORS_MAX_AGE,
            )
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from None

    def allow_origin(self, origin: str) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for a request from
        *origin*, or ``None`` if the origin is not allowed.

        It is the origin as configured (never the request's header echoed),
        or ``"*"`` when any origin is allowed without credentials.

        :param origin: The request's ``Origin`` header.
        """
        if self._any_origin:
            return "*"
        found = self._origins.get(origin)
        if found is None and len(origin) <= 2048:
            found = self._origins.get(_normalize_origin(origin))
        return found

    def headers(
        self,
        origin: str,
        environ: Mapping[str, Any],
        status: str,
        headers: list[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        """The response headers of a request with an ``Origin`` header: the
        application's, plus the CORS headers the policy grants.

        :param origin: The request's ``Origin`` header.
        :param environ: The request's WSGI environ.
        :param status: The response's status line.
        :param headers: The response's headers (not changed).
        :returns: A new header list.
        """
        out = list(headers)
        if not self._any_origin:
            _add_vary(out, "Origin")
        allow = self.allow_origin(origin)
        if allow is None:
            return out
        requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
        if requested is not None and environ.get("REQUEST_METHOD") == "OPTIONS":
            return self._preflight(allow, requested, environ, status, out)
        out.append(("Access-Control-Allow-Origin", allow))
        if self._credentials:
            out.append(("Access-Control-Allow-Credentials", "true"))
        if self._expose:
            out.append(("Access-Control-Expose-Headers", self._expose))
        return out

    def _preflight(
        self,
        allow: str,
        requested: str,
        environ: Mapping[str, Any],
        status: str,
        out: list[tuple[str, str]],
    ) -> list[tuple[str, str]]:
        if not status.startswith("2"):
            return out
        allowed = next((v for k, v in out if k.lower() == "allow"), None)
        if allowed is None:
            return out
        methods = [m.strip() for m in allowed.split(",") if m.strip()]
        if requested.strip() not in methods:
            return out
        out.append(("Access-Control-Allow-Origin", allow))
        out.append(("Access-Control-Allow-Methods", ", ".join(methods)))
        names = self._request_headers(
            environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
        )
        if names:
            out.append(("Access-Control-Allow-Headers", ", ".join(names)))
        if self._credentials:
            out.append(("Access-Control-Allow-Credentials", "true"))
        if self._max_age is not None:
            out.append(("Access-Control-Max-Age", self._max_age))
        return out

    def _request_headers(self, value: str | None) -> list[str]:
        """The allowed names among an ``Access-Control-Request-Headers``."""
        if not value:
            return []
        names: list[str] = []
        for raw in value.split(",", _MAX_REQUESTED_HEADERS)[:_MAX_REQUESTED_HEADERS]:
            name = raw.strip()
            if not name:
                continue
            known = self._allowed_headers.get(name.lower())
            if known is not None:
                names.append(known)
            elif self._allow_all_headers and _TOKEN.fullmatch(name):
                names.append(name)
        return names


def _add_vary(headers: list[tuple[str, str]], name: str) -> None:
    for index, (key, value) in enumerate(headers):
        if key.lower() == "vary":
            present = {v.strip().lower() for v in value.split(",")}
            if name.lower() not in present and "*" not in present:
                headers[index] = (key, f"{value}, {name}")
            return
    headers.append(("Vary", name))
