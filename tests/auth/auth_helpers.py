"""Helpers of the auth app's tests: headers, HTTP calls to a served project,
and a test project (the auth app plus ``authtest_app``) with helpers to add
users and tokens."""

from __future__ import annotations

import base64
import http.client
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

from werkzeug.test import Client

from findig.project.conf import settings

#: Cheap argon2 parameters (the defaults take ~0.2 s per hash here).
FAST_HASH = {"argon2__memory_cost": 1024, "argon2__rounds": 1, "argon2__parallelism": 1}


def basic(username: str, password: str) -> dict[str, str]:
    """An Authorization header for HTTP Basic."""
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(token: str) -> dict[str, str]:
    """An Authorization header for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def http_call(
    port: int,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request to a server on 127.0.0.1: its status, headers and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            method, path, body=body, headers={"Connection": "close", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class AuthProject:
    """A test project on one database."""

    def __init__(self, url: str, stack: ExitStack) -> None:
        self.url = url
        self._stack = stack

    def configure(self, **values: Any) -> None:
        """Override settings until the test ends (before building apps)."""
        self._stack.enter_context(settings.override(**values))

    def app(self) -> Any:
        from findig.project.wsgi import get_wsgi_application

        return get_wsgi_application()

    def client(self, app: Any = None) -> Client:
        return Client(app if app is not None else self.app())

    def session(self) -> Any:
        from findig.project.db import session_scope

        return session_scope()

    def user(
        self,
        name: str,
        password: str | None = "correct horse",
        scopes: str = "",
        active: bool = True,
    ) -> None:
        from findig.contrib.auth import store

        with self.session() as session:
            store.create_user(session, name, password, scopes, is_active=active)

    def token(self, name: str, scopes: str | None = None, lifetime: Any = None) -> str:
        from findig.contrib.auth import store

        if isinstance(lifetime, (int, float)):
            lifetime = timedelta(seconds=lifetime)
        with self.session() as session:
            user = store.get_user(session, name)
            assert user is not None
            token, _ = store.create_token(session, user, scopes, lifetime)
        return token

    def get_user(self, name: str) -> Any:
        from findig.contrib.auth import store

        with self.session() as session:
            return store.get_user(session, name)
