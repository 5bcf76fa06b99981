"""``manage.py`` commands of the auth app: users and tokens.

``createuser USERNAME [--scopes S] [--password-stdin | --no-password]``,
``changepassword USERNAME``, ``setscopes USERNAME [--scopes S]``,
``deactivateuser USERNAME``,
``createtoken USERNAME [--scopes S] [--expires 30d]``,
``revoketoken PREFIX``, ``listusers`` and ``cleartokens``.

No command shows a password hash or a token hash; ``createtoken`` prints
the token itself once, alone on standard output (the details go to
standard error), so ``TOKEN=$(./manage.py createtoken alice)`` works.

This module stays light (it is imported to list ``manage.py``'s commands):
SQLAlchemy and passlib are imported when a command runs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click

__all__ = [
    "changepassword",
    "cleartokens",
    "commands",
    "createtoken",
    "createuser",
    "deactivateuser",
    "listusers",
    "parse_duration",
    "revoketoken",
    "setscopes",
]

_DURATION = re.compile(r"(\d+)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta | None:
    """Parse a token lifetime: seconds, or a number with a unit (``s``,
    ``m``, ``h``, ``d``, ``w``), or ``never``.

    >>> parse_duration("30d")
    datetime.timedelta(days=30)
    >>> parse_duration("never") is None
    True

    :raises click.BadParameter: for anything else.
    """
    value = text.strip().lower()
    if value in ("never", "none", "0"):
        return None
    match = _DURATION.fullmatch(value)
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a duration: use seconds, or a number followed by "
            "s, m, h, d or w (30d), or 'never'",
            param_hint="--expires",
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > 100 * 365 * 86400:
        raise click.BadParameter("at most 100 years", param_hint="--expires")
    return timedelta(seconds=seconds)


def _hasher() -> Any:
    from .store import default_hasher

    return default_hasher()


@contextmanager
def _session() -> Iterator[Any]:
    """A transaction on the project's database, with the store's errors
    turned into clear command errors."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from findig.project.db import session_scope

    from .hashing import PasswordTooLong
    from .store import ScopeNotGranted, UnknownUser, UserExists
    from .validation import InvalidScope, InvalidUsername

    try:
        with session_scope() as session:
            yield session
    except (UserExists, UnknownUser, InvalidUsername, InvalidScope) as exc:
        raise click.ClickException(str(exc)) from None
    except (ScopeNotGranted, PasswordTooLong) as exc:
        raise click.ClickException(str(exc)) from None
    except (OperationalError, ProgrammingError) as exc:
        raise click.ClickException(
            f"The user store is unavailable ({type(exc.orig).__name__}): did you "
            "run `manage.py migrate`?"
        ) from None


def _read_password(password_stdin: bool, confirm: bool = True) -> str:
    if password_stdin:
        password = sys.stdin.readline()
        password = password[:-1] if password.endswith("\n") else password
        password = password[:-1] if password.endswith("\r") else password
    else:
        password = click.prompt(
            "Password", hide_input=True, confirmation_prompt=confirm
        )
    if not password:
        raise click.ClickException("The password cannot be empty")
    return password


def _scopes(values: tuple[str, ...]) -> str:
    return " ".join(values)


@click.command()
@click.argument("username")
@click.option(
    "--scopes",
    "-s",
    multiple=True,
    help="Scopes to grant (space- or comma-separated; repeatable), e.g. "
    "'tasks+crud user+r'.",
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input.",
)
@click.option(
    "--no-password",
    is_flag=True,
    help="Create the user without a usable password (tokens only).",
)
def createuser(
    username: str, scopes: tuple[str, ...], password_stdin: bool, no_password: bool
) -> None:
    """Create a user USERNAME; asks for the password (twice) unless
    --password-stdin or --no-password."""
    from .store import create_user
    from .validation import normalize_username, parse_scopes

    if password_stdin and no_password:
        raise click.UsageError("--password-stdin and --no-password exclude each other")
    try:
        normalize_username(username)
        parse_scopes(_scopes(scopes))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    password = None if no_password else _read_password(password_stdin)
    hasher = _hasher()
    with _session() as session:
        user = create_user(session, username, password, _scopes(scopes), hasher=hasher)
        name, granted = user.username, user.scopes
    click.echo(
        f"Created user {name!r}" + (f" with scopes {granted!r}" if granted else "")
    )


