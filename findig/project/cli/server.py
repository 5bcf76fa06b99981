"""``runserver`` (development) and ``serve`` (gunicorn, production)."""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys

import click

from ..conf import ENVIRONMENT_VARIABLE, settings

__all__ = ["gunicorn_command", "runserver", "serve"]


def _split_address(value: str) -> tuple[str | None, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    try:
        number = int(port)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a port or host:port", param_hint="ADDRPORT"
        ) from None
    return (host.strip("[]") or None), number


@click.command()
@click.argument("addrport", required=False)
@click.option("--host", "-h", "host", default=None, help="Default: 127.0.0.1.")
@click.option("--port", "-p", type=int, default=None, help="Default: 8000.")
@click.option(
    "--reload/--no-reload",
    default=True,
    show_default=True,
    help="Restart when a source file changes.",
)
@click.option(
    "--threaded/--no-threaded",
    default=True,
    show_default=True,
    help="Serve each request in a thread.",
)
@click.option(
    "--debug/--no-debug",
    default=True,
    show_default=True,
    help="Run with DEBUG on (SECRET_KEY may then be empty).",
)
def runserver(
    addrport: str | None,
    host: str | None,
    port: int | None,
    reload: bool,
    threaded: bool,
    debug: bool,
) -> None:
    """Serve the project for development (werkzeug's server).

    ADDRPORT is PORT or HOST:PORT (default 127.0.0.1:8000). Never use this
    server in production: use `serve` (gunicorn).
    """
    from werkzeug.serving import run_simple

    from ..wsgi import get_wsgi_application

    if addrport:
        parsed_host, parsed_port = _split_address(addrport)
        host = host or parsed_host
        port = port or parsed_port
    host = host or "127.0.0.1"
    port = port or 8000
    with settings.override(DEBUG=debug):
        application = get_wsgi_application()
        if os.environ.get("WERKZEUG_RUN_MAIN") != "true":
            click.echo(
                f"Findig development server (settings {settings.settings_module}, "
                f"DEBUG={debug}) at http://{host}:{port}/ - Ctrl+C to quit."
            )
            _warn_pending()
        run_simple(
            host,
            port,
            application,
            use_reloader=reload,
            use_debugger=False,
            threaded=threaded,
            request_handler=_quiet_handler() if settings.ACCESS_LOG else None,
        )


def _quiet_handler() -> type:
    """werkzeug's request handler without its own line per request: with
    ``ACCESS_LOG`` on, the project's access log already has one."""
    from werkzeug.serving import WSGIRequestHandler

    class QuietRequestHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    return QuietRequestHandler


def _warn_pending() -> None:
    try:
        from ..migrations import pending_migrations

        pending = pending_migrations()
    except Exception as exc:  # the server still starts; /health will tell
        click.echo(f"Warning: cannot read the migrations state: {exc}", err=True)
        return
    if pending:
        click.echo(
            f"Warning: {len(pending)} migration(s) not applied: run "
            "`python manage.py migrate`.",
            err=True,
        )


def gunicorn_command(
    bind: str | None, workers: int | None, extra: tuple[str, ...] = ()
) -> list[str]:
    """The command line :func:`serve` runs.

    gunicorn reads ``gunicorn.conf.py`` from ``BASE_DIR`` if there is one,
    and serves ``WSGI_APPLICATION`` (see :mod:`findig.project.conf`).
    """
    base = settings.BASE_DIR
    argv = [sys.executable, "-m", "gunicorn", "--chdir", str(base)]
    config = base / "gunicorn.conf.py"
    if config.is_file():
        argv += ["--config", str(config)]
    elif workers is None:
        workers = settings.WORKERS
    if bind:
        argv += ["--bind", bind]
    if workers is not None:
        argv += ["--workers", str(workers)]
    argv += list(extra)
    argv.append(_wsgi_target())
    return argv


def _wsgi_target() -> str:
    target = settings.WSGI_APPLICATION
    if target:
        return str(target)
    module = settings.settings_module
    if module and "." in module:
        package = module.rpartition(".")[0]
        try:
            if importlib.util.find_spec(f"{package}.wsgi") is not None:
                return f"{package}.wsgi:application"
        except ImportError:
            pass
    return "findig.project.wsgi:application"


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--bind", "-b", help="Address to listen on (gunicorn's --bind).")
@click.option("--workers", "-w", type=int, help="Number of worker processes.")
@click.option("--dry-run", is_flag=True, help="Print the gunicorn command only.")
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(
    bind: str | None,
    workers: int | None,
    dry_run: bool,
    gunicorn_args: tuple[str, ...],
) -> None:
    """Serve the project with gunicorn (production).

    gunicorn is configured by gunicorn.conf.py in the project directory;
    --bind and --workers override it, and GUNICORN_ARGS are passed on.
    The process becomes gunicorn's master (same PID).
    """
    if importlib.util.find_spec("gunicorn") is None:
        raise click.ClickException(
            'gunicorn is not installed: pip install "findig[deploy]"'
        )
    argv = gunicorn_command(bind, workers, gunicorn_args)
    if dry_run:
        click.echo(shlex.join(argv))
        return
    module = settings.settings_module
    if module:
        os.environ[ENVIRONMENT_VARIABLE] = module
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
