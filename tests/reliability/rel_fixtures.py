"""Servers and HTTP helpers of the reliability suite (``test_rel_*``).

Servers are started on free ports of 127.0.0.1 and stopped by their PIDs:

- :class:`Gunicorn`: a gunicorn master (``gthread`` workers) serving a WSGI
  target, with helpers to list its workers;
- :class:`PrivateRedis`: a ``redis-server`` of the test's own, which the
  test may stop and start again (the machine's shared Redis is never
  touched);
- :class:`PrivatePostgres`: a PostgreSQL cluster made by ``initdb`` in a
  temporary directory (run as the ``postgres`` user, since ``initdb``
  refuses root), restartable likewise.

:func:`http_request` and :func:`raw_request` send requests over real
sockets, so malformed requests really go over the wire.

The test modules make fixtures of these with :func:`redis_fixture` and
:func:`postgres_fixture` (the package's ``conftest.py`` is shared with
other tests).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _support import free_port, unavailable

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
REPO = TESTS.parent
EXAMPLE_PROJECT = REPO / "examples" / "taskman_project"


# -- HTTP over real sockets ------------------------------------------------------


@dataclass
class Answer:
    """A response read off the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    elapsed: float = 0.0

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Answer:
    """One request on a new connection (closed afterwards)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            method, path, body=body, headers={"Connection": "close", **(headers or {})}
        )
        response = connection.getresponse()
        data = response.read()
        return Answer(
            response.status, response.getheaders(), data, time.perf_counter() - started
        )
    finally:
        connection.close()


def raw_request(
    port: int,
    data: bytes,
    timeout: float = 10.0,
    then: bytes | None = None,
    shutdown: bool = False,
) -> Answer:
    """Send *data* as is on a new connection and read the response.

    :param then: More bytes sent after *data*, errors ignored (the server
        may have answered and closed already).
    :param shutdown: Close the sending side afterwards (a truncated request).
    """
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if then is not None:
                sock.sendall(then)
        except OSError:
            pass  # the server answered (and closed) before reading it all
        if shutdown:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock, method="GET")
        try:
            response.begin()
            try:
                body = response.read()
            except http.client.IncompleteRead as exc:
                body = exc.partial
        finally:
            response.close()
        return Answer(
            response.status, response.getheaders(), body, time.perf_counter() - started
        )


# -- gunicorn --------------------------------------------------------------------


@dataclass
class Gunicorn:
    """A gunicorn server of the test's own (a context manager).

    :param target: The WSGI target (``module:callable``).
    :param env: Extra environment variables (``FINDIG_*`` variables of this
        process are not passed on).
    :param pythonpath: Directories put first on ``PYTHONPATH``.
    """

    target: str
    env: Mapping[str, str] = field(default_factory=dict)
    pythonpath: list[Path] = field(default_factory=list)
    workers: int = 2
    threads: int = 4
    cwd: Path | None = None
    log: Path | None = None
    ready_path: str = "/pid"
    extra: list[str] = field(default_factory=list)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    initial_workers: set[int] = field(default_factory=set)

    def start(self, timeout: float = 30.0) -> Gunicorn:
        pytest.importorskip("gunicorn")
        self.port = free_port()
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FINDIG_", "PYTEST"))
        }
        env.update(self.env)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(p) for p in self.pythonpath]
            + [str(TESTS)]
            + [p for p in [os.environ.get("PYTHONPATH")] if p]
        )
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            "gthread",
            "--workers",
            str(self.workers),
            "--threads",
            str(self.threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "30",
            "--graceful-timeout",
            "3",
            *self.extra,
            self.target,
        ]
        if self.log is not None:
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    args, env=env, cwd=self.cwd or REPO, stdout=log, stderr=log
                )
        else:
            self.process = subprocess.Popen(
                args,
                env=env,
                cwd=self.cwd or REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if http_request(self.port, "GET", self.ready_path, timeout=2).status:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = self.log.read_text()[-3000:] if self.log else ""
                pytest.fail(f"gunicorn did not start ({self.target}):\n{text}")
            time.sleep(0.1)
        deadline = time.monotonic() + timeout
        while len(self.worker_pids()) < self.workers:
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("gunicorn did not start all its workers")
            time.sleep(0.05)
        self.initial_workers = self.worker_pids()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> set[int]:
        """The PIDs of the master's children (its workers)."""
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return set()
        return {int(p) for p in text.split()}

    def wait_for_workers(
        self, count: int | None = None, timeout: float = 30
    ) -> set[int]:
        """Wait until the master has *count* workers (all by default)."""
        wanted = self.workers if count is None else count
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) >= wanted:
                return pids
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn has {len(pids)} workers, not {wanted}")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        workers = self.worker_pids()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for pid in workers:  # never left behind, even if the master died badly
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# -- Redis -------------------------------------------------------------------------


class PrivateRedis:
    """A ``redis-server`` on a free port, owned by the test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the private redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server (as a crash would)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


def redis_fixture() -> Any:
    """A fixture: a Redis server of the test's own (stop/start it at will)."""

    @pytest.fixture
    def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
        server = PrivateRedis(tmp_path)
        server.start()
        try:
            yield server
        finally:
            server.stop()

    return private_redis


