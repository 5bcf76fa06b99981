"""Brute-force protection: failed password logins, counted per user name
and per client address on a :class:`~findig.tools.counter.Counter`'s log.

Before a password is checked, the failures recorded in the last
``LOGIN_WINDOW`` seconds are counted; from ``LOGIN_MAX_ATTEMPTS`` failures
for the user name (or ``LOGIN_MAX_ATTEMPTS_PER_ADDRESS`` from the client
address) on, the attempt is refused with 429 and ``Retry-After`` without
checking anything. Only failures are recorded, so a user who logs in
successfully is never slowed down.

With ``REDIS_URL`` set, failures are stored in Redis
(:class:`findig.extras.redis.RedisLog`): the limits are exact across every
worker process and machine. Without it, each process counts on its own
(:class:`~findig.tools.counter.MemoryLog`), so with *n* workers up to *n*
times the limit can be tried; ``manage.py check --deploy`` warns about it.

Concurrent attempts for one user name can each pass the check before any
of them is recorded: at the limit, at most as many extra attempts as
requests served at once slip through.
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.exceptions import TooManyRequests

from findig.tools.counter import AbstractLog, Counter, MemoryLog

__all__ = ["LoginThrottle", "LoginThrottled"]


class LoginThrottled(TooManyRequests):
    """429: too many failed logins for this user name or client address."""

    description = "Too many failed login attempts; try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after=retry_after)
        #: Seconds to wait before trying again.
        self.seconds = retry_after


_redis_logs: dict[tuple[str, str, bool], type[AbstractLog]] = {}
_redis_lock = threading.Lock()


def _redis_storage(url: str, prefix: str, fail_open: bool) -> type[AbstractLog]:
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


class LoginThrottle:
    """Counts failed logins and refuses attempts beyond the limits.

    :param max_attempts: Failures allowed per user name in the window.
    :param max_per_address: Failures allowed per client address.
    :param window: The window, in seconds.
    :param redis_url: Store failures in this Redis server (exact across
        processes); ``None`` keeps them in the memory of the process.
    :param prefix: The prefix of the Redis keys.
    :param fail_open: When Redis fails: let logins through unthrottled
        (``True``) or refuse them with 503 (``False``).
    """

    def __init__(
        self,
        max_attempts: int,
        max_per_address: int,
        window: int,
        redis_url: str | None = None,
        prefix: str = "findig:login:",
        fail_open: bool = False,
    ) -> None:
        self.max_attempts = max_attempts
        self.max_per_address = max_per_address
        self.window = window
        storage: type[AbstractLog]
        if redis_url:
            storage = _redis_storage(redis_url, prefix, fail_open)
        else:
            storage = MemoryLog
        #: The counter whose app-wide log records the failures (it is not
        #: attached to any application: failures are tracked explicitly).
        self.counter = Counter(duration=window, storage=storage)
        self._log = self.counter.hits()

    @property
    def shared(self) -> bool:
        """Whether the failures are shared by every process (Redis)."""
        return not isinstance(self._log, MemoryLog)

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

    def check(self, user: str, address: Any) -> None:
        """Refuse an attempt for *user* from *address* if either has
        reached its limit.

        :raises LoginThrottled: 429 with ``Retry-After`` (the window).
        """
        log = self._log
        if (
            log.count(user=user) >= self.max_attempts
            or log.count(address=address or "") >= self.max_per_address
        ):
            raise LoginThrottled(self.window)

    def failed(self, user: str, address: Any) -> None:
        """Record a failed attempt for *user* from *address*."""
        self._log.track({"user": user, "address": address or ""})

    def failures(self, user: str | None = None, address: Any = None) -> int:
        """The failures recorded in the window for *user*, or for
        *address* (give one of them)."""
        if user is not None:
            return self._log.count(user=user)
        return self._log.count(address=address or "")
