"""The example project (``manage.py`` at the repository root, the project in
``examples/taskman_project``), run for real: its commands in subprocesses
and its server on a free port of 127.0.0.1.

The repository stays clean: every command gets ``FINDIG_DATABASE_URL``
pointing at a temporary SQLite file (or a PostgreSQL schema of the test's
own), and no bytecode is written. Every subprocess is bounded in time, and
servers are stopped by their own PID.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _support import free_port

pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")
pytest.importorskip("passlib")

REPO = Path(__file__).resolve().parent.parent
MANAGE = REPO / "manage.py"
PROJECT = REPO / "examples" / "taskman_project"
PASSWORDS = {
    "alice": "correct horse battery staple",
    "bob": "battery staple horse correct",
}


def _environment(database_url: str) -> dict[str, str]:
    """The environment of the project's commands: this one without any
    Findig or pytest setting, with *database_url*."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FINDIG_", "PYTEST", "WERKZEUG_"))
    }
    env["FINDIG_DATABASE_URL"] = database_url
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(
    args: list[str], env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python manage.py ARGS`` from the repository root."""
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=REPO,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{shlex.join(result.args)} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


@dataclass
class Response:
    status: int
    headers: Any
    body: Any


class Server:
    """A server of the example project, started with ``manage.py ARGS``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._log_file = log.open("wb")
        argv = [arg.replace("{port}", str(self.port)) for arg in args]
        self.process = subprocess.Popen(
            [sys.executable, str(MANAGE), *argv],
            cwd=REPO,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"The server exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"The server did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # by its own PID
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        token: str | None = None,
        form: dict[str, str] | None = None,
    ) -> Response:
        headers = {"Accept": "application/json"}
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw, status, got = response.read(), response.status, response.headers
        except urllib.error.HTTPError as error:
            raw, status, got = error.read(), error.code, error.headers
            error.close()
        return Response(status, got, json.loads(raw) if raw else None)

    def token(self, username: str, scope: str | None = None) -> str:
        """A token from ``POST /auth/token`` (the password grant)."""
        form = {
            "grant_type": "password",
            "username": username,
            "password": PASSWORDS[username],
        }
        if scope is not None:
            form["scope"] = scope
        response = self.request("POST", "/auth/token", form=form)
        assert response.status == 200, response.body
        assert response.body["token_type"] == "Bearer"
        return str(response.body["access_token"])


@dataclass
class Site:
    """The migrated example project with two users, served by runserver."""

    env: dict[str, str]
    database: Path
    server: Server
    alice: str  # alice's token (tasks+crud)
    bob: str  # bob's token (tasks+crud)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("example-project")
    database = root / "taskman.sqlite3"
    env = _environment(f"sqlite:///{database}")

    output = _check(_run(["migrate"], env))
    assert "Applied tasks 0001_initial" in output
    assert "Applied auth 0001_initial" in output
    for name in ("alice", "bob"):
        output = _check(
            _run(
                ["createuser", name, "--scopes", "tasks+crud", "--password-stdin"],
                env,
                input=PASSWORDS[name] + "\n",
            )
        )
        assert f"Created user '{name}' with scopes 'tasks+crud'" in output

    server = Server(
        ["runserver", "127.0.0.1:{port}", "--no-reload"], env, root / "server.log"
    )
    try:
        server.wait()
        yield Site(env, database, server, server.token("alice"), server.token("bob"))
    finally:
        server.stop()


def test_the_project_checks_clean(site: Site) -> None:
    output = _check(_run(["check"], site.env))
    assert "no issues" in output
    # The committed migration matches the models.
    output = _check(_run(["makemigrations", "--check"], site.env))
    assert "tasks: no changes" in output
    routes = _check(_run(["routes"], site.env))
    assert any(
        line.split()[0] == "/tasks/<int:id>" and line.split()[-1] == "tasks"
        for line in routes.splitlines()
    ), routes
    # The database is the temporary one, not a file in the repository.
    assert site.database.is_file()


def test_create_read_update_delete(site: Site) -> None:
    server, token = site.server, site.alice
    response = server.request(
        "POST",
        "/tasks/",
        {"title": "My Task", "due": "2015-07-19 00:00:00+0400"},
        token,
    )
    assert response.status == 201, response.body
    task_id = response.body["id"]
    assert response.headers["Location"] == f"{server.base}/tasks/{task_id}"

    task = server.request("GET", f"/tasks/{task_id}", token=token)
    assert task.status == 200
    created_at = task.body.pop("created_at")
    assert created_at.startswith("20")
    assert task.body == {
        "id": task_id,
        "title": "My Task",
        "desc": None,
        "due": "2015-07-18T20:00:00",  # the same instant, in UTC
        "done": False,
        "owner": "alice",
    }

    listing = server.request("GET", "/tasks/", token=token)
    assert listing.status == 200
    assert task_id in [entry["id"] for entry in listing.body]

    patched = server.request("PATCH", f"/tasks/{task_id}", {"done": True}, token)
    assert patched.status == 200, patched.body
    assert server.request("GET", f"/tasks/{task_id}", token=token).body["done"]

    # PUT replaces what the client writes: the fields left out get their
    # defaults, the owner and the creation time stay.
    replaced = server.request(
        "PUT",
        f"/tasks/{task_id}",
        {"title": "Renamed", "due": "2016-01-02T03:04:05Z"},
        token,
    )
    assert replaced.status == 200, replaced.body
    task = server.request("GET", f"/tasks/{task_id}", token=token).body
    assert (task["title"], task["due"], task["done"]) == (
        "Renamed",
        "2016-01-02T03:04:05",
        False,
    )
    assert (task["owner"], task["created_at"]) == ("alice", created_at)

    deleted = server.request("DELETE", f"/tasks/{task_id}", token=token)
    assert deleted.status == 200
    assert server.request("GET", f"/tasks/{task_id}", token=token).status == 404


def test_due_dates_in_iso_8601_and_the_tutorial_format(site: Site) -> None:
    server, token = site.server, site.alice
    forms = {
        "2030-05-06T07:08:09+02:00": "2030-05-06T05:08:09",
        "2030-05-06T07:08:09Z": "2030-05-06T07:08:09",
        "2030-05-06T07:08:09.250000+00:00": "2030-05-06T07:08:09.250000",
        "2030-05-06T07:08": "2030-05-06T07:08:00",
        "2030-05-06 07:08:09+0200": "2030-05-06T05:08:09",
        "2030-05-06": "2030-05-06T00:00:00",
    }
    for sent, stored in forms.items():
        response = server.request(
            "POST", "/tasks/", {"title": "dated", "due": sent}, token
        )
        assert response.status == 201, (sent, response.body)
        task = server.request("GET", f"/tasks/{response.body['id']}", token=token)
        assert task.body["due"] == stored, sent
        server.request("DELETE", f"/tasks/{response.body['id']}", token=token)


def test_users_see_only_their_own_tasks(site: Site) -> None:
    server = site.server
    response = server.request(
        "POST", "/tasks/", {"title": "Alice's", "due": "2030-01-01"}, site.alice
    )
    assert response.status == 201
    url = f"/tasks/{response.body['id']}"

    listing = server.request("GET", "/tasks/", token=site.bob)
    assert listing.status == 200
    assert "Alice's" not in [entry["title"] for entry in listing.body]
    assert all(entry["owner"] == "bob" for entry in listing.body)
    # Another user's task is missing for bob, whatever the method.
    assert server.request("GET", url, token=site.bob).status == 404
    assert server.request("PATCH", url, {"done": True}, site.bob).status == 404
    put = server.request("PUT", url, {"title": "Mine", "due": "2030-01-01"}, site.bob)
    assert put.status == 404
    assert server.request("DELETE", url, token=site.bob).status == 404
    # ... and nothing changed.
    task = server.request("GET", url, token=site.alice).body
    assert (task["title"], task["done"]) == ("Alice's", False)

    # Bob's own task is listed for him, not for alice.
    mine = server.request(
        "POST", "/tasks/", {"title": "Bob's", "due": "2030-01-01"}, site.bob
    )
    assert mine.status == 201
    titles = [e["title"] for e in server.request("GET", "/tasks/", token=site.bob).body]
    assert "Bob's" in titles
    alice_titles = [
        e["title"] for e in server.request("GET", "/tasks/", token=site.alice).body
    ]
    assert "Bob's" not in alice_titles


def test_tokens_need_the_tasks_scope(site: Site) -> None:
    server = site.server
    created = server.request(
        "POST", "/tasks/", {"title": "Read me", "due": "2030-01-01"}, site.alice
    )
    url = f"/tasks/{created.body['id']}"
    reader = server.token("alice", scope="tasks+r")

    assert server.request("GET", url, token=reader).status == 200
    assert server.request("GET", "/tasks/", token=reader).status == 200
    put = server.request("PUT", url, {"title": "x", "due": "2030-01-01"}, reader)
    assert put.status == 403
    assert server.request("PATCH", url, {"done": True}, reader).status == 403
    assert server.request("DELETE", url, token=reader).status == 403
    post = server.request(
        "POST", "/tasks/", {"title": "x", "due": "2030-01-01"}, reader
    )
    assert post.status == 403
    assert server.request("GET", url, token=site.alice).body["title"] == "Read me"

    # No token at all: 401 with a challenge.
    anonymous = server.request("GET", "/tasks/")
    assert anonymous.status == 401
    assert "Bearer" in anonymous.headers["WWW-Authenticate"]

    # A token from `createtoken` works like one from /auth/token.
    output = _check(_run(["createtoken", "alice", "--scopes", "tasks+r"], site.env))
    assert server.request("GET", url, token=output.strip()).status == 200


def _error_fields(response: Response) -> list[str]:
    assert response.status == 400, response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    return sorted(error["field"] for error in response.body["errors"])


def test_validation_errors_name_the_fields(site: Site) -> None:
    server, token = site.server, site.alice

    def post(body: Any) -> Response:
        return server.request("POST", "/tasks/", body, token)

    assert _error_fields(post({"title": "My Task"})) == ["due"]
    assert _error_fields(post({"desc": "no title"})) == ["due", "title"]
    invalid = post({"title": " ", "due": "tomorrow", "done": "yes"})
    assert _error_fields(invalid) == ["done", "due", "title"]
    assert _error_fields(post({"title": "x" * 151, "due": "2030-01-01"})) == ["title"]
    assert _error_fields(post({"title": 5, "due": "2030-01-01"})) == ["title"]
    unexpected = post(
        {"title": "x", "due": "2030-01-01", "owner": "bob", "created_at": "2030"}
    )
    assert _error_fields(unexpected) == ["created_at", "owner"]
    assert "owner" in unexpected.body["detail"]

    created = post({"title": "Valid", "due": "2030-01-01"})
    assert created.status == 201
    url = f"/tasks/{created.body['id']}"
    # A PATCH may leave required fields out, but not clear them.
    assert _error_fields(server.request("PATCH", url, {"title": None}, token)) == [
        "title"
    ]
    put = server.request("PUT", url, {"title": "Only a title"}, token)
    assert _error_fields(put) == ["due"]
    assert server.request("GET", url, token=token).body["title"] == "Valid"


def test_query_string(site: Site) -> None:
    server, token = site.server, site.bob
    for title, due, done in [
        ("q-later", "2031-03-01", False),
        ("q-sooner", "2031-01-01", True),
        ("q-middle", "2031-02-01", False),
    ]:
        created = server.request(
            "POST", "/tasks/", {"title": title, "due": due, "done": done}, token
        )
        assert created.status == 201
    listing = server.request("GET", "/tasks/?sort=due", token=token).body
    titles = [entry["title"] for entry in listing if entry["title"].startswith("q-")]
    assert titles == ["q-sooner", "q-middle", "q-later"]
    assert all(entry["url"] == f"/tasks/{entry['id']}" for entry in listing)

    pending = server.request("GET", "/tasks/?done=false&count=true", token=token)
    assert pending.status == 200
    assert all(entry["done"] is False for entry in pending.body)
    assert int(pending.headers["X-Total-Count"]) == len(pending.body)

    page = server.request("GET", "/tasks/?sort=-due&limit=1", token=token)
    assert len(page.body) == 1
    assert 'rel="next"' in page.headers["Link"]

    refused = server.request("GET", "/tasks/?owner=alice", token=token)
    assert refused.status == 400
    assert refused.body["parameters"] == ["owner"]


def test_gunicorn_serves_the_example(site: Site, tmp_path: Path) -> None:
    if importlib.util.find_spec("gunicorn") is None:
        pytest.skip("gunicorn is not installed")
    server = Server(
        ["serve", "--bind", "127.0.0.1:{port}", "--workers", "1"],
        site.env,
        tmp_path / "gunicorn.log",
    )
    try:
        server.wait()
        assert server.request("GET", "/tasks/", token=site.alice).status == 200
        assert server.request("GET", "/tasks/").status == 401
        assert server.request("GET", "/openapi.json").status == 200  # public
    finally:
        server.stop()


def _make_run_commands() -> list[list[str]]:
    """The commands ``make run`` runs (once its virtualenv exists), for the
    virtualenv of this interpreter."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = sys.prefix
    # Not as a sub-make of `make test` (which would print directories).
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")
    }
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "-o",
            f"{venv}/.installed",
            f"VENV={venv}",
            "run",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, result.stdout  # one command line
    return [shlex.split(part) for part in lines[0].split("&&")]


def test_make_run_migrates_then_serves_on_port_5000(tmp_path: Path) -> None:
    migrate, serve = _make_run_commands()
    python = str(Path(sys.prefix) / "bin" / "python")
    assert migrate == [python, "manage.py", "migrate"]
    assert serve == [python, "manage.py", "runserver", "localhost:5000"]

    # The migrate step, on a fresh database, twice (nothing to do the second
    # time); it asks nothing (stdin is closed).
    if not os.access(migrate[0], os.X_OK):  # not in a virtualenv
        migrate[0] = sys.executable
    database = tmp_path / "fresh.sqlite3"
    env = _environment(f"sqlite:///{database}")
    outputs = []
    for _ in range(2):
        result = subprocess.run(
            migrate,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        outputs.append(_check(result))
    assert "Applied tasks 0001_initial" in outputs[0]
    assert "Applied" not in outputs[1]
    with sqlite3.connect(database) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
    connection.close()
    assert {"tasks", "alembic_version"} <= tables
    assert any(table.startswith("auth") for table in tables), tables


def test_the_example_migrates_on_postgresql(postgres_url: str) -> None:
    pytest.importorskip("psycopg")
    env = _environment(postgres_url)
    output = _check(_run(["migrate"], env))
    assert "Applied tasks 0001_initial" in output
    _check(
        _run(
            ["createuser", "alice", "-s", "tasks+crud", "--password-stdin"],
            env,
            input=PASSWORDS["alice"] + "\n",
        )
    )
    assert "no issues" in _check(_run(["check"], env))
    # Down and up again: the initial migration is reversible.
    _check(_run(["migrate", "tasks", "zero"], env))
    _check(_run(["migrate"], env))