@click.command()
@click.argument("username")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the new password from the first line of standard input.",
)
def changepassword(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME (asked twice unless --password-stdin)."""
    from .store import get_user, set_password

    with _session() as session:
        if get_user(session, username) is None:
            raise click.ClickException(f"No user named {username!r}")
    password = _read_password(password_stdin)
    hasher = _hasher()
    with _session() as session:
        user = set_password(session, username, password, hasher=hasher)
        name = user.username
    click.echo(f"Password changed for {name!r}")


@click.command()
@click.argument("username")
@click.option(
    "--scopes",
    "-s",
    multiple=True,
    help="The scopes to grant instead of the current ones (none: remove all).",
)
def setscopes(username: str, scopes: tuple[str, ...]) -> None:
    """Replace the scopes of USERNAME (their tokens lose what they lose)."""
    from .store import set_scopes

    with _session() as session:
        user = set_scopes(session, username, _scopes(scopes))
        name, granted = user.username, user.scopes
    click.echo(f"Scopes of {name!r}: {granted or '(none)'}")


@click.command()
@click.argument("username")
def deactivateuser(username: str) -> None:
    """Deactivate USERNAME: no more logins, and their tokens stop working."""
    from .store import deactivate_user

    with _session() as session:
        name = deactivate_user(session, username).username
    click.echo(f"Deactivated user {name!r}")


@click.command()
@click.argument("username")
@click.option(
    "--scopes",
    "-s",
    multiple=True,
    help="The token's scopes (default: all of the user's); they must be "
    "covered by the user's.",
)
@click.option(
    "--expires",
    default="30d",
    show_default=True,
    help="Lifetime: seconds, or a number with s/m/h/d/w, or 'never'.",
)
def createtoken(username: str, scopes: tuple[str, ...], expires: str) -> None:
    """Create a bearer token for USERNAME and print it (only this once)."""
    from .store import UnknownUser, create_token, get_user

    lifetime = parse_duration(expires)
    with _session() as session:
        user = get_user(session, username)
        if user is None:
            raise UnknownUser(f"No user named {username!r}")
        if not user.is_active:
            raise click.ClickException(f"User {user.username!r} is inactive")
        token, record = create_token(
            session, user, _scopes(scopes) if scopes else None, lifetime
        )
        prefix, granted, expires_at = record.prefix, record.scopes, record.expires_at
    until = expires_at.isoformat(timespec="seconds") if expires_at else "never"
    click.echo(
        f"Token {prefix} for {user.username!r}, scopes {granted!r}, expires "
        f"{until}. Store it now: it cannot be shown again.",
        err=True,
    )
    click.echo(token)


@click.command()
@click.argument("prefix")
def revoketoken(prefix: str) -> None:
    """Revoke the token whose prefix (its first 10 characters) is PREFIX."""
    from .store import TOKEN_PREFIX_LENGTH, revoke_token_by_prefix

    prefix = prefix[:TOKEN_PREFIX_LENGTH]
    with _session() as session:
        record = revoke_token_by_prefix(session, prefix)
        if record is None:
            raise click.ClickException(f"No token with prefix {prefix!r}")
    click.echo(f"Revoked token {prefix}")


@click.command()
def listusers() -> None:
    """List the users: name, state, scopes, last login and live tokens."""
    from sqlalchemy import func, select

    from .models import Token, User, utcnow

    with _session() as session:
        now = utcnow()
        live = dict(
            session.execute(
                select(Token.user_id, func.count(Token.id))
                .where(
                    Token.revoked.is_(False),
                    Token.expires_at.is_(None) | (Token.expires_at > now),
                )
                .group_by(Token.user_id)
            ).all()
        )
        rows = [
            (
                user.username,
                "active" if user.is_active else "inactive",
                user.scopes or "-",
                user.last_login.isoformat(timespec="seconds")
                if user.last_login
                else "never",
                str(live.get(user.id, 0)),
            )
            for user in session.scalars(select(User).order_by(User.username))
        ]
    if not rows:
        click.echo("No users.")
        return
    table = [("USERNAME", "STATE", "SCOPES", "LAST LOGIN", "TOKENS"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[4]]))


@click.command()
def cleartokens() -> None:
    """Delete the tokens that are expired or revoked."""
    from .store import purge_tokens

    with _session() as session:
        count = purge_tokens(session)
    click.echo(f"Deleted {count} token(s)")


#: The commands added to ``manage.py``.
commands = [
    createuser,
    changepassword,
    setscopes,
    deactivateuser,
    createtoken,
    revoketoken,
    listusers,
    cleartokens,
]
