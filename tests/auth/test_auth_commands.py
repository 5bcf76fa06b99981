"""The auth app's manage.py commands, run with click's CliRunner against the
test project's settings module (``authtest_settings``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from werkzeug.test import Client

from findig.project.apps import apps
from findig.project.cli import cli
from findig.project.conf import settings
from findig.project.db import dispose_engines

from .auth_helpers import bearer


@pytest.fixture
def manage(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Run ``manage.py`` commands of the test project (a migrated SQLite
    file of the test's own)."""
    monkeypatch.setenv("FINDIG_SETTINGS_MODULE", "authtest_settings")
    monkeypatch.setenv("FINDIG_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    settings.reset()
    apps.reset()
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Any:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    result = run("migrate")
    assert result.exit_code == 0, result.output
    try:
        yield run
    finally:
        dispose_engines()
        monkeypatch.delenv("FINDIG_SETTINGS_MODULE")
        settings.reset()
        apps.reset()


def _client() -> Client:
    from findig.project.wsgi import get_wsgi_application

    return Client(get_wsgi_application())


def _token(client: Client, username: str, password: str) -> Any:
    return client.post(
        "/auth/token",
        data={"grant_type": "password", "username": username, "password": password},
    )


def test_commands_are_listed(manage):
    result = manage("--help")
    for name in [
        "createuser",
        "changepassword",
        "setscopes",
        "deactivateuser",
        "createtoken",
        "revoketoken",
        "listusers",
        "cleartokens",
    ]:
        assert name in result.output


def test_createuser_prompts_with_confirmation(manage):
    result = manage(
        "createuser", "Alice", "--scopes", "things+crud", input="s3cret!\ns3cret!\n"
    )
    assert result.exit_code == 0, result.output
    assert "Created user 'alice' with scopes 'things+crud'" in result.output
    result = manage("createuser", "bob", input="one\ntwo\none\none\n")
    assert result.exit_code == 0
    assert "do not match" in result.output
    client = _client()
    assert _token(client, "alice", "s3cret!").status_code == 200
    assert _token(client, "bob", "one").status_code == 200
    assert _token(client, "bob", "two").status_code == 400


def test_createuser_password_stdin_and_duplicates(manage):
    result = manage(
        "createuser",
        "carol",
        "--password-stdin",
        "-s",
        "things+r",
        "-s",
        "user+r,red",
        input="pass word\n",
    )
    assert result.exit_code == 0, result.output
    assert "'red+r things+r user+r'" in result.output
    for name in ["carol", "CAROL", " Carol "]:
        result = manage("createuser", name, "--password-stdin", input="other\n")
        assert result.exit_code == 1
        assert "already exists" in result.output
    result = manage("createuser", "dave", "--password-stdin", "--no-password")
    assert result.exit_code == 2
    for bad in ["a b", "x:y", ""]:
        result = manage("createuser", bad, "--no-password")
        assert result.exit_code == 1, bad
    result = manage("createuser", "erin", "--no-password", "-s", "things+X")
    assert result.exit_code == 1
    assert "Malformed scope" in result.output
    result = manage("createuser", "erin", "--password-stdin", input="x" * 2000 + "\n")
    assert result.exit_code == 1
    assert "at most 1024 bytes" in result.output
    result = manage("createuser", "erin", "--password-stdin", input="\n")
    assert result.exit_code == 1
    assert _token(_client(), "carol", "pass word").status_code == 200


def test_tokens(manage):
    manage("createuser", "alice", "--no-password", "-s", "things+crud user+r")
    result = manage("createtoken", "alice", "--scopes", "things+r", "--expires", "1h")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert len(token.splitlines()) == 1 and len(token) == 53
    assert "cannot be shown again" in result.stderr
    assert token not in result.stderr
    client = _client()
    assert client.get("/things/1", headers=bearer(token)).status_code == 200
    assert client.delete("/things/1", headers=bearer(token)).status_code == 403
    # Scopes the user lacks are refused.
    result = manage("createtoken", "alice", "--scopes", "admin")
    assert result.exit_code == 1
    assert "does not have" in result.output
    assert manage("createtoken", "nobody").exit_code == 1
    assert manage("createtoken", "alice", "--expires", "soon").exit_code == 2
    forever = manage("createtoken", "alice", "--expires", "never")
    assert "expires never" in forever.stderr
    # listusers shows no secret
    result = manage("listusers")
    assert result.exit_code == 0
    assert "alice" in result.output and "things+crud user+r" in result.output
    assert token not in result.output and token[10:] not in result.output
    assert "$argon2" not in result.output
    # revoke by prefix
    result = manage("revoketoken", token[:10])
    assert result.exit_code == 0, result.output
    assert client.get("/things/1", headers=bearer(token)).status_code == 401
    assert manage("revoketoken", "ZZZZZZZZZZ").exit_code == 1
    result = manage("cleartokens")
    assert "Deleted 1 token(s)" in result.output


def test_changepassword_setscopes_and_deactivate(manage):
    manage("createuser", "alice", "--password-stdin", "-s", "things+r", input="old\n")
    client = _client()
    assert _token(client, "alice", "old").status_code == 200
    result = manage("changepassword", "ALICE", input="new\nnew\n")
    assert result.exit_code == 0, result.output
    assert _token(client, "alice", "old").status_code == 400
    assert _token(client, "alice", "new").status_code == 200
    result = manage("changepassword", "alice", "--password-stdin", input="newer\n")
    assert result.exit_code == 0
    assert manage("changepassword", "nobody", input="x\nx\n").exit_code == 1
    result = manage("setscopes", "alice", "-s", "things+rd")
    assert "things+rd" in result.output
    token = _token(client, "alice", "newer").json
    assert token["scope"] == "things+rd"
    result = manage("deactivateuser", "alice")
    assert result.exit_code == 0
    assert "inactive" in manage("listusers").output
    assert _token(client, "alice", "newer").status_code == 400
    response = client.get("/things/1", headers=bearer(token["access_token"]))
    assert response.status_code == 401
    assert manage("createtoken", "alice").exit_code == 1
    assert manage("deactivateuser", "nobody").exit_code == 1


def test_commands_without_migrations(tmp_path, monkeypatch):
    monkeypatch.setenv("FINDIG_SETTINGS_MODULE", "authtest_settings")
    monkeypatch.setenv("FINDIG_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    settings.reset()
    apps.reset()
    try:
        result = CliRunner().invoke(cli, ["listusers"])
        assert result.exit_code == 1
        assert "manage.py migrate" in result.output
    finally:
        dispose_engines()
        monkeypatch.delenv("FINDIG_SETTINGS_MODULE")
        settings.reset()
        apps.reset()


def test_check_deploy_lists_public_routes_as_info(manage):
    result = manage("check", "--deploy", "--workers", "1", "--fail-level", "WARNING")
    info = [line for line in result.output.splitlines() if line.startswith("INFO")]
    assert len(info) == 1, result.output
    assert "/things/public" in info[0] and "/things/pid" in info[0]
    assert "/things/open" not in info[0] and "/things/<int:id>" not in info[0]
    # INFO is not a warning: the check passes at the strictest fail level.
    assert "WARNING" not in result.output, result.output
    assert result.exit_code == 0, result.output
    assert "System check: no issues." in result.output
