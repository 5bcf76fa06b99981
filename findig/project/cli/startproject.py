"""``startproject`` and ``startapp``: render the templates shipped with Findig."""

from __future__ import annotations

import importlib.util
import keyword
import re
import stat
from datetime import datetime, timezone
from pathlib import Path

import click

import findig

__all__ = ["render_template", "startapp", "startproject", "validate_name"]

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_VARIABLE = re.compile(r"\{\{ (\w+) \}\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DEFAULT_APP = "items"
# Appended to the generated settings when the auth app is included: the
# auth app's settings a project most often changes, at their defaults.
_AUTH_SETTINGS = """
# findig.contrib.auth: every resource needs authentication, except those
# marked @public and those whose URL rule (as routed, "*" patterns allowed)
# is listed here; the health check is always public. For example, to serve
# the OpenAPI document and its page to anyone:
# AUTH_PUBLIC_PATHS = ["/openapi.json", "/docs", "/docs/*"]
AUTH_PUBLIC_PATHS = []

# Brute-force protection of password logins (POST /auth/token, Basic):
# at most LOGIN_MAX_ATTEMPTS failed logins per user name within
# LOGIN_WINDOW seconds; further attempts are refused (429, Retry-After)
# until the window has passed. Counted in Redis when REDIS_URL is set (all
# processes together), else by each process on its own.
LOGIN_MAX_ATTEMPTS = 5
LOGIN_WINDOW = 300
"""


def validate_name(name: str, what: str) -> None:
    """Refuse *name* for a project or app, with a clear message.

    :param name: The name given on the command line.
    :param what: ``"project"`` or ``"app"`` (for the message).
    :raises click.BadParameter: if *name* is not a valid Python identifier,
        is a keyword, or is the name of a module that can already be
        imported.
    """
    if not _NAME.match(name):
        hint = ""
        if "-" in name:
            hint = f" (try {name.replace('-', '_')!r})"
        raise click.BadParameter(
            f"{name!r} is not a valid {what} name: use letters, digits and "
            f"underscores, not starting with a digit{hint}.",
            param_hint="NAME",
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise click.BadParameter(
            f"{name!r} is a Python keyword: choose another {what} name.",
            param_hint="NAME",
        )
    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = True
    if found:
        raise click.BadParameter(
            f"{name!r} conflicts with the name of an existing Python module: "
            f"choose another {what} name.",
            param_hint="NAME",
        )


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.ClickException(
            f"{target} already exists and is not empty: choose another name or "
            "an empty directory."
        )


def _output_name(name: str, variables: dict[str, str]) -> str:
    if name.endswith("-tpl"):
        name = name[: -len("-tpl")]
    if name.startswith("dot-"):
        name = "." + name[len("dot-") :]
    if name == "project_name":
        return variables["project_name"]
    if name == "app_name":
        return variables["app_name"]
    return name.replace("app_name", variables.get("app_name", "app_name"))


def render_template(
    source: Path, target: Path, variables: dict[str, str]
) -> list[Path]:
    """Copy the template folder *source* into *target*, substituting
    ``{{ name }}`` with ``variables[name]`` in ``-tpl`` files and in the
    names ``project_name`` and ``app_name``; ``dot-x`` becomes ``.x``.

    :param source: A template folder.
    :param target: Where to write (created if needed).
    :param variables: The substitutions.
    :returns: The files written.
    :raises click.ClickException: if a file to write already exists.
    """
    written: list[Path] = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if "__pycache__" in relative.parts or path.suffix in (".pyc", ".pyo"):
            continue
        out = target.joinpath(*(_output_name(p, variables) for p in relative.parts))
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        if out.exists():
            raise click.ClickException(f"{out} already exists: not overwriting it")
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith("-tpl"):
            text = path.read_text(encoding="utf-8")

            def substitute(match: re.Match[str]) -> str:
                return variables[match.group(1)]

            out.write_text(_VARIABLE.sub(substitute, text), encoding="utf-8")
        else:
            out.write_bytes(path.read_bytes())
        written.append(out)
    return written


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _camel(word: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in word.split("_") if part)


def app_variables(app: str) -> dict[str, str]:
    """The template variables of an app named *app*."""
    import secrets  # PERF: not imported when --help lists this command

    singular = _singular(app)
    if singular == app:
        item, collection = f"{app}_item", app
    else:
        item, collection = singular, app
    reserved = {"dispatcher", "validator", "id"}
    if item in reserved:
        item += "_item"
    if collection in reserved:
        collection += "_list"
    return {
        "app_name": app,
        "app_label": app,
        "config_class": f"{_camel(app)}Config",
        "model_class": _camel(singular),
        "model_singular": singular.replace("_", " "),
        "model_plural": app.replace("_", " "),
        "item_name": item,
        "collection_name": collection,
        "revision": secrets.token_hex(6),
        "create_date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
    }


def _findig_requirement() -> str:
    version = findig.__version__
    release = re.match(r"\d+(\.\d+)*", version)
    return f">={release.group(0)}" if release and "dev" not in version else ""


def _auth_installable() -> bool:
    try:
        return importlib.util.find_spec("findig.contrib.auth") is not None
    except ImportError:
        return False


@click.command()
@click.argument("name")
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--app",
    "app_name",
    default=_DEFAULT_APP,
    show_default=True,
    help="The name of the project's first app.",
)
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Include the built-in user store (findig.contrib.auth) in "
    "INSTALLED_APPS: then every resource needs authentication. "
    "Default: when it is installed.",
)
def startproject(
    name: str, directory: Path | None, app_name: str, auth: bool | None
) -> None:
    """Create a project NAME in DIRECTORY (default ./NAME).

    The project has manage.py, NAME/settings.py, NAME/wsgi.py (what gunicorn
    serves), gunicorn.conf.py, a first app with a resource, its model and
    its initial migration, and tests.
    """
    validate_name(name, "project")
    validate_name(app_name, "app")
    if app_name == name:
        raise click.BadParameter(
            "The first app needs a name of its own (--app).", param_hint="--app"
        )
    target = (directory if directory is not None else Path(name)).resolve()
    _check_target(target)
    if auth is None:
        auth = _auth_installable()
    elif auth and not _auth_installable():
        raise click.ClickException("findig.contrib.auth is not installed")
    installed = []
    if auth:
        installed.append("findig.contrib.auth")
    installed.append(app_name)
    variables = {
        "project_name": name,
        "findig_version": findig.__version__,
        "findig_requirement": _findig_requirement(),
        "installed_apps": "".join(f'    "{entry}",\n' for entry in installed),
        "auth_settings": _AUTH_SETTINGS if auth else "",
    }
    variables.update(app_variables(app_name))
    target.mkdir(parents=True, exist_ok=True)
    render_template(TEMPLATES / "project", target, variables)
    render_template(TEMPLATES / "app", target, variables)
    if auth:
        render_template(TEMPLATES / "auth", target, variables)
    manage = target / "manage.py"
    manage.chmod(manage.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    click.echo(f"Created project {name!r} in {target}")
    click.echo("Next steps:")
    if directory is None or target != Path.cwd().resolve():
        click.echo(f"  cd {target}")
    click.echo("  python manage.py migrate")
    if auth:
        click.echo("  python manage.py createuser YOUR_NAME --password-stdin")
    click.echo("  python manage.py runserver")


@click.command()
@click.argument("name")
@click.argument(
    "directory", required=False, type=click.Path(file_okay=False, path_type=Path)
)
def startapp(name: str, directory: Path | None) -> None:
    """Create an app NAME in the project directory (default: here).

    The app has a model, its initial migration, a collection and an item
    resource mounted at /NAME, and tests (in tests/). Add NAME to
    INSTALLED_APPS to use it.
    """
    validate_name(name, "app")
    root = (directory if directory is not None else Path.cwd()).resolve()
    _check_target(root / name)
    test_file = root / "tests" / f"test_{name}.py"
    if test_file.exists():
        raise click.ClickException(f"{test_file} already exists")
    render_template(TEMPLATES / "app", root, app_variables(name))
    click.echo(f"Created app {name!r} in {root / name}")
    click.echo(f'Add "{name}" to INSTALLED_APPS in your settings, then run:')
    click.echo("  python manage.py migrate")