# -- PostgreSQL ----------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary directory.

    ``initdb`` refuses to run as root: as root, the directory is given to
    the ``postgres`` user and the cluster is made and run as that user
    (``runuser -u postgres --``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        binaries = _postgres_bin()
        if binaries is None:
            unavailable("PostgreSQL's server binaries are not installed")
        assert binaries is not None
        self.bin = binaries
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                unavailable("runuser is needed to run initdb as root")
            self.as_postgres = [str(runuser), "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_postgres, *args], capture_output=True, text=True, timeout=120
        )

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        result = self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        if result.returncode != 0:
            unavailable(f"initdb failed: {result.stderr[-1000:]}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=50"
        )
        log = self.directory / "server.log"
        result = self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(log),
            "-w",
            "-t",
            "30",
            "start",
        )
        if result.returncode != 0:
            text = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr}\n{text}")

    def stop(self, mode: str = "fast") -> None:
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-m",
            mode,
            "-w",
            "-t",
            "30",
            "stop",
        )


def postgres_fixture() -> Any:
    """A module fixture: a PostgreSQL server of the module's own.

    Its directory is a fresh one under the system's temporary directory
    (pytest's are private to root, and the server runs as ``postgres``),
    removed afterwards.
    """

    @pytest.fixture(scope="module")
    def private_postgres() -> Iterator[PrivatePostgres]:
        pytest.importorskip("psycopg")
        directory = Path(tempfile.mkdtemp(prefix="findig-reliability-pg-"))
        try:
            server = PrivatePostgres(directory)
            server.init()
            server.start()
            try:
                yield server
            finally:
                server.stop("immediate")
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    return private_postgres


# -- the example project (taskman) ---------------------------------------------------


@dataclass
class Taskman:
    """The example project (``examples/taskman_project``) on a database of the
    test's own, migrated, with users and tokens made in this process.

    :param url: The database URL.
    """

    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def settings(self, **extra: Any) -> Any:
        """Override the settings to the project's, on :attr:`url`."""
        from findig.project.conf import settings

        if str(EXAMPLE_PROJECT) not in sys.path:
            sys.path.insert(0, str(EXAMPLE_PROJECT))
        return settings.override(
            INSTALLED_APPS=["findig.contrib.auth", "tasks"],
            DATABASE_URL=self.url,
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            PROBLEM_DETAILS=True,
            REQUEST_ID_HEADER="X-Request-ID",
            ACCESS_LOG=False,
            OPENAPI=True,
            AUTH_PUBLIC_PATHS=["/openapi.json", "/docs", "/docs/*"],
            PASSWORD_HASH_OPTIONS={
                "argon2__memory_cost": 1024,
                "argon2__rounds": 1,
                "argon2__parallelism": 1,
            },
            SECRET_KEY="reliability-" + "k" * 40,
            DEBUG=False,
            LOG_LEVEL="WARNING",  # as the other suites: the level outlives the app
            **extra,
        )

    def prepare(self, users: Mapping[str, str] | None = None) -> Taskman:
        """Migrate the database and add *users* (name → scopes), each with a
        token (in :attr:`tokens`)."""
        from findig.contrib.auth import store
        from findig.project.db import dispose_engines, session_scope
        from findig.project.migrations import prepare_database

        with self.settings():
            prepare_database(self.url)
            for name, scopes in (users or {"alice": "tasks+crud"}).items():
                with session_scope() as session:
                    user = store.create_user(session, name, "pw-" + name, scopes)
                    self.tokens[name], _ = store.create_token(session, user)
            dispose_engines()
        return self

    def gunicorn(self, log: Path | None = None, **env: str) -> Gunicorn:
        """A gunicorn server of the project (not started)."""
        return Gunicorn(
            "taskman_site.wsgi:application",
            env={
                "FINDIG_SETTINGS_MODULE": "taskman_site.settings",
                "FINDIG_DATABASE_URL": self.url,
                "FINDIG_SECRET_KEY": "reliability-" + "k" * 40,
                "FINDIG_DEBUG": "0",
                "FINDIG_ACCESS_LOG": "0",
                "FINDIG_LOG_LEVEL": "CRITICAL",
                **env,
            },
            pythonpath=[EXAMPLE_PROJECT],
            cwd=EXAMPLE_PROJECT,
            log=log,
            ready_path="/health",
        )

    def auth(self, name: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def seed_tasks(self, port: int, count: int = 50) -> list[int]:
        """Create *count* tasks (owned by ``alice``) through the server on
        *port*; returns their ids."""
        import json

        ids = []
        for index in range(count):
            answer = http_request(
                port,
                "POST",
                "/tasks/",
                json.dumps({"title": f"seed {index}", "due": "2030-01-01"}),
                {"Content-Type": "application/json", **self.auth()},
            )
            if answer.status != 201:
                raise AssertionError(f"seeding a task: {answer}")
            ids.append(json.loads(answer.body)["id"])
        return ids


@contextlib.contextmanager
def scratch_database(server: str | None, directory: Path, label: str) -> Iterator[str]:
    """A database URL of the caller's own, for a script or a test.

    :param server: ``None`` for a fresh SQLite file in *directory*; else the
        URL of any database of a PostgreSQL server
        (``postgresql+psycopg://postgres@127.0.0.1:5432/test``), on which a
        new database ``findig_<label>_<random>`` is created, and dropped
        afterwards (with ``FORCE``: a killed worker may leave a connection).
    :param directory: Where the SQLite file goes.
    :param label: Part of the file's or database's name.
    """
    if server is None:
        yield f"sqlite:///{directory / f'{label}.sqlite3'}"
        return
    import secrets

    import sqlalchemy

    name = f"findig_{label}_{secrets.token_hex(6)}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = sqlalchemy.engine.make_url(server).set(database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
