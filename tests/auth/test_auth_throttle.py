"""Brute-force protection: failed logins limited per user name and per
client address, in memory, in Redis, and across gunicorn workers."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .auth_helpers import basic

HERE = Path(__file__).resolve().parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
REDIS_URL = os.environ.get("FINDIG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
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


# -- gunicorn ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            method, path, body=body, headers={"Connection": "close", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_gunicorn_two_workers_share_the_limit(
    project, redis_client, redis_prefix, tmp_path
):
    if not GUNICORN.exists():
        pytest.skip("gunicorn is not installed in the virtualenv")
    project.user("alice", "right", scopes="things+r")
    port = _free_port()
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
                status, _, _ = _request(port, "GET", "/things/pid")
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
                _request(
                    port,
                    "POST",
                    "/auth/token",
                    f"grant_type=password&username=alice&password={password}",
                    form,
                )
            )
        status, headers, body = _request(
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
