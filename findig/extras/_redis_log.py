"""A hit log stored in Redis, exact across processes and machines.

Import it from :mod:`findig.extras.redis`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from hashlib import blake2b, sha1
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry
from werkzeug.exceptions import ServiceUnavailable

from findig._cache import remember

from ..tools.counter import AbstractLog, HitCounts, _check_spec, _combinations

T = TypeVar("T")

if TYPE_CHECKING:
    from ..resource import AbstractResource

__all__ = ["RedisLog"]

logger = logging.getLogger("findig.extras.redis")

# Hits are scored by the Redis server's clock, in milliseconds, so that the
# clocks of the machines running the app do not matter.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# A log with a duration. KEYS[1] numbers the hits, KEYS[2] is the log's
# total (a sorted set whose members carry the hit's partitions, for
# iteration), KEYS[3..] the cells of the hit's partition groups. Each cell is
# a sorted set of hits scored by time: trimmed to the window, added to, given
# the window as TTL (so that Redis forgets idle groups) and counted, all in
# one atomic step. A member starts with the hit's number, zero-padded, so
# that hits of the same millisecond sort in arrival order; the server time
# in microseconds follows, which keeps it unique even if the numbering
# restarts (the numbering key evicted or lost in a failover).
# ARGV: window (ms), partitions (JSON).
_TRACK_WINDOW = (
    _NOW_MS
    + """
local cutoff = now - tonumber(ARGV[1])
local seq = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local id = string.format('%016d%016d', seq, tonumber(t[1]) * 1000000 + tonumber(t[2]))
local counts = {}
for i = 2, #KEYS do
  local member = id
  if i == 2 then member = id .. ARGV[2] end
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', cutoff)
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('PEXPIRE', KEYS[i], ARGV[1])
  counts[i - 1] = redis.call('ZCARD', KEYS[i])
end
return counts
"""
)

# A log without duration. KEYS[1] is the bounded history list (newest
# first), KEYS[2..] the counters of the total and of the hit's cells.
# ARGV: history length, partitions (JSON).
_TRACK_FOREVER = (
    _NOW_MS
    + """
local counts = {}
for i = 2, #KEYS do
  counts[i - 1] = redis.call('INCR', KEYS[i])
end
local keep = tonumber(ARGV[1])
if keep > 0 then
  redis.call('LPUSH', KEYS[1], string.format('%d', now) .. ' ' .. ARGV[2])
  redis.call('LTRIM', KEYS[1], 0, keep - 1)
end
return counts
"""
)

# Count a cell of a log with a duration, ignoring expired hits.
_COUNT_WINDOW = (
    _NOW_MS
    + """
local cutoff = '(' .. string.format('%d', now - tonumber(ARGV[1]))
return redis.call('ZCOUNT', KEYS[1], cutoff, '+inf')
"""
)

# The hits of a log with a duration, oldest first, with their scores.
_RANGE_WINDOW = (
    _NOW_MS
    + """
local cutoff = '(' .. string.format('%d', now - tonumber(ARGV[1]))
return redis.call('ZRANGEBYSCORE', KEYS[1], cutoff, '+inf', 'WITHSCORES')
"""
)

# The scripts, by the SHA1 digest EVALSHA runs them by, and back.
_SOURCES = {
    sha1(source.encode("utf-8")).hexdigest(): source
    for source in (_TRACK_WINDOW, _TRACK_FOREVER, _COUNT_WINDOW, _RANGE_WINDOW)
}
_SHA1 = {source: digest for digest, source in _SOURCES.items()}

# The start of a hit's member: its number, then the time it was stored (the
# members of earlier versions end with 16 random hex digits instead).
_ID_LENGTH = 32

# How many partition group combinations a log remembers the keys of.
_PLAN_CACHE_SIZE = 4096


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _evalsha(source: str, keys: Sequence[str], args: Sequence[Any]) -> tuple[Any, ...]:
    """The EVALSHA command running the script *source*."""
    return ("EVALSHA", _SHA1[source], len(keys), *keys, *args)


def _eval(command: tuple[Any, ...]) -> tuple[Any, ...]:
    """The EVAL command doing what EVALSHA *command* does, loading the
    script into Redis's cache for the next EVALSHA."""
    return ("EVAL", _SOURCES[command[1]], *command[2:])


