"""The gatekeeper backed by the user store: HTTP Basic and Bearer tokens.

:class:`StoreGateKeeper` checks the ``Authorization`` header of a request
with the methods named by ``AUTH_METHODS``:

``bearer``
    ``Authorization: Bearer <token>`` (:rfc:`6750`), a token issued by
    ``POST /auth/token`` or ``manage.py createtoken``. The grant carries the
    token's scopes (those its user still has). An unknown, expired or
    revoked token, or one whose user was deactivated, is answered 401 with
    ``WWW-Authenticate: Bearer realm="...", error="invalid_token"``.
``basic``
    ``Authorization: Basic ...`` (:rfc:`7617`) with a user's name and
    password. The grant carries the user's scopes. Failures are throttled
    like the token endpoint's (429 with ``Retry-After``).

A request without credentials (or with another scheme) gets 401 with one
challenge per enabled method. The grant's user name (the protector's
``authenticated_user``) is the user's normalised name.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any, cast

from werkzeug.exceptions import Unauthorized

from findig.context import current_state
from findig.tools.protector import GateKeeper

from .hashing import PasswordTooLong
from .store import MAX_TOKEN_LENGTH, Authenticator, LoginFailed, check_token
from .validation import parse_scopes

__all__ = ["MAX_BASIC_HEADER", "AuthGrant", "StoreGateKeeper", "parse_basic"]

_DESCRIPTIONS = {
    "unknown": "The access token is invalid.",
    "revoked": "The access token was revoked.",
    "expired": "The access token has expired.",
    "inactive": "The access token is invalid.",
}


class AuthGrant:
    """The authorization of one request, as the protector holds it.

    :ivar username: The user's (normalised) name.
    :ivar user_id: The user's id.
    :ivar method: ``"bearer"`` or ``"basic"``.
    :ivar scopes: The scope items the request is authorized for
        (normalised): the token's, or the user's for a Basic login.
    :ivar user_scopes: The user's scope items (normalised).
    :ivar token_prefix: The prefix of the token used, or ``None``.
    """

    __slots__ = (
        "method",
        "scopes",
        "token_prefix",
        "user_id",
        "user_scopes",
        "username",
    )

    def __init__(
        self,
        username: str,
        user_id: int,
        method: str,
        scopes: frozenset[str],
        user_scopes: frozenset[str],
        token_prefix: str | None = None,
    ) -> None:
        self.username = username
        self.user_id = user_id
        self.method = method
        self.scopes = scopes
        self.user_scopes = user_scopes
        self.token_prefix = token_prefix

    def __repr__(self) -> str:
        return f"<AuthGrant {self.username!r} via {self.method}>"


#: The longest ``Authorization`` header read for Basic credentials.
MAX_BASIC_HEADER = 4096
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def parse_basic(header: str) -> tuple[str, str] | None:
    """The ``(username, password)`` of a Basic ``Authorization`` header, or
    ``None`` if it is malformed (bad base64, not UTF-8, no colon, control
    characters, longer than :data:`MAX_BASIC_HEADER`).

    >>> parse_basic("Basic YWxpY2U6czNjcmV0")
    ('alice', 's3cret')
    >>> parse_basic("Basic !!!") is None
    True
    """
    if len(header) > MAX_BASIC_HEADER:
        return None
    scheme, _, param = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(param.strip().encode("ascii"), validate=True).decode(
            "utf-8"
        )
    except (UnicodeError, binascii.Error, ValueError):
        return None
    username, colon, password = text.partition(":")
    if not colon or _CONTROL.search(text):
        return None
    return username, password


def _session(state: Any) -> Any:
    session = getattr(state, "sqla_session", None)
    if session is None:
        raise RuntimeError(
            "findig.contrib.auth needs the project's database sessions "
            "(findig.project.db.install(app)) before its protector"
        )
    return session


class StoreGateKeeper(GateKeeper):
    """Checks Basic credentials and Bearer tokens against the user store.

    :param authenticator: The password checker (hashing and throttling).
    :param methods: The methods to accept, among ``"bearer"`` and
        ``"basic"``, in the order of the challenges sent.
    :param realm: The realm of the challenges.
    """

    def __init__(
        self, authenticator: Authenticator, methods: Iterable[str], realm: str
    ) -> None:
        self.authenticator = authenticator
        self.methods = tuple(methods)
        self.realm = realm
        self.bearer_challenge = f'Bearer realm="{realm}"'
        self.basic_challenge = f'Basic realm="{realm}", charset="UTF-8"'
        challenges = {"bearer": self.bearer_challenge, "basic": self.basic_challenge}
        # PERF: the 401 challenges are made once.
        self._challenges = [challenges[m] for m in self.methods]
        self.challenge = self._challenges[0]
        self._bearer = "bearer" in self.methods
        self._basic = "basic" in self.methods

    def __repr__(self) -> str:
        return f"<StoreGateKeeper {'+'.join(self.methods)}>"

    def _unauthorized(self, description: str | None = None) -> Unauthorized:
        return Unauthorized(
            description
            or "Authentication is required: a bearer token or valid credentials.",
            www_authenticate=cast(Any, list(self._challenges)),
        )

    def check_auth(self) -> AuthGrant:
        """Check the current request's ``Authorization`` header.

        :returns: An :class:`AuthGrant`.
        :raises werkzeug.exceptions.Unauthorized: without valid credentials.
        :raises findig.contrib.auth.throttle.LoginThrottled: (429) for a
            Basic login beyond the failed-login limits.
        """
        state = current_state()
        assert state is not None
        header = state.environ.get("HTTP_AUTHORIZATION")
        if not header:
            raise self._unauthorized()
        scheme, _, param = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer" and self._bearer:
            return self._check_bearer(state, param.strip())
        if scheme == "basic" and self._basic:
            return self._check_basic(state, header)
        raise self._unauthorized()

    def _invalid_token(self, description: str) -> Unauthorized:
        challenge = (
            f'{self.bearer_challenge}, error="invalid_token", '
            f'error_description="{description}"'
        )
        others = [c for c in self._challenges if c != self.bearer_challenge]
        return Unauthorized(
            description, www_authenticate=cast(Any, [challenge, *others])
        )

    def _check_bearer(self, state: Any, token: str) -> AuthGrant:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise self._invalid_token(_DESCRIPTIONS["unknown"])
        result = check_token(_session(state), token)
        if not result.valid:
            raise self._invalid_token(_DESCRIPTIONS[result.reason])
        user = result.user
        record = result.token
        assert user is not None and record is not None
        return AuthGrant(
            user.username,
            user.id,
            "bearer",
            result.scopes,
            parse_scopes(user.scopes),
            record.prefix,
        )

    def _check_basic(self, state: Any, header: str) -> AuthGrant:
        credentials = parse_basic(header)
        if credentials is None:
            raise self._unauthorized("The credentials are malformed.")
        username, password = credentials
        try:
            user = self.authenticator.login(
                _session(state), username, password, state.request.remote_addr
            )
        except (LoginFailed, PasswordTooLong):
            raise self._unauthorized("The credentials are not valid.") from None
        scopes = parse_scopes(user.scopes)
        return AuthGrant(user.username, user.id, "basic", scopes, scopes)

    def get_username(self, grant: AuthGrant) -> str:
        """The user's normalised name."""
        return grant.username

    def get_clientid(self, grant: AuthGrant) -> str | None:
        """The prefix of the token used (``None`` for a Basic login)."""
        return grant.token_prefix

    def get_scopes(self, grant: AuthGrant) -> frozenset[str]:
        """The scopes of the grant: the token's, or the user's."""
        return grant.scopes
