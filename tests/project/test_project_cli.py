"""The findig / manage.py commands, run with click's CliRunner (and a few
real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from _support import free_port

from findig.project.conf import settings

# -- startproject / startapp ---------------------------------------------------


def test_startproject_renders_the_template(run_cli, tmp_path, clean_settings):
    target = tmp_path / "out"
    result = run_cli("startproject", "fresh_site_xyz", str(target), "--no-auth")
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "fresh_site_xyz/__init__.py",
        "fresh_site_xyz/settings.py",
        "fresh_site_xyz/wsgi.py",
        "gunicorn.conf.py",
        "items/__init__.py",
        "items/apps.py",
        "items/migrations/0001_initial.py",
        "items/models.py",
        "items/resources.py",
        "manage.py",
        "pyproject.toml",
        "requirements.txt",
        "tests/test_health.py",
        "tests/test_items.py",
    ]
    assert os.access(target / "manage.py", os.X_OK)
    settings_text = (target / "fresh_site_xyz" / "settings.py").read_text()
    assert '"items",' in settings_text
    assert 'os.environ.get("FINDIG_SECRET_KEY", "")' in settings_text
    assert "LOGIN_WINDOW" not in settings_text  # no auth app, no auth settings
    wsgi = (target / "fresh_site_xyz" / "wsgi.py").read_text()
    assert "application = get_wsgi_application()" in wsgi
    gunicorn = (target / "gunicorn.conf.py").read_text()
    assert '"127.0.0.1:8000"' in gunicorn and "FINDIG_WORKERS" in gunicorn
    migration = (target / "items" / "migrations" / "0001_initial.py").read_text()
    assert 'branch_labels: str | Sequence[str] | None = ("items",)' in migration
    # Every rendered Python file compiles; no placeholder is left.
    for path in target.rglob("*.py"):
        source = path.read_text()
        compile(source, str(path), "exec")
        assert "{{" not in source, path


def test_startproject_with_auth_writes_its_settings(run_cli, tmp_path, clean_settings):
    from findig.contrib.auth.conf import DEFAULTS

    target = tmp_path / "out"
    result = run_cli("startproject", "authed_site_xyz", str(target), "--auth")
    assert result.exit_code == 0, result.output
    text = (target / "authed_site_xyz" / "settings.py").read_text()
    assert '    "findig.contrib.auth",\n' in text
    names = ("AUTH_PUBLIC_PATHS", "LOGIN_MAX_ATTEMPTS", "LOGIN_WINDOW")
    # Set (at the auth app's defaults), under comments that explain them.
    lines = text.splitlines()
    for name in ("AUTH_PUBLIC_PATHS", "LOGIN_MAX_ATTEMPTS"):
        (index,) = [i for i, line in enumerate(lines) if line.startswith(f"{name} =")]
        assert lines[index - 1].startswith("# "), name
    comments = "\n".join(line for line in lines if line.startswith("#"))
    assert "LOGIN_WINDOW seconds" in comments and "@public" in comments
    namespace: dict[str, object] = {"__file__": str(target / "settings.py")}
    exec(compile(text, "settings.py", "exec"), namespace)
    assert {name: namespace[name] for name in names} == {
        name: DEFAULTS[name] for name in names
    }
    # Nothing earlier in the file suggests a value these assignments hide.
    first = text.index("AUTH_PUBLIC_PATHS = []")
    assert "\nAUTH_PUBLIC_PATHS" not in text[:first]
    assert "# AUTH_PUBLIC_PATHS =" not in text[: text.index("INSTALLED_APPS")]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("class", "is a Python keyword"),
        ("my-site", "not a valid project name"),
        ("1site", "not a valid project name"),
        ("json", "conflicts with the name of an existing Python module"),
        ("findig", "conflicts with the name of an existing Python module"),
    ],
)
def test_startproject_refuses_bad_names(
    run_cli, tmp_path, clean_settings, name, message
):
    result = run_cli("startproject", name, str(tmp_path / "out"))
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_dash_gets_a_hint(run_cli, tmp_path, clean_settings):
    result = run_cli("startproject", "my-site", str(tmp_path / "out"))
    assert "try 'my_site'" in result.output


def test_startproject_refuses_a_non_empty_target(run_cli, tmp_path, clean_settings):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "file.txt").write_text("mine")
    result = run_cli("startproject", "busy_site_xyz", str(target))
    assert result.exit_code == 1
    assert "already exists and is not empty" in result.output
    assert sorted(p.name for p in target.iterdir()) == ["file.txt"]
    # An empty directory is fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("startproject", "empty_site_xyz", str(empty)).exit_code == 0


def test_startproject_app_name_checks(run_cli, tmp_path, clean_settings):
    result = run_cli(
        "startproject", "same_xyz", str(tmp_path / "a"), "--app", "same_xyz"
    )
    assert result.exit_code != 0
    assert "needs a name of its own" in result.output
    result = run_cli("startproject", "other_xyz", str(tmp_path / "b"), "--app", "os")
    assert result.exit_code != 0
    assert (
        "not a valid app name" in result.output
        or "existing Python module" in result.output
    )


def test_startapp(generated, run_cli):
    result = run_cli("startapp", "library_books_x")
    assert result.exit_code == 0, result.output
    app = generated.root / "library_books_x"
    assert (app / "models.py").is_file()
    assert (app / "migrations" / "0001_initial.py").is_file()
    assert (generated.root / "tests" / "test_library_books_x.py").is_file()
    models = (app / "models.py").read_text()
    assert "class LibraryBooksX(Model):" in models or "class LibraryBook" in models
    assert "add" in result.output.lower() and "INSTALLED_APPS" in result.output
    result = run_cli("startapp", "library_books_x")
    assert result.exit_code != 0


# -- the command group ---------------------------------------------------------


def test_unknown_command_suggests_the_closest(generated, run_cli):
    result = run_cli("migrat")
    assert result.exit_code == 2
    assert "No such command 'migrat'. Did you mean 'migrate'?" in result.output


def test_project_commands_need_settings(run_cli, clean_settings):
    result = run_cli("migrate")
    assert result.exit_code == 2
    assert "needs a project" in result.output
    assert run_cli("migrate", "--help").exit_code == 0


APP_COMMANDS = """
import click


