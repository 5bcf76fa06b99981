"""The built-in user store: users, password hashing, bearer tokens with
scopes, wired to the protectors, and deny-by-default protection.

Add ``"findig.contrib.auth"`` to ``INSTALLED_APPS`` (generated projects
have it) and run ``manage.py migrate``. Then every resource of the project
needs authentication unless it is marked public, and resources can
require scopes::

    from findig.contrib.auth import public, requires

    @public
    @dispatcher.route("/status")
    @dispatcher.resource
    def status():
        return {"up": True}

    @requires("tasks")
    @dispatcher.route("/<int:id>")
    @dispatcher.resource(lazy=True)
    def task(id):
        ...

See the authentication guide in Findig's documentation. This module stays
light (it is imported whenever the app registry is built); the names
:func:`install`, :func:`get_installation`, :func:`current_user`,
:func:`current_grant` and :func:`public_routes` are imported from
:mod:`findig.contrib.auth.protection` on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from findig.resource import AbstractResource

__all__ = [
    "current_grant",
    "current_user",
    "get_installation",
    "install",
    "public",
    "public_routes",
    "requires",
]

R = TypeVar("R", bound="AbstractResource")

_PUBLIC_MARK = "findig_auth_public"
_REQUIRES_MARK = "findig_auth_requires"
_LAZY = {
    "current_grant",
    "current_user",
    "get_installation",
    "install",
    "public_routes",
}


def _check_resource(resource: Any, what: str) -> None:
    # PERF: imported here so that manage.py --help does not load werkzeug.
    from findig.resource import AbstractResource

    if not isinstance(resource, AbstractResource):
        raise TypeError(
            f"{what} applies to resources, not {resource!r}: put it above "
            "@dispatcher.route / @dispatcher.resource"
        )


def public(resource: R) -> R:
    """Mark a resource public: anyone may use it, without authentication.

    Every other resource of a project with the auth app installed requires
    authentication (see :func:`requires` for scopes)::

        @public
        @dispatcher.route("/status")
        @dispatcher.resource
        def status():
            return {"up": True}

    :param resource: A resource.
    :returns: The resource.
    :raises TypeError: if *resource* is not a resource.
    :raises ValueError: if the resource also :func:`requires` scopes.
    """
    _check_resource(resource, "@public")
    if vars(resource).get(_REQUIRES_MARK):
        raise ValueError(
            f"Resource {resource.name!r} requires scopes: it cannot also be public"
        )
    setattr(resource, _PUBLIC_MARK, True)
    return resource


def requires(*scopes: str) -> Callable[[R], R]:
    """Require scopes for a resource: the request's grant must cover all of
    them, with the permission its method needs (GET/HEAD ``r``, POST ``c``,
    PUT ``c`` and ``u``, PATCH ``u``, DELETE ``d``).

    Several ``@requires`` on one resource are alternatives: any one of them
    suffices. Without scopes, any authenticated request may use the
    resource (which is what every non-public resource gets anyway)::

        @requires("tasks")                # tasks+r to GET, tasks+d to DELETE
        @requires("admin")                # ...or the admin scope
        @dispatcher.route("/<int:id>")
        @dispatcher.resource(lazy=True)
        def task(id):
            ...

    :param scopes: Scope names, without permissions (``"tasks"``,
        ``"user/emails"``).
    :returns: A decorator marking a resource.
    :raises ValueError: for a malformed scope or one with permissions.
    """
    from findig.tools.protector import scopeutil

    for scope in scopes:
        if not isinstance(scope, str) or "+" in scope:
            raise ValueError(
                f"requires() takes scope names without permissions (the "
                f"request method decides the permission), not {scope!r}"
            )
        try:
            scopeutil.normalize_scope_items([scope])
        except ValueError:
            raise ValueError(f"Malformed scope name: {scope!r}") from None
        if "" in scope.split("/"):
            raise ValueError(f"Malformed scope name (empty sub-scope): {scope!r}")
    alternative = tuple(scopes)

    def decorator(resource: R) -> R:
        _check_resource(resource, "@requires")
        marks = vars(resource)
        if marks.get(_PUBLIC_MARK):
            raise ValueError(
                f"Resource {resource.name!r} is public: it cannot also require scopes"
            )
        alternatives = list(marks.get(_REQUIRES_MARK) or ())
        if alternative not in alternatives:
            alternatives.append(alternative)
        setattr(resource, _REQUIRES_MARK, alternatives)
        return resource

    return decorator


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import protection

        return getattr(protection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
