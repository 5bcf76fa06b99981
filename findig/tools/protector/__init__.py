"""Authorization tools: guard resources against unauthorized access.

A :class:`Protector` collects the resources to guard and, on each request
to one of them, asks its :class:`GateKeeper` to check the request's
authorization before the resource runs. :class:`BasicProtector` is a
protector with a gatekeeper of its own, for HTTP Basic authentication
(:rfc:`7617`).

``from findig.tools.protector import *`` also imports the
:class:`~werkzeug.exceptions.Unauthorized` and
:class:`~werkzeug.exceptions.Forbidden` exceptions, for gatekeepers to
raise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import sys
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, cast

from werkzeug.exceptions import Forbidden, Unauthorized

from findig._cache import remember

from ...context import current_state
from ...resource import AbstractResource
from .._attach import AppTool
from . import scopeutil
from .scopeutil import _ANY_ITEM, _candidates, _check_iterable, _expand, _parse

__all__ = [
    "BasicProtector",
    "Forbidden",
    "GateKeeper",
    "Protector",
    "Unauthorized",
    "compare_secrets",
    "scopeutil",
]

#: The permissions each HTTP method needs on a guarded resource's scopes.
_METHOD_PERMISSIONS = {
    "GET": "r",
    "HEAD": "r",
    "POST": "c",
    "PUT": "cu",
    "PATCH": "u",
    "DELETE": "d",
}
#: What any other method (one a custom resource may support) needs.
_OTHER_PERMISSIONS = "crud"

#: The longest ``Authorization`` header BasicProtector reads.
_MAX_BASIC_HEADER = 4096

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_REALM = re.compile(r"[\x20-\x7e]*")

# Strict base64 (RFC 4648 alphabet and padding, nothing else): what
# ``base64.b64decode(data, validate=True)`` does, without its wrapping, from
# Python 3.11 on (Any: typeshed has no strict_mode for 3.10).
_STRICT_BASE64 = sys.version_info >= (3, 11)
_a2b_base64: Any = binascii.a2b_base64

#: Normalized scopes of the grants seen, by the scope items a gatekeeper
#: returned (a tuple or frozenset of them): tokens of a user share their
#: scopes, so most requests look them up instead of normalizing them.
_SCOPES_CACHE: dict[Any, frozenset[str]] = {}
_SCOPES_CACHE_SIZE = 1024
_SCOPES_CACHED_ITEMS = 64

#: The credentials of the Basic ``Authorization`` headers seen (``None``: a
#: malformed header), by header. Emptied when full: clients choose headers.
#: Only the parsing is cached, never whether the credentials are valid.
_CREDENTIALS: dict[str, tuple[str, str] | None] = {}
_CREDENTIALS_SIZE = 256
_UNPARSED: Any = object()


def compare_secrets(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets in constant time.

    Strings are compared as their UTF-8 encoding. The comparison takes the
    same time whatever the contents of the secrets *and* whatever their
    lengths (SHA-256 digests of both are compared with
    :func:`hmac.compare_digest`), so a timing attack learns nothing from
    it. Use it in the ``auth_func`` of a :class:`BasicProtector` and in
    gatekeepers that compare tokens or keys.

    >>> compare_secrets("s3cret", "s3cret")
    True
    >>> compare_secrets("s3cret", b"s3cre")
    False

    :param a: A secret.
    :param b: Another secret.
    :returns: Whether they are equal.
    """
    if isinstance(a, str):
        a = a.encode("utf-8", "surrogatepass")
    if isinstance(b, str):
        b = b.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(hashlib.sha256(a).digest(), hashlib.sha256(b).digest())


