"""A data set stored in Redis.

Import it from :mod:`findig.extras.redis`.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any, cast
from uuid import UUID

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..resource import merge_patch
from ..tools.dataset import (
    MutableDataSet,
    MutableRecord,
    _check_limit,
    _combine_limits,
    _convert,
    _describe_spec,
    _matches,
    _require_mapping,
)

__all__ = ["RedisRecord", "RedisSet"]

#: The name of the field that identifies the records of a RedisSet.
ID_FIELD = "id"
# PERF: records are read from Redis in batches of this size while a
# collection is iterated (one ZRANGE and one MGET per batch).
_BATCH_SIZE = 500


# -- values with their types, as tagged JSON ------------------------------------
#
# Values are stored as JSON. Types that JSON lacks are written as objects with
# a single "$tag" key: {"$datetime": "2015-07-19T00:00:00+04:00"}. A mapping of
# the application's that happens to have a single key starting with "$" is
# escaped as {"$dict": {...}}, so that it cannot be mistaken for a tag.


def _pack(value: Any) -> Any:
    """Turn *value* into plain JSON data, tagging the types JSON lacks."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        packed = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"RedisSet field names must be strings, not {type(key).__name__}"
                )
            packed[key] = _pack(item)
        if len(packed) == 1 and next(iter(packed)).startswith("$"):
            return {"$dict": packed}
        return packed
    if isinstance(value, (list, tuple)):
        return [_pack(item) for item in value]
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"RedisSet cannot store values of type {type(value).__name__}")


_UNTAG = {
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": time.fromisoformat,
    "$decimal": Decimal,
    "$uuid": UUID,
    "$bytes": base64.b64decode,
}


