"""``routes``: the URL rules of the project, their methods and guards.

Guard scopes are read from a duck-typed attribute of each resource,
``findig_guard_scopes`` (:data:`GUARD_ATTRIBUTE`): absent or ``None`` means
the resource is not guarded; otherwise it is a sequence of alternatives (any
one suffices), each a sequence of scopes that are all required; an empty
alternative means "any authenticated client". A protector sets it when it
guards a resource, e.g. ``[("user+r",), ("admin",)]`` for
``guard(res, "user+r")`` plus ``guard(res, "admin")``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import click

__all__ = ["GUARD_ATTRIBUTE", "describe_guard", "route_table", "routes"]

#: The resource attribute holding its guard scopes (see the module's doc).
GUARD_ATTRIBUTE = "findig_guard_scopes"

_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _guard(resource: Any) -> list[list[str]] | None:
    # vars() first: a Resource answers unknown attributes with URL variables.
    own = getattr(resource, "__dict__", {})
    value = own.get(GUARD_ATTRIBUTE)
    if value is None:
        value = getattr(type(resource), GUARD_ATTRIBUTE, None)
    if value is None:
        return None
    return [[str(scope) for scope in alternative] for alternative in value]


def describe_guard(alternatives: Iterable[Iterable[str]] | None) -> str:
    """Render guard scopes for the table.

    >>> describe_guard(None)
    '-'
    >>> describe_guard([["user+r", "mail"], ["admin"]])
    'user+r,mail | admin'
    >>> describe_guard([[]])
    '(authenticated)'
    """
    if alternatives is None:
        return "-"
    parts = [",".join(alt) or "(authenticated)" for alt in alternatives]
    return " | ".join(parts) or "(denied)"


def route_table(app: Any) -> list[dict[str, Any]]:
    """The routes of a built application, in registration order.

    :param app: A :class:`findig.App`; it is frozen (its routes built) if
        it is not yet.
    :returns: One mapping per URL rule: ``url``, ``methods``, ``resource``
        (its name) and ``scopes`` (``None`` if not guarded, else the list of
        alternatives).
    """
    app.freeze()
    table = []
    # The dispatcher keeps its precomputed routes in rule order.
    for route in app.routes:
        resource = route.resource
        table.append(
            {
                "url": route.rule.rule,
                "methods": [m for m in _ORDER if m in route.methods],
                "resource": resource.name,
                "scopes": _guard(resource),
            }
        )
    return table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def routes(as_json: bool) -> None:
    """List the URL rules: methods, resource and guard scopes."""
    from ..wsgi import get_wsgi_application

    table = route_table(get_wsgi_application(check_settings=False))
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    rows = [("URL", "METHODS", "RESOURCE", "SCOPES")]
    rows += [
        (r["url"], ",".join(r["methods"]), r["resource"], describe_guard(r["scopes"]))
        for r in table
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[3]]))
