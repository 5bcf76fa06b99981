"""Tools backed by Redis: a data set and an exact, shared hit log.

This module requires redis-py (``pip install findig[redis]``) and raises
:class:`ImportError` when it is not installed.
"""

from __future__ import annotations

from ._redis_log import RedisLog
from ._redis_set import RedisRecord, RedisSet

__all__ = ["RedisLog", "RedisRecord", "RedisSet"]
