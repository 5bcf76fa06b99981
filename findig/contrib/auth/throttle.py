"""Brute-force protection: wrong passwords limited, exactly, per user name
and per client address.

At most ``LOGIN_MAX_ATTEMPTS`` wrong passwords are ever verified for one
user name within ``LOGIN_WINDOW`` seconds (and at most
``LOGIN_MAX_ATTEMPTS_PER_ADDRESS`` from one client address), however many
attempts arrive at once.

**Why reservations.** Counting the failures before verifying a password,
and recording one after, is not enough: verifying takes a while (argon2,
about 150 ms), and concurrent attempts for one user would all pass the
count before any of them is recorded, so as many attempts as requests
served at once could slip past the limit. So an attempt first *reserves* a
slot: it may go on to verify the password only if the failures in the
window plus the attempts in flight stay below the limit, for its user name
and for its address, and taking the slot is atomic with that check
(:meth:`LoginThrottle.attempt`). After verification, a failure turns the
reservation into a recorded failure; a success, or an error (a database
down, say), releases it and records nothing, so a user who logs in
successfully is never slowed down.

**Refusing and waiting.** When the failures alone reach a limit, the
attempt is refused at once with :class:`LoginThrottled` (429,
``Retry-After``: the window), without checking anything, not even a right
password. When the limit is reached only because of attempts in flight (a
client making parallel Basic requests, say), the attempt waits for a slot,
for at most :data:`WAIT` seconds, then is refused with 429 and
``Retry-After: 1``. Legitimate parallel logins of one user are thus
serialised down to ``LOGIN_MAX_ATTEMPTS`` at a time, and never refused
while no failure happened.

**Storage.** With ``REDIS_URL`` set, reservations and failures are kept
in Redis, so the limits hold across every worker process and machine. Per
user name and per address, the failures are a sorted set scored by the
Redis server's time, trimmed to the window, and the reservations a sorted
set scored by their expiry (:data:`LEASE` seconds, so that a worker killed
in the middle of a verification does not hold its slot for ever). One Lua
script reserves (cleans both keys, checks both limits, and takes a slot in
both or in neither), another settles (releases the slot and, for a failure,
records it): one round trip each. The keys start with
``LOGIN_THROTTLE_PREFIX`` and ``{throttle}`` (a Redis Cluster hash tag, so
that the scripts' keys are on one node); they expire when idle (the
failures after the window, the reservations after the lease). The client
is the one :class:`findig.extras.redis.RedisLog` makes (short timeouts, no
retries); when Redis fails, ``LOGIN_THROTTLE_FAIL_OPEN`` decides: let logins
through unthrottled (with a warning), or refuse them with 503. After a
failure, Redis is not asked again for a second.

Without ``REDIS_URL``, each process keeps its own counts, under a lock: the
limits are exact per process, so with *n* workers up to *n* times the limit
can be tried (``manage.py check --deploy`` warns about it). Reservations in
memory need no expiry (they end with the process); entries of idle user
names and addresses are dropped, so memory stays bounded.
"""

from __future__ import annotations

import contextlib
import math
import random
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import ServiceUnavailable, TooManyRequests

if TYPE_CHECKING:
    from findig.extras.redis import RedisLog

__all__ = ["LEASE", "WAIT", "LoginAttempt", "LoginThrottle", "LoginThrottled"]

#: The longest an attempt waits, in seconds, for a slot held by attempts in
#: flight before it is refused.
WAIT = 5.0
#: How long, in seconds, a reservation in Redis holds its slot at most: the
#: slots of a worker killed while verifying a password come back after it.
#: Far longer than a verification takes.
LEASE = 30.0

# The pause between two tries of a waiting attempt in Redis, in seconds
# (random within these bounds, so that waiting attempts do not keep step).
_POLL = (0.01, 0.025)
# The Retry-After of an attempt refused after waiting for attempts in flight.
_BUSY_RETRY_AFTER = 1

# What a reservation finds: a slot, the limit reached by failures alone, or
# by attempts in flight.
_GRANTED, _THROTTLED, _BUSY = 0, 1, 2


class LoginThrottled(TooManyRequests):
    """429: too many failed logins for this user name or client address."""

    description = "Too many failed login attempts; try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        #: Seconds to wait before trying again.
        self.seconds = retry_after