class GateKeeper(metaclass=ABCMeta):
    """The authorization mechanism of a :class:`Protector`.

    To implement a gatekeeper, implement at least :meth:`check_auth` and
    :meth:`get_username`. Override :meth:`get_scopes` if the mechanism's
    grants carry scopes (by default a grant allows everything), and
    :meth:`get_clientid` if they identify a client.
    """

    #: The ``WWW-Authenticate`` challenge added to an
    #: :class:`~werkzeug.exceptions.Unauthorized` raised by
    #: :meth:`check_auth` that has none (a 401 response must carry one).
    challenge: str = 'Bearer realm="guarded"'

    @abstractmethod
    def check_auth(self) -> Any:
        """Try to perform an authorization check using the request context
        variables (:data:`findig.context.request` and so on).

        Perform the authorization check using whatever mechanism the
        gatekeeper implements. If authorization fails, raise
        :class:`~werkzeug.exceptions.Unauthorized`.

        :returns: A 'grant', which the protector passes back to the other
            methods to query the authorization. It must not be ``None``: a
            ``None`` grant is treated as a failed check.
        :raises werkzeug.exceptions.Unauthorized: if the request carries no
            valid authorization.
        """

    @abstractmethod
    def get_username(self, grant: Any) -> Any:
        """Return the username (or user id) of the user who authorized
        *grant*.

        :param grant: A grant returned by :meth:`check_auth`.
        """

    def get_clientid(self, grant: Any) -> Any:
        """Return the id of the client that *grant* was issued to, or
        ``None`` (the default) if the mechanism does not identify clients.

        :param grant: A grant returned by :meth:`check_auth`.
        """
        return None

    def get_scopes(self, grant: Any) -> Iterable[str]:
        """Return the scope items that *grant* is authorized for.

        By default this is :data:`scopeutil.ANY
        <findig.tools.protector.scopeutil.ANY>`: the grant allows access to
        every guarded resource, whatever its scopes. Malformed items are
        ignored (so they grant nothing).

        :param grant: A grant returned by :meth:`check_auth`.
        :returns: An iterable of scope items (not a single string).
        """
        return scopeutil.ANY


class _DenyAll(GateKeeper):
    """The gatekeeper of a protector given none: every check fails."""

    def check_auth(self) -> Any:
        raise Unauthorized()

    def get_username(self, grant: Any) -> Any:  # pragma: no cover - no grants
        return None


class _InsufficientScope(Forbidden):
    """403: the grant does not cover the scopes of the guarded resource.

    With a bearer-token gatekeeper, the answer carries the challenge of
    :rfc:`6750` (section 3.1): ``error="insufficient_scope"`` and the scope
    the request needs (the guard's first alternative).
    """

    description = (
        "The request's authorization does not cover the scope this resource "
        "requires for this method."
    )
    #: Added to the JSON app's error body as ``"error"``.
    error_info = {"type": "insufficient_scope"}

    def __init__(self, challenge: str | None, needed: frozenset[str]) -> None:
        super().__init__()
        self.challenge: str | None = None
        if challenge and challenge.startswith("Bearer "):
            scope = " ".join(sorted(needed))
            self.challenge = f'{challenge}, error="insufficient_scope"'
            if _SCOPE_TOKENS.fullmatch(scope):
                self.challenge += f', scope="{scope}"'

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        headers = super().get_headers(*args, **kwargs)
        if self.challenge:
            headers.append(("WWW-Authenticate", self.challenge))
        return headers


#: Space-separated scope tokens, as :rfc:`6749` (section 3.3) allows them.
_SCOPE_TOKENS = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*")


#: The authorization of the current request: the gatekeeper that checked
#: it, its grant, and the grant's normalized scopes (``None`` until needed).
#: PERF: a tuple; making an instance of a class costs about 0.1 µs more.
_Record = tuple[GateKeeper, Any, frozenset[str] | None]


def _normalize(items: Iterable[Any]) -> frozenset[str]:
    normalized: set[str] = set()
    for item in items:
        # Malformed items are dropped: they grant nothing.
        expanded = _expand(item, "r") if isinstance(item, str) else None
        if expanded is not None:
            normalized.update(expanded)
    return frozenset(normalized)


def _normalized(raw: Any) -> frozenset[str]:
    """The normalized scope items of what a gatekeeper's ``get_scopes``
    returned, cached per tuple (or frozenset) of items."""
    if raw is scopeutil.ANY:
        return scopeutil.ANY
    kind = type(raw)
    key: tuple[Any, ...] | frozenset[Any]
    if kind is list:
        key = tuple(raw)
    elif kind is tuple or kind is frozenset:
        key = raw
    else:
        _check_iterable(raw)
        # A set (its order varies), or an iterator, say: read it once.
        key = frozenset(raw) if isinstance(raw, (set, frozenset)) else tuple(raw)
    try:
        scopes = _SCOPES_CACHE.get(key)
    except TypeError:  # an unhashable (and so malformed) item
        return _normalize(key)
    if scopes is None:
        scopes = _normalize(key)
        if len(key) <= _SCOPES_CACHED_ITEMS:
            remember(_SCOPES_CACHE, key, scopes, _SCOPES_CACHE_SIZE)
    return scopes


