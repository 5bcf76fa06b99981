"""The user store: users, passwords and tokens, on a SQLAlchemy session.

The functions take the session to work in and leave committing to the
caller (a request commits at its end; commands use
:func:`findig.project.db.session_scope`)::

    from findig.project.db import session_scope
    from findig.contrib.auth import store

    with session_scope() as session:
        user = store.create_user(session, "alice", "correct horse", "tasks+crud")
        token, record = store.create_token(session, user, "tasks+r")

Tokens are ``<prefix><secret>`` strings: a 10-character alphanumeric
prefix, stored in clear to find the token by (and to name it in
``revoketoken``), then 43 characters from :func:`secrets.token_urlsafe`
(256 bits). Only the SHA-256 digest of the whole token is stored, and it is
compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from .conf import load_settings
from .hashing import PasswordHasher, PasswordTooLong, get_hasher
from .models import Token, User, utcnow
from .throttle import LoginThrottle
from .validation import (
    InvalidUsername,
    covers,
    effective_scopes,
    format_scopes,
    normalize_username,
    parse_scopes,
)

__all__ = [
    "TOKEN_PREFIX_LENGTH",
    "Authenticator",
    "LoginFailed",
    "ScopeNotGranted",
    "TokenCheck",
    "UnknownUser",
    "UserExists",
    "check_token",
    "create_token",
    "create_user",
    "deactivate_user",
    "default_hasher",
    "get_user",
    "list_users",
    "purge_tokens",
    "revoke_token",
    "revoke_token_by_prefix",
    "set_password",
    "set_scopes",
    "token_digest",
    "token_prefix",
    "user_scopes",
]

#: The length of a token's public prefix.
TOKEN_PREFIX_LENGTH = 10
#: The longest token string read from a request.
MAX_TOKEN_LENGTH = 256
#: How often (seconds) a token's ``last_used_at`` is updated at most.
TOUCH_INTERVAL = 60

_ALPHANUMERIC = string.ascii_letters + string.digits
_TOKEN = re.compile(r"[A-Za-z0-9]{10}[A-Za-z0-9_\-]{16,246}")
# Compared against when no token matches, so both paths cost the same.
_DUMMY_DIGEST = hashlib.sha256(b"findig-no-such-token").hexdigest()


class UserExists(ValueError):  # noqa: N818 - a ValueError
    """A user with this (normalised) name already exists."""


class UnknownUser(LookupError):  # noqa: N818 - a LookupError
    """No user has this name."""


class ScopeNotGranted(ValueError):  # noqa: N818 - a ValueError
    """Scopes asked for a token that its user does not have."""


class LoginFailed(Exception):  # noqa: N818 - the outcome's name
    """Wrong credentials: an unknown user, an inactive user or a wrong
    password (deliberately indistinguishable)."""


def default_hasher() -> PasswordHasher:
    """The password hasher configured by the settings (``PASSWORD_SCHEMES``,
    ``PASSWORD_HASH_OPTIONS``, ``PASSWORD_MAX_LENGTH``)."""
    config = load_settings()
    return get_hasher(
        config.password_schemes,
        config.password_hash_options,
        config.password_max_length,
    )


def _hash(password: str | None, hasher: PasswordHasher | None) -> str | None:
    if password is None:
        return None
    return (hasher or default_hasher()).hash(password)


def _normalized(username: str) -> str:
    return normalize_username(username)


def user_scopes(user: User) -> frozenset[str]:
    """The normalised scope items granted to *user*."""
    return parse_scopes(user.scopes)


def get_user(session: Session, username: str) -> User | None:
    """The user named *username* (normalised), or ``None``."""
    try:
        name = _normalized(username)
    except InvalidUsername:
        return None
    return session.scalar(select(User).where(User.username == name))


def _require_user(session: Session, username: str) -> User:
    user = get_user(session, username)
    if user is None:
        raise UnknownUser(f"No user named {username!r}")
    return user


def create_user(
    session: Session,
    username: str,
    password: str | None,
    scopes: str | Iterable[str] | None = None,
    *,
    hasher: PasswordHasher | None = None,
    is_active: bool = True,
) -> User:
    """Add a user.

    :param username: The user name (stored normalised).
    :param password: The password, or ``None`` for a user without a usable
        password (who can only use tokens made for them).
    :param scopes: The scopes granted (a scope string or items).
    :param hasher: The password hasher (default: :func:`default_hasher`).
    :raises InvalidUsername: for an invalid user name.
    :raises InvalidScope: for malformed scopes.
    :raises PasswordTooLong: for a password over the limit.
    :raises UserExists: if the name is taken.
    """
    name = _normalized(username)
    items = parse_scopes(scopes)
    if session.scalar(select(User.id).where(User.username == name)) is not None:
        raise UserExists(f"A user named {name!r} already exists")
    user = User(
        username=name,
        password_hash=_hash(password, hasher),
        is_active=is_active,
        scopes=format_scopes(items),
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def set_password(
    session: Session,
    username: str,
    password: str | None,
    *,
    hasher: PasswordHasher | None = None,
) -> User:
    """Set (or, with ``None``, remove) a user's password.

    :param hasher: The password hasher (default: :func:`default_hasher`).

    :raises UnknownUser: if there is no such user.
    :raises PasswordTooLong: for a password over the limit.
    """
    user = _require_user(session, username)
    user.password_hash = _hash(password, hasher)
    session.flush()
    return user


def set_scopes(
    session: Session, username: str, scopes: str | Iterable[str] | None
) -> User:
    """Replace a user's scopes. Their tokens keep only the scopes the user
    still has (checked on each request).

    :raises UnknownUser: if there is no such user.
    :raises InvalidScope: for malformed scopes.
    """
    items = parse_scopes(scopes)
    user = _require_user(session, username)
    user.scopes = format_scopes(items)
    session.flush()
    return user


def deactivate_user(session: Session, username: str) -> User:
    """Deactivate a user: they can no longer log in, and their tokens stop
    working.

    :raises UnknownUser: if there is no such user.
    """
    user = _require_user(session, username)
    user.is_active = False
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def token_digest(token: str) -> str:
    """The stored form of a token: its SHA-256 digest, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_prefix(token: str) -> str | None:
    """The prefix of a well-formed token string, or ``None`` if *token* is
    not one."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    return token[:TOKEN_PREFIX_LENGTH]


def create_token(
    session: Session,
    user: User,
    scopes: str | Iterable[str] | None = None,
    lifetime: timedelta | int | None = None,
) -> tuple[str, Token]:
    """Issue a token to *user*.

    :param scopes: The token's scopes; by default all of the user's. They
        must be covered by the user's scopes (a sub-scope of a granted
        scope is covered; scopes are case-sensitive).
    :param lifetime: How long the token works (a :class:`~datetime.timedelta`
        or seconds); ``None`` for a token that does not expire.
    :returns: ``(token string, Token record)``. The string is not stored:
        give it to the user now.
    :raises InvalidScope: for malformed scopes.
    :raises ScopeNotGranted: for scopes the user does not have.
    """
    granted = user_scopes(user)
    if scopes is None:
        items = granted
    else:
        items = parse_scopes(scopes)
        if not covers(granted, items):
            raise ScopeNotGranted(
                f"User {user.username!r} does not have all of the scopes "
                f"{format_scopes(items)!r}"
            )
    now = utcnow()
    if isinstance(lifetime, int):
        lifetime = timedelta(seconds=lifetime)
    prefix = "".join(secrets.choice(_ALPHANUMERIC) for _ in range(TOKEN_PREFIX_LENGTH))
    token = prefix + secrets.token_urlsafe(32)
    record = Token(
        prefix=prefix,
        token_hash=token_digest(token),
        user_id=user.id,
        scopes=format_scopes(items),
        expires_at=now + lifetime if lifetime is not None else None,
        revoked=False,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return token, record


def _find_token(session: Session, token: str) -> tuple[Token, User] | None:
    """The token record matching the token string, and its user (compared
    in constant time), or ``None``."""
    prefix = token_prefix(token)
    row = None
    digest = ""
    if prefix is not None:
        digest = token_digest(token)
        # Matched on the digest as well: a known prefix with a wrong secret
        # then loads no row, like an unknown prefix, and takes as long
        # (loading the records costs a tenth of a check). Comparing digests
        # in the database tells nothing of the secret.
        row = session.execute(
            select(Token, User)
            .join(User, Token.user_id == User.id)
            .where(Token.prefix == prefix, Token.token_hash == digest)
        ).first()
    stored = row[0].token_hash if row is not None else _DUMMY_DIGEST
    if not hmac.compare_digest(digest.encode("ascii"), stored.encode("ascii")):
        return None
    assert row is not None
    return row[0], row[1]


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of :func:`check_token`."""

    #: Whether the token may be used.
    valid: bool
    #: Why not: ``"unknown"``, ``"revoked"``, ``"expired"`` or
    #: ``"inactive"`` (the user is); ``""`` when valid.
    reason: str = ""
    token: Token | None = None
    user: User | None = None
    #: The token's scopes that its user still has (normalised).
    scopes: frozenset[str] = frozenset()


