"""Hit counters for apps and resources.

A :class:`Counter` counts the requests (*hits*) an application receives,
app-wide and per resource, optionally split into *partitions* (by client
address, request method, user, ...), and calls back when a count reaches
given numbers. That makes it the building block of tools such as rate
limiters:

>>> from findig.json import App
>>> from findig.tools.counter import Counter
>>> from werkzeug.exceptions import TooManyRequests
>>>
>>> app = App()
>>> counter = Counter(app, duration=3600)
>>>
>>> @counter.partition("ip")
... def get_ip(request):
...     return request.remote_addr
...
>>> @counter.every(1, after=2, ip=counter.any)
... def after_second(ip):
...     raise TooManyRequests(f"Limit exceeded for: {ip}")
...
>>> @app.route("/")
... @app.resource
... def index():
...     return {"hello": "world"}
...
>>> from werkzeug.test import Client
>>> client = Client(app)
>>> env = {"REMOTE_ADDR": "192.0.2.7"}
>>> [client.get("/", environ_overrides=env).status_code for _ in range(4)]
[200, 200, 429, 429]
>>> counter.hits().count(ip="192.0.2.7")
4

Where hits are stored is pluggable (:class:`AbstractLog`). The default,
:class:`MemoryLog`, lives in the memory of one process: behind a server
with several worker processes, each worker counts its own hits. For counts
shared by every worker and machine, use
:class:`findig.extras.redis.RedisLog`.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABCMeta, abstractmethod
from collections import deque
from collections.abc import Callable, Generator, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from itertools import combinations
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from findig._cache import remember

from ..context import current_state
from ..resource import AbstractResource
from ._attach import AppTool

if TYPE_CHECKING:
    from ..app import App

__all__ = [
    "MAX_PARTITIONS",
    "AbstractLog",
    "Counter",
    "CounterRule",
    "HitCounts",
    "MemoryLog",
]

logger = logging.getLogger("findig.counter")

#: The counts :meth:`AbstractLog.track` returns: for each combination of
#: partition names (a tuple sorted by name; ``()`` for all hits), the number
#: of hits in the log that fall into the same groups as the tracked hit.
HitCounts = Mapping[tuple[str, ...], int]

#: The most partitions a counter may define: every hit is counted in each
#: combination of them (2**n - 1 counters per hit, plus the total).
MAX_PARTITIONS: Final = 6

# How many combinations of partition groups a MemoryLog remembers the
# counters of.
_CELLS_CACHE_SIZE: Final = 4096

# Keyword parameters of the registration methods; a partition cannot be
# named after one of them.
_RESERVED: Final = frozenset({"n", "callback", "after", "until", "resource"})


def _window_seconds(duration: int | float | timedelta) -> float | None:
    """Validate a log duration; return it in seconds, or None for "forever"."""
    if isinstance(duration, timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, (int, float)) and not isinstance(duration, bool):
        if duration == -1:
            return None
        seconds = float(duration)
    else:
        raise TypeError(
            "A counter's duration must be a number of seconds, a "
            f"datetime.timedelta or -1 (forever), not {duration!r}"
        )
    if not seconds > 0:
        raise ValueError(
            f"A counter's duration must be positive, or -1 (forever): {duration!r}"
        )
    return seconds


@lru_cache(maxsize=64)
def _combinations(names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    ordered = sorted(names)
    return tuple(
        combo
        for size in range(len(ordered) + 1)
        for combo in combinations(ordered, size)
    )


class AbstractLog(metaclass=ABCMeta):
    """Abstract base for a storage class for hit records.

    A :class:`Counter` creates one log for the whole app and one per
    resource whose hits it tracks separately, as ``storage(duration,
    resource)``. :class:`MemoryLog` is the thread-safe, in-memory
    implementation used by default.

    :param duration: How long the log keeps hits: a number of seconds or a
        :class:`~datetime.timedelta`; ``-1`` keeps them indefinitely.
    :param resource: The resource whose hits the log stores, or ``None`` for
        the app-wide log.
    :raises ValueError: if *duration* is neither positive nor ``-1``.

    All implementations must support this signature for their constructor.
    The given values are available as :attr:`duration` and
    :attr:`resource`; :attr:`window` is the duration in seconds (``None``
    for -1).
    """

    def __init__(
        self, duration: int | float | timedelta, resource: AbstractResource | None
    ) -> None:
        #: The duration the log was created with.
        self.duration = duration
        #: The resource the log stores hits of (``None``: the whole app).
        self.resource = resource
        #: The duration in seconds, or ``None`` if hits are kept forever.
        self.window: float | None = _window_seconds(duration)

    @staticmethod
    def combinations(names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
        """Every combination of the partition *names*, each sorted by name.

        An implementation counts a hit once in each combination of its
        partitions, so that :meth:`count` answers any partition spec
        without a scan.

        >>> AbstractLog.combinations(("method", "ip"))
        ((), ('ip',), ('method',), ('ip', 'method'))

        :param names: The partition names of a hit.
        :returns: The combinations, the empty one (all hits) first.
        """
        return _combinations(tuple(names))

    @abstractmethod
    def track(self, partitions: Mapping[str, Hashable]) -> HitCounts | None:
        """Store a hit record.

        :param partitions: A mapping from partition names to the group that
            the hit matches for the partition. See :meth:`Counter.partition`.
        :returns: The counts *including this hit*, read atomically with
            storing it: for each combination of partition names given by
            :meth:`combinations`, the number of stored hits in the same
            groups (see :data:`HitCounts`). An empty mapping means "no
            count known" (every count taken as 0). Returning ``None`` makes
            the counter fall back to calling :meth:`count` afterwards, which
            is not atomic: concurrent requests may then see the same number.
        """

    @classmethod
    def track_all(
        cls, logs: Sequence[AbstractLog], partitions: Mapping[str, Hashable]
    ) -> list[HitCounts | None]:
        """Store a hit in each of several logs of this class: the app-wide
        log and the log of a resource tracked on its own.

        A :class:`Counter` calls this rather than :meth:`track` when a
        request is a hit in more than one of its logs. This implementation
        calls each log's :meth:`track`; a log whose storage costs a round
        trip per call overrides it to store the hits together (see
        :class:`findig.extras.redis.RedisLog`).

        :param logs: Instances of this class.
        :param partitions: The hit's groups, as for :meth:`track`.
        :returns: What :meth:`track` returns, for each log, in order.
        """
        return [log.track(partitions) for log in logs]

    @abstractmethod
    def count(self, **partition_spec: Hashable) -> int:
        """Return the number of hits stored.

        If no keyword arguments are given, then the total number of hits
        stored is returned. Otherwise, keyword arguments must be in the form
        ``{partition_name}={group}``: only hits in all of those groups are
        counted. See :meth:`Counter.partition`.
        """

    @abstractmethod
    def __iter__(self) -> Iterator[tuple[datetime, dict[str, Any]]]:
        """Iterate over the stored hits.

        Each item is a 2-tuple ``(datetime.datetime, partitions)``, the time
        of the hit and the mapping of its partition groups, oldest first.
        """


def _check_spec(partition_spec: Mapping[str, Any]) -> None:
    for name, group in partition_spec.items():
        if group is ANY:
            raise TypeError(
                f"count({name}=Counter.any): Counter.any only makes sense when "
                "registering callbacks; give the group to count"
            )


class MemoryLog(AbstractLog):
    """The default hit log: thread-safe and in the memory of the process.

    Every hit is counted once in each combination of its partition groups,
    so :meth:`count` takes constant time. With a duration, hits are kept in
    a queue in arrival order and dropped (uncounted) as soon as they leave
    the window, so memory stays proportional to the number of hits in the
    window. Without one (``-1``), counts are exact forever, but only the
    latest :attr:`max_history` hits are kept for iteration.

    The log is per process: with several server processes, each counts only
    the hits it served. See :class:`findig.extras.redis.RedisLog` for a log
    shared by all processes.

    :param duration: See :class:`AbstractLog`.
    :param resource: See :class:`AbstractLog`.
    """

    #: How many hits a log without duration keeps for iteration.
    max_history: int = 10_000
    #: The clock measuring the window: seconds from a monotonic clock
    #: (replaceable in a subclass, e.g. by a fake clock in tests).
    clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(
        self, duration: int | float | timedelta, resource: AbstractResource | None
    ) -> None:
        super().__init__(duration, resource)
        self._lock = threading.Lock()
        # One counter per (combination of partition names, their groups).
        self._counts: dict[tuple[tuple[str, ...], tuple[Hashable, ...]], int] = {}
        # PERF: the counters a hit in given groups counts in (shared by the
        # hits, never changed), by the groups. Bounded: emptied when full.
        self._cells: dict[
            tuple[tuple[str, Hashable], ...],
            list[tuple[tuple[str, ...], tuple[Hashable, ...]]],
        ] = {}
        # (monotonic time, wall time, partitions, cells counted) per hit.
        self._hits: deque[tuple[float, float, dict[str, Any], list[Any] | None]]
        if self.window is None:
            self._hits = deque(maxlen=self.max_history)
        else:
            self._hits = deque()

    def _expire(self, now: float) -> None:
        # Hits are queued in time order: uncount them until the first hit
        # still in the window.
        assert self.window is not None
        cutoff = now - self.window
        hits = self._hits
        counts = self._counts
        while hits and hits[0][0] <= cutoff:
            cells = hits.popleft()[3]
            assert cells is not None
            for cell in cells:
                left = counts[cell] - 1
                if left:
                    counts[cell] = left
                else:
                    del counts[cell]

    def track(self, partitions: Mapping[str, Hashable]) -> HitCounts:
        """Store a hit and return its counts (see :meth:`AbstractLog.track`).

        >>> log = MemoryLog(60, None)
        >>> log.track({"ip": "10.0.0.1"})
        {(): 1, ('ip',): 1}
        >>> log.track({"ip": "10.0.0.2"})
        {(): 2, ('ip',): 1}
        """
        cells_key = tuple(partitions.items())
        cells = self._cells.get(cells_key)
        if cells is None:
            cells = [
                (combo, tuple([partitions[n] for n in combo]))
                for combo in _combinations(tuple(partitions))
            ]
            remember(self._cells, cells_key, cells, _CELLS_CACHE_SIZE)
        record = dict(partitions)
        counts = self._counts
        result: dict[tuple[str, ...], int] = {}
        with self._lock:
            now = self.clock()
            hits = self._hits
            # PERF: no call unless the oldest hit has left the window.
            if self.window is not None and hits and hits[0][0] <= now - self.window:
                self._expire(now)
            for cell in cells:
                number = counts.get(cell, 0) + 1
                counts[cell] = number
                result[cell[0]] = number
            hits.append(
                (now, time.time(), record, cells if self.window is not None else None)
            )
        return result

    def count(self, **partition_spec: Hashable) -> int:
        """Return the number of hits stored (see :meth:`AbstractLog.count`).

        :raises TypeError: if a group is :attr:`Counter.any`.
        """
        _check_spec(partition_spec)
        names = tuple(sorted(partition_spec))
        cell = (names, tuple([partition_spec[n] for n in names]))
        with self._lock:
            if self.window is not None:
                self._expire(self.clock())
            return self._counts.get(cell, 0)

    def __iter__(self) -> Iterator[tuple[datetime, dict[str, Any]]]:
        with self._lock:
            if self.window is not None:
                self._expire(self.clock())
            hits = [(wall, record) for _, wall, record, _ in self._hits]
        for wall, record in hits:
            yield datetime.fromtimestamp(wall, timezone.utc), dict(record)

    def __repr__(self) -> str:
        return f"<MemoryLog duration={self.duration!r} resource={self.resource!r}>"


class _Any:
    """The type of :attr:`Counter.any`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Counter.any"

    def __reduce__(self) -> str:
        return "ANY"


