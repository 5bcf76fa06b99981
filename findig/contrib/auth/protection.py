"""Deny by default: how the auth app protects a project's application.

:func:`install` (called by the app's ``ready()``) attaches a
:class:`~findig.tools.protector.Protector` with the store's gatekeeper to
the application and, when the application builds its routes (before the
first request), guards **every routed resource** except the public ones:

- resources marked with :func:`~findig.contrib.auth.public`;
- resources one of whose URL rules matches a pattern of
  ``AUTH_PUBLIC_PATHS`` (:func:`fnmatch.fnmatchcase` on the rule as routed,
  such as ``"/docs"``, ``"/docs/*"`` or ``"/tasks/<int:id>"``);
- the health check (``HEALTH_URL``) and the auth app's ``/token`` and
  ``/revoke`` endpoints.

A resource marked with :func:`~findig.contrib.auth.requires` is guarded
with those scopes (even if a public path matches it); any other is guarded
without scopes: any authenticated request may use it.

After start-up each routed resource carries, for ``manage.py routes`` and
``manage.py check --deploy``, the attributes ``findig_guard_scopes`` (the
guard's alternatives, each a tuple of scopes; ``[()]`` for "any
authenticated user"; ``None`` when public) and ``findig_public`` (``True``
for a public resource).
"""

from __future__ import annotations

import fnmatch
import weakref
from typing import TYPE_CHECKING, Any

from findig.context import current_state
from findig.tools.protector import Protector

from .conf import AuthSettings, load_settings
from .gatekeepers import AuthGrant, StoreGateKeeper
from .hashing import get_hasher
from .store import Authenticator
from .throttle import LoginThrottle

if TYPE_CHECKING:
    from findig.app import App
    from findig.resource import AbstractResource

__all__ = [
    "GUARD_ATTRIBUTE",
    "PUBLIC_ATTRIBUTE",
    "Installation",
    "current_grant",
    "current_user",
    "get_installation",
    "install",
    "public_routes",
]

#: Set on each routed resource at start-up: the guard's alternatives, or
#: ``None`` for a public resource (read by ``manage.py routes``).
GUARD_ATTRIBUTE = "findig_guard_scopes"
#: Set on each routed resource at start-up: whether it is public.
PUBLIC_ATTRIBUTE = "findig_public"
#: Set by :func:`~findig.contrib.auth.public`.
PUBLIC_MARK = "findig_auth_public"
#: Set by :func:`~findig.contrib.auth.requires`: a list of scope tuples.
REQUIRES_MARK = "findig_auth_requires"
#: The request-context attribute holding the request's grant.
GRANT_ATTRIBUTE = "findig_auth_grant"

_installations: weakref.WeakKeyDictionary[Any, Installation] = (
    weakref.WeakKeyDictionary()
)


def _marks(resource: Any) -> dict[str, Any]:
    # vars(): a Resource answers unknown attributes with URL variables.
    try:
        return vars(resource)
    except TypeError:
        return {}


class _RecordingGateKeeper(StoreGateKeeper):
    """The store's gatekeeper, keeping the grant on the request context
    (for :func:`current_grant`)."""

    def check_auth(self) -> AuthGrant:
        grant = super().check_auth()
        state = current_state()
        if state is not None:
            setattr(state, GRANT_ATTRIBUTE, grant)
        return grant