#: One alternative of a guard, for one request method: the normalized items
#: it needs (a grant holding all of them is let through) and, if super-scopes
#: may grant some of them, for each item the items that cover it (``None``
#: if each is covered by itself only).
_Alternative = tuple[frozenset[str], tuple[tuple[str, ...], ...] | None]
#: What a request method needs on a guarded resource: its alternatives.
#: ``None``: any authenticated request.
_Checks = tuple[_Alternative, ...] | None


class _Guard:
    """What guarding one resource means, precomputed at registration."""

    __slots__ = ("alternatives", "checks", "other", "resource")

    def __init__(self, resource: AbstractResource) -> None:
        # Holding the resource keeps its id() unique while it is guarded.
        self.resource = resource
        self.alternatives: list[frozenset[str]] = []
        #: The checks of each method, and of any other method.
        self.checks: dict[str, _Checks] = {}
        self.other: _Checks = None

    def add(self, scopes: frozenset[str], sep: str | None) -> None:
        if scopes in self.alternatives:
            return
        self.alternatives.append(scopes)
        self.checks = {
            method: self._compile(perms, sep)
            for method, perms in _METHOD_PERMISSIONS.items()
        }
        self.other = self._compile(_OTHER_PERMISSIONS, sep)

    def _compile(self, perms: str, sep: str | None) -> _Checks:
        if any(not alt for alt in self.alternatives):
            # A guard without scopes lets any authenticated request through.
            return None
        checks = []
        for alt in self.alternatives:
            items = tuple(
                _candidates(f"{name}+{perm}", sep)
                for name in sorted(alt)
                for perm in perms
            )
            exact = frozenset(candidates[0] for candidates in items)
            # PERF: a grant naming every item is one subset test away.
            nested = any(len(candidates) > 1 for candidates in items)
            checks.append((exact, items if nested else None))
        return tuple(checks)


def _covers(granted: frozenset[str], items: tuple[tuple[str, ...], ...]) -> bool:
    """Whether *granted* holds, for each item, one of the items covering it."""
    return all(any(item in granted for item in covering) for covering in items)