ANY: Final = _Any()


class _Rule:
    """A registered callback, with everything precomputed to test a hit."""

    __slots__ = ("callback", "combo", "every", "first", "fixed", "names", "until")

    def __init__(
        self,
        callback: Callable[..., Any],
        every: int,
        first: int,
        until: int | None,
        partition_spec: Mapping[str, Any],
    ) -> None:
        self.callback = callback
        self.every = every
        self.first = first
        self.until = until
        self.names = tuple(partition_spec)
        self.combo = tuple(sorted(partition_spec))
        self.fixed = tuple(
            (name, group) for name, group in partition_spec.items() if group is not ANY
        )

    def matches(self, partitions: Mapping[str, Any], counts: HitCounts) -> bool:
        for name, group in self.fixed:
            if partitions[name] != group:
                return False
        number = counts.get(self.combo, 0)
        return (
            number >= self.first
            and (number - self.first) % self.every == 0
            and (self.until is None or number <= self.until)
        )

    def fire(self, partitions: Mapping[str, Any]) -> None:
        self.callback(**{name: partitions[name] for name in self.names})

    def view(self) -> CounterRule:
        fixed = dict(self.fixed)
        spec = {name: fixed.get(name, ANY) for name in self.names}
        return CounterRule(
            self.callback, self.every, self.first, self.until, MappingProxyType(spec)
        )