@click.command()
@click.argument("who")
def greet(who):
    \"\"\"Greet somebody.\"\"\"
    click.echo(f"hello {who}")
"""


def test_app_commands_join_the_group(make_project, run_cli):
    make_project(apps={"greeter": {"commands.py": APP_COMMANDS}})
    result = run_cli("--help")
    assert "greet" in result.output
    assert "Greet somebody." in result.output
    result = run_cli("greet", "world")
    assert result.exit_code == 0
    assert result.output == "hello world\n"


def test_settings_option(make_project, run_cli, monkeypatch):
    project = make_project(apps={"greeter": {"commands.py": APP_COMMANDS}})
    monkeypatch.delenv("FINDIG_SETTINGS_MODULE")
    settings.reset()
    assert "greet" not in run_cli("--help").output
    result = run_cli("--settings", f"{project.name}.settings", "greet", "you")
    assert result.output == "hello you\n"


def test_broken_app_does_not_break_help(make_project, run_cli):
    make_project(apps={"broken": {"commands.py": "import no_such_module_xyz\n"}})
    result = run_cli("--help")
    assert result.exit_code == 0
    assert "migrate" in result.output
    assert "app commands are unavailable" in result.output
    assert "no_such_module_xyz" in result.output


# -- routes --------------------------------------------------------------------

GUARDED_APPS = """
from findig.project.apps import AppConfig


class NotesConfig(AppConfig):
    url_prefix = "/notes"

    def ready(self, app):
        from .resources import note, notes

        # What a protector does when it guards a resource.
        note.findig_guard_scopes = [("notes+r", "user"), ("admin",)]
        notes.findig_guard_scopes = [()]
"""


def test_routes_show_methods_and_guards(make_project, notes_app, run_cli):
    files = dict(notes_app, **{"apps.py": GUARDED_APPS})
    project = make_project(apps={"notes": files})
    result = run_cli("routes")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["URL", "METHODS", "RESOURCE", "SCOPES"]
    item = next(line for line in lines if line.startswith("/notes/<int:id>"))
    assert "GET,HEAD,PUT,PATCH,DELETE" in item
    assert item.rstrip().endswith("notes+r,user | admin")
    collection = next(line for line in lines if line.startswith("/notes/ "))
    assert "GET,HEAD,POST" in collection
    assert collection.rstrip().endswith("(authenticated)")
    health = next(line for line in lines if line.startswith("/health"))
    assert health.rstrip().endswith("-")

    table = json.loads(run_cli("routes", "--json").output)
    by_url = {row["url"]: row for row in table}
    assert by_url["/notes/<int:id>"]["scopes"] == [["notes+r", "user"], ["admin"]]
    assert by_url["/health"]["scopes"] is None
    assert (
        by_url["/notes/"]["resource"] == f"{project.app_name('notes')}.resources.notes"
    )


# -- check ---------------------------------------------------------------------


def test_check(generated, run_cli, monkeypatch):
    result = run_cli("check")
    assert result.exit_code == 1
    assert "migration(s) not applied" in result.output
    assert f"{generated.app}.0001_initial" in result.output

    assert run_cli("migrate").exit_code == 0
    result = run_cli("check")
    assert result.exit_code == 0, result.output
    assert "no issues" in result.output

    monkeypatch.setenv("FINDIG_SECRET_KEY", "")
    settings.reset()
    result = run_cli("check")
    assert result.exit_code == 1
    assert "SECRET_KEY setting must not be empty" in result.output


def test_check_deploy(generated, run_cli, monkeypatch):
    assert run_cli("migrate").exit_code == 0
    result = run_cli("check", "--deploy")
    assert result.exit_code == 0, result.output
    assert "no issues" in result.output

    monkeypatch.setenv("FINDIG_DEBUG", "1")
    monkeypatch.setenv("FINDIG_SECRET_KEY", "aaaa")
    monkeypatch.setenv("FINDIG_ALLOWED_HOSTS", "*")
    settings.reset()
    result = run_cli("check", "--deploy", "--workers", "4")
    output = result.output
    assert result.exit_code == 0  # warnings only
    assert "WARNING [deploy] DEBUG is on" in output
    assert "SECRET_KEY is shorter than 32 characters" in output
    assert "ALLOWED_HOSTS allows any host" in output
    assert "SQLite with 4 worker processes" in output
    result = run_cli("check", "--deploy", "--workers", "4", "--fail-level", "WARNING")
    assert result.exit_code == 1
    # With one worker, SQLite is fine.
    assert "SQLite" not in run_cli("check", "--deploy").output


PROCESS_LOCAL_APPS = """
from findig.project.apps import AppConfig


