"""Helpers for the tests of a project protected by the auth app.

For example::

    from findig.contrib.auth.testing import auth_headers

    def test_list(client, db):
        response = client.get("/tasks/", headers=auth_headers("tasks+r"))
        assert response.status_code == 200
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["auth_headers", "make_token"]


def make_token(
    scopes: str = "", username: str = "tester", lifetime: int | None = 3600
) -> str:
    """Create (or reuse) a user without a password whose scopes include
    *scopes*, and issue a token with exactly *scopes*.

    It uses :func:`findig.project.db.session_scope`, so in a test it writes
    to the test's database (the pytest plugin's ``db`` fixture).

    :param scopes: The token's scopes (``"tasks+crud"``).
    :param username: The user's name.
    :param lifetime: The token's lifetime in seconds (``None``: no expiry).
    :returns: The token string.
    """
    from findig.project.db import session_scope

    from . import store
    from .validation import format_scopes, parse_scopes

    with session_scope() as session:
        user = store.get_user(session, username)
        if user is None:
            user = store.create_user(session, username, None, scopes)
        else:
            wanted = parse_scopes(scopes) | store.user_scopes(user)
            store.set_scopes(session, username, format_scopes(wanted))
        token, _ = store.create_token(
            session,
            user,
            scopes,
            timedelta(seconds=lifetime) if lifetime is not None else None,
        )
    return token


def auth_headers(scopes: str = "", username: str = "tester") -> dict[str, str]:
    """An ``Authorization`` header with a fresh bearer token (see
    :func:`make_token`).

    :param scopes: The token's scopes.
    :param username: The user's name.
    """
    return {"Authorization": f"Bearer {make_token(scopes, username)}"}