class Protector(AppTool):
    """A protector is responsible for guarding access to restricted
    resources::

        from findig import App
        from findig.tools.protector import Protector

        app = App()
        protector = Protector(app, gatekeeper=MyGateKeeper())
        protector.guard(resource)

    For each request to a guarded resource, the protector asks its
    gatekeeper to check the request's authorization before the resource
    runs, then checks that the grant's scopes cover the scopes the resource
    is guarded with, for the permission the request method needs:

    ====================  ===========
    Method                Permission
    ====================  ===========
    GET, HEAD             ``r``
    POST                  ``c``
    PUT                   ``c`` and ``u``
    PATCH                 ``u``
    DELETE                ``d``
    any other             all of ``crud``
    ====================  ===========

    A request without valid authorization is answered with 401
    (:class:`~werkzeug.exceptions.Unauthorized`, with a
    ``WWW-Authenticate`` header); one whose grant lacks the scope with 403
    (:class:`~werkzeug.exceptions.Forbidden`). Both go through the app's
    error handlers, and the resource is not called. ``OPTIONS`` requests
    are let through without authorization, so CORS preflight requests
    work: they never reach the resource (the app answers them with the
    allowed methods).

    :param app: A findig application instance; if given, the protector is
        attached to it (see :meth:`attach_to`).
    :param subscope_separator: A separator used to denote sub-scopes: a
        grant for ``user`` covers ``user/emails``. ``None`` turns sub-scopes
        off, so a grant only covers the scopes it names.
    :param gatekeeper: A concrete implementation of :class:`GateKeeper`. If
        not provided, the protector denies every request to its guarded
        resources (401).
    :raises ValueError: for an invalid *subscope_separator*.
    :raises TypeError: if *gatekeeper* is not a :class:`GateKeeper`.
    """

    def __init__(
        self,
        app: Any = None,
        subscope_separator: str | None = "/",
        gatekeeper: GateKeeper | None = None,
    ) -> None:
        super().__init__()
        if subscope_separator is not None and (
            not isinstance(subscope_separator, str)
            or not subscope_separator
            or "+" in subscope_separator
            or not subscope_separator.isprintable()
            or " " in subscope_separator
        ):
            raise ValueError(
                "subscope_separator must be None or a non-empty string of "
                f"printable characters other than '+' and spaces, not "
                f"{subscope_separator!r}"
            )
        if gatekeeper is None:
            gatekeeper = _DenyAll()
        elif not isinstance(gatekeeper, GateKeeper):
            raise TypeError(
                f"gatekeeper must be a findig.tools.protector.GateKeeper, not "
                f"{type(gatekeeper).__name__}"
            )
        self.subscope_separator = subscope_separator
        #: The :class:`GateKeeper` checking requests to guarded resources.
        self.gatekeeper: GateKeeper = gatekeeper
        self._guards: dict[int, _Guard] = {}
        # The request context attribute holding this protector's grant.
        self._key = f"findig_protector_{id(self):x}"
        if app is not None:
            self.attach_to(app)

    # -- registration -----------------------------------------------------

    def attach_to(self, app: Any) -> None:
        """Attach the protector to a findig application.

        This is called automatically for any app that is passed to the
        protector's constructor. By attaching the protector to a findig
        application, the protector is enabled to intercept requests made to
        the application, performing authorization checks as needed. It
        does so with a request context hook (see
        :meth:`findig.App.context`); attach the protector before other
        tools (such as a counter) for the check to run first.

        :param app: A findig application (a :class:`findig.App`, or a
            subclass like :class:`findig.json.App`) whose requests the
            protector will intercept.
        :raises RuntimeError: if the app has already handled a request.
        """
        if not self._start_attaching(app):
            return
        guards = self._guards
        protector = self

        def hook() -> _Record | None:
            # PERF: the whole check in one function (no further calls of
            # the protector's), with what each guard needs precomputed.
            state: Any = current_state()
            guard = guards.get(id(state.resource))
            if guard is None:
                return None  # a mock route's resource, not guarded
            method = state.request.method
            if method == "OPTIONS":
                return None
            gatekeeper = protector.gatekeeper
            try:
                grant = gatekeeper.check_auth()
                if grant is None:
                    raise Unauthorized()
            except Unauthorized as exc:
                if not exc.www_authenticate and gatekeeper.challenge:
                    # A 401 response must carry a challenge.
                    exc.www_authenticate = cast(Any, [gatekeeper.challenge])
                raise
            checks = guard.checks.get(method, guard.other)
            if checks is None:
                return (gatekeeper, grant, None)
            granted = _normalized(gatekeeper.get_scopes(grant))
            record = (gatekeeper, grant, granted)
            if _ANY_ITEM in granted:
                return record
            for exact, items in checks:
                if exact <= granted or (items is not None and _covers(granted, items)):
                    return record
            raise _InsufficientScope(gatekeeper.challenge, checks[0][0])

        def guarded(resource: Any) -> bool:
            return id(resource) in guards

        # The app sets ctx.<hook name> to the value returned: the grant.
        # PERF: a plain hook, run only for the routes of guarded resources
        # (decided when the app freezes, after every guard() call); the
        # others never call it, and read None as its value.
        hook.__name__ = hook.__qualname__ = self._key
        app.context(hook, applies_to=guarded, plain=True)
        self._apps.append(app)

    def guard(self, *args: Any) -> Any:
        """guard(resource[, scope[, scope[, ...]]])

        Guard a resource against unauthorized access.

        If given, the scopes will be used to protect the resource (similar
        to OAuth) such that only requests whose grant covers *all* of them
        are allowed through. Without scopes, any authenticated request is
        allowed through.

        If this function is called more than once for a resource, then a
        grant by any of the specifications will allow the request to
        access the resource. For example::

            # This protector will allow requests to res with BOTH
            # "user" and "friends" scope, but it will also allow
            # requests with only "foo" scope.
            protector.guard(res, "user", "friends")
            protector.guard(res, "foo")

        A protector can also be used to decorate resources for guarding,
        above the decorator that makes the resource (``@app.route`` or
        ``@app.resource``)::

            @protector.guard
            @app.route("/foo")
            def foo():
                # Any authenticated request is allowed through.
                ...

            @protector.guard("user/email_addresses")
            @app.route("/bar")
            def bar():
                # Only requests authorized with "user/email_addresses"
                # scope (or "user", a super-scope) are allowed through.
                ...

            @protector.guard("user/phone_numbers", "user/contact")
            @app.route("/baz")
            def baz():
                # Requests must be authorized with both scopes.
                ...

        Each resource is guarded on its own: guarding a
        :class:`~findig.resource.Collection` does not guard its items'
        resource, nor the other way around.

        :param resource: A :class:`~findig.resource.AbstractResource`.
        :param scope: A resource scope: a scope name, without permissions
            (the request method decides the permission needed).
        :returns: The resource; or, when called with scopes only (or
            nothing), a decorator that guards a resource with them.
        :raises ValueError: for a malformed scope.
        :raises TypeError: if the resource is not a resource.
        :raises RuntimeError: after the app has handled its first request.
        """
        if not args or isinstance(args[0], str):
            scopes = args

            def decorator(resource: Any) -> Any:
                return self._guard(resource, scopes)

            return decorator
        return self._guard(args[0], args[1:])

    def _guard(self, resource: Any, scopes: tuple[Any, ...]) -> Any:
        if not isinstance(resource, AbstractResource):
            raise TypeError(
                f"Cannot guard {resource!r}: it is not a resource. Put "
                "@protector.guard above @app.route/@app.resource, or pass the "
                "resource they return."
            )
        names = frozenset(self._check_scope(scope) for scope in scopes)
        self._check_open("guard resources")
        guard = self._guards.get(id(resource))
        if guard is None:
            guard = _Guard(resource)
        guard.add(names, self.subscope_separator)
        self._guards[id(resource)] = guard
        return resource

    def guards(self, resource: Any) -> list[frozenset[str]] | None:
        """The guards of a resource, for introspection (documentation tools).

        >>> from findig import App
        >>> app = App()
        >>> @app.route("/tasks")
        ... def tasks():
        ...     return []
        >>> protector = Protector(app)
        >>> protector.guards(tasks) is None
        True
        >>> _ = protector.guard(tasks, "tasks", "admin")
        >>> _ = protector.guard(tasks)
        >>> [sorted(scopes) for scopes in protector.guards(tasks)]
        [['admin', 'tasks'], []]

        :param resource: A resource.
        :returns: ``None`` if the protector does not guard *resource*;
            otherwise the scopes of each :meth:`guard` call for it, in
            order (a request is let through when its grant covers all the
            scopes of any one of them; an empty set: any authenticated
            request). A new list each time.
        """
        guard = self._guards.get(id(resource))
        if guard is None:
            return None
        return list(guard.alternatives)

    def _check_scope(self, scope: Any) -> str:
        if not isinstance(scope, str):
            raise TypeError(f"A resource scope must be a string, not {scope!r}")
        parsed = _parse(scope)
        if parsed is None:
            raise ValueError(f"Malformed resource scope: {scope!r}")
        if "+" in scope:
            raise ValueError(
                f"Resource scope {scope!r} has permissions: a resource scope is "
                "a scope name only (the request method decides the permission)"
            )
        sep = self.subscope_separator
        if sep is not None and "" in scope.split(sep):
            raise ValueError(
                f"Malformed resource scope {scope!r}: it has an empty sub-scope "
                f"(separator {sep!r})"
            )
        return scope

    # -- requests ---------------------------------------------------------

    def _current(self) -> _Record | None:
        state = current_state()
        if state is None:
            return None
        return cast("_Record | None", getattr(state, self._key, None))

    @property
    def authenticated_user(self) -> Any:
        """The username/id of the authenticated user for the current request.

        ``None`` outside a request, in a request to a resource this
        protector does not guard, and in an ``OPTIONS`` request.
        """
        record = self._current()
        if record is None:
            return None
        return record[0].get_username(record[1])

    @property
    def authenticated_client(self) -> Any:
        """The client id of the authenticated client for the current request,
        or ``None`` (also wherever :attr:`authenticated_user` is ``None``).
        """
        record = self._current()
        if record is None:
            return None
        return record[0].get_clientid(record[1])

    @property
    def authorized_scope(self) -> frozenset[str]:
        """The scope items authorized for the current request, normalized
        (see :func:`~findig.tools.protector.scopeutil.normalize_scope_items`):
        ``{"user+r", "user+d"}`` for a grant of ``user+rd``.

        :data:`~findig.tools.protector.scopeutil.ANY` for a grant that allows
        everything, and an empty set wherever :attr:`authenticated_user` is
        ``None``.
        """
        record = self._current()
        if record is None:
            return frozenset()
        gatekeeper, grant, scopes = record
        if scopes is None:
            scopes = _normalized(gatekeeper.get_scopes(grant))
            # Kept for the rest of the request.
            setattr(current_state(), self._key, (gatekeeper, grant, scopes))
        return scopes


