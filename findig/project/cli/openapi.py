"""``openapi``: print the project's OpenAPI document.

The document describes the application built from the settings (its routes,
the validators, protectors and counters attached to it) exactly as the
application serves it at ``OPENAPI_URL`` when the ``OPENAPI`` setting is on
(see :func:`findig.project.wsgi.get_openapi`); it is printed even when the
setting is off, for a build step that publishes it or a client generator::

    python manage.py openapi --output openapi.json
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["openapi"]


@click.command()
@click.option(
    "--indent",
    type=click.IntRange(min=0, max=16),
    default=2,
    show_default=True,
    help="Indentation of the JSON text (0: all on one line).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the document to FILE instead of standard output.",
)
def openapi(indent: int, output: Path | None) -> None:
    """Print the OpenAPI 3.1 document of the project's API."""
    from ..wsgi import get_openapi, get_wsgi_application

    app = get_wsgi_application(check_settings=False)
    text = get_openapi(app).to_json(app, indent=indent or None)
    if output is None:
        click.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    click.echo(f"Wrote the OpenAPI document to {output}", err=True)