class Installation:
    """The auth app's set-up for one application: settings, password
    hashing, throttle, gatekeeper and protector.

    :param app: The application.
    :param settings: The app's settings (default: read now).
    """

    def __init__(self, app: App, settings: AuthSettings | None = None) -> None:
        self.settings = settings = settings or load_settings()
        hasher = get_hasher(
            settings.password_schemes,
            settings.password_hash_options,
            settings.password_max_length,
        )
        # PERF: the dummy hash is made now, not by the first failed login.
        hasher.dummy_hash  # noqa: B018
        #: The failed-login throttle.
        self.throttle = LoginThrottle(
            settings.max_attempts,
            settings.max_attempts_per_address,
            settings.window,
            redis_url=settings.redis_url,
            prefix=settings.throttle_prefix,
            fail_open=settings.throttle_fail_open,
        )
        #: Checks passwords (timing, throttling, re-hashing).
        self.authenticator = Authenticator(hasher, self.throttle)
        #: The gatekeeper of the store (Basic and Bearer).
        self.gatekeeper = _RecordingGateKeeper(
            self.authenticator, settings.methods, settings.realm
        )
        #: The protector guarding the application's resources.
        self.protector = Protector(app, gatekeeper=self.gatekeeper)
        #: The URL rules found public at start-up.
        self.public: list[str] = []
        self._app = weakref.ref(app)
        app.startup_hook(self.startup)

    @property
    def hasher(self) -> Any:
        """The :class:`~findig.contrib.auth.hashing.PasswordHasher`."""
        return self.authenticator.hasher

    @property
    def findig_process_local(self) -> str | None:
        """Read by ``manage.py check --deploy`` (see
        :attr:`LoginThrottle.findig_process_local
        <findig.contrib.auth.throttle.LoginThrottle.findig_process_local>`)."""
        return self.throttle.findig_process_local

    def __repr__(self) -> str:
        return f"<Installation {self.gatekeeper!r} {self.throttle!r}>"

    def _is_public_rule(self, rule: str) -> bool:
        health = self.settings.health_url
        if health and rule == health:
            return True
        return any(
            fnmatch.fnmatchcase(rule, pattern) for pattern in self.settings.public_paths
        )

    def startup(self) -> None:
        """Guard every routed resource that is not public (run by the
        application before its first request, once its routes are built)."""
        app = self._app()
        if app is None:  # pragma: no cover - the app holds this hook
            return
        rules: dict[int, tuple[AbstractResource, list[str]]] = {}
        # The dispatcher's precomputed routes (built before start-up hooks
        # run), as ``manage.py routes`` reads them.
        for route in app.routes:
            entry = rules.setdefault(id(route.resource), (route.resource, []))
            entry[1].append(route.rule.rule)
        public: list[str] = []
        for resource, urls in rules.values():
            marks = _marks(resource)
            requires: list[tuple[str, ...]] = list(marks.get(REQUIRES_MARK) or ())
            is_public = bool(marks.get(PUBLIC_MARK)) or (
                not requires and any(self._is_public_rule(u) for u in urls)
            )
            if is_public:
                public.extend(urls)
                guard: list[tuple[str, ...]] | None = None
            elif requires:
                for scopes in requires:
                    self.protector.guard(resource, *scopes)
                guard = [tuple(scopes) for scopes in requires]
            else:
                self.protector.guard(resource)
                guard = [()]
            setattr(resource, GUARD_ATTRIBUTE, guard)
            setattr(resource, PUBLIC_ATTRIBUTE, is_public)
        self.public = public


def install(app: App) -> Installation:
    """Protect *app* with the user store (deny by default); see the module
    documentation. Called by the auth app's ``ready()``; installing twice
    returns the first installation.

    :param app: The application, before its first request, with the
        project's database sessions installed.
    :returns: The :class:`Installation`.
    :raises ImproperlyConfigured: for invalid settings.
    """
    found = _installations.get(app)
    if found is None:
        found = Installation(app)
        _installations[app] = found
    return found


def get_installation(app: Any) -> Installation:
    """The :class:`Installation` of *app*.

    :raises LookupError: if the auth app is not installed on *app*.
    """
    try:
        return _installations[app]
    except (KeyError, TypeError):
        raise LookupError(
            "findig.contrib.auth is not installed on this application (add it "
            "to INSTALLED_APPS)"
        ) from None


def public_routes(app: Any) -> list[str]:
    """The URL rules of *app* that anyone may use (after its start-up).

    :param app: An application the auth app is installed on; it is frozen
        (its routes built) if it is not yet.
    """
    app.freeze()
    return list(get_installation(app).public)


def current_grant() -> AuthGrant | None:
    """The :class:`~findig.contrib.auth.gatekeepers.AuthGrant` of the
    current request, or ``None`` (outside a request, or for a public
    resource)."""
    state = current_state()
    if state is None:
        return None
    return getattr(state, GRANT_ATTRIBUTE, None)


def current_user() -> str | None:
    """The (normalised) name of the user of the current request, or
    ``None``."""
    grant = current_grant()
    return grant.username if grant is not None else None