# A hit's EVALSHA command, and the combinations of partitions it counts.
_Plan = tuple[tuple[tuple[str, ...], ...], tuple[Any, ...]]


def _encode(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


class RedisLog(AbstractLog):
    """A hit log in Redis: exact counts shared by every process and machine.

    Use it as a :class:`~findig.tools.counter.Counter`'s storage, configured
    with :meth:`configure`::

        from findig.extras.redis import RedisLog

        storage = RedisLog.configure(url="redis://redis.internal:6379/0",
                                     prefix="myapi:hits:", fail_open=True)
        counter = Counter(app, duration=3600, storage=storage)

    Each tracked hit costs one round trip: a Lua script stores it and reads
    its counts atomically, so concurrent requests, from any number of
    processes, never see the same count. A request that is a hit in the
    app-wide log and a resource's own log sends both scripts in one pipeline
    (:meth:`track_all`): still one round trip.

    **Storage.** A log's keys start with ``{prefix}{app}:`` (the app-wide
    log) or ``{prefix}{r:<resource name>}:`` (a resource's log), so they are
    the same in every process and, in a Redis Cluster, live on one node.
    With a duration, each counted cell (the total, and each combination of
    the hit's partition groups) is a sorted set of hits scored by the Redis
    server's time; every hit trims the sets it touches to the window and
    sets their TTL to the duration, so memory stays proportional to the hits
    in the window and Redis forgets idle groups (a counter numbering the
    hits, which keeps hits of the same millisecond in order, expires
    likewise). Without a duration (``-1``),
    the cells are plain counters kept forever, and only the latest
    :attr:`max_history` hits are kept (in a list) for iteration. The
    duration is part of the keys, so changing it starts fresh counts.

    Groups are stored as JSON (other values as their ``str()``), so they
    should be strings or numbers; iteration returns them decoded from JSON.

    **Failures.** Clients made by :meth:`configure` use short timeouts
    (:attr:`timeout`, half a second) and no retries. If Redis cannot be
    reached or fails, a fail-open log (the default) logs a warning (at most
    every :attr:`warn_every` seconds) and counts nothing: :meth:`track`
    returns no counts, so no callback fires and requests go through. A
    fail-closed log raises :class:`~werkzeug.exceptions.ServiceUnavailable`
    (503) instead. After a failure, Redis is not asked again for
    :attr:`retry_after` seconds (the log acts as failed at once), so that a
    request touching several logs, and the requests that follow, do not each
    wait for the timeout of an unresponsive server.

    :param duration: See :class:`~findig.tools.counter.AbstractLog`.
    :param resource: See :class:`~findig.tools.counter.AbstractLog`.
    """

    #: A :class:`redis.Redis` client to use; by default one is made from
    #: :attr:`url` on first use (one per configured class and process).
    client: ClassVar[redis.Redis | None] = None
    #: The URL of the Redis server, used when :attr:`client` is not given.
    url: ClassVar[str] = "redis://127.0.0.1:6379/0"
    #: The prefix of every key the log writes.
    prefix: ClassVar[str] = "findig:hits:"
    #: What to do when Redis fails: let requests through (``True``) or
    #: answer 503 (``False``).
    fail_open: ClassVar[bool] = True
    #: How many hits a log without duration keeps for iteration.
    max_history: ClassVar[int] = 1000
    #: The socket timeouts of the client made from :attr:`url`, in seconds.
    timeout: ClassVar[float] = 0.5
    #: The minimum number of seconds between two warnings about failures.
    warn_every: ClassVar[float] = 10.0
    #: Seconds during which Redis is not asked again after a failure.
    retry_after: ClassVar[float] = 1.0

    _shared_client: ClassVar[redis.Redis | None] = None
    _client_lock: ClassVar[threading.Lock] = threading.Lock()
    _last_warning: ClassVar[float] = -math.inf
    _down_until: ClassVar[float] = -math.inf

    @classmethod
    def configure(
        cls,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        prefix: str | None = None,
        fail_open: bool | None = None,
        max_history: int | None = None,
        timeout: float | None = None,
    ) -> type[RedisLog]:
        """Make a configured subclass, to pass as a counter's ``storage``.

        :param client: A :class:`redis.Redis` client to use. Give it short
            timeouts and no retry backoff, or requests will wait for an
            unreachable Redis.
        :param url: The URL of the Redis server (when no client is given);
            the client made from it uses :attr:`timeout` and no retries.
        :param prefix: The prefix of the log's keys (distinct per
            application sharing the Redis database).
        :param fail_open: ``True`` to let requests through when Redis fails
            (with a warning), ``False`` to answer them 503.
        :param max_history: How many hits a log without duration keeps for
            iteration.
        :param timeout: The socket timeouts of the client made from *url*.
        :returns: A subclass of the class it is called on. Options not given
            are inherited.
        :raises ValueError: for a negative *max_history* or a non-positive
            *timeout*.
        """
        attrs: dict[str, Any] = {
            "_shared_client": None,
            "_client_lock": threading.Lock(),
            "_last_warning": -math.inf,
            "_down_until": -math.inf,
        }
        if client is not None:
            if url is not None:
                raise ValueError(
                    "Give RedisLog.configure() a client or a URL, not both"
                )
            attrs["client"] = client
        elif url is not None:
            attrs["client"] = None
            attrs["url"] = url
        if prefix is not None:
            attrs["prefix"] = prefix
        if fail_open is not None:
            attrs["fail_open"] = bool(fail_open)
        if max_history is not None:
            if max_history < 0:
                raise ValueError(f"max_history must be >= 0, not {max_history!r}")
            attrs["max_history"] = max_history
        if timeout is not None:
            if not timeout > 0:
                raise ValueError(f"timeout must be positive, not {timeout!r}")
            attrs["timeout"] = timeout
        return type(cls.__name__, (cls,), attrs)

    @classmethod
    def get_client(cls) -> redis.Redis:
        """The Redis client of the class: :attr:`client`, or one made from
        :attr:`url` (with :attr:`timeout` and no retries) on first use."""
        if cls.client is not None:
            return cls.client
        # Read from the class itself: a subclass has a client of its own.
        client = cls.__dict__.get("_shared_client")
        if client is None:
            with cls._client_lock:
                client = cls.__dict__.get("_shared_client")
                if client is None:
                    client = redis.Redis.from_url(
                        cls.url,
                        socket_timeout=cls.timeout,
                        socket_connect_timeout=cls.timeout,
                        retry=Retry(NoBackoff(), 0),
                    )
                    cls._shared_client = client
        return client

    def __init__(
        self, duration: int | float | timedelta, resource: AbstractResource | None
    ) -> None:
        super().__init__(duration, resource)
        if resource is None:
            tag = "app"
        else:
            name = resource.name
            if "{" in name or "}" in name:
                name = "#" + blake2b(name.encode("utf-8"), digest_size=16).hexdigest()
            tag = f"r:{name}"
        if self.window is None:
            self._window_ms = 0
            mode = "f"
        else:
            self._window_ms = max(1, math.ceil(self.window * 1000))
            mode = f"w{self._window_ms}"
        #: The prefix of this log's keys.
        self.key_base = f"{self.prefix}{{{tag}}}:{mode}:"
        self._total_key = self.key_base + "t"
        self._history_key = self.key_base + "h"
        self._sequence_key = self.key_base + "s"
        # PERF: the EVALSHA command that tracks a hit in given groups, and the
        # combinations its counts are for, by the groups and their types (1,
        # 1.0 and True are stored apart). Bounded: emptied when full.
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    def _plan(self, partitions: Mapping[str, Hashable]) -> _Plan:
        """The command tracking a hit in *partitions*, and its combinations."""
        plan_key = tuple(
            [(name, group, type(group)) for name, group in partitions.items()]
        )
        plan = self._plans.get(plan_key)
        if plan is not None:
            return plan
        combos = _combinations(tuple(partitions))
        keys = [
            self._history_key if self.window is None else self._sequence_key,
            self._total_key,
        ]
        keys.extend(
            self.cell_key(**{name: partitions[name] for name in combo})
            for combo in combos[1:]
        )
        payload = _encode(dict(partitions))
        if self.window is None:
            command = _evalsha(_TRACK_FOREVER, keys, (self.max_history, payload))
        else:
            command = _evalsha(_TRACK_WINDOW, keys, (self._window_ms, payload))
        return remember(self._plans, plan_key, (combos, command), _PLAN_CACHE_SIZE)

    @classmethod
    def _run(cls, command: tuple[Any, ...]) -> Any:
        """Run an EVALSHA *command* in one round trip (EVAL if Redis lacks
        the script, which also loads it)."""
        client = cls.get_client()
        # PERF: straight through execute_command(), without redis-py's Script
        # helper (which checks the client and rebuilds the arguments).
        try:
            return client.execute_command(*command)
        except NoScriptError:
            return client.execute_command(*_eval(command))

    @classmethod
    def _run_all(cls, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Run EVALSHA *commands* in one round trip (a pipeline)."""
        client = cls.get_client()
        with client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            replies = pipe.execute(raise_on_error=False)
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                replies[i] = client.execute_command(*_eval(commands[i]))
            elif isinstance(reply, Exception):
                raise reply
        return replies

    def cell_key(self, **partition_spec: Hashable) -> str:
        """The key counting the hits in the given partition groups.

        :param partition_spec: ``{partition_name}={group}`` pairs; none for
            the total.
        :returns: The Redis key.
        """
        if not partition_spec:
            return self._total_key
        cell = sorted(partition_spec.items())
        digest = blake2b(_encode(cell).encode("utf-8"), digest_size=16).hexdigest()
        return f"{self.key_base}c:{digest}"

    def call(self, command: Callable[[], T], fallback: T) -> T:
        """Run *command*, a call to this log's Redis server, with the log's
        handling of failures: after one, Redis is not asked again for
        :attr:`retry_after` seconds; a warning is logged at most every
        :attr:`warn_every` seconds; and the answer is *fallback* when the
        log fails open, 503 when it fails closed.

        For code that keeps state of its own next to the log's (such as the
        login throttle of :mod:`findig.contrib.auth`).

        :param command: Called without arguments.
        :param fallback: The answer when Redis failed and the log fails
            open.
        :raises werkzeug.exceptions.ServiceUnavailable: if Redis failed and
            the log fails closed.
        """
        if self._down():
            self._failed(None)
            return fallback
        try:
            return command()
        except RedisError as exc:
            self._failed(exc)
            return fallback

    def _down(self) -> bool:
        """Whether Redis failed less than :attr:`retry_after` seconds ago."""
        return time.monotonic() < type(self)._down_until

    def _failed(self, exc: RedisError | None) -> None:
        """Handle a failure of Redis (*exc*; ``None`` when it was not asked,
        having failed just before): fail open, or raise 503."""
        cls = type(self)
        now = time.monotonic()
        if exc is not None:
            cls._down_until = now + cls.retry_after
        if exc is not None and now - cls._last_warning >= cls.warn_every:
            cls._last_warning = now
            outcome = "requests go through uncounted" if self.fail_open else "503"
            logger.warning(
                "The Redis hit log at %s failed (%s: %s); %s",
                self.key_base,
                type(exc).__name__,
                exc,
                outcome,
            )
        if not self.fail_open:
            raise ServiceUnavailable(
                "The service is temporarily unavailable; try again later.",
                retry_after=max(1, math.ceil(cls.retry_after)),
            ) from exc

    def track(self, partitions: Mapping[str, Hashable]) -> HitCounts:
        """Store a hit and return its counts, atomically, in one round trip.

        See :meth:`findig.tools.counter.AbstractLog.track`.

        :returns: The counts; empty if Redis failed and the log fails open.
        :raises werkzeug.exceptions.ServiceUnavailable: if Redis failed and
            the log fails closed.
        """
        combos, command = self._plan(partitions)
        if self._down():
            self._failed(None)
            return {}
        try:
            counts = self._run(command)
        except RedisError as exc:
            self._failed(exc)
            return {}
        # The script's replies are integers already.
        return dict(zip(combos, counts, strict=True))

    @classmethod
    def track_all(
        cls, logs: Sequence[AbstractLog], partitions: Mapping[str, Hashable]
    ) -> list[HitCounts | None]:
        """Store a hit in each of *logs* in one round trip (pipelined).

        See :meth:`findig.tools.counter.AbstractLog.track_all`; each log
        stores the hit and reads its counts atomically, as in :meth:`track`.

        :returns: The counts for each log; all empty if Redis failed and the
            logs fail open.
        :raises werkzeug.exceptions.ServiceUnavailable: if Redis failed and
            the logs fail closed.
        """
        if len(logs) == 1:
            return [logs[0].track(partitions)]
        plans = [cast(RedisLog, log)._plan(partitions) for log in logs]
        first = cast(RedisLog, logs[0])
        if first._down():
            first._failed(None)
            return [{} for _ in logs]
        try:
            replies = cls._run_all([command for _, command in plans])
        except RedisError as exc:
            first._failed(exc)
            return [{} for _ in logs]
        return [
            dict(zip(combos, counts, strict=True))
            for (combos, _), counts in zip(plans, replies, strict=True)
        ]

    def count(self, **partition_spec: Hashable) -> int:
        """Return the number of hits stored, in one round trip.

        See :meth:`findig.tools.counter.AbstractLog.count`.

        :returns: The count; 0 if Redis failed and the log fails open.
        :raises werkzeug.exceptions.ServiceUnavailable: if Redis failed and
            the log fails closed.
        """
        _check_spec(partition_spec)
        key = self.cell_key(**partition_spec)
        if self._down():
            self._failed(None)
            return 0
        try:
            if self.window is None:
                value = self.get_client().get(key)
            else:
                value = self._run(_evalsha(_COUNT_WINDOW, (key,), (self._window_ms,)))
        except RedisError as exc:
            self._failed(exc)
            return 0
        return int(value or 0)

    def __iter__(self) -> Iterator[tuple[datetime, dict[str, Any]]]:
        """Iterate over the hits in the window (or the latest
        :attr:`max_history` hits of a log without duration), oldest first.

        Nothing is iterated if Redis failed and the log fails open.

        :raises werkzeug.exceptions.ServiceUnavailable: if Redis failed and
            the log fails closed.
        """
        hits: list[tuple[float, str]] = []
        if self._down():
            self._failed(None)
            return
        try:
            if self.window is None:
                for item in reversed(
                    self.get_client().lrange(self._history_key, 0, -1)
                ):
                    text_stamp, _, payload = _text(item).partition(" ")
                    hits.append((float(text_stamp), payload))
            else:
                flat = self._run(
                    _evalsha(_RANGE_WINDOW, (self._total_key,), (self._window_ms,))
                )
                for member, score in zip(flat[::2], flat[1::2], strict=True):
                    hits.append((float(score), _text(member)[_ID_LENGTH:]))
        except RedisError as exc:
            self._failed(exc)
            return
        for ms, record in hits:
            yield datetime.fromtimestamp(ms / 1000, timezone.utc), json.loads(record)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key_base!r}>"