def check_token(session: Session, token: str, *, touch: bool = True) -> TokenCheck:
    """Check a token string.

    :param touch: Update the token's ``last_used_at`` (at most once every
        :data:`TOUCH_INTERVAL` seconds).
    :returns: A :class:`TokenCheck`. Its scopes are the token's scopes
        still covered by its user's current scopes.
    """
    found = _find_token(session, token)
    if found is None:
        return TokenCheck(False, "unknown")
    record, user = found
    now = utcnow()
    if record.revoked:
        return TokenCheck(False, "revoked", record, user)
    if record.expired(now):
        return TokenCheck(False, "expired", record, user)
    if not user.is_active:
        return TokenCheck(False, "inactive", record, user)
    scopes = effective_scopes(user.scopes, record.scopes)
    if touch and (
        record.last_used_at is None
        or (now - record.last_used_at).total_seconds() >= TOUCH_INTERVAL
    ):
        _touch(session, record, now)
    return TokenCheck(True, "", record, user, scopes)


def _touch(session: Session, record: Token, now: datetime) -> None:
    """Set the token's ``last_used_at``, at once and in a savepoint: it is
    bookkeeping, so a database too busy to take the write (SQLite refuses at
    once to turn a read transaction into a write while another connection
    writes) leaves it as it was instead of failing the request."""
    try:
        with session.begin_nested():
            record.last_used_at = now
            session.flush()
    except OperationalError:
        pass  # the savepoint was rolled back; the next use tries again


