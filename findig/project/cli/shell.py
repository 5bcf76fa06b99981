"""``shell``: a Python shell with the project loaded."""

from __future__ import annotations

import sys
from typing import Any

import click

__all__ = ["shell", "shell_namespace"]


def shell_namespace() -> dict[str, Any]:
    """The names available in ``manage.py shell``: ``settings``, ``apps``,
    ``app`` (the WSGI application), ``db`` (:mod:`findig.project.db`),
    ``session`` (a database session) and every app's models by class name."""
    from .. import db
    from ..apps import apps
    from ..conf import settings
    from ..wsgi import get_wsgi_application

    namespace: dict[str, Any] = {
        "settings": settings,
        "apps": apps,
        "app": get_wsgi_application(check_settings=False),
        "db": db,
        "session": db.get_sessionmaker()(),
    }
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        namespace.setdefault(cls.__name__, cls)
    return namespace


@click.command()
@click.option("-c", "--command", "code", help="Run CODE instead of a shell.")
@click.option("--plain", is_flag=True, help="Use Python's shell even with IPython.")
def shell(code: str | None, plain: bool) -> None:
    """Open a Python shell with the project loaded (IPython if installed).

    Code piped on standard input is run instead of a shell.
    """
    namespace = shell_namespace()
    session = namespace["session"]
    try:
        if code is not None:
            exec(compile(code, "<shell -c>", "exec"), namespace)
            return
        if not sys.stdin.isatty():
            exec(compile(sys.stdin.read(), "<stdin>", "exec"), namespace)
            return
        banner = "Findig shell: " + ", ".join(sorted(namespace))
        if not plain:
            try:
                import IPython
            except ImportError:
                pass
            else:
                IPython.start_ipython(argv=[], user_ns=namespace, display_banner=False)
                return
        import code as interactive

        interactive.interact(banner=banner, local=namespace, exitmsg="")
    finally:
        session.close()
