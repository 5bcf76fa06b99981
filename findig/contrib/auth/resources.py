"""The auth app's resources, mounted at ``/auth``.

``POST /auth/token`` (public)
    The OAuth 2 *resource owner password credentials* grant
    (:rfc:`6749#section-4.3`). The body is form-encoded
    (``application/x-www-form-urlencoded``) or JSON, with ``grant_type=password``,
    ``username``, ``password`` and an optional ``scope`` (space-separated),
    which narrows the token's scopes (never widens them: asking for a scope
    the user lacks is an ``invalid_scope`` error). The answer is
    ``{"access_token", "token_type": "Bearer", "expires_in", "scope"}``,
    with ``Cache-Control: no-store``. Errors are :rfc:`6749#section-5.2`
    bodies, ``{"error": ..., "error_description": ...}``:
    ``invalid_request`` (400; also for a password over the length limit),
    ``unsupported_grant_type`` (400), ``invalid_grant`` (400: wrong user
    name or password, or an inactive user, all alike), ``invalid_scope``
    (400), and 429 with ``Retry-After`` beyond the failed-login limits
    (``"error": "slow_down"``).
``POST /auth/revoke`` (public)
    Revoke a token (:rfc:`7009`): form or JSON with ``token`` (and an
    optional ``token_type_hint``). Answers 200 with an empty body, also for
    a token that is unknown or already revoked.
``GET /auth/me``
    The authenticated user: ``{"username", "scopes", "token_scopes",
    "method"}`` (``token_scopes`` is ``null`` for a Basic login).

The token and revocation endpoints do not authenticate clients (they serve
first-party, public clients), so they never answer ``invalid_client`` nor
401. They declare their answers in the project's OpenAPI document with
``openapi_responses`` (see :mod:`findig.tools.openapi`): their RFC 6749
error bodies are ``application/json``, not the project's error format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, Unauthorized

from findig.content import Parser
from findig.context import current_state
from findig.dispatcher import Dispatcher
from findig.resource import AbstractResource, Result

from . import public
from .hashing import PasswordTooLong
from .protection import current_grant, get_installation
from .store import LoginFailed, ScopeNotGranted, create_token, revoke_token
from .throttle import LoginThrottled
from .validation import InvalidScope, format_scopes, parse_scopes

if TYPE_CHECKING:
    from findig.wrappers import Request

__all__ = ["OAuthEndpoint", "dispatcher", "me", "parse_form", "revoke", "token"]

FORM_MIME = "application/x-www-form-urlencoded"
#: The most parameters a form body may have.
MAX_FORM_FIELDS = 20
_NO_STORE = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))

dispatcher = Dispatcher()


def parse_form(text: str) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` body.

    >>> parse_form("grant_type=password&username=alice&scope=a+b")
    {'grant_type': 'password', 'username': 'alice', 'scope': 'a b'}

    :raises ValueError: for a repeated parameter (:rfc:`6749#section-3.2`),
        invalid percent-encoding, or more than :data:`MAX_FORM_FIELDS`
        parameters.
    """
    params: dict[str, str] = {}
    for name, value in parse_qsl(
        text,
        keep_blank_values=True,
        strict_parsing=False,
        errors="strict",
        max_num_fields=MAX_FORM_FIELDS,
    ):
        if name in params:
            raise ValueError(f"parameter {name!r} is repeated")
        params[name] = value
    return params


_NO_STORE_HEADERS: dict[str, Any] = {
    "Cache-Control": {"schema": {"type": "string", "const": "no-store"}},
    "Pragma": {"schema": {"type": "string", "const": "no-cache"}},
}


def _error(code: str, description: str, status: int = 400) -> Result:
    return Result({"error": code, "error_description": description}, status, _NO_STORE)


