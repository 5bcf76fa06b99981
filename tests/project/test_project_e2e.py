"""End to end: the wheel, installed in a fresh virtualenv, makes a project
that migrates, serves with gunicorn (2 workers), survives a model change,
and passes its own tests; once on SQLite, once on PostgreSQL.

The virtualenv is made once per test session (building the wheel and
installing it with its ``[project,deploy,postgres]`` extras from the
package index). Every step is bounded in time; servers are stopped by
their own PID.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _support import free_port

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"


def _run(
    argv: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh virtualenv with Findig's wheel."""
    root = tmp_path_factory.mktemp("e2e-venv")
    wheels = root / "wheels"
    result = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        cwd=root,
        timeout=600,
    )
    if result.returncode != 0:
        reason = f"cannot build the wheel: {result.stderr[-2000:]}"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    (wheel,) = wheels.glob("findig-*.whl")
    venv = root / "venv"
    _check(_run([sys.executable, "-m", "venv", str(venv)], cwd=root, timeout=300))
    bin_dir = venv / "bin"
    result = _run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            f"{wheel}[project,deploy,postgres]",
            "pytest",
        ],
        cwd=root,
        timeout=900,
    )
    if result.returncode != 0:
        reason = (
            f"cannot install the wheel from the package index: {result.stderr[-2000:]}"
        )
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    # Installed, not editable: the package comes from the venv.
    where = _check(
        _run(
            [str(bin_dir / "python"), "-c", "import findig; print(findig.__file__)"],
            cwd=root,
        )
    )
    assert where.strip().startswith(str(venv))
    return bin_dir


class Http:
    """A tiny HTTP client for the served project."""

    def __init__(self, port: int, token: str | None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def __call__(
        self, method: str, path: str, body: Any = None, auth: bool = True
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw = error.read()
            status = error.code
        return status, json.loads(raw) if raw else None


class Server:
    """``manage.py serve`` (gunicorn, 2 workers) on a free port."""

    def __init__(self, python: Path, project: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = project / f"gunicorn-{self.port}.log"
        self._log_file = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                str(python),
                "manage.py",
                "serve",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
            ],
            cwd=project,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/health", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # by PID: gunicorn's master
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[Server] = []

    def start(python: Path, project: Path, env: dict[str, str]) -> Server:
        server = Server(python, project, env)
        servers.append(server)
        server.wait()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


PRIORITY = "    priority: Mapped[int | None] = mapped_column()\n"


def test_project_lifecycle(wheel_venv, tmp_path, database_url, serve):
    python = wheel_venv / "python"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FINDIG_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))
    }
    env["PATH"] = f"{wheel_venv}{os.pathsep}{env.get('PATH', '')}"
    env["FINDIG_SECRET_KEY"] = secrets.token_urlsafe(50)
    if database_url is not None:
        env["FINDIG_DATABASE_URL"] = database_url

    _check(_run([str(wheel_venv / "findig"), "startproject", "e2esite"], tmp_path, env))
    project = tmp_path / "e2esite"
    manage = [str(python), "manage.py"]
    settings_text = (project / "e2esite" / "settings.py").read_text()
    with_auth = "findig.contrib.auth" in settings_text

    output = _check(_run([*manage, "migrate"], project, env))
    assert "Applied items 0001_initial" in output
    token = None
    if with_auth:
        _check(
            _run(
                [*manage, "createuser", "alice", "--password-stdin"],
                project,
                env,
                input="correct horse battery staple\n",
            )
        )
        token = _check(_run([*manage, "createtoken", "alice"], project, env)).strip()
    _check(_run([*manage, "check"], project, env))
    deploy = _check(
        _run([*manage, "check", "--deploy", "--workers", "2"], project, env)
    )
    if database_url is None:
        assert "SQLite with 2 worker processes" in deploy
    else:
        assert "SQLite" not in deploy

    server = serve(python, project, env)
    http = Http(server.port, token)
    assert http("GET", "/health", auth=False) == (200, {"status": "ok"})
    status, created = http("POST", "/items/", {"title": "Write the docs"})
    assert status == 201, created
    status, second = http("POST", "/items/", {"title": "Ship it", "done": True})
    assert status == 201, second
    status, listing = http("GET", "/items/")
    assert status == 200
    assert [(i["title"], i["done"]) for i in listing] == [
        ("Write the docs", False),
        ("Ship it", True),
    ]
    status, error = http("POST", "/items/", {"title": ""})
    assert status == 400, error
    if with_auth:
        assert http("GET", "/items/", auth=False)[0] == 401
    server.stop()

    # A model change: a nullable column, migrated with the rows kept.
    models = project / "items" / "models.py"
    models.write_text(models.read_text() + PRIORITY)
    check = _run([*manage, "makemigrations", "--check"], project, env)
    assert check.returncode == 1
    _check(_run([*manage, "makemigrations", "-m", "add priority"], project, env))
    assert (project / "items" / "migrations" / "0002_add_priority.py").is_file()
    output = _check(_run([*manage, "migrate"], project, env))
    assert "Applied items 0002_add_priority" in output
    _check(_run([*manage, "makemigrations", "--check"], project, env))
    _check(_run([*manage, "check"], project, env))

    server = serve(python, project, env)
    http = Http(server.port, token)
    status, listing = http("GET", "/items/")
    assert status == 200
    assert [(i["title"], i["priority"]) for i in listing] == [
        ("Write the docs", None),
        ("Ship it", None),
    ]
    server.stop()

    # The project's own tests pass, on the same kind of database.
    tests = _run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        project,
        env,
        timeout=600,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout
