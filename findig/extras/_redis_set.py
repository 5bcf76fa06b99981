"""A data set stored in Redis (work in progress)."""

from __future__ import annotations

__all__ = ["RedisSet"]


class RedisSet:
    """A data set stored in Redis."""