def _error_response(
    description: str, codes: Iterable[str], headers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An OpenAPI Response Object for :rfc:`6749#section-5.2` error bodies,
    as :func:`_error` makes them.

    :param description: What the response means.
    :param codes: The ``error`` codes it may carry.
    :param headers: Headers it has besides ``Cache-Control`` and ``Pragma``
        (OpenAPI Header Objects by name).
    """
    return {
        "description": description,
        "headers": {**_NO_STORE_HEADERS, **(headers or {})},
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "An OAuth 2 error (RFC 6749, section 5.2).",
                    "required": ["error", "error_description"],
                    "properties": {
                        "error": {"type": "string", "enum": sorted(codes)},
                        "error_description": {"type": "string"},
                    },
                }
            }
        },
    }


class OAuthEndpoint(AbstractResource):
    """A ``POST``-only resource taking OAuth parameters, form-encoded or
    JSON, and answering :rfc:`6749` error bodies when they are wrong.

    :param name: The resource's name.
    :param handler: Called with the request and the parameters (a
        ``dict`` of strings); returns the response data.
    :param responses: The handler's answers for the OpenAPI document
        (status → OpenAPI Response Object; see
        :mod:`findig.tools.openapi`), besides a 400 ``invalid_request``.
    """

    def __init__(
        self,
        name: str,
        handler: Callable[[Request, dict[str, str]], Any],
        responses: Mapping[int, dict[str, Any]] | None = None,
    ) -> None:
        self.name = name
        self.handler = handler
        #: The resource's parser: the app's (JSON), plus form bodies.
        self.parser = Parser()
        self.parser.register(FORM_MIME, parse_form)
        self.__doc__ = handler.__doc__
        #: The answers of ``POST`` in the OpenAPI document: RFC 6749 errors,
        #: and no 415 (a body of another type is an ``invalid_request``).
        self.openapi_responses: dict[str, dict[int, Any]] = {
            "POST": {
                400: _error_response(
                    "The parameters are missing or malformed.", ["invalid_request"]
                ),
                415: None,
                **(responses or {}),
            }
        }

    def __repr__(self) -> str:
        return f"<OAuthEndpoint {self.name!r}>"

    def get_supported_methods(self) -> set[str]:
        """Only ``POST`` (``OPTIONS`` is answered by the application)."""
        return {"POST"}

    def handle_request(self, request: Request, url_values: Mapping[str, Any]) -> Any:
        """Parse the parameters and call the handler."""
        try:
            data = request.input
        except RequestEntityTooLarge:
            raise
        except HTTPException:
            return _error(
                "invalid_request",
                "The body must be form-encoded (application/x-www-form-"
                "urlencoded) or a JSON object, each parameter given once.",
            )
        if data is None:
            data = {}
        if not isinstance(data, Mapping) or not all(
            isinstance(v, str) for v in data.values()
        ):
            return _error(
                "invalid_request", "The parameters must be strings in an object."
            )
        return self.handler(request, dict(data))


def _installation() -> Any:
    state = current_state()
    assert state is not None
    return get_installation(state.app), state


def _token(request: Request, params: dict[str, str]) -> Any:
    """Issue a bearer token (OAuth 2 password grant).

    Trade a user name and password for a bearer token (RFC 6749, section
    4.3). The parameters are form-encoded or JSON: grant_type=password,
    username, password, and an optional scope (space-separated) that
    narrows the token's scopes. Errors are RFC 6749 bodies
    (application/json)."""
    grant_type = params.get("grant_type")
    if not grant_type:
        return _error("invalid_request", "The grant_type parameter is missing.")
    if grant_type != "password":
        return _error(
            "unsupported_grant_type", "Only the password grant type is supported."
        )
    username = params.get("username")
    password = params.get("password")
    if not username or not password:
        return _error(
            "invalid_request", "The username and password parameters are required."
        )
    requested = None
    scope = params.get("scope", "")
    if scope.strip():
        try:
            requested = parse_scopes(scope)
        except InvalidScope as exc:
            return _error("invalid_scope", str(exc))
    installation, state = _installation()
    session = state.sqla_session
    try:
        user = installation.authenticator.login(
            session, username, password, request.remote_addr
        )
    except PasswordTooLong as exc:
        return _error("invalid_request", str(exc))
    except LoginThrottled as exc:
        return Result(
            {"error": "slow_down", "error_description": exc.description},
            429,
            [*_NO_STORE, ("Retry-After", str(exc.seconds))],
        )
    except LoginFailed:
        return _error("invalid_grant", "The user name or password is incorrect.")
    lifetime = installation.settings.token_lifetime
    try:
        token, record = create_token(session, user, requested, lifetime)
    except ScopeNotGranted:
        return _error(
            "invalid_scope", "The requested scope exceeds the scope of the user."
        )
    body: dict[str, Any] = {"access_token": token, "token_type": "Bearer"}
    if lifetime is not None:
        body["expires_in"] = lifetime
    body["scope"] = record.scopes
    return Result(body, 200, _NO_STORE)


def _revoke(request: Request, params: dict[str, str]) -> Any:
    """Revoke a token (RFC 7009).

    The parameters are form-encoded or JSON: token, and an optional
    token_type_hint. The answer is 200 whether or not the token exists."""
    token = params.get("token")
    if not token:
        return _error("invalid_request", "The token parameter is missing.")
    _, state = _installation()
    revoke_token(state.sqla_session, token)
    return None


_TOKEN_RESPONSES: dict[int, dict[str, Any]] = {
    200: {
        "description": "The token (RFC 6749, section 5.1).",
        "headers": _NO_STORE_HEADERS,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["access_token", "token_type", "scope"],
                    "properties": {
                        "access_token": {"type": "string"},
                        "token_type": {"type": "string", "const": "Bearer"},
                        "expires_in": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "Seconds the token lives (absent: "
                            "until revoked).",
                        },
                        "scope": {
                            "type": "string",
                            "description": "The token's scopes, space-separated.",
                        },
                    },
                }
            }
        },
    },
    400: _error_response(
        "The parameters are missing or malformed (invalid_request), the grant "
        "type is not password (unsupported_grant_type), the user name or "
        "password is incorrect (invalid_grant), or the scope asked for is "
        "malformed or exceeds the user's (invalid_scope).",
        ["invalid_grant", "invalid_request", "invalid_scope", "unsupported_grant_type"],
    ),
    429: _error_response(
        "Too many failed logins for this user name or from this address.",
        ["slow_down"],
        {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer", "minimum": 0},
            }
        },
    ),
}
_REVOKE_RESPONSES: dict[int, dict[str, Any]] = {
    200: {
        "description": "Revoked, or no such token (RFC 7009): an empty body.",
        "content": {"text/plain": {"schema": {"type": "string", "maxLength": 0}}},
    },
}

#: ``POST /auth/token``.
token = public(OAuthEndpoint("findig.contrib.auth.token", _token, _TOKEN_RESPONSES))
#: ``POST /auth/revoke``.
revoke = public(OAuthEndpoint("findig.contrib.auth.revoke", _revoke, _REVOKE_RESPONSES))
dispatcher.route(token, "/token")
dispatcher.route(revoke, "/revoke")


@dispatcher.route("/me")
@dispatcher.resource(name="findig.contrib.auth.me")
def me() -> dict[str, Any]:
    """The authenticated user: name, scopes, and the token's scopes."""
    grant = current_grant()
    if grant is None:
        raise Unauthorized("Authentication is required.")
    return {
        "username": grant.username,
        "scopes": sorted(format_scopes(grant.user_scopes).split()),
        "token_scopes": (
            sorted(format_scopes(grant.scopes).split())
            if grant.method == "bearer"
            else None
        ),
        "method": grant.method,
    }
