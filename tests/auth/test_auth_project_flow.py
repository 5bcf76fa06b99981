"""The whole flow through a generated project, in real processes:
``findig startproject`` → ``manage.py migrate`` → ``manage.py createuser``
→ gunicorn → a token from ``/auth/token`` → the app's resources."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _support import free_port

from .auth_helpers import FAST_HASH, http_call

BIN = Path(sys.executable).parent


def _request(port, method, path, body=None, headers=None):
    status, _, data = http_call(port, method, path, body, headers)
    return status, json.loads(data) if data else None


def test_generated_project(tmp_path):
    if not (BIN / "gunicorn").exists() or not (BIN / "findig").exists():
        pytest.skip("gunicorn or the findig script is missing from the virtualenv")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FINDIG_") or key.startswith("FINDIG_TEST_")
    }
    env.update(
        FINDIG_SECRET_KEY="flow-" + "k" * 40,
        FINDIG_PASSWORD_HASH_OPTIONS=json.dumps(FAST_HASH),
        FINDIG_LOG_LEVEL="WARNING",
    )
    root = tmp_path / "mysite"

    def run(*args: str, input: str | None = None) -> str:
        done = subprocess.run(
            args,
            cwd=root if root.exists() else tmp_path,
            env=env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run(str(BIN / "findig"), "startproject", "mysite", str(root))
    settings_text = (root / "mysite" / "settings.py").read_text()
    assert '"findig.contrib.auth"' in settings_text
    manage = [sys.executable, "manage.py"]
    run(*manage, "migrate")
    run(
        *manage,
        "createuser",
        "Alice",
        "--password-stdin",
        "--scopes",
        "items+crud",
        input="open sesame\n",
    )
    routes = run(*manage, "routes")
    lines = {line.split()[0]: line for line in routes.splitlines()[1:]}
    assert lines["/items/"].endswith("(authenticated)")
    assert lines["/auth/token"].endswith("-")
    assert lines["/health"].endswith("-")

    port = free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "30",
            "--graceful-timeout",
            "2",
            "mysite.wsgi:application",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _request(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert server.poll() is None, "gunicorn exited"
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        assert _request(port, "GET", "/items/")[0] == 401
        status, body = _request(
            port,
            "POST",
            "/auth/token",
            "grant_type=password&username=alice&password=open+sesame",
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 200, body
        auth = {"Authorization": f"Bearer {body['access_token']}"}
        assert body["scope"] == "items+crud"
        status, created = _request(
            port,
            "POST",
            "/items/",
            json.dumps({"title": "Ship it"}),
            {**auth, "Content-Type": "application/json"},
        )
        assert status == 201, created
        status, listing = _request(port, "GET", "/items/", headers=auth)
        assert status == 200
        assert [item["title"] for item in listing] == ["Ship it"]
        status, me = _request(port, "GET", "/auth/me", headers=auth)
        assert me["username"] == "alice"
        status, _ = _request(
            port,
            "POST",
            "/auth/revoke",
            json.dumps({"token": body["access_token"]}),
            {"Content-Type": "application/json"},
        )
        assert status == 200
        assert _request(port, "GET", "/items/", headers=auth)[0] == 401
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
