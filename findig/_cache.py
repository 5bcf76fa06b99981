"""Bounded memo dictionaries for the hot paths.

Findig keeps a few small caches keyed by what clients send (header values,
partition groups) or by what a process builds once (documents, commands).
Clients choose the keys, so every such cache is bounded; when full it is
emptied rather than evicted entry by entry, which costs nothing on a hit
and keeps the code trivially thread-safe under the GIL.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V, size: int) -> V:
    """Store *value* under *key* in *cache*, emptying the cache first if it
    holds *size* entries; return *value*.

    >>> cache: dict[str, int] = {"a": 1}
    >>> remember(cache, "b", 2, size=1)
    2
    >>> cache
    {'b': 2}
    """
    if len(cache) >= size:
        cache.clear()
    cache[key] = value
    return value