def revoke_token(session: Session, token: str) -> Token | None:
    """Revoke a token, given the token string (:rfc:`7009`).

    :returns: The token revoked, or ``None`` if no token matches (which is
        not an error).
    """
    found = _find_token(session, token)
    record = found[0] if found is not None else None
    if record is not None and not record.revoked:
        record.revoked = True
        session.flush()
    return record


def revoke_token_by_prefix(session: Session, prefix: str) -> Token | None:
    """Revoke the token whose prefix is *prefix* (for administrators: the
    prefix is not a secret).

    :returns: The token, or ``None`` if no token has this prefix.
    """
    record = session.scalar(select(Token).where(Token.prefix == prefix))
    if record is not None and not record.revoked:
        record.revoked = True
        session.flush()
    return record


def purge_tokens(session: Session, now: datetime | None = None) -> int:
    """Delete the tokens that are revoked or expired.

    :returns: How many were deleted.
    """
    now = now or utcnow()
    result: Any = session.execute(
        delete(Token).where(
            or_(
                Token.revoked.is_(True),
                Token.expires_at.is_not(None) & (Token.expires_at <= now),
            )
        )
    )
    return int(result.rowcount or 0)


class Authenticator:
    """Password logins, timed alike whatever fails, and throttled.

    One is made per application (see :func:`findig.contrib.auth.install`).

    :param hasher: The password hasher.
    :param throttle: The failed-login throttle.
    """

    def __init__(self, hasher: PasswordHasher, throttle: LoginThrottle) -> None:
        self.hasher = hasher
        self.throttle = throttle

    def __repr__(self) -> str:
        return f"<Authenticator {self.hasher!r} {self.throttle!r}>"

    @staticmethod
    def throttle_key(username: str) -> str:
        """The name failures for *username* are counted under: the
        normalised name (so case and width games count as one user)."""
        try:
            return normalize_username(username)
        except InvalidUsername:
            return "\x00invalid"

    def login(
        self,
        session: Session,
        username: str,
        password: str,
        address: str | None,
        *,
        record_login: bool = True,
    ) -> User:
        """Check a user name and password.

        In order: a password over the length limit is refused
        (:class:`~findig.contrib.auth.hashing.PasswordTooLong`); an attempt
        beyond the throttle's limits is refused
        (:class:`~findig.contrib.auth.throttle.LoginThrottled`, after
        waiting for attempts in flight if only they hold the slots); then
        the password is verified, holding a slot of the throttle, and
        taking the same time for an unknown user, an inactive user and a
        wrong password, which fail alike (:class:`LoginFailed`, recorded by
        the throttle). On success, a deprecated or weaker hash is replaced
        by a fresh one.

        :param address: The client's address (for the throttle).
        :param record_login: Set the user's ``last_login`` (when older than
            a minute, so Basic logins do not write on every request).
        :returns: The user.
        """
        hasher = self.hasher
        if hasher.too_long(password):
            raise PasswordTooLong(
                f"Passwords are at most {hasher.max_length} bytes long (UTF-8)"
            )
        key = self.throttle_key(username)
        # The attempt holds a slot of the throttle while the password is
        # verified, so concurrent attempts cannot exceed its limits.
        with self.throttle.attempt(key, address) as attempt:
            user = None if key.startswith("\x00") else get_user(session, username)
            ok, new_hash = hasher.verify(password, user.password_hash if user else None)
            if not ok or user is None or not user.is_active:
                attempt.failed()
                raise LoginFailed()
        if new_hash is not None:
            user.password_hash = new_hash
        now = utcnow()
        if record_login and (
            user.last_login is None
            or (now - user.last_login).total_seconds() >= TOUCH_INTERVAL
        ):
            user.last_login = now
        return user