def _unpack(value: Any) -> Any:
    """The inverse of :func:`_pack`."""
    if isinstance(value, dict):
        if len(value) == 1:
            tag, inner = next(iter(value.items()))
            if tag == "$dict" and isinstance(inner, dict):
                return {key: _unpack(item) for key, item in inner.items()}
            convert = _UNTAG.get(tag)
            if convert is not None and isinstance(inner, str):
                try:
                    return convert(inner)
                except (ValueError, ArithmeticError):
                    pass  # not written by RedisSet: keep it as it is
        return {key: _unpack(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unpack(item) for item in value]
    return value


def _dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(_pack(data), separators=(",", ":"), ensure_ascii=False)


def _loads(raw: bytes | str) -> dict[str, Any]:
    data = _unpack(json.loads(raw))
    if not isinstance(data, dict):
        raise ValueError("A RedisSet item is not a JSON object")
    return data


# -- keys and clients -------------------------------------------------------------


def _key_from_frame(frame: FrameType) -> str:
    """A key named after the function running in *frame*, the same in every
    process that runs the same code (however the module was started)."""
    code = frame.f_code
    module = frame.f_globals.get("__name__") or "?"
    if module == "__main__":
        spec = frame.f_globals.get("__spec__")
        name = getattr(spec, "name", None)
        module = name if name else Path(code.co_filename).stem
    qualname = getattr(code, "co_qualname", code.co_name)
    return f"findig:redisset:{module}.{qualname}"


_default_client: redis.Redis | None = None
_default_client_lock = threading.Lock()


def _get_default_client() -> redis.Redis:
    global _default_client
    with _default_client_lock:
        if _default_client is None:
            # Fail fast when the server is down: short timeouts, no retries.
            _default_client = redis.Redis(
                host="localhost",
                port=6379,
                socket_timeout=2.0,
                socket_connect_timeout=1.0,
                retry=Retry(NoBackoff(), 0),
            )
        return _default_client


def _as_int(value: Any) -> int:
    return int(value.decode("ascii") if isinstance(value, bytes) else value)


class RedisSet(MutableDataSet):
    """A :class:`~findig.tools.dataset.MutableDataSet` stored in Redis.

    Each item is one JSON document in its own Redis string, and the
    collection is a sorted set of the item ids (the index). Ids are
    allocated with an atomic ``INCR``; an item and its index entry are
    written and deleted together in a ``MULTI`` transaction, and a partial
    update (PATCH) is an optimistic ``WATCH``/``MULTI`` transaction that is
    retried on conflict, so any number of processes can share a set.

    Values keep their types: strings, integers, floats, booleans, ``None``,
    lists and nested mappings are JSON; datetimes, dates, times, decimals,
    UUIDs and bytes are stored as tagged JSON (never pickled or evaluated).
    Tuples come back as lists. Field names must be strings.

    Every record has an integer ``id`` field, allocated by the set (an
    ``id`` in the data given to :meth:`add` or to an update is ignored);
    :meth:`add` returns ``{"id": <id>}``.

    Keys, for a base key ``K``: ``K:next`` (the id counter), ``K:index``
    (the sorted set of ids, scored by id) and ``K:item:<id>`` (an item).
    Deleting an item removes its key and its index entry.

    :param key: The base key that should be used for the sorted set. If not
        given, one is deterministically generated from the module and the
        qualified name of the function creating the set, usually the
        collection's resource function (``items()`` called from the item
        resource then uses the same key); it is the same in every process
        running the same code. Give an explicit key in production, so that
        renaming a function does not move your data.
    :param client: A :class:`redis.Redis` instance that should be used to
        communicate with the redis server. If not given, a default instance
        is used (``localhost:6379``, database 0, with short timeouts).
    :param index_size: The number of bytes to use to index items in the set
        (per item): ids range from 1 to ``256 ** index_size - 1`` (1 to 6
        bytes; 4 allows over four billion items).

    :meth:`limit` is done by Redis when applied to the set itself
    (``ZRANGE``), and :meth:`count` too (``ZCARD``); :meth:`filtered`,
    :meth:`sorted` and a :meth:`limit` following them read the items in
    batches and work in Python (the sort is stable, so successive sorts
    combine). A search by ``id`` (``fetch(id=...)``) is a single ``GET``.
    """

    def __init__(
        self,
        key: str | None = None,
        client: redis.Redis | None = None,
        index_size: int = 4,
    ) -> None:
        if isinstance(index_size, bool) or not isinstance(index_size, int):
            raise TypeError("index_size must be an integer number of bytes")
        if not 1 <= index_size <= 6:
            raise ValueError("index_size must be between 1 and 6 bytes")
        if key is None:
            frame = sys._getframe(1)
            # Skip the constructors of subclasses.
            while (
                frame.f_back is not None
                and frame.f_code.co_name == "__init__"
                and frame.f_locals.get("self") is self
            ):
                frame = frame.f_back
            key = _key_from_frame(frame)
        elif not isinstance(key, str) or not key:
            raise ValueError("A RedisSet key must be a non-empty string")
        self.key = key
        self.client = client if client is not None else _get_default_client()
        self.index_size = index_size
        self.max_id = 256**index_size - 1
        self.index_key = f"{key}:index"
        self.counter_key = f"{key}:next"
        self._item_prefix = f"{key}:item:"
        self._window: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"<RedisSet {self.key!r}>"

    def item_key(self, item_id: int) -> str:
        """The Redis key of the item with id *item_id*.

        :param item_id: An item id.
        """
        return f"{self._item_prefix}{item_id}"

    # -- reading ----------------------------------------------------------------

    def _ids(self) -> Iterator[list[int]]:
        """The ids of the set, in batches, in order."""
        client = self.client
        window = self._window
        if window is None:
            low: str = "-inf"
            while True:
                members = client.zrangebyscore(
                    self.index_key, low, "+inf", start=0, num=_BATCH_SIZE
                )
                if not members:
                    return
                ids = [_as_int(m) for m in members]
                yield ids
                if len(ids) < _BATCH_SIZE:
                    return
                low = f"({ids[-1]}"
        else:
            count, offset = window
            done = 0
            while done < count:
                size = min(_BATCH_SIZE, count - done)
                start = offset + done
                members = client.zrange(self.index_key, start, start + size - 1)
                if not members:
                    return
                yield [_as_int(m) for m in members]
                done += len(members)
                if len(members) < size:
                    return

    def __iter__(self) -> Iterator[RedisRecord]:
        for ids in self._ids():
            raws = self.client.mget([self.item_key(i) for i in ids])
            for item_id, raw in zip(ids, cast(list[Any], raws), strict=True):
                if raw is not None:  # deleted since the index was read
                    yield RedisRecord(self, item_id, self._record(item_id, raw))

    @staticmethod
    def _record(item_id: int, raw: bytes | str) -> dict[str, Any]:
        return {ID_FIELD: item_id, **_loads(raw)}

    def _read(self, item_id: int) -> dict[str, Any]:
        raw = self.client.get(self.item_key(item_id))
        if raw is None:
            raise LookupError(f"There is no item {item_id} in {self!r}")
        return self._record(item_id, cast(Any, raw))

    def fetch_now(self, **search_spec: Any) -> RedisRecord:
        """See :meth:`~findig.tools.dataset.AbstractDataSet.fetch_now`; a
        search by ``id`` reads that one item."""
        item_id = search_spec.get(ID_FIELD)
        if self._window is None and item_id is not None and not callable(item_id):
            if isinstance(item_id, str):
                item_id = _convert(item_id, int)
            if (
                not isinstance(item_id, int)
                or isinstance(item_id, bool)
                or not 0 < item_id <= self.max_id
            ):
                raise LookupError(f"No item matches {_describe_spec(search_spec)}")
            data = self._read(item_id)
            if not _matches(data, search_spec):
                raise LookupError(f"No item matches {_describe_spec(search_spec)}")
            return RedisRecord(self, item_id, data)
        return cast(RedisRecord, super().fetch_now(**search_spec))

    def limit(self, count: int, offset: int = 0) -> MutableDataSet:
        """See :meth:`~findig.tools.dataset.AbstractDataSet.limit`; done
        with ``ZRANGE``."""
        _check_limit(count, offset)
        limited = object.__new__(type(self))
        limited.__dict__.update(self.__dict__)
        window = self._window
        limited._window = (
            (count, offset)
            if window is None
            else _combine_limits(window, count, offset)
        )
        return limited

    def count(self) -> int:
        """The number of items, from the index (``ZCARD``), without reading
        them; within a :meth:`limit`, the number the window holds."""
        total = int(cast(Any, self.client.zcard(self.index_key)))
        window = self._window
        if window is None:
            return total
        count, offset = window
        return max(0, min(count, total - offset))

    # -- writing ----------------------------------------------------------------

    @staticmethod
    def _payload(data: Any, what: str = "record data") -> dict[str, Any]:
        data = _require_mapping(data, what)
        return {k: v for k, v in data.items() if k != ID_FIELD}

    def add(self, data: Mapping[str, Any]) -> dict[str, int]:
        """Store a new item.

        :param data: The item's fields.
        :returns: ``{"id": <the new id>}``.
        :raises OverflowError: when every id allowed by ``index_size`` is used.
        """
        payload = _dumps(self._payload(data))
        item_id = int(cast(Any, self.client.incr(self.counter_key)))
        if item_id > self.max_id:
            raise OverflowError(
                f"{self!r} has used every id its index_size of "
                f"{self.index_size} bytes allows"
            )
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.item_key(item_id), payload)
        pipe.zadd(self.index_key, {str(item_id): item_id})
        pipe.execute()
        return {ID_FIELD: item_id}

    def _replace(self, item_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        fields = self._payload(data)
        # SET ... XX writes only if the item exists: no resurrection of an
        # item deleted meanwhile.
        if not self.client.set(self.item_key(item_id), _dumps(fields), xx=True):
            raise LookupError(f"There is no item {item_id} in {self!r}")
        return {ID_FIELD: item_id, **fields}

    def _patch(self, item_id: int, patch: Mapping[str, Any]) -> dict[str, Any]:
        changes = self._payload(patch, "patch")
        key = self.item_key(item_id)
        merged: dict[str, Any] = {}

        def apply(pipe: Any) -> None:
            raw = pipe.get(key)
            if raw is None:
                raise LookupError(f"There is no item {item_id} in {self!r}")
            merged.clear()
            merged.update(merge_patch(_loads(raw), changes))
            pipe.multi()
            pipe.set(key, _dumps(merged), xx=True)

        self.client.transaction(apply, key)
        return {ID_FIELD: item_id, **merged}

    def _delete(self, item_id: int) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(self.item_key(item_id))
        pipe.zrem(self.index_key, str(item_id))
        deleted, _ = pipe.execute()
        if not deleted:
            raise LookupError(f"There is no item {item_id} in {self!r}")


class RedisRecord(MutableRecord):
    """An item of a :class:`RedisSet`.

    :param dataset: The set the item belongs to.
    :param item_id: The item's id.
    :param data: The item's fields, if already read.
    """

    def __init__(
        self, dataset: RedisSet, item_id: int, data: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(data)
        self.dataset = dataset
        self.id = item_id

    def read(self) -> dict[str, Any]:
        """Read the item from Redis.

        :raises LookupError: if it does not exist.
        """
        return self.dataset._read(self.id)

    def update(self, data: Mapping[str, Any]) -> None:
        """Replace the item's fields (but its id) with *data*, atomically.

        :raises LookupError: if the item does not exist.
        """
        self.invalidate(self.dataset._replace(self.id, data))

    def patch(self, data: Mapping[str, Any]) -> None:
        """Merge *data* into the item (JSON merge patch), atomically.

        :raises LookupError: if the item does not exist.
        """
        self.invalidate(self.dataset._patch(self.id, data))

    def delete(self) -> None:
        """Delete the item and its index entry, atomically.

        :raises LookupError: if the item does not exist.
        """
        self.dataset._delete(self.id)
        self.invalidate()
