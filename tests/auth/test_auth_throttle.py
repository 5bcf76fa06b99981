"""Brute-force protection: failed logins limited per user name and per
client address, in memory, in Redis, and across gunicorn workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _support import REDIS_URL, free_port
from werkzeug.exceptions import ServiceUnavailable

from findig.contrib.auth.throttle import LoginThrottle, LoginThrottled

from .auth_helpers import basic, http_call

HERE = Path(__file__).resolve().parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


def _grant(username="alice", password="wrong"):
    return {"grant_type": "password", "username": username, "password": password}


def test_failures_per_user_name(project):
    project.configure(LOGIN_MAX_ATTEMPTS=3, LOGIN_WINDOW=120)
    project.user("alice", "right", scopes="things+r")
    project.user("bob", "right", scopes="things+r")
    client = project.client()
    statuses = [client.post("/auth/token", data=_grant()).status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
    for name, password in [("alice", "wrong"), ("alice", "right"), ("ALICE", "right")]:
        response = client.post("/auth/token", data=_grant(name, password))
        assert response.status_code == 429, name
        assert response.headers["Retry-After"] == "120"
        assert response.json["error"] == "slow_down"
        assert "access_token" not in response.json
    # Basic logins of that user name are refused too, before any check.
    response = client.get("/things/1", headers=basic("alice", "right"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "120"
    # Other users are not affected; their successes are never counted.
    for _ in range(5):
        response = client.post("/auth/token", data=_grant("bob", "right"))
        assert response.status_code == 200
    # Tokens issued before keep working.
    assert client.post("/auth/token", data=_grant("bob", "wrong")).status_code == 400


def test_basic_failures_count(project):
    project.configure(LOGIN_MAX_ATTEMPTS=2, LOGIN_WINDOW=60)
    project.user("alice", "right", scopes="things+r")
    client = project.client()
    assert client.get("/things/1", headers=basic("alice", "x")).status_code == 401
    assert client.post("/auth/token", data=_grant()).status_code == 400
    response = client.get("/things/1", headers=basic("alice", "right"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    assert response.json["message"]


def test_failures_per_address(project):
    project.configure(LOGIN_MAX_ATTEMPTS=10, LOGIN_MAX_ATTEMPTS_PER_ADDRESS=4)
    project.user("alice", "right", scopes="things+r")
    client = project.client()
    attacker = {"REMOTE_ADDR": "192.0.2.66"}
    for index in range(4):
        response = client.post(
            "/auth/token", data=_grant(f"user{index}"), environ_overrides=attacker
        )
        assert response.status_code == 400
    response = client.post(
        "/auth/token", data=_grant("alice", "right"), environ_overrides=attacker
    )
    assert response.status_code == 429
    response = client.post(
        "/auth/token",
        data=_grant("alice", "right"),
        environ_overrides={"REMOTE_ADDR": "192.0.2.1"},
    )
    assert response.status_code == 200


def test_the_window_passes(project):
    project.configure(LOGIN_MAX_ATTEMPTS=1, LOGIN_WINDOW=1)
    project.user("alice", "right", scopes="things+r")
    client = project.client()
    assert client.post("/auth/token", data=_grant()).status_code == 400
    assert client.post("/auth/token", data=_grant()).status_code == 429
    time.sleep(1.1)
    assert client.post("/auth/token", data=_grant("alice", "right")).status_code == 200


def test_overlong_and_unknown_names_are_throttled_too(project):
    project.configure(LOGIN_MAX_ATTEMPTS=2)
    client = project.client()
    for _ in range(2):
        assert client.post("/auth/token", data=_grant("x" * 700)).status_code == 400
    assert client.post("/auth/token", data=_grant("y" * 700)).status_code == 429
    assert client.post("/auth/token", data=_grant("ghost")).status_code == 400


def test_redis_counts_across_applications(project, redis_client, redis_prefix):
    project.configure(
        REDIS_URL=REDIS_URL,
        LOGIN_THROTTLE_PREFIX=redis_prefix,
        LOGIN_MAX_ATTEMPTS=3,
        LOGIN_WINDOW=30,
    )
    project.user("alice", "right", scopes="things+r")
    first, second = project.client(), project.client()  # two "processes"
    statuses = [
        client.post("/auth/token", data=_grant()).status_code
        for client in (first, second, first, second, first)
    ]
    assert statuses == [400, 400, 400, 429, 429]
    assert list(redis_client.scan_iter(match=f"{redis_prefix}*"))


def test_redis_down_fails_closed_or_open(project):
    port = free_port()
    project.configure(REDIS_URL=f"redis://127.0.0.1:{port}/0")
    project.user("alice", "right", scopes="things+r")
    response = project.client().post("/auth/token", data=_grant("alice", "right"))
    assert response.status_code == 503
    project.configure(LOGIN_THROTTLE_FAIL_OPEN=True)
    response = project.client().post("/auth/token", data=_grant("alice", "right"))
    assert response.status_code == 200


def test_check_deploy_warns_about_per_process_counts(project):
    from findig.project.cli.check import run_checks

    texts = [m.text for m in run_checks(deploy=True, workers=2)]
    assert any("failed logins are counted per process" in t for t in texts), texts
    project.configure(REDIS_URL=REDIS_URL)
    texts = [m.text for m in run_checks(deploy=True, workers=2)]
    assert not any("failed logins" in t for t in texts), texts


# -- the throttle itself: exact under concurrency -------------------------------

#: How long the fake verification of the threaded tests takes (argon2 takes
#: about 150 ms): long enough for every thread to arrive while it runs.
VERIFY = 0.05


@pytest.fixture(params=["memory", "redis"])
def make_throttle(request: pytest.FixtureRequest) -> Callable[..., LoginThrottle]:
    """Makes throttles on the storage of the parameter; those on Redis share
    a key prefix of the test's own, as the worker processes of a
    deployment would."""
    if request.param == "memory":
        return LoginThrottle
    prefix = request.getfixturevalue("redis_prefix")
    return lambda *args, **kwargs: LoginThrottle(
        *args, redis_url=REDIS_URL, prefix=prefix, **kwargs
    )


def _storm(
    throttles: list[LoginThrottle],
    attempts: int,
    user: Callable[[int], str],
    address: Callable[[int], str],
    fail: bool = True,
) -> tuple[int, int, int]:
    """*attempts* logins at once, on each of *throttles* in turn, each
    verifying for :data:`VERIFY` seconds: how many were verified, refused,
    and the most verified at once."""
    barrier = threading.Barrier(attempts)
    lock = threading.Lock()
    state = {"verified": 0, "running": 0, "most": 0}

    def one(index: int) -> bool:
        barrier.wait(timeout=10)
        try:
            throttle = throttles[index % len(throttles)]
            with throttle.attempt(user(index), address(index)) as attempt:
                with lock:
                    state["verified"] += 1
                    state["running"] += 1
                    state["most"] = max(state["most"], state["running"])
                time.sleep(VERIFY)
                with lock:
                    state["running"] -= 1
                if fail:
                    attempt.failed()
        except LoginThrottled as exc:
            assert exc.seconds == throttle.window
            return False
        return True

    with ThreadPoolExecutor(attempts) as pool:
        passed = sum(pool.map(one, range(attempts)))
    assert passed == state["verified"]
    return state["verified"], attempts - passed, state["most"]


def test_exactly_the_limit_per_user_is_verified(make_throttle):
    throttle = make_throttle(5, 1000, 60)
    verified, refused, _ = _storm(
        [throttle], 32, lambda i: "alice", lambda i: f"192.0.2.{i}"
    )
    assert (verified, refused) == (5, 27)
    assert throttle.failures(user="alice") == 5
    with pytest.raises(LoginThrottled) as info:  # refused at once now
        throttle.attempt("alice", "192.0.2.200").__enter__()
    assert info.value.seconds == 60


def test_exactly_the_limit_per_address_is_verified(make_throttle):
    throttle = make_throttle(5, 4, 60)
    verified, refused, _ = _storm(
        [throttle], 32, lambda i: f"user{i}", lambda i: "192.0.2.66"
    )
    assert (verified, refused) == (4, 28)
    assert throttle.failures(address="192.0.2.66") == 4
    # Another address is not affected.
    with throttle.attempt("carol", "192.0.2.1") as attempt:
        attempt.failed()
    assert throttle.failures(address="192.0.2.1") == 1


def test_two_throttles_on_redis_share_the_limit(redis_prefix):
    # Two processes (two throttles on one Redis), 16 attempts each at once.
    first, second = (
        LoginThrottle(3, 1000, 60, redis_url=REDIS_URL, prefix=redis_prefix)
        for _ in range(2)
    )
    verified, refused, _ = _storm(
        [first, second], 32, lambda i: "alice", lambda i: f"192.0.2.{i}"
    )
    assert (verified, refused) == (3, 29)
    assert first.failures(user="alice") == second.failures(user="alice") == 3


def test_successful_logins_wait_for_a_slot_and_are_never_refused(make_throttle):
    throttle = make_throttle(3, 1000, 60)
    verified, refused, most = _storm(
        [throttle], 24, lambda i: "alice", lambda i: "192.0.2.1", fail=False
    )
    assert (verified, refused) == (24, 0)
    assert most == 3  # serialised down to the limit, in parallel
    assert throttle.failures(user="alice") == 0
    assert throttle.failures(address="192.0.2.1") == 0


def test_an_error_releases_the_slot(make_throttle):
    throttle = make_throttle(2, 1000, 60, wait=0.5)
    for _ in range(5):
        with pytest.raises(RuntimeError):
            with throttle.attempt("alice", "192.0.2.1"):
                raise RuntimeError("the database is down")
    assert throttle.failures(user="alice") == 0
    with throttle.attempt("alice", "192.0.2.1") as attempt:
        attempt.failed()
    assert throttle.failures(user="alice") == 1


def test_waiting_for_a_slot_then_429(make_throttle):
    throttle = make_throttle(2, 1000, 60, wait=0.3)
    holding = throttle.attempt("alice", "192.0.2.1").__enter__()
    other = throttle.attempt("alice", "192.0.2.2").__enter__()
    started = time.monotonic()
    with pytest.raises(LoginThrottled) as info:
        throttle.attempt("alice", "192.0.2.3").__enter__()
    assert time.monotonic() - started >= 0.3  # it waited
    assert info.value.seconds == 1  # busy, not failed: try again soon
    # A slot freed while waiting is taken.
    timer = threading.Timer(0.1, other.__exit__, (None, None, None))
    timer.start()
    with throttle.attempt("alice", "192.0.2.3") as attempt:
        attempt.failed()
    timer.join()
    holding.failed()
    holding.__exit__(None, None, None)
    # Failures alone at the limit: refused at once, for the window.
    started = time.monotonic()
    with pytest.raises(LoginThrottled) as info:
        throttle.attempt("alice", "192.0.2.3").__enter__()
    assert time.monotonic() - started < 0.3
    assert info.value.seconds == 60


def test_reservations_in_redis_expire(redis_client, redis_prefix):
    # A worker killed while verifying: its reservation is never settled.
    killed = LoginThrottle(
        1, 1000, 60, redis_url=REDIS_URL, prefix=redis_prefix, lease=0.3
    )
    killed.attempt("alice", "192.0.2.1").__enter__()
    survivor = LoginThrottle(1, 1000, 60, redis_url=REDIS_URL, prefix=redis_prefix)
    started = time.monotonic()
    with survivor.attempt("alice", "192.0.2.2") as attempt:
        attempt.failed()
    assert 0.2 <= time.monotonic() - started < survivor.wait
    assert survivor.failures(user="alice") == 1


def test_redis_keys_expire_when_idle(redis_client, redis_prefix):
    throttle = LoginThrottle(3, 1000, 60, redis_url=REDIS_URL, prefix=redis_prefix)
    attempt = throttle.attempt("alice", "192.0.2.1").__enter__()
    pending = {
        key: redis_client.pttl(key)
        for key in redis_client.scan_iter(match=f"{redis_prefix}*")
    }
    assert len(pending) == 2, pending  # the user's and the address's
    assert all(0 < ttl <= 30_000 for ttl in pending.values()), pending
    attempt.failed()
    attempt.__exit__(None, None, None)
    keys = list(redis_client.scan_iter(match=f"{redis_prefix}*"))
    assert len(keys) == 2, keys  # the failures; the reservations are gone
    assert all(0 < redis_client.pttl(key) <= 60_000 for key in keys)
    with throttle.attempt("bob", "192.0.2.2"):
        pass  # a success leaves nothing behind
    assert len(list(redis_client.scan_iter(match=f"{redis_prefix}*"))) == 2


def test_memory_entries_of_idle_names_are_dropped():
    throttle = LoginThrottle(3, 1000, 1)
    storage: Any = throttle._storage
    for index in range(50):
        with throttle.attempt(f"user{index}", f"192.0.2.{index}") as attempt:
            attempt.failed()
        with throttle.attempt(f"ok{index}", "192.0.2.1"):
            pass
    assert len(storage._entries) == 100  # the failures, in the window
    time.sleep(1.05)
    with throttle.attempt("ok", "192.0.2.1"):
        pass
    assert storage._entries == {}


def test_redis_down_fails_closed_or_open_at_once(redis_prefix):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    closed = LoginThrottle(1, 1, 60, redis_url=url, prefix=redis_prefix)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        closed.attempt("alice", "192.0.2.1").__enter__()
    assert time.monotonic() - started < 2  # short timeouts, no retries
    opened = LoginThrottle(1, 1, 60, redis_url=url, prefix=redis_prefix, fail_open=True)
    for _ in range(3):  # unthrottled, nothing counted
        with opened.attempt("alice", "192.0.2.1") as attempt:
            attempt.failed()
    assert opened.failures(user="alice") == 0


# -- gunicorn ------------------------------------------------------------------


def test_gunicorn_two_workers_share_the_limit(
    project, redis_client, redis_prefix, tmp_path
):
    if not GUNICORN.exists():
        pytest.skip("gunicorn is not installed in the virtualenv")
    project.user("alice", "right", scopes="things+r")
    port = free_port()
    access_log = tmp_path / "access.log"
    env = {
        **os.environ,
        "FINDIG_SETTINGS_MODULE": "authtest_settings",
        "PYTHONPATH": os.pathsep.join(
            [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "FINDIG_DATABASE_URL": project.url,
        "FINDIG_REDIS_URL": REDIS_URL,
        "FINDIG_LOGIN_THROTTLE_PREFIX": redis_prefix,
        "FINDIG_LOGIN_MAX_ATTEMPTS": "3",
        "FINDIG_LOGIN_WINDOW": "120",
        "FINDIG_LOG_LEVEL": "WARNING",
    }
    # --max-requests 1: every request is served by a worker process that has
    # served no other, so only counts shared through Redis can hold.
    server = subprocess.Popen(
        [
            str(GUNICORN),
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--preload",
            "--max-requests",
            "1",
            "--timeout",
            "30",
            "--graceful-timeout",
            "2",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(m)s %(U)s %(s)s",
            "findig.project.wsgi:application",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, _ = http_call(port, "GET", "/things/pid")
                if status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "gunicorn did not start: " + server.stderr.read().decode()[-2000:]
                )
            time.sleep(0.1)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        answers = []
        for password in ["w1", "w2", "w3", "w4", "right"]:
            answers.append(
                http_call(
                    port,
                    "POST",
                    "/auth/token",
                    f"grant_type=password&username=alice&password={password}",
                    form,
                )
            )
        status, headers, body = http_call(
            port, "GET", "/things/1", headers=basic("alice", "right")
        )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
        assert server.stderr is not None
        server.stderr.close()
    assert [a[0] for a in answers] == [400, 400, 400, 429, 429]
    assert [json.loads(a[2])["error"] for a in answers] == [
        "invalid_grant",
        "invalid_grant",
        "invalid_grant",
        "slow_down",
        "slow_down",
    ]
    assert answers[3][1]["Retry-After"] == "120"
    assert status == 429 and headers["Retry-After"] == "120"
    served = [
        line.split()
        for line in access_log.read_text().splitlines()
        if " /auth/token " in line
    ]
    assert len(served) == 5
    pids = {line[0] for line in served}
    assert len(pids) >= 2, served  # the attempts were served by several workers
