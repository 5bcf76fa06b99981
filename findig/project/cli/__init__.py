"""The ``findig`` command and every project's ``manage.py``.

One click group serves both: ``findig`` is the console script, and a
generated ``manage.py`` sets ``FINDIG_SETTINGS_MODULE`` and calls
:func:`main`. The group holds the built-in commands (each in a module of
this package, imported only when listed or run) and the commands of every
installed app (see :meth:`findig.project.apps.AppConfig.get_commands`).

Nothing here imports SQLAlchemy or Alembic: commands import them when they
run, so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from ..conf import ENVIRONMENT_VARIABLE, ImproperlyConfigured, settings

__all__ = ["FindigGroup", "cli", "main"]

#: Built-in commands: name → "module:attribute" in this package.
BUILTIN_COMMANDS: dict[str, str] = {
    "check": "check:check",
    "makemigrations": "migrate:makemigrations",
    "migrate": "migrate:migrate",
    "openapi": "openapi:openapi",
    "routes": "routes:routes",
    "runserver": "server:runserver",
    "serve": "server:serve",
    "shell": "shell:shell",
    "showmigrations": "migrate:showmigrations",
    "startapp": "startproject:startapp",
    "startproject": "startproject:startproject",
}


#: Built-in commands that work without a settings module.
NO_SETTINGS_COMMANDS = frozenset({"startproject", "startapp"})


def _ensure_cwd_importable() -> None:
    # Like ``python -m``, but last: the project's modules never shadow others.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def _use_settings(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value:
        os.environ[ENVIRONMENT_VARIABLE] = value
        settings.reset()
        from ..apps import apps

        apps.reset()
    return value


class FindigGroup(click.Group):
    """A click group that loads built-in commands lazily, adds the commands
    of the installed apps, and suggests the closest command for a typo."""

    def _app_commands(self) -> dict[str, click.Command]:
        if not settings.configured:
            return {}
        from ..apps import apps

        found: dict[str, click.Command] = {}
        for config in apps.get_app_configs():
            for command in config.get_commands():
                name = command.name or ""
                if name in BUILTIN_COMMANDS or name in found:
                    continue
                found[name] = command
        return found

    def _safe_app_commands(self) -> dict[str, click.Command]:
        try:
            return self._app_commands()
        except ImproperlyConfigured as exc:
            click.echo(f"Warning: app commands are unavailable: {exc}", err=True)
            return {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(BUILTIN_COMMANDS) | set(self.commands)
        names.update(self._safe_app_commands())
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        target = BUILTIN_COMMANDS.get(cmd_name)
        if target is not None:
            module_name, _, attribute = target.partition(":")
            module = importlib.import_module(f"{__name__}.{module_name}")
            command: click.Command = getattr(module, attribute)
            return command
        return self._app_commands().get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib  # PERF: only for the error message

            choices = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean {choices[0]!r}?" if choices else ""
            if not settings.configured:
                hint += (
                    " (Project commands need a settings module: run manage.py, "
                    "or pass --settings.)"
                )
            ctx.fail(f"No such command {name!r}.{hint}")
        resolved = super().resolve_command(ctx, args)
        wants_help = any(arg in ("-h", "--help") for arg in args[1:])
        if (
            resolved[0] not in NO_SETTINGS_COMMANDS
            and not wants_help
            and not settings.configured
        ):
            raise click.UsageError(
                f"{resolved[0]!r} needs a project: run it with the project's "
                "manage.py, pass --settings MODULE, or set "
                f"{ENVIRONMENT_VARIABLE}.",
                ctx,
            )
        return resolved

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImproperlyConfigured as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=FindigGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings",
    metavar="MODULE",
    is_eager=True,
    expose_value=False,
    callback=_use_settings,
    help="The settings module (default: $FINDIG_SETTINGS_MODULE).",
)
@click.version_option(package_name="findig", prog_name="Findig")
def cli() -> None:
    """Findig's project commands: create a project, migrate its database,
    run and check it."""


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``findig`` command (also ``manage.py``'s entry point).

    :param argv: The arguments (default ``sys.argv[1:]``).
    """
    _ensure_cwd_importable()
    cli.main(args=list(argv) if argv is not None else None)