class InMemoryTool:
    findig_process_local = "hits are counted in memory"

    def hook(self):
        yield


class ToolsConfig(AppConfig):
    def ready(self, app):
        app.context(InMemoryTool().hook)
"""


def test_check_deploy_flags_process_local_tools(make_project, run_cli, monkeypatch):
    make_project(apps={"tools": {"apps.py": PROCESS_LOCAL_APPS}})
    monkeypatch.setenv("FINDIG_WORKERS", "2")
    settings.reset()
    output = run_cli("check", "--deploy").output
    assert (
        "InMemoryTool keeps its state in each process (hits are counted in memory)"
        in output
    )
    monkeypatch.setenv("FINDIG_WORKERS", "1")
    settings.reset()
    assert "InMemoryTool" not in run_cli("check", "--deploy").output


def test_check_reports_broken_apps(make_project, run_cli):
    project = make_project(
        apps={"broken": {"models.py": "raise RuntimeError('boom')\n"}}
    )
    result = run_cli("check")
    assert result.exit_code == 1
    assert (
        f"ERROR [apps] Cannot import app '{project.app_name('broken')}'"
        in result.output
    )
    assert "boom" in result.output


def test_check_reports_unmigrated_models(make_project, notes_app, run_cli):
    project = make_project(apps={"notes": notes_app})
    result = run_cli("check")
    assert (
        f"App '{project.app_name('notes')}' has models but no migrations"
        in result.output
    )


# -- shell and serve -----------------------------------------------------------


def test_shell_command(generated, run_cli):
    assert run_cli("migrate").exit_code == 0
    # startproject --app things_<suffix>: the model is ThingsSuffix.
    model = "Things" + generated.app.split("_")[1].capitalize()
    result = run_cli(
        "shell",
        "-c",
        "print(type(app).__name__, settings.settings_module, "
        "sorted(n for n in dir() if n[0].isupper()))",
    )
    assert result.exit_code == 0, result.output
    assert f"ProjectApp {generated.name}.settings" in result.output
    assert model in result.output
    result = run_cli(
        "shell", input="print(session.execute(db.text('SELECT 41 + 1')).scalar())\n"
    )
    assert result.output.strip() == "42"


def test_serve_dry_run(generated, run_cli):
    result = run_cli("serve", "--dry-run", "--workers", "3", "--", "--timeout", "5")
    assert result.exit_code == 0, result.output
    command = result.output.strip()
    assert "-m gunicorn" in command
    assert f"--config {generated.root / 'gunicorn.conf.py'}" in command
    assert "--workers 3" in command
    assert "--timeout 5" in command
    assert command.endswith(f"{generated.name}.wsgi:application")


# -- real processes ------------------------------------------------------------


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def test_runserver_serves_the_project(generated, run_cli, tmp_path):
    assert run_cli("migrate").exit_code == 0
    port = free_port()
    env = dict(os.environ)
    env.pop("FINDIG_SECRET_KEY")  # runserver turns DEBUG on: no key needed
    log = tmp_path / "runserver.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{port}",
                "--no-reload",
            ],
            cwd=generated.root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", process)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/{generated.app}/",
            data=b'{"title": "from runserver"}',
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 201
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/{generated.app}/", timeout=5
        ) as response:
            assert [i["title"] for i in json.load(response)] == ["from runserver"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    # One line per request: the project's access log (generated projects turn
    # it on), not werkzeug's own request line besides.
    lines = log.read_text().splitlines()
    posts = [line for line in lines if "POST" in line]
    assert len(posts) == 1, lines
    assert json.loads(posts[0])["status"] == 201


def test_findig_script_is_installed():
    script = Path(sys.executable).with_name("findig")
    if not script.exists():
        pytest.skip("the findig script is not installed next to this Python")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "startproject" in result.stdout


COUNTER_APPS = """
from findig.project.apps import AppConfig
from findig.tools.counter import Counter

counter = Counter()


class CountedConfig(AppConfig):
    def ready(self, app):
        counter.attach_to(app)
"""


def test_check_deploy_flags_in_memory_counters(make_project, run_cli, monkeypatch):
    make_project(apps={"counted": {"apps.py": COUNTER_APPS}})
    monkeypatch.setenv("FINDIG_WORKERS", "3")
    settings.reset()
    output = run_cli("check", "--deploy").output
    assert "Counter keeps its state in each process (its hits are kept in a " in output
    assert "with 3 workers each counts on its own" in output