@dataclass(frozen=True)
class CounterRule:
    """A callback registered on a :class:`Counter`, as
    :meth:`Counter.rules` reports it (read-only)."""

    #: The function called.
    callback: Callable[..., Any]
    #: It is called on every *every*-th hit...
    every: int
    #: ... from this hit on (the count of the first hit it is called on)...
    first: int
    #: ... up to this hit (``None``: without end).
    until: int | None
    #: The partition spec it was registered with, in order: partition name
    #: to group, or :attr:`Counter.any`.
    partition_spec: Mapping[str, Any]

    @property
    def limit(self) -> int | None:
        """The number of hits allowed before the callback is called on every
        further one (``every(1, after=limit)``, the shape of a rate limiter),
        or ``None`` for a rule of any other shape.

        >>> CounterRule(print, every=1, first=101, until=None,
        ...             partition_spec={}).limit
        100
        """
        if self.every != 1 or self.until is not None or self.first < 1:
            return None
        return self.first - 1


class _Tracked:
    """The log of a resource tracked on its own, and its callbacks."""

    __slots__ = ("after", "before", "log", "resource")

    def __init__(self, resource: AbstractResource, log: AbstractLog) -> None:
        self.resource = resource
        self.log = log
        self.before: list[_Rule] = []
        self.after: list[_Rule] = []


