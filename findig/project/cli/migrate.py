"""``migrate``, ``makemigrations`` and ``showmigrations``."""

from __future__ import annotations

import click

__all__ = ["makemigrations", "migrate", "showmigrations"]


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.command()
@click.argument("app", required=False)
@click.argument("revision", required=False)
@click.option(
    "--fake",
    is_flag=True,
    help="Mark the migrations as applied (or unapplied) without running them.",
)
def migrate(app: str | None, revision: str | None, fake: bool) -> None:
    """Update the database schema.

    Without arguments, apply every app's migrations. With APP, apply that
    app's migrations; with APP and REVISION, move that app to REVISION,
    upgrading or downgrading: REVISION is a file name (0002_add_colour), its
    number (0002), a revision id, or "zero" to unapply all of the app's
    migrations.
    """
    from ..migrations import MigrationError
    from ..migrations import migrate as run_migrate

    click.echo("Migrating " + (f"app {app!r}" if app else "all apps") + "...")
    try:
        run_migrate(app, revision, fake=fake, report=click.echo)
    except MigrationError as exc:
        raise _fail(exc) from exc
    click.echo("Done.")


@click.command()
@click.argument("apps", nargs=-1)
@click.option("-m", "--message", help="The revision message (and file name).")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit with status 1 if the models and the migrations differ.",
)
@click.option(
    "--empty", is_flag=True, help="Write an empty revision (for a data migration)."
)
def makemigrations(
    apps: tuple[str, ...], message: str | None, check: bool, empty: bool
) -> None:
    """Write migrations for the changes to the models of APPS (default:
    every app with models), one revision per app in its migrations folder.
    """
    from ..migrations import MigrationError
    from ..migrations import makemigrations as run_makemigrations

    try:
        written = run_makemigrations(
            apps, message, check=check, empty=empty, report=click.echo
        )
    except MigrationError as exc:
        if check:
            click.echo(str(exc), err=True)
            raise SystemExit(1) from exc
        raise _fail(exc) from exc
    if not check and not written:
        click.echo("No changes detected.")


@click.command()
def showmigrations() -> None:
    """List every app's migrations; [X] marks the applied ones."""
    from ..migrations import show_migrations

    entries = show_migrations()
    if not entries:
        click.echo("No app has migrations.")
    for entry in entries:
        click.echo(entry.label)
        if not entry.migrations:
            click.echo(" (no migrations)")
        for info in entry.migrations:
            mark = "X" if info.applied else " "
            click.echo(f" [{mark}] {info.name}  ({info.revision})")