class _BasicGateKeeper(GateKeeper):
    """HTTP Basic authentication for a :class:`BasicProtector`."""

    def __init__(self, protector: BasicProtector, realm: str) -> None:
        self.protector = protector
        self.challenge = f'Basic realm="{realm}", charset="UTF-8"'

    def check_auth(self) -> Any:
        state = current_state()
        header = state.environ.get("HTTP_AUTHORIZATION", "") if state else ""
        # PERF: a client sends the same header with each request; parsing it
        # (base64, UTF-8, checks) costs about as much as the rest of the check.
        credentials = _CREDENTIALS.get(header, _UNPARSED)
        if credentials is _UNPARSED:
            credentials = _parse_basic(header)
            if len(header) <= _MAX_BASIC_HEADER:
                remember(_CREDENTIALS, header, credentials, _CREDENTIALS_SIZE)
        fauth = self.protector._auth_func
        if credentials is None or fauth is None or not fauth(*credentials):
            raise Unauthorized(
                "Valid credentials are required to access this resource.",
                www_authenticate=cast(Any, [self.challenge]),
            )
        return credentials[0]

    def get_username(self, grant: Any) -> Any:
        return grant


def _parse_basic(header: str | None) -> tuple[str, str] | None:
    """The ``(username, password)`` of a Basic ``Authorization`` header, or
    ``None`` if there are none or the header is malformed in any way."""
    if not header or len(header) > _MAX_BASIC_HEADER:
        return None
    scheme, _, param = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        data = param.strip().encode("ascii")
        if _STRICT_BASE64:
            decoded = _a2b_base64(data, strict_mode=True)
        else:  # pragma: no cover - Python 3.10
            decoded = base64.b64decode(data, validate=True)
        text = decoded.decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        return None
    username, colon, password = text.partition(":")
    # (isprintable() first: quicker, and true only without control characters)
    if not colon or (not text.isprintable() and _CONTROL.search(text)):
        return None
    return username, password


