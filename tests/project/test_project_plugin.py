"""The pytest plugin: inert unless configured; isolated databases per test on
SQLite and PostgreSQL. Each case runs pytest in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ISOLATION_TESTS = """
import pytest
from sqlalchemy import text

from findig.project.conf import settings as project_settings


@pytest.mark.parametrize("n", range(3))
def test_each_test_starts_empty(client, n):
    assert client.get("/{app}/").json == []
    response = client.post("/{app}/", json={{"title": f"item {{n}}"}})
    assert response.status_code == 201
    assert len(client.get("/{app}/").json) == 1


def test_db_session_and_requests_share_the_database(db, client):
    db.execute(text("INSERT INTO {app} (title, done) VALUES ('from db', false)"))
    db.commit()
    assert [i["title"] for i in client.get("/{app}/").json] == ["from db"]
    client.post("/{app}/", json={{"title": "from client"}})
    count = db.execute(text("SELECT count(*) FROM {app}")).scalar()
    assert count == 2


def test_settings_fixture(settings):
    settings.JSON_INDENT = 7
    assert project_settings.JSON_INDENT == 7


def test_settings_restored():
    assert project_settings.JSON_INDENT is None


@pytest.mark.findig_settings(AUTOLIST=False)
def test_marker_applies_before_the_app(client):
    assert client.get("/").status_code == 404


def test_default_headers(client):
    client.headers["Accept"] = "text/html"
    assert client.get("/{app}/").status_code == 406


def test_test_database_is_not_the_real_one(db):
    url = str(db.get_bind().engine.url)
    assert "db.sqlite3" not in url or "pytest" in url
"""


def _pytest(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("FINDIG_", "PYTEST"))
    }
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_inert_without_settings(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_uses_client(client):\n    pass\n")
    result = _pytest(tmp_path)
    assert result.returncode == 1
    assert "fixture 'client' not found" in result.stdout
    code = (
        "import sys, findig.project.pytest_plugin\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sqlalchemy', 'alembic', 'werkzeug'}))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    # Not even Werkzeug: ``import findig`` does not import it.
    assert imported.stdout.strip() == "[]", imported.stderr


@pytest.fixture
def project_on_disk(tmp_path, run_cli, clean_settings):
    name, app = "plugsite_xyz", "plug_items_xyz"
    result = run_cli(
        "startproject", name, str(tmp_path / name), "--app", app, "--no-auth"
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / name
    (root / "tests" / "test_isolation.py").write_text(
        textwrap.dedent(ISOLATION_TESTS).format(app=app)
    )
    return root


def test_generated_project_tests_pass_on_sqlite(project_on_disk):
    result = _pytest(project_on_disk)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 passed" in result.stdout
    # The project's own database was never created.
    assert not (project_on_disk / "db.sqlite3").exists()


def test_generated_project_tests_pass_on_postgresql(project_on_disk, postgres_url):
    result = _pytest(project_on_disk, env={"FINDIG_DATABASE_URL": postgres_url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 passed" in result.stdout


def test_option_and_environment_configure_it(project_on_disk):
    ini = project_on_disk / "pyproject.toml"
    ini.write_text(ini.read_text().replace("findig_settings", "# findig_settings"))
    result = _pytest(project_on_disk, "tests/test_health.py")
    assert result.returncode != 0
    assert "fixture 'client' not found" in result.stdout
    result = _pytest(
        project_on_disk,
        "tests/test_health.py",
        "--findig-settings",
        "plugsite_xyz.settings",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = _pytest(
        project_on_disk,
        "tests/test_health.py",
        env={"FINDIG_SETTINGS_MODULE": "plugsite_xyz.settings"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