class _Storage(ABC):
    """Where a throttle keeps its reservations and failures."""

    def __init__(self, max_attempts: int, max_per_address: int, window: int) -> None:
        self.limits = (max_attempts, max_per_address)
        self.window = window

    @abstractmethod
    def reserve(self, user: str, address: str, deadline: float) -> Any:
        """Take a slot for *user* and *address*, waiting for attempts in
        flight until *deadline* (:func:`time.monotonic`).

        :returns: The reservation, to settle; ``None`` when there is nothing
            to settle (Redis failed and the throttle fails open).
        :raises LoginThrottled: beyond the limits.
        """

    @abstractmethod
    def settle(self, reservation: Any, failed: bool) -> None:
        """End *reservation*: record a failure, or release it."""

    @abstractmethod
    def failures(self, kind: str, name: str) -> int:
        """The failures in the window for user (``kind`` ``"u"``) or
        address (``"a"``) *name*."""


class _Counts:
    """The failures (times, oldest first) and attempts in flight of one
    user name or address, in memory."""

    __slots__ = ("failures", "pending")

    def __init__(self) -> None:
        self.failures: deque[float] = deque()
        self.pending = 0


class _MemoryStorage(_Storage):
    """Counts in the memory of the process, under a lock."""

    def __init__(self, max_attempts: int, max_per_address: int, window: int) -> None:
        super().__init__(max_attempts, max_per_address, window)
        self._entries: dict[tuple[str, str], _Counts] = {}
        self._changed = threading.Condition(threading.Lock())
        self._swept = time.monotonic()

    def _sweep(self, now: float) -> None:
        """Drop the entries with nothing in flight and no failure in the
        window (at most once a window: amortised, and memory stays bounded
        by the user names and addresses seen in two windows)."""
        if now - self._swept < self.window:
            return
        self._swept = now
        cutoff = now - self.window
        idle = [
            key
            for key, counts in self._entries.items()
            if not counts.pending
            and (not counts.failures or counts.failures[-1] <= cutoff)
        ]
        for key in idle:
            del self._entries[key]

    def reserve(self, user: str, address: str, deadline: float) -> Any:
        keys = (("u", user), ("a", address))
        entries = self._entries
        with self._changed:
            while True:
                now = time.monotonic()
                self._sweep(now)
                cutoff = now - self.window
                verdict = _GRANTED
                found = []
                for key, limit in zip(keys, self.limits, strict=True):
                    counts = entries.get(key)
                    if counts is None:
                        counts = entries[key] = _Counts()
                    failures = counts.failures
                    while failures and failures[0] <= cutoff:
                        failures.popleft()
                    if len(failures) >= limit:
                        raise LoginThrottled(self.window)
                    if len(failures) + counts.pending >= limit:
                        verdict = _BUSY
                    found.append((key, counts))
                if verdict == _GRANTED:
                    for _, counts in found:
                        counts.pending += 1
                    return found
                remaining = deadline - now
                if remaining <= 0:
                    raise LoginThrottled(_BUSY_RETRY_AFTER)
                self._changed.wait(remaining)

    def settle(self, reservation: Any, failed: bool) -> None:
        entries = self._entries
        with self._changed:
            now = time.monotonic()
            for key, counts in reservation:
                counts.pending -= 1
                if failed:
                    counts.failures.append(now)
                elif (
                    not counts.pending
                    and not counts.failures
                    and entries.get(key) is counts
                ):
                    del entries[key]
            self._changed.notify_all()

    def failures(self, kind: str, name: str) -> int:
        cutoff = time.monotonic() - self.window
        with self._changed:
            counts = self._entries.get((kind, name))
            if counts is None:
                return 0
            return sum(1 for stamp in counts.failures if stamp > cutoff)