class BasicProtector(Protector):
    """A :class:`Protector` that implements HTTP Basic Auth (:rfc:`7617`).

    While straightforward, this protector has a few security
    considerations:

    * Credentials are transmitted in plain-text. If you must use this
      protector, then at the very least the HTTPS protocol should be used.
    * Credentials are transmitted with each request. It requires that
      clients either store user credentials, or prompt the user for their
      credentials at frequent intervals (possibly every request).
    * This protector offers no scoping support; a grant from this
      protector allows unlimited access to any resource that it guards
      (:attr:`authorized_scope` is
      :data:`~findig.tools.protector.scopeutil.ANY`).

    A request without credentials, with another scheme, with a malformed
    header (bad base64, not UTF-8, no colon, control characters, longer
    than 4 KiB) or with credentials that the ``auth_func`` refuses is
    answered with 401 and
    ``WWW-Authenticate: Basic realm="<realm>", charset="UTF-8"``. Without
    an ``auth_func`` every request is refused. The username is the
    :attr:`authenticated_user`.

    :param app: As for :class:`Protector`.
    :param subscope_separator: As for :class:`Protector`.
    :param auth_func: The function checking credentials (see
        :meth:`auth_func`).
    :param realm: The realm of the challenge: printable ASCII without
        double quotes or backslashes.
    :raises ValueError: for an invalid realm.
    """

    def __init__(
        self,
        app: Any = None,
        subscope_separator: str | None = "/",
        auth_func: Callable[[str, str], bool] | None = None,
        realm: str = "guarded",
    ) -> None:
        if (
            not isinstance(realm, str)
            or not _REALM.fullmatch(realm)
            or '"' in realm
            or "\\" in realm
        ):
            raise ValueError(
                "realm must be printable ASCII without double quotes or "
                f"backslashes, not {realm!r}"
            )
        #: The realm of the ``WWW-Authenticate`` challenge.
        self.realm = realm
        self._auth_func = auth_func
        super().__init__(
            app, subscope_separator, gatekeeper=_BasicGateKeeper(self, realm)
        )

    def auth_func(
        self, fauth: Callable[[str, str], bool]
    ) -> Callable[[str, str], bool]:
        """Supply an application-defined function that performs
        authentication.

        The function has the signature
        ``fauth(username: str, password: str) -> bool`` and should return
        whether or not the credentials given authenticate successfully.
        Compare secrets with :func:`compare_secrets` (or verify a password
        hash) so the check takes the same time whatever the password.
        ``auth_func`` is usable as a decorator::

            @protector.auth_func
            def check_credentials(usn, pwd):
                user = db.get_obj(usn)
                return user is not None and compare_secrets(user.password, pwd)

        :param fauth: The function.
        :returns: *fauth*.
        :raises RuntimeError: after the app has handled its first request.
        """
        self._check_open("set the auth_func of a BasicProtector")
        self._auth_func = fauth
        return fauth
