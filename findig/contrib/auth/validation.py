"""User names and scopes: normalisation and checks.

User names are compared in a normalised form: Unicode NFKC, then case
folded, so that ``Alice``, ``ALICE`` and full-width ``\uff41lice`` are
one user:

>>> normalize_username("  \uff21lice ")
'alice'

Scopes follow the grammar of :mod:`findig.tools.protector.scopeutil`. A
user's (or a token's) scopes are stored in a canonical form: compressed,
with the permissions written out, sorted and separated by spaces:

>>> format_scopes(parse_scopes("tasks+rd user/emails user+r"))
'tasks+rd user+r'
>>> covers(parse_scopes("user+r"), parse_scopes("user/emails"))
True
>>> covers(parse_scopes("user+r"), parse_scopes("user+d"))
False
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from findig.tools.protector import scopeutil

__all__ = [
    "MAX_SCOPES_LENGTH",
    "MAX_USERNAME_LENGTH",
    "InvalidScope",
    "InvalidUsername",
    "covers",
    "effective_scopes",
    "format_scopes",
    "normalize_username",
    "parse_scopes",
    "split_scopes",
]

#: The longest user name (in characters, once normalised).
MAX_USERNAME_LENGTH = 150
#: The longest scope string accepted (characters).
MAX_SCOPES_LENGTH = 2000
#: The most scope items in one scope string.
MAX_SCOPE_ITEMS = 100

_FORBIDDEN = re.compile(r"[\s:\x00-\x1f\x7f-\x9f]")
_ANY_ITEMS = frozenset(scopeutil.ANY)


class InvalidUsername(ValueError):  # noqa: N818 - a ValueError
    """A user name that cannot be stored: empty, too long, or containing
    white space, control characters or a colon."""


class InvalidScope(ValueError):  # noqa: N818 - a ValueError
    """A malformed scope string (the message names the item)."""


def normalize_username(name: str) -> str:
    """Return the canonical form of a user name: surrounding white space
    removed, NFKC-normalised and case-folded.

    :param name: A user name as typed.
    :raises InvalidUsername: if the result is empty, longer than
        :data:`MAX_USERNAME_LENGTH`, or contains white space, a control
        character or a colon (which HTTP Basic credentials cannot carry).
    """
    if not isinstance(name, str):
        raise InvalidUsername("A user name must be a string")
    # Bound the work before normalising (NFKC may expand a character).
    if len(name) > 4 * MAX_USERNAME_LENGTH:
        raise InvalidUsername(
            f"User names are at most {MAX_USERNAME_LENGTH} characters long"
        )
    folded = unicodedata.normalize("NFKC", name.strip()).casefold()
    folded = unicodedata.normalize("NFKC", folded)
    if not folded:
        raise InvalidUsername("A user name cannot be empty")
    if len(folded) > MAX_USERNAME_LENGTH:
        raise InvalidUsername(
            f"User names are at most {MAX_USERNAME_LENGTH} characters long"
        )
    if _FORBIDDEN.search(folded) or not folded.isprintable():
        raise InvalidUsername(
            "A user name cannot contain white space, control characters or ':'"
        )
    return folded


def split_scopes(scopes: str | Iterable[str] | None) -> list[str]:
    """Split a scope string (items separated by spaces or commas) or an
    iterable of such strings into items.

    >>> split_scopes("tasks+r, user")
    ['tasks+r', 'user']
    """
    if scopes is None:
        return []
    parts = [scopes] if isinstance(scopes, str) else list(scopes)
    items: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise InvalidScope(f"Scopes must be strings, not {part!r}")
        items.extend(p for p in re.split(r"[\s,]+", part) if p)
    return items


def parse_scopes(scopes: str | Iterable[str] | None) -> frozenset[str]:
    """Parse and check scopes; return them normalised (one permission per
    item, see :func:`~findig.tools.protector.scopeutil.normalize_scope_items`).

    :param scopes: A scope string or an iterable of scope strings.
    :raises InvalidScope: for a malformed item, too many items or too long
        a string.
    """
    if isinstance(scopes, str):
        return _parse_string(scopes)
    return _parse_items(split_scopes(scopes))


# PERF: the scope strings of users and tokens are parsed on every request
# that authenticates; the few distinct ones are parsed once.
@lru_cache(maxsize=1024)
def _parse_string(text: str) -> frozenset[str]:
    if len(text) > 2 * MAX_SCOPES_LENGTH:
        raise InvalidScope(f"Scopes are at most {MAX_SCOPES_LENGTH} characters long")
    return _parse_items(split_scopes(text))


def _parse_items(items: list[str]) -> frozenset[str]:
    if sum(len(i) + 1 for i in items) > MAX_SCOPES_LENGTH:
        raise InvalidScope(f"Scopes are at most {MAX_SCOPES_LENGTH} characters long")
    if len(items) > MAX_SCOPE_ITEMS:
        raise InvalidScope(f"At most {MAX_SCOPE_ITEMS} scope items are allowed")
    normalized: set[str] = set()
    for item in items:
        if item in _ANY_ITEMS:
            raise InvalidScope(f"Scope item {item!r} is reserved")
        try:
            normalized.update(scopeutil.normalize_scope_items([item]))
        except ValueError:
            raise InvalidScope(
                f"Malformed scope item {item[:80]!r}: expected name[+crud], "
                "sub-scopes separated by '/'"
            ) from None
    return frozenset(normalized)


def format_scopes(scopes: Iterable[str]) -> str:
    """The canonical scope string of normalised scope items (compressed,
    sorted, separated by single spaces)."""
    items = set(scopes)
    if not items:
        return ""
    return " ".join(sorted(scopeutil.compress_scope_items(items)))


@lru_cache(maxsize=1024)
def effective_scopes(granted: str, wanted: str) -> frozenset[str]:
    """The normalised items of the scope string *wanted* that the scope
    string *granted* covers (a token's scopes that its user still has).

    >>> sorted(effective_scopes("tasks+r user", "tasks+rd user/emails"))
    ['tasks+r', 'user/emails+r']
    """
    held = parse_scopes(granted)
    return frozenset(item for item in parse_scopes(wanted) if covers(held, (item,)))


def covers(granted: Iterable[str], wanted: Iterable[str]) -> bool:
    """Whether the normalised items *granted* encapsulate every normalised
    item of *wanted* (a super-scope grants its sub-scopes, ``/``
    separated; scopes are case-sensitive).

    :param granted: Normalised scope items.
    :param wanted: Normalised scope items.
    """
    granted = list(granted)
    return all(
        any(scopeutil.check_encapsulates(root, item) for root in granted)
        for item in wanted
    )