# The Redis server's clock, in milliseconds: the clocks of the machines
# running the app do not matter.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: the user's failures and reservations, the address's failures and
# reservations. ARGV: window (ms), lease (ms), the user's limit, the
# address's limit, the reservation's id. Returns 0 (a slot taken in both),
# 1 (failures alone at a limit) or 2 (busy with attempts in flight).
_RESERVE = (
    _NOW_MS
    + """
local window = tonumber(ARGV[1])
local verdict = 0
for i = 1, 3, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now)
  local limit = tonumber(ARGV[i == 1 and 3 or 4])
  local failures = redis.call('ZCARD', KEYS[i])
  if failures >= limit then
    return 1
  end
  if failures + redis.call('ZCARD', KEYS[i + 1]) >= limit then
    verdict = 2
  end
end
if verdict == 0 then
  local expiry = now + tonumber(ARGV[2])
  for i = 2, 4, 2 do
    redis.call('ZADD', KEYS[i], expiry, ARGV[5])
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
return verdict
"""
)

# KEYS: as for _RESERVE. ARGV: the reservation's id, 1 for a failure (0
# otherwise), window (ms). A failure is recorded even if its reservation
# expired meanwhile: it happened.
_SETTLE = (
    _NOW_MS
    + """
for i = 1, 3, 2 do
  redis.call('ZREM', KEYS[i + 1], ARGV[1])
  if ARGV[2] == '1' then
    redis.call('ZADD', KEYS[i], now, ARGV[1])
    redis.call('PEXPIRE', KEYS[i], ARGV[3])
  end
end
return 0
"""
)

# KEYS: failures. ARGV: window (ms).
_FAILURES = (
    _NOW_MS
    + """
local cutoff = '(' .. string.format('%d', now - tonumber(ARGV[1]))
return redis.call('ZCOUNT', KEYS[1], cutoff, '+inf')
"""
)


_redis_logs: dict[tuple[str, str, bool], type[RedisLog]] = {}
_redis_lock = threading.Lock()


def _redis_storage(url: str, prefix: str, fail_open: bool) -> type[RedisLog]:
    # One configured class (and so one Redis connection pool) per process
    # and configuration, however many applications are built.
    key = (url, prefix, fail_open)
    storage = _redis_logs.get(key)
    if storage is None:
        with _redis_lock:
            storage = _redis_logs.get(key)
            if storage is None:
                from findig.extras.redis import RedisLog

                storage = RedisLog.configure(
                    url=url, prefix=prefix, fail_open=fail_open
                )
                _redis_logs[key] = storage
    return storage


class _RedisStorage(_Storage):
    """Counts in Redis, shared by every process.

    The client, its timeouts and the handling of failures (fail open or
    closed, a warning at most every ten seconds, Redis left alone for a
    second after a failure) are those of a configured
    :class:`~findig.extras.redis.RedisLog`.
    """

    def __init__(
        self,
        max_attempts: int,
        max_per_address: int,
        window: int,
        url: str,
        prefix: str,
        fail_open: bool,
        lease: float,
    ) -> None:
        super().__init__(max_attempts, max_per_address, window)
        self._log = _redis_storage(url, prefix, fail_open)(window, None)
        client = self._log.get_client()
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._count = client.register_script(_FAILURES)
        self._base = f"{prefix}{{throttle}}:"
        self._window_ms = max(1, math.ceil(window * 1000))
        self._lease_ms = max(1, math.ceil(lease * 1000))

    def _keys(self, user: str, address: str) -> list[str]:
        base = self._base
        return [
            f"{base}uf:{user}",
            f"{base}up:{user}",
            f"{base}af:{address}",
            f"{base}ap:{address}",
        ]

    def reserve(self, user: str, address: str, deadline: float) -> Any:
        log = self._log
        keys = self._keys(user, address)
        token = secrets.token_hex(8)
        args = (self._window_ms, self._lease_ms, *self.limits, token)
        while True:
            # None when Redis failed and the log fails open (else 503).
            verdict = log.call(lambda: int(self._reserve(keys=keys, args=args)), None)
            if verdict is None:
                return None
            if verdict == _GRANTED:
                return (keys, token)
            if verdict == _THROTTLED:
                raise LoginThrottled(self.window)
            if time.monotonic() >= deadline:
                raise LoginThrottled(_BUSY_RETRY_AFTER)
            time.sleep(random.uniform(*_POLL))

    def settle(self, reservation: Any, failed: bool) -> None:
        keys, token = reservation
        args = (token, int(failed), self._window_ms)
        # The outcome of the login stands whatever Redis does: a reservation
        # left behind expires with its lease.
        with contextlib.suppress(ServiceUnavailable):
            self._log.call(lambda: self._settle(keys=keys, args=args), None)

    def failures(self, kind: str, name: str) -> int:
        key = f"{self._base}{kind}f:{name}"
        return self._log.call(
            lambda: int(self._count(keys=[key], args=[self._window_ms])), 0
        )


