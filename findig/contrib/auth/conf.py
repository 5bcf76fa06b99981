"""The settings of :mod:`findig.contrib.auth`, their defaults and checks.

Every setting is read from the project's settings module; one the module
does not define takes the default below and, like every Findig setting,
can be set from the environment as ``FINDIG_<NAME>`` (typed like its
default: ``FINDIG_LOGIN_MAX_ATTEMPTS=10``,
``FINDIG_AUTH_METHODS=bearer``, ``FINDIG_PASSWORD_HASH_OPTIONS='{...}'``).

The settings are read once, when an application is built
(:func:`load_settings`); nothing reads them while serving a request.

>>> sorted(DEFAULTS)[:3]
['AUTH_METHODS', 'AUTH_PUBLIC_PATHS', 'AUTH_REALM']
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from typing import Any

from findig.project.conf import (
    ENV_PREFIX,
    ImproperlyConfigured,
    convert_env_value,
    settings,
)

__all__ = ["DEFAULTS", "METHODS", "AuthSettings", "get_setting", "load_settings"]

#: The authentication methods ``AUTH_METHODS`` may name.
METHODS = ("bearer", "basic")

#: The settings of the app and their defaults.
DEFAULTS: dict[str, Any] = {
    # Password hashing (passlib's CryptContext, from the libpass package).
    "PASSWORD_SCHEMES": ["argon2", "bcrypt", "pbkdf2_sha256"],
    "PASSWORD_HASH_OPTIONS": {},
    "PASSWORD_MAX_LENGTH": 1024,
    # How requests authenticate, and the realm of the challenges.
    "AUTH_METHODS": ["bearer", "basic"],
    "AUTH_REALM": "api",
    # Lifetime, in seconds, of the tokens POST /auth/token issues.
    "AUTH_TOKEN_LIFETIME": 3600,
    # URL rules (fnmatch patterns) of resources anyone may use.
    "AUTH_PUBLIC_PATHS": [],
    # Brute-force protection of password logins.
    "LOGIN_MAX_ATTEMPTS": 5,
    "LOGIN_MAX_ATTEMPTS_PER_ADDRESS": 20,
    "LOGIN_WINDOW": 300,
    "LOGIN_THROTTLE_PREFIX": "findig:login:",
    "LOGIN_THROTTLE_FAIL_OPEN": False,
}

#: The settings that may be ``None`` though their default is not, with
#: their type: an empty ``FINDIG_<NAME>`` sets them to ``None``.
_NULLABLE: dict[str, type] = {"AUTH_TOKEN_LIFETIME": int}

_REALM = re.compile(r"[\x20-\x7e]*")
_MISSING = object()


def get_setting(name: str) -> Any:
    """Read one setting of the app.

    The project's settings win; a setting they do not define comes from the
    environment variable ``FINDIG_<NAME>`` if it is set (converted to the
    type of the default), else from :data:`DEFAULTS`.

    :param name: A name in :data:`DEFAULTS`.
    :raises ImproperlyConfigured: for an environment value of the wrong type.
    """
    value = settings.get(name, _MISSING)
    if value is not _MISSING:
        return value
    default = DEFAULTS[name]
    raw = os.environ.get(ENV_PREFIX + name)
    if raw is None:
        return copy.deepcopy(default)
    # The project layer's conversion of environment values (typed like the
    # default), so that FINDIG_<NAME> means the same for every setting.
    if name in _NULLABLE:
        return convert_env_value(name, raw, None, kind=_NULLABLE[name])
    return convert_env_value(name, raw, default)


@dataclass(frozen=True)
class AuthSettings:
    """The checked settings of the app, read once per application."""

    password_schemes: tuple[str, ...]
    password_hash_options: dict[str, Any]
    password_max_length: int
    methods: tuple[str, ...]
    realm: str
    token_lifetime: int | None
    public_paths: tuple[str, ...]
    max_attempts: int
    max_attempts_per_address: int
    window: int
    throttle_prefix: str
    throttle_fail_open: bool
    redis_url: str | None
    health_url: str | None


def _positive_int(name: str, value: Any, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(
            f"{name} must be a positive integer, not {value!r}"
            + (" (or None)" if allow_none else "")
        )
    return value


def _string_list(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ImproperlyConfigured(f"{name} must be a list of strings, not {value!r}")
    for item in value:
        if not isinstance(item, str) or not item:
            raise ImproperlyConfigured(
                f"{name} must be a list of non-empty strings; it holds {item!r}"
            )
    return tuple(value)


def load_settings() -> AuthSettings:
    """Read and check the app's settings.

    :returns: An :class:`AuthSettings`.
    :raises ImproperlyConfigured: naming the setting at fault.
    """
    schemes = _string_list("PASSWORD_SCHEMES", get_setting("PASSWORD_SCHEMES"))
    if not schemes:
        raise ImproperlyConfigured("PASSWORD_SCHEMES must name at least one scheme")
    options = get_setting("PASSWORD_HASH_OPTIONS")
    if not isinstance(options, dict):
        raise ImproperlyConfigured(
            f"PASSWORD_HASH_OPTIONS must be a dict of CryptContext options, "
            f"not {options!r}"
        )
    methods = tuple(
        m.lower() for m in _string_list("AUTH_METHODS", get_setting("AUTH_METHODS"))
    )
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ImproperlyConfigured(
            f"AUTH_METHODS must list some of {', '.join(METHODS)}; got "
            f"{list(methods)!r}"
        )
    realm = get_setting("AUTH_REALM")
    if (
        not isinstance(realm, str)
        or not _REALM.fullmatch(realm)
        or '"' in realm
        or "\\" in realm
    ):
        raise ImproperlyConfigured(
            "AUTH_REALM must be printable ASCII without double quotes or "
            f"backslashes, not {realm!r}"
        )
    redis_url = settings.get("REDIS_URL")
    health = settings.get("HEALTH_URL")
    return AuthSettings(
        password_schemes=schemes,
        password_hash_options=dict(options),
        password_max_length=_positive_int(
            "PASSWORD_MAX_LENGTH", get_setting("PASSWORD_MAX_LENGTH")
        ),
        methods=tuple(dict.fromkeys(methods)),
        realm=realm,
        token_lifetime=_positive_int(
            "AUTH_TOKEN_LIFETIME", get_setting("AUTH_TOKEN_LIFETIME"), allow_none=True
        ),
        public_paths=_string_list(
            "AUTH_PUBLIC_PATHS", get_setting("AUTH_PUBLIC_PATHS")
        ),
        max_attempts=_positive_int(
            "LOGIN_MAX_ATTEMPTS", get_setting("LOGIN_MAX_ATTEMPTS")
        ),
        max_attempts_per_address=_positive_int(
            "LOGIN_MAX_ATTEMPTS_PER_ADDRESS",
            get_setting("LOGIN_MAX_ATTEMPTS_PER_ADDRESS"),
        ),
        window=_positive_int("LOGIN_WINDOW", get_setting("LOGIN_WINDOW")),
        throttle_prefix=str(get_setting("LOGIN_THROTTLE_PREFIX")),
        throttle_fail_open=bool(get_setting("LOGIN_THROTTLE_FAIL_OPEN")),
        redis_url=str(redis_url) if redis_url else None,
        health_url=str(health) if health else None,
    )
