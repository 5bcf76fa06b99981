"""The long-run scripts of ``benchmarks/`` (load, soaks, auth timing), run
briefly: on PostgreSQL as well as SQLite, each run on a database of its own
that is dropped afterwards. Nothing here asserts a timing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _support import POSTGRES_URL, unavailable

from .rel_fixtures import REPO, Taskman, scratch_database

BENCHMARKS = REPO / "benchmarks"


def _postgres_databases(prefix: str) -> set[str]:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    pytest.importorskip("psycopg")
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(p)s",
                {"p": prefix + "%"},
            ).all()
    except sqlalchemy.exc.OperationalError as exc:
        unavailable(f"PostgreSQL is unreachable at {POSTGRES_URL}: {exc}")
    finally:
        engine.dispose()
    return {row[0] for row in rows}


def _script(name: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run ``benchmarks/<name>``; its JSON figures (it must succeed)."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("FINDIG_")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = re.search(r"^\{$.*^\}$", result.stdout, re.MULTILINE | re.DOTALL)
    assert found is not None, result.stdout
    figures: dict[str, Any] = json.loads(found.group(0))
    return figures


def test_scratch_database_sqlite(tmp_path: Path) -> None:
    with scratch_database(None, tmp_path, "x") as url:
        assert url == f"sqlite:///{tmp_path / 'x.sqlite3'}"


def test_scratch_database_postgres_is_created_and_dropped(tmp_path: Path) -> None:
    import sqlalchemy

    before = _postgres_databases("findig_scratch_")
    with scratch_database(POSTGRES_URL, tmp_path, "scratch") as url:
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as connection:
                name = connection.exec_driver_sql("SELECT current_database()").scalar()
        finally:
            engine.dispose()
        assert isinstance(name, str) and name.startswith("findig_scratch_")
        assert name not in before
        assert name in _postgres_databases("findig_scratch_")
    assert name not in _postgres_databases("findig_scratch_")


def test_seed_tasks_through_gunicorn(tmp_path: Path) -> None:
    project = Taskman(f"sqlite:///{tmp_path / 'seed.sqlite3'}").prepare()
    with project.gunicorn(log=tmp_path / "gunicorn.log") as server:
        ids = project.seed_tasks(server.port, count=3)
    assert len(set(ids)) == 3


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_load_script_on_postgres() -> None:
    before = _postgres_databases("findig_load_")
    figures = _script(
        "load_wrk.py",
        "--database",
        POSTGRES_URL,
        "--mix",
        "write",
        "--duration",
        "2",
        "--connections",
        "4",
        "--threads",
        "1",
    )
    assert figures["database"] == "postgresql"
    assert set(figures["statuses"]) <= {"200", "201"}
    assert figures["statuses"].get("201", 0) > 0
    assert _postgres_databases("findig_load_") == before


def test_sigkill_script_on_postgres() -> None:
    before = _postgres_databases("findig_sigkill_")
    figures = _script("soak_sigkill.py", "--database", POSTGRES_URL, "--kills", "2")
    assert figures["database"] == "postgresql"
    assert figures["kills"] == 2
    assert figures["acknowledged"] > 0
    assert figures["stored"] >= figures["acknowledged"]
    assert _postgres_databases("findig_sigkill_") == before


def test_soak_samples_a_process() -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import soak_memory
    finally:
        sys.path.remove(str(BENCHMARKS))
    # This process as master and as its only worker (sampled one after the
    # other: its memory may change in between).
    figures = soak_memory.sample(os.getpid(), {os.getpid()})
    assert figures["master_rss_kib"] > 1024 and figures["workers_rss_kib"] > 1024
    assert figures["master_fds"] >= 3 and figures["workers_fds"] >= 3
    assert soak_memory.sample(os.getpid(), set())["workers_rss_kib"] == 0
    assert soak_memory.growth(100, 109) == pytest.approx(0.09)


def test_auth_timing_script_times_every_bearer_path() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "bench_auth_timing.py"),
            "--via",
            "bearer",
            "--rounds",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    # 0 or 1: within 5 % or not (timing is not asserted); 2 is a wrong answer.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    for path in (
        "unknown-token",
        "wrong-secret",
        "revoked-token",
        "expired-token",
        "malformed-token",
        "success",
    ):
        assert f"| {path} |" in result.stdout


def test_auth_timing_wrong_secret_loads_no_record(tmp_path: Path) -> None:
    """What ``bench_auth_timing.py --via bearer`` found: a known prefix with
    a wrong secret loaded the token and user records (a tenth of the check's
    time) where an unknown prefix loads none. Now neither does."""
    from sqlalchemy import event

    from findig.contrib.auth import store
    from findig.contrib.auth.models import Token, User
    from findig.project.db import dispose_engines, session_scope

    project = Taskman(f"sqlite:///{tmp_path / 'timing.sqlite3'}").prepare()
    good = project.tokens["alice"]
    loaded: list[object] = []

    def on_load(target: object, context: object) -> None:
        loaded.append(target)

    cases = [
        (good[:10] + "A" * (len(good) - 10), "unknown", 0),  # wrong secret
        ("Z" * 10 + good[10:], "unknown", 0),  # unknown prefix
        (good, "", 2),  # the token and its user
    ]
    for model in (Token, User):
        event.listen(model, "load", on_load)
    try:
        with project.settings(), session_scope() as session:
            for token, reason, records in cases:
                loaded.clear()
                session.expunge_all()
                assert store.check_token(session, token, touch=False).reason == reason
                assert len(loaded) == records, token
    finally:
        for model in (Token, User):
            event.remove(model, "load", on_load)
        dispose_engines()