class LoginAttempt:
    """A password check under a :class:`LoginThrottle`: a context manager
    holding a slot while the password is verified.

    Entering it reserves the slot (waiting for one if attempts in flight
    hold them all) or raises :class:`LoginThrottled`. Call :meth:`failed`
    when the password is wrong; leaving the block then records the
    failure. Leaving it otherwise, normally or by an exception, releases the
    slot and records nothing.
    """

    __slots__ = ("_address", "_failed", "_reservation", "_throttle", "_user")

    def __init__(self, throttle: LoginThrottle, user: str, address: str) -> None:
        self._throttle = throttle
        self._user = user
        self._address = address
        self._reservation: Any = None
        self._failed = False

    def __enter__(self) -> LoginAttempt:
        throttle = self._throttle
        self._reservation = throttle._storage.reserve(
            self._user, self._address, time.monotonic() + throttle.wait
        )
        return self

    def failed(self) -> None:
        """Mark the attempt as failed (a wrong password, an unknown or
        inactive user): it is recorded when the block is left."""
        self._failed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        reservation, self._reservation = self._reservation, None
        if reservation is not None:
            self._throttle._storage.settle(reservation, self._failed)


class LoginThrottle:
    """Limits the wrong passwords verified per user name and per client
    address, exactly (see the module's description).

    :param max_attempts: Failures allowed per user name in the window.
    :param max_per_address: Failures allowed per client address.
    :param window: The window, in seconds.
    :param redis_url: Keep the counts in this Redis server (exact across
        processes); ``None`` keeps them in the memory of the process.
    :param prefix: The prefix of the Redis keys.
    :param fail_open: When Redis fails: let logins through unthrottled
        (``True``) or refuse them with 503 (``False``).
    :param wait: The longest an attempt waits for a slot held by attempts
        in flight, in seconds.
    :param lease: How long a reservation in Redis holds its slot at most,
        in seconds.
    """

    def __init__(
        self,
        max_attempts: int,
        max_per_address: int,
        window: int,
        redis_url: str | None = None,
        prefix: str = "findig:login:",
        fail_open: bool = False,
        *,
        wait: float = WAIT,
        lease: float = LEASE,
    ) -> None:
        self.max_attempts = max_attempts
        self.max_per_address = max_per_address
        self.window = window
        self.wait = wait
        self._storage: _Storage
        if redis_url:
            self._storage = _RedisStorage(
                max_attempts,
                max_per_address,
                window,
                redis_url,
                prefix,
                fail_open,
                lease,
            )
        else:
            self._storage = _MemoryStorage(max_attempts, max_per_address, window)

    @property
    def shared(self) -> bool:
        """Whether the counts are shared by every process (Redis)."""
        return isinstance(self._storage, _RedisStorage)

    @property
    def findig_process_local(self) -> str | None:
        """Read by ``manage.py check --deploy``: why this throttle's counts
        are per process, or ``None`` when they are shared."""
        if self.shared:
            return None
        return "failed logins are counted per process: set REDIS_URL"

    def __repr__(self) -> str:
        where = "redis" if self.shared else "memory"
        return (
            f"<LoginThrottle {self.max_attempts}/user "
            f"{self.max_per_address}/address per {self.window}s ({where})>"
        )

    def attempt(self, user: str, address: Any) -> LoginAttempt:
        """A login attempt for *user* from *address*, to verify a password
        in::

            with throttle.attempt(user, address) as attempt:
                if not verified:
                    attempt.failed()

        :returns: A :class:`LoginAttempt` (entering it may raise
            :class:`LoginThrottled`: 429 with ``Retry-After``, or
            :class:`~werkzeug.exceptions.ServiceUnavailable` when Redis
            fails and the throttle fails closed).
        """
        return LoginAttempt(self, user, address or "")

    def failures(self, user: str | None = None, address: Any = None) -> int:
        """The failures recorded in the window for *user*, or for
        *address* (give one of them)."""
        if user is not None:
            return self._storage.failures("u", user)
        return self._storage.failures("a", address or "")