def _check_count(what: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}, not {value!r}")


class Counter(AppTool):
    """A counter that keeps track of hits (requests) made on an application
    and its resources.

    :param app: The findig application whose requests the counter will
        track (:class:`findig.App`, or a subclass like
        :class:`findig.json.App`); see :meth:`attach_to`.
    :param duration: If given, the counter only counts hits that occurred
        less than this duration before the current time: a number of seconds
        or a :class:`~datetime.timedelta`. By default (``-1``), all hits are
        counted.
    :param storage: A subclass of :class:`AbstractLog` used to store hits.
        By default, :class:`MemoryLog`, a thread-safe, in-memory (and so
        per-process) log.
    :raises ValueError: for a duration that is neither positive nor -1.
    :raises TypeError: if *storage* is not an :class:`AbstractLog` subclass.

    **What is counted where.** Every request to an app the counter is
    attached to is one hit in the counter's app-wide log, including requests
    that match no route (their 404 is coming). A request to a resource is
    also a hit in the resource's own log, if the resource is tracked on its
    own: it is as soon as a callback is registered with ``resource=`` it or
    :meth:`hits` is called for it. A hit is tracked exactly once per log,
    before any callback runs, and the number each callback tests is the
    count the log returned when storing that very hit, so two concurrent
    requests never both see the same number (as long as no hit leaves the
    window in between).

    Callbacks registered without ``resource=`` test app-wide counts; with
    it, the resource's counts. Callbacks registered with :meth:`every` and
    :meth:`at` run before the resource, in registration order (app-wide
    first); they may raise an HTTP error such as
    :class:`~werkzeug.exceptions.TooManyRequests`, which answers the request
    instead of the resource and skips the remaining callbacks. Requests
    refused that way are hits too. Callbacks registered with
    :meth:`after_every` and :meth:`after` run after the response is made,
    for requests that were not refused; their exceptions are logged.
    """

    #: Use as a group in a partition spec to count each group on its own:
    #: ``counter.every(100, method=counter.any)`` fires on every 100th GET,
    #: every 100th POST, etc.
    any: Final = ANY

    def __init__(
        self,
        app: App | None = None,
        duration: int | float | timedelta = -1,
        storage: type[AbstractLog] | None = None,
    ) -> None:
        super().__init__()
        _window_seconds(duration)
        if storage is None:
            storage = MemoryLog
        elif not (isinstance(storage, type) and issubclass(storage, AbstractLog)):
            raise TypeError(
                "A counter's storage must be a subclass of AbstractLog, "
                f"not {storage!r}"
            )
        #: The duration hits are counted for (``-1``: forever).
        self.duration = duration
        #: The :class:`AbstractLog` subclass storing hits.
        self.storage: type[AbstractLog] = storage
        self._partitions: list[tuple[str, Callable[[Any], Hashable]]] = []
        self._lock = threading.Lock()
        self._log = storage(duration, None)
        self._before: list[_Rule] = []
        self._after: list[_Rule] = []
        # PERF: keyed by id() so that the per-request lookup never calls a
        # resource's __hash__/__eq__; _Tracked keeps the resource alive.
        self._tracked: dict[int, _Tracked] = {}
        if app is not None:
            self.attach_to(app)

    # -- set-up -------------------------------------------------------------

    def attach_to(self, app: App) -> None:
        """Attach the counter to a findig application.

        .. note:: This is called automatically for any app that is passed to
           the counter's constructor.

        By attaching the counter to a findig application, the counter is
        enabled to count hits to the application and fire callbacks. It
        registers a request context hook (see :meth:`findig.App.context`).

        :param app: The findig application whose requests the counter will
            track.
        :raises RuntimeError: if the application has already handled a
            request.
        """
        if not self._start_attaching(app):
            return
        app.context(self._findig_counter)
        self._apps.append(app)

    def partition(
        self, name: str, fgroup: Callable[[Any], Hashable] | None = None
    ) -> Any:
        """Create a partition that is tracked by the counter.

        A partition is a set of mutually exclusive groups that hits fall
        into: each hit belongs to exactly one group of each partition. For
        example, partitioned by client address, each address is a group.

        The grouping function takes the request and returns a hashable value
        identifying the hit's group (keep it short: a string or a number).
        Hits can then be counted per group, and callbacks registered per
        group::

            counter.partition("method", lambda request: request.method.upper())
            number_of_gets = counter.hits().count(method="GET")

        This method can be used as a decorator factory::

            @counter.partition("ip")
            def getip(request):
                return request.remote_addr

        A counter may define up to :data:`MAX_PARTITIONS` partitions; each
        hit is counted in every combination of them.

        :param name: The name for the partition, a Python identifier other
            than ``n``, ``callback``, ``after``, ``until`` and ``resource``.
        :param fgroup: The grouping function for the partition.
        :returns: *fgroup*, or a decorator taking it if it is not given.
        :raises ValueError: for an invalid or duplicate name, or too many
            partitions.
        :raises RuntimeError: after the application's first request.
        """
        if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED:
            raise ValueError(
                f"Invalid partition name {name!r}: use a Python identifier other "
                f"than {', '.join(sorted(_RESERVED))}"
            )
        if fgroup is None:
            return lambda func: self.partition(name, func)
        if not callable(fgroup):
            raise TypeError(
                f"The grouping function of partition {name!r} is not callable"
            )
        self._check_open("add partitions")
        if any(known == name for known, _ in self._partitions):
            raise ValueError(f"The counter already has a partition named {name!r}")
        if len(self._partitions) >= MAX_PARTITIONS:
            raise ValueError(
                f"Cannot add partition {name!r}: a counter supports at most "
                f"{MAX_PARTITIONS} partitions"
            )
        self._partitions.append((name, fgroup))
        return fgroup

    def _tracked_entry(self, resource: AbstractResource) -> _Tracked:
        if not isinstance(resource, AbstractResource):
            raise TypeError(f"Not a resource: {resource!r}")
        entry = self._tracked.get(id(resource))
        if entry is None:
            with self._lock:
                entry = self._tracked.get(id(resource))
                if entry is None:
                    entry = _Tracked(resource, self.storage(self.duration, resource))
                    self._tracked[id(resource)] = entry
        return entry

    def _register(
        self,
        what: str,
        before: bool,
        n: int,
        callback: Callable[..., Any] | None,
        after: int | None,
        until: int | None,
        resource: AbstractResource | None,
        partition_spec: dict[str, Any],
    ) -> Any:
        _check_count(f"{what}(): n", n, 1)
        if after is not None:
            _check_count(f"{what}(): after", after, 0)
        first = n if after is None else after + 1
        if until is not None:
            _check_count(f"{what}(): until", until, 1)
            if until < first:
                raise ValueError(
                    f"{what}(): until={until} is before the first hit the callback "
                    f"would fire on ({first}); it would never be called"
                )
        known = {name for name, _ in self._partitions}
        for name, group in partition_spec.items():
            if name not in known:
                raise ValueError(
                    f"{what}(): the counter has no partition named {name!r}; "
                    f"create it with counter.partition({name!r}, ...) first"
                )
            if group is not ANY:
                hash(group)
        if resource is not None and not isinstance(resource, AbstractResource):
            raise TypeError(f"{what}(): resource= must be a resource, not {resource!r}")

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            if not callable(func):
                raise TypeError(f"{what}(): the callback {func!r} is not callable")
            self._check_open("register counter callbacks")
            rule = _Rule(func, n, first, until, partition_spec)
            if resource is None:
                (self._before if before else self._after).append(rule)
            else:
                entry = self._tracked_entry(resource)
                (entry.before if before else entry.after).append(rule)
            return func

        if callback is None:
            return register
        return register(callback)

    def every(
        self,
        n: int,
        callback: Callable[..., Any] | None = None,
        after: int | None = None,
        until: int | None = None,
        resource: AbstractResource | None = None,
        **partition_spec: Any,
    ) -> Any:
        """Call a callback every *n* hits.

        The callback is called before the request is handled (and so can
        raise errors that interrupt the request). Without *after*, it is
        called on hits number n, 2n, 3n, ...

        :param n: The interval between hits the callback is called on.
        :param callback: The callback; if not given, a decorator is returned.
        :param after: If given, the callback won't be called until after
            this number of hits; it will be called on the (after+1)th hit and
            every nth hit thereafter.
        :param until: If given, the callback won't be called after this
            number of hits; it will be called up to and including this
            number of hits.
        :param resource: If given, the callback will be called on every n
            hits to the resource; otherwise hits to the whole app count.
        :returns: *callback*, or a decorator taking it.
        :raises ValueError: for invalid numbers or an unknown partition.
        :raises RuntimeError: after the application's first request.

        If partitions have been set up (see :meth:`partition`), additional
        keyword arguments can be given as ``{partition_name}={group}``. In
        this case, only the hits in that group are counted, and the callback
        receives the group as a keyword argument named after the partition.
        For example, to run some code on the 1001st GET request and every
        100th after that::

            counter.partition("method", lambda r: r.method.upper())

            @counter.every(100, after=1000, method="GET")
            def on_one_hundred_gets(method):
                pass

        With :attr:`any` as the group, every group is counted on its own::

            @counter.every(100, method=counter.any)
            def on_one_hundred(method):
                pass

        is called on every 100th GET, every 100th PUT, and so on, while
        ``every(100, callback)`` is called on every 100th request whatever
        its method.
        """
        return self._register(
            "every", True, n, callback, after, until, resource, partition_spec
        )

    def at(
        self,
        n: int,
        callback: Callable[..., Any] | None = None,
        resource: AbstractResource | None = None,
        **partition_spec: Any,
    ) -> Any:
        """Call a callback on the *n*-th hit, before it is handled.

        Equivalent to ``every(1, callback, after=n-1, until=n)``; like
        :meth:`every`, it accepts partition specs and works as a decorator
        factory.

        :param n: The number of the hit.
        :param callback: The callback; if not given, a decorator is returned.
        :param resource: If given, the callback will be called on the nth
            hit to the resource.
        :returns: *callback*, or a decorator taking it.
        """
        _check_count("at(): n", n, 1)
        return self._register(
            "at", True, 1, callback, n - 1, n, resource, partition_spec
        )

    def after_every(
        self,
        n: int,
        callback: Callable[..., Any] | None = None,
        after: int | None = None,
        until: int | None = None,
        resource: AbstractResource | None = None,
        **partition_spec: Any,
    ) -> Any:
        """Call a callback after every *n* hits.

        This works exactly like :meth:`every`, except that the callback runs
        after the request has been handled and its response made; it cannot
        change the response. Exceptions it raises are logged.

        :returns: *callback*, or a decorator taking it.
        """
        return self._register(
            "after_every", False, n, callback, after, until, resource, partition_spec
        )

    def after(
        self,
        n: int,
        callback: Callable[..., Any] | None = None,
        resource: AbstractResource | None = None,
        **partition_spec: Any,
    ) -> Any:
        """Call a callback after the *n*-th hit has been handled.

        This works exactly like :meth:`at`, except that the callback runs
        after the request has been handled (see :meth:`after_every`).

        :returns: *callback*, or a decorator taking it.
        """
        _check_count("after(): n", n, 1)
        return self._register(
            "after", False, 1, callback, n - 1, n, resource, partition_spec
        )

    def rules(
        self,
        resource: AbstractResource | None = None,
        when: Literal["before", "after"] = "before",
    ) -> list[CounterRule]:
        """The callbacks registered on the counter, for introspection
        (documentation tools).

        >>> from findig import App
        >>> counter = Counter(App(), duration=60)
        >>> _ = counter.partition("ip", lambda request: request.remote_addr)
        >>> @counter.every(1, after=100, ip=counter.any)
        ... def too_many(ip):
        ...     pass
        >>> [(rule.callback.__name__, rule.limit, list(rule.partition_spec))
        ...  for rule in counter.rules()]
        [('too_many', 100, ['ip'])]

        :param resource: A resource: its own callbacks (registered with
            ``resource=``; asking does not start tracking it); ``None``
            (the default): the app-wide ones.
        :param when: ``"before"`` (the default): the callbacks of
            :meth:`every` and :meth:`at`, which run before the resource;
            ``"after"``: those of :meth:`after_every` and :meth:`after`.
        :returns: A :class:`CounterRule` for each, in registration order.
        :raises ValueError: for another *when*.
        """
        if when not in ("before", "after"):
            raise ValueError(f"when must be 'before' or 'after', not {when!r}")
        if resource is None:
            rules = self._before if when == "before" else self._after
        else:
            entry = self._tracked.get(id(resource))
            if entry is None:
                return []
            rules = entry.before if when == "before" else entry.after
        return [rule.view() for rule in rules]

    def hits(self, resource: AbstractResource | None = None) -> AbstractLog:
        """Get the hits that have been recorded by the counter.

        The result can be used to query the number of hits to the
        application or resource, as well as the number of hits belonging to
        specific partition groups::

            # Get the total number of hits
            counter.hits().count()

            # Get the number of hits belonging to a partition group
            counter.hits().count(method="GET")

        The result is also an iterable of ``(datetime.datetime,
        partition_mapping)`` tuples.

        :param resource: If given, only hits for this resource are
            retrieved. The resource is tracked on its own from the first
            call on (call this at start-up to count from the first request).
        :returns: The :class:`AbstractLog` of the app or of the resource.
        """
        if resource is None:
            return self._log
        return self._tracked_entry(resource).log

    # -- the request hook --------------------------------------------------

    @staticmethod
    def _counted(
        log: AbstractLog, partitions: Mapping[str, Hashable], counts: HitCounts | None
    ) -> HitCounts:
        if counts is None:
            # A log without atomic counts (see AbstractLog.track).
            counts = {
                combo: log.count(**{name: partitions[name] for name in combo})
                for combo in _combinations(tuple(partitions))
            }
        return counts

    def _findig_counter(self) -> Generator[None, None, None]:
        state = current_state()
        assert state is not None
        request = state.request
        partitions = {name: fgroup(request) for name, fgroup in self._partitions}
        entry = None
        if state.resource is not None and self._tracked:
            entry = self._tracked.get(id(state.resource))
        own_counts: HitCounts = {}
        if entry is None:
            counts = self._counted(self._log, partitions, self._log.track(partitions))
        else:
            # One call for both logs: a shared storage makes one round trip.
            both = self.storage.track_all((self._log, entry.log), partitions)
            counts = self._counted(self._log, partitions, both[0])
            own_counts = self._counted(entry.log, partitions, both[1])
        for rule in self._before:
            if rule.matches(partitions, counts):
                rule.fire(partitions)
        if entry is not None:
            for rule in entry.before:
                if rule.matches(partitions, own_counts):
                    rule.fire(partitions)
        yield None
        # PERF: most counters have no after-callbacks; skip the calls.
        if self._after:
            self._run_after(self._after, partitions, counts)
        if entry is not None and entry.after:
            self._run_after(entry.after, partitions, own_counts)

    @staticmethod
    def _run_after(
        rules: list[_Rule], partitions: Mapping[str, Any], counts: HitCounts
    ) -> None:
        for rule in rules:
            try:
                if rule.matches(partitions, counts):
                    rule.fire(partitions)
            except Exception:
                logger.exception("Counter callback %r failed", rule.callback)
