"""Tools for working with authorization scopes.

A *scope item* follows the grammar::

    auth_scope     ::= scope_name ["+" permissions]
    scope_name     ::= scope_fragment {"/" scope_fragment}
    permissions    ::= permission {permission}
    permission     ::= "c" | "r" | "u" | "d"

where a ``scope_fragment`` is a non-empty run of printable characters other
than ``+``, ``/`` and whitespace. Scopes are case-sensitive, and a missing
permission means ``r``. These functions are what the protectors use to
decide whether an authorization covers what a request needs.

>>> sorted(normalize_scope_items(["user+ud", "friends"]))
['friends+r', 'user+d', 'user+u']
>>> check_encapsulates("user+rd", "user/emails+r")
True
>>> sorted(compress_scope_items({"user+r", "user/emails+r", "user/emails+d"}))
['user+r', 'user/emails+d']
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "ANY",
    "check_encapsulates",
    "compress_scope_items",
    "normalize_scope_items",
]

#: The permissions, in the order compressed items list them.
_PERMISSIONS = "crud"
_ANY_ITEM = "$^&#THISISGARBAGE#*@&@#$*@$&DFDF#&#@&@&##*&@DHJGDJH#@&*^@#*+crud"

#: A special scope item that implicitly encapsulates all other scope items.
#:
#: It is a (frozen) set holding one magic item, so that it can be returned
#: wherever a set of scope items is expected: a grant whose scopes include
#: it is allowed everything. Because it is an ordinary string, a gatekeeper
#: that lets clients *choose* their scopes (as OAuth 2 does) must check the
#: requested scopes against the ones it knows and never hand this one out
#: by accident.
ANY: frozenset[str] = frozenset({_ANY_ITEM})


def _shorten(item: object) -> str:
    text = repr(item)
    return text if len(text) <= 80 else f"{text[:77]}..."


@lru_cache(maxsize=4096)
def _parse(item: str) -> tuple[str, str] | None:
    """Split a scope item into ``(name, permissions)``; ``None`` if malformed.

    The permissions are ``""`` when the item has none. The special ANY item
    is not handled here.
    """
    name, plus, perms = item.partition("+")
    if plus and (not perms or perms.strip(_PERMISSIONS)):
        # Nothing after "+", a second "+", or a letter that is not a
        # permission (permissions are lower case).
        return None
    if not name or " " in item or not item.isprintable():
        return None
    if "" in name.split("/"):
        return None
    return name, perms


def _check_mode(default_mode: str) -> str:
    if (
        not isinstance(default_mode, str)
        or not default_mode
        or default_mode.strip(_PERMISSIONS)
    ):
        raise ValueError(
            f"default_mode must be made of the permissions 'c', 'r', 'u' and "
            f"'d', not {default_mode!r}"
        )
    return default_mode


@lru_cache(maxsize=4096)
def _expand(item: str, default_mode: str) -> tuple[str, ...] | None:
    """The normalized items of one scope item (``None`` if malformed)."""
    if item == _ANY_ITEM:
        return (_ANY_ITEM,)
    parsed = _parse(item)
    if parsed is None:
        return None
    name, perms = parsed
    return tuple(f"{name}+{p}" for p in _PERMISSIONS if p in (perms or default_mode))


def _check_iterable(scopes: object) -> None:
    if isinstance(scopes, (str, bytes)):
        # Iterating a string would grant one scope per character.
        raise TypeError(
            f"Expected an iterable of scope items, not the string {_shorten(scopes)}"
        )


def normalize_scope_items(
    scopes: Iterable[str], default_mode: str = "r", raise_err: bool = True
) -> set[str]:
    """Return a set of scope items that have been normalized.

    A normalized set of scope items is one where every item is in the
    format::

        norm_scope ::= scope_name "+" permission

    Input scope items are assumed to be ``r`` by default: the scope item
    ``user`` normalizes to ``user+r``. Items with more than one permission
    are expanded to several items: ``user+ud`` becomes ``user+u`` and
    ``user+d``. Permissions are atomic and none implies another: ``user+u``
    expands to ``user+u`` and NOT (``user+r``, ``user+u``). The special
    :data:`ANY` item is kept as it is.

    >>> sorted(normalize_scope_items(["user+ud", "user"]))
    ['user+d', 'user+r', 'user+u']
    >>> normalize_scope_items(["ok", "bad//scope", "Bad+R"], raise_err=False)
    {'ok+r'}

    :param scopes: An iterable of scope items (not a single string).
    :param default_mode: The permission(s) assumed when an item has none.
    :param raise_err: If ``True``, malformed scopes raise a
        :class:`ValueError`; otherwise they are left out.
    :returns: The normalized scope items.
    :raises ValueError: for a malformed item (with *raise_err*) or an
        invalid *default_mode*.
    :raises TypeError: if *scopes* is a string rather than an iterable of
        strings.
    """
    _check_iterable(scopes)
    default_mode = _check_mode(default_mode)
    normalized: set[str] = set()
    for item in scopes:
        expanded = _expand(item, default_mode) if isinstance(item, str) else None
        if expanded is None:
            if raise_err:
                raise ValueError(f"Malformed scope item: {_shorten(item)}")
            continue
        normalized.update(expanded)
    return normalized


def _ancestors(name: str, sep: str | None) -> list[str]:
    """The names that are super-scopes of *name* (itself excluded).

    A super-scope is any prefix of *name* that is followed by *sep*; this is
    exactly the relation :func:`check_encapsulates` tests.
    """
    if not sep:
        return []
    found = []
    index = name.find(sep, 1)
    while index != -1:
        found.append(name[:index])
        index = name.find(sep, index + 1)
    return found


def _candidates(item: str, sep: str | None) -> tuple[str, ...]:
    """The normalized items that each grant the normalized *item*.

    A grant holding any of them (or :data:`ANY`) encapsulates *item*.
    """
    name, _, perm = item.rpartition("+")
    return (item, *(f"{parent}+{perm}" for parent in _ancestors(name, sep)))


def compress_scope_items(scopes: Iterable[str], default_mode: str = "r") -> set[str]:
    """Return a set of equivalent scope items that may be smaller in size.

    Items that a super-scope already grants are dropped, and the
    permissions left on one scope name are merged into one item, whose
    permissions are always written out (``user+rd``). The result grants
    exactly what the input grants, with ``/`` as the sub-scope separator.
    If the input contains :data:`ANY`, the result is :data:`ANY`.

    >>> sorted(compress_scope_items({"user+r", "user+d", "user/friends+r"}))
    ['user+rd']

    :param scopes: A normalized set of scope items. Items that are not
        normalized are normalized first.
    :param default_mode: The permission(s) assumed for an item that has
        none.
    :returns: The compressed scope items.
    :raises ValueError: for a malformed item.
    """
    items = normalize_scope_items(scopes, default_mode)
    if _ANY_ITEM in items:
        return set(ANY)
    by_name: dict[str, set[str]] = {}
    for item in items:
        name, _, perm = item.rpartition("+")
        by_name.setdefault(name, set()).add(perm)
    compressed = set()
    for name, perms in by_name.items():
        left = set(perms)
        for parent in _ancestors(name, "/"):
            left.difference_update(by_name.get(parent, ()))
            if not left:
                break
        if left:
            compressed.add(f"{name}+{''.join(p for p in _PERMISSIONS if p in left)}")
    return compressed


def _parse_or_raise(item: str, what: str) -> tuple[str, str]:
    parsed = _parse(item) if isinstance(item, str) else None
    if parsed is None:
        raise ValueError(f"Malformed scope item ({what}): {_shorten(item)}")
    name, perms = parsed
    return name, perms or "r"


def check_encapsulates(root: str, child: str, sep: str | None = "/") -> bool:
    """Check that one scope item encapsulates another.

    A scope item encapsulates another when it is the same scope or a
    super-scope of it, and when its permissions are a superset of the
    other's permissions. This implements sub-scopes, where permissions
    granted on a broad scope imply the same permissions on its sub-scopes:
    if ``user+r`` is granted to an agent, then that agent is also implied
    to have been granted ``user/emails+r``, ``user/friends+r`` and so on.
    :data:`ANY` (its one item) encapsulates every scope item.

    >>> check_encapsulates("user+r", "user/emails+r")
    True
    >>> check_encapsulates("user+r", "user/emails+d")
    False
    >>> check_encapsulates("user", "users/x")
    False
    >>> check_encapsulates("user+r", "user:emails+r", sep=":")
    True

    :param root: A super-scope (a scope item, permissions optional).
    :param child: A potential sub-scope (a scope item).
    :param sep: The separator that denotes sub-scopes. ``None`` (or an
        empty string) turns sub-scopes off: a scope then only encapsulates
        itself.
    :returns: Whether *root* encapsulates *child*.
    :raises ValueError: if either item is malformed.
    """
    if root == _ANY_ITEM:
        if child != _ANY_ITEM:
            _parse_or_raise(child, "child")
        return True
    root_name, root_perms = _parse_or_raise(root, "root")
    if child == _ANY_ITEM:
        return False
    child_name, child_perms = _parse_or_raise(child, "child")
    if child_perms.strip(root_perms):
        return False
    if child_name == root_name:
        return True
    if not sep:
        return False
    return child_name.startswith(root_name + sep)
