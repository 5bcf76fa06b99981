"""Attacks on the built-in user store (findig.contrib.auth) of the example
project: concurrent brute force against the Redis login throttle across
two gunicorn workers, replay of revoked and expired tokens, and a scope
escalation matrix. Header helpers come from the auth app's own tests.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from auth.auth_helpers import basic, bearer

from .rel_fixtures import PrivateRedis, Taskman, http_request, redis_fixture

pytest.importorskip("sqlalchemy")
pytest.importorskip("passlib")

private_redis = redis_fixture()

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
LIMIT = 5


@pytest.fixture
def project(tmp_path: Path) -> Taskman:
    return Taskman(f"sqlite:///{tmp_path / 'taskman.sqlite3'}").prepare(
        {"alice": "tasks+crud", "bob": "tasks+r"}
    )


def _grant(username: str, password: str, **extra: str) -> str:
    return urlencode(
        {"grant_type": "password", "username": username, "password": password, **extra}
    )


def test_concurrent_brute_force_is_throttled(
    tmp_path: Path, project: Taskman, private_redis: PrivateRedis
) -> None:
    attempts = 60
    server = project.gunicorn(
        log=tmp_path / "gunicorn.log",
        FINDIG_REDIS_URL=private_redis.url,
        FINDIG_LOGIN_MAX_ATTEMPTS=str(LIMIT),
        FINDIG_LOGIN_MAX_ATTEMPTS_PER_ADDRESS="1000",
        FINDIG_LOGIN_WINDOW="300",
    )
    barrier = threading.Barrier(16)

    def attempt(n: int) -> int:
        if n < 16:
            barrier.wait(timeout=30)  # the first wave starts at once
        answer = http_request(
            server.port, "POST", "/auth/token", _grant("alice", f"guess{n}"), FORM
        )
        return answer.status

    with server:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(attempt, range(attempts)))
        # The right password is refused too, now, and so is Basic.
        right = http_request(
            server.port, "POST", "/auth/token", _grant("alice", "pw-alice"), FORM
        )
        via_basic = http_request(
            server.port, "GET", "/tasks/", headers=basic("alice", "pw-alice")
        )
        other = http_request(
            server.port, "POST", "/auth/token", _grant("bob", "pw-bob"), FORM
        )
    checked = statuses.count(400)
    assert statuses.count(429) + checked == attempts, statuses
    # Exactly the limit is checked: gunicorn serves 8 requests at once (2
    # workers x 4 threads), but each attempt reserves its slot before
    # verifying, atomically in Redis (see findig.contrib.auth.throttle).
    assert checked == LIMIT, statuses
    print(f"brute force: {checked} of {attempts} concurrent attempts checked")
    assert right.status == 429 and right.header("Retry-After") == "300"
    assert json.loads(right.body)["error"] == "slow_down"
    assert via_basic.status == 429
    assert other.status == 200


def _token(port: int, user: str = "alice", **extra: str) -> str:
    answer = http_request(
        port, "POST", "/auth/token", _grant(user, f"pw-{user}", **extra), FORM
    )
    assert answer.status == 200, answer.body
    return str(json.loads(answer.body)["access_token"])


def test_token_replay_after_revoke_and_expiry(tmp_path: Path, project: Taskman) -> None:
    server = project.gunicorn(
        log=tmp_path / "gunicorn.log", FINDIG_AUTH_TOKEN_LIFETIME="2"
    )
    with server:
        token = _token(server.port)
        short = _token(server.port)
        for _ in range(6):  # both workers accept them
            assert (
                http_request(
                    server.port, "GET", "/tasks/", headers=bearer(token)
                ).status
                == 200
            )
        answer = http_request(
            server.port, "POST", "/auth/revoke", urlencode({"token": token}), FORM
        )
        assert answer.status == 200
        # Revoked: refused by every worker at once (no cache to outlive it).
        for _ in range(10):
            answer = http_request(server.port, "GET", "/tasks/", headers=bearer(token))
            assert answer.status == 401
            assert 'error="invalid_token"' in (answer.header("WWW-Authenticate") or "")
        # Expired: refused after its lifetime, without being revoked.
        time.sleep(2.2)
        for _ in range(6):
            answer = http_request(server.port, "GET", "/tasks/", headers=bearer(short))
            assert answer.status == 401
        # A replayed token cannot be revoked "back" or refreshed either.
        answer = http_request(
            server.port, "POST", "/auth/revoke", urlencode({"token": token}), FORM
        )
        assert answer.status == 200
        assert (
            http_request(server.port, "GET", "/tasks/", headers=bearer(token)).status
            == 401
        )


# -- scope escalation ----------------------------------------------------------------

METHODS = {
    "GET": ("get", "/tasks/", None),
    "POST": ("post", "/tasks/", {"title": "t", "due": "2030-01-01"}),
    "PUT": ("put", "/tasks/1", {"title": "t2", "due": "2030-01-02"}),
    "PATCH": ("patch", "/tasks/1", {"done": True}),
    "DELETE": ("delete", "/tasks/1", None),
}
ALL = set(METHODS)

# The scopes the user holds, the scope asked for the token (None: all), and
# the methods on /tasks the token must allow (every other one: 403, and the
# data unchanged).
ESCALATIONS = [
    ("tasks+crud", None, ALL),
    ("tasks+crud", "tasks+r", {"GET"}),
    ("tasks+crud", "tasks+c", {"POST"}),
    ("tasks+crud", "tasks+u", {"PATCH"}),
    ("tasks+crud", "tasks+cu", {"POST", "PUT", "PATCH"}),
    ("tasks+crud", "tasks+d", {"DELETE"}),
    ("tasks+r", None, {"GET"}),
    ("tasks+rd", None, {"GET", "DELETE"}),
    ("tasks/archive+crud", None, set()),  # a sub-scope never grants its parent
    ("tasksx+crud", None, set()),
    ("Tasks+crud", None, set()),
    ("task+crud", None, set()),
    ("admin+crud", None, set()),
    ("", None, set()),
]


@pytest.mark.parametrize(("held", "asked", "allowed"), ESCALATIONS)
def test_scope_escalation_matrix(
    project: Taskman, held: str, asked: str | None, allowed: set[str]
) -> None:
    from findig.contrib.auth import store
    from findig.project.db import dispose_engines, session_scope
    from findig.project.wsgi import get_wsgi_application

    with project.settings():
        with session_scope() as session:
            store.create_user(session, "mallory", "pw-mallory", held)
        from werkzeug.test import Client

        client = Client(get_wsgi_application())
        form = {
            "grant_type": "password",
            "username": "mallory",
            "password": "pw-mallory",
        }
        if asked is not None:
            form["scope"] = asked
        response = client.post("/auth/token", data=form)
        assert response.status_code == 200, response.data
        token = response.json["access_token"]
        # Asking for more than held is refused outright.
        wider = ["root+crud", "tasks+r root+r", "tasks/x+crud root"]
        if held != "tasks+crud":
            wider += ["tasks+crud", "tasks+r tasks+d" if "d" not in held else "tasks+c"]
        for scope in wider:
            widened = client.post("/auth/token", data={**form, "scope": scope})
            assert widened.status_code == 400, (scope, widened.data)
            assert widened.json["error"] == "invalid_scope"
        # Every method: allowed ones work on mallory's own task, the others
        # are 403 (authenticated, without the scope).
        alice = client.post(
            "/tasks/",
            json={"title": "alice's", "due": "2030-01-01"},
            headers=bearer(project.tokens["alice"]),
        )
        assert alice.status_code == 201
        for method, (verb, path, body) in METHODS.items():
            kwargs: dict[str, Any] = {"headers": bearer(token)}
            if body is not None:
                kwargs["json"] = body
            if path == "/tasks/1":
                # mallory's own task, made with a full-scope token of hers
                path = f"/tasks/{alice.json['id']}"
            answer = getattr(client, verb)(path, **kwargs)
            if method in allowed:
                # Allowed by scope; alice's task is still not mallory's: 404.
                assert answer.status_code in (200, 201, 404), (method, answer.data)
            else:
                assert answer.status_code == 403, (method, answer.data)
        # alice's task is untouched by anything mallory did.
        mine = client.get(
            f"/tasks/{alice.json['id']}", headers=bearer(project.tokens["alice"])
        )
        assert mine.status_code == 200
        assert mine.json["title"] == "alice's" and mine.json["done"] is False
        dispose_engines()
