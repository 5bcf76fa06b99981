"""Password hashing: passlib's :class:`~passlib.context.CryptContext` (from
the maintained *libpass* distribution), configured from the settings.

The first scheme of ``PASSWORD_SCHEMES`` hashes new passwords (argon2id by
default); the others are accepted for existing hashes and are *deprecated*:
a successful login re-hashes such a hash with the first scheme, as it does a
hash made with weaker parameters than ``PASSWORD_HASH_OPTIONS`` ask for.

Verifying a password takes the same time whether the user exists or not:
without a stored hash, the password is verified against a dummy hash of the
default scheme, made once per process.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
from typing import Any

from passlib.context import CryptContext

from findig.project.conf import ImproperlyConfigured

__all__ = ["BCRYPT_MAX_BYTES", "PasswordHasher", "PasswordTooLong", "get_hasher"]

logger = logging.getLogger("findig.contrib.auth")

#: bcrypt only reads the first 72 bytes of a password.
BCRYPT_MAX_BYTES = 72


class PasswordTooLong(ValueError):  # noqa: N818 - a ValueError
    """A password longer than the hasher accepts (``PASSWORD_MAX_LENGTH``
    bytes in UTF-8, or 72 bytes when the default scheme is bcrypt)."""


class PasswordHasher:
    """Hashes and verifies passwords.

    :param schemes: passlib scheme names; the first hashes new passwords.
    :param options: Extra :class:`~passlib.context.CryptContext` keyword
        options (``{"argon2__memory_cost": 19456}``).
    :param max_length: The longest password accepted, in UTF-8 bytes.
    :raises ImproperlyConfigured: for an unknown scheme or option.
    """

    def __init__(
        self,
        schemes: tuple[str, ...] | list[str],
        options: dict[str, Any] | None = None,
        max_length: int = 1024,
    ) -> None:
        try:
            self.context = CryptContext(
                schemes=list(schemes), deprecated="auto", **dict(options or {})
            )
            self.context.handler()  # resolves the default scheme's handler
        except (KeyError, ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"PASSWORD_SCHEMES / PASSWORD_HASH_OPTIONS are invalid: {exc}"
            ) from None
        #: The scheme new passwords are hashed with.
        self.default_scheme: str = self.context.default_scheme()
        limit = max_length
        if self.default_scheme == "bcrypt":
            limit = min(limit, BCRYPT_MAX_BYTES)
        #: The longest password accepted, in UTF-8 bytes.
        self.max_length = limit
        self._dummy: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PasswordHasher {self.default_scheme}>"

    @property
    def dummy_hash(self) -> str:
        """A hash of a random password, made once, verified in place of a
        missing one."""
        dummy = self._dummy
        if dummy is None:
            with self._lock:
                if self._dummy is None:
                    self._dummy = self.context.hash(secrets.token_urlsafe(24))
                dummy = self._dummy
        return dummy

    def too_long(self, password: str) -> bool:
        """Whether *password* is longer than :attr:`max_length` bytes."""
        # PERF: a str has at most 4 UTF-8 bytes per character.
        if len(password) * 4 <= self.max_length:
            return False
        return len(password.encode("utf-8", "surrogatepass")) > self.max_length

    def hash(self, password: str) -> str:
        """Hash a new password with the default scheme.

        :raises PasswordTooLong: if it is longer than :attr:`max_length`
            bytes.
        :raises ValueError: for an empty password.
        """
        if not isinstance(password, str) or not password:
            raise ValueError("A password cannot be empty")
        if self.too_long(password):
            raise PasswordTooLong(
                f"Passwords are at most {self.max_length} bytes long (UTF-8)"
            )
        return str(self.context.hash(password))

    def _burn(self, password: str) -> None:
        """Spend the time of a verification, for a result already known."""
        with contextlib.suppress(ValueError, TypeError):
            self.context.verify(password, self.dummy_hash)

    def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """Check *password* against the stored hash.

        It takes the time of one verification whatever happens: without a
        hash (an unknown user, or one without a usable password), or with a
        hash that cannot be checked, the dummy hash is verified instead.

        :param password: The password given (at most :attr:`max_length`
            bytes: check with :meth:`too_long` first).
        :param stored: The stored hash, or ``None``.
        :returns: ``(matches, new_hash)``; *new_hash* is a fresh hash of the
            password when it matches a deprecated or weaker hash (store it),
            else ``None``.
        """
        if stored is None or self.too_long(password):
            self._burn(password)
            return False, None
        scheme = self.context.identify(stored)
        if scheme is None:
            logger.warning("A stored password hash has an unknown format")
            self._burn(password)
            return False, None
        if (
            scheme == "bcrypt"
            and len(password.encode("utf-8", "surrogatepass")) > BCRYPT_MAX_BYTES
        ):
            # bcrypt would ignore the bytes past 72: refuse rather than
            # accept a password that only starts like the right one.
            self._burn(password)
            return False, None
        try:
            ok, new_hash = self.context.verify_and_update(password, stored)
        except (ValueError, TypeError) as exc:
            logger.warning("A stored password hash cannot be verified: %s", exc)
            self._burn(password)
            return False, None
        return bool(ok), (str(new_hash) if new_hash else None)

    def needs_update(self, stored: str) -> bool:
        """Whether *stored* would be re-hashed on the next login."""
        return bool(self.context.needs_update(stored))


_hashers: dict[tuple[Any, ...], PasswordHasher] = {}
_hashers_lock = threading.Lock()


def get_hasher(
    schemes: tuple[str, ...] | list[str],
    options: dict[str, Any] | None = None,
    max_length: int = 1024,
) -> PasswordHasher:
    """The :class:`PasswordHasher` for these settings, made once per
    process (so its dummy hash is computed once).

    :param schemes: As for :class:`PasswordHasher`.
    :param options: As for :class:`PasswordHasher`.
    :param max_length: As for :class:`PasswordHasher`.
    """
    key = (
        tuple(schemes),
        tuple(sorted((k, repr(v)) for k, v in (options or {}).items())),
        max_length,
    )
    hasher = _hashers.get(key)
    if hasher is None:
        with _hashers_lock:
            hasher = _hashers.get(key)
            if hasher is None:
                hasher = PasswordHasher(schemes, options, max_length)
                _hashers[key] = hasher
    return hasher
