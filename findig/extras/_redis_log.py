"""A hit log stored in Redis (work in progress)."""

from __future__ import annotations

__all__ = ["RedisLog"]


class RedisLog:
    """Placeholder; the full implementation follows."""
