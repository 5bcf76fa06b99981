"""Tests of findig.tools.counter with the default in-memory log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _support import run_guide
from werkzeug.exceptions import TooManyRequests
from werkzeug.test import Client

from findig.json import App
from findig.tools.counter import AbstractLog, Counter, MemoryLog


def make_app() -> tuple[App, Any, Any]:
    app = App()

    @app.route("/a")
    @app.resource
    def res_a() -> dict[str, str]:
        return {"r": "a"}

    @app.route("/b", methods=["GET", "PUT"])
    @app.resource
    def res_b() -> dict[str, str]:
        return {"r": "b"}

    @res_b.model("write")
    def write_b(data: Any) -> None:
        return None

    return app, res_a, res_b


def get(client: Client, path: str = "/a", ip: str = "192.0.2.1", **kw: Any) -> Any:
    return client.get(path, environ_overrides={"REMOTE_ADDR": ip}, **kw)


# -- the documented rate limiter ------------------------------------------------


def test_rate_limiter_example_as_documented() -> None:
    # The example from the documentation, with `counter(...)` fixed to
    # `Counter(...)` and a small LIMIT.
    app = App()
    counter = Counter(app, duration=3600)
    LIMIT = 3

    @counter.partition("ip")
    def get_ip(request: Any) -> Any:
        return request.remote_addr

    @counter.every(1, after=LIMIT, ip=counter.any)
    def after_limit(ip: str) -> None:
        raise TooManyRequests(f"Limit exceeded for: {ip}")

    called = []

    @app.route("/")
    @app.resource
    def index() -> dict[str, int]:
        called.append(1)
        return {"ok": 1}

    client = Client(app)
    statuses = [get(client, "/", "10.0.0.1").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    # The resource is not called for refused requests.
    assert len(called) == 3
    refused = get(client, "/", "10.0.0.1")
    assert refused.status_code == 429
    assert refused.json == {"message": "Limit exceeded for: 10.0.0.1"}
    # Another client has a limit of its own.
    assert get(client, "/", "10.0.0.2").status_code == 200
    # Refused requests are hits too.
    assert counter.hits().count(ip="10.0.0.1") == 6
    assert counter.hits().count() == 7


# -- when callbacks fire --------------------------------------------------------


def fired_on(register: Any, hits: int = 12, **kwargs: Any) -> list[int]:
    app, _, _ = make_app()
    counter = Counter(app)
    numbers: list[int] = []

    def callback() -> None:
        numbers.append(counter.hits().count())

    register(counter)(callback, **kwargs)
    client = Client(app)
    for _ in range(hits):
        get(client)
    return numbers


def test_every_fires_on_multiples_of_n() -> None:
    assert fired_on(lambda c: lambda cb: c.every(3, cb)) == [3, 6, 9, 12]
    assert fired_on(lambda c: lambda cb: c.every(1, cb), hits=3) == [1, 2, 3]


def test_every_with_after_and_until() -> None:
    register = lambda c: lambda cb: c.every(3, cb, after=2, until=9)  # noqa: E731
    assert fired_on(register) == [3, 6, 9]
    register = lambda c: lambda cb: c.every(4, cb, after=5)  # noqa: E731
    assert fired_on(register, hits=14) == [6, 10, 14]
    register = lambda c: lambda cb: c.every(2, cb, until=7)  # noqa: E731
    assert fired_on(register) == [2, 4, 6]
    register = lambda c: lambda cb: c.every(1, cb, after=0)  # noqa: E731
    assert fired_on(register, hits=2) == [1, 2]


def test_at_fires_once() -> None:
    assert fired_on(lambda c: lambda cb: c.at(5, cb)) == [5]
    assert fired_on(lambda c: lambda cb: c.at(1, cb)) == [1]
    assert fired_on(lambda c: lambda cb: c.at(13, cb)) == []


def test_after_callbacks_run_after_the_response() -> None:
    app, res_a, _ = make_app()
    counter = Counter(app)
    events: list[str] = []

    @app.cleanup_hook
    def cleanup() -> None:
        events.append("end")

    counter.every(2, lambda: events.append("every"))
    counter.at(3, lambda: events.append("at"))
    counter.after_every(2, lambda: events.append("after_every"))
    counter.after(3, lambda: events.append("after"))

    @app.route("/x")
    @app.resource
    def x() -> dict[str, int]:
        events.append("resource")
        return {}

    client = Client(app)
    for _ in range(4):
        client.get("/x")
    assert events == [
        *["resource", "end"],
        *["every", "resource", "after_every", "end"],
        *["at", "resource", "after", "end"],
        *["every", "resource", "after_every", "end"],
    ]


def test_refused_requests_skip_after_callbacks_and_later_callbacks() -> None:
    app, _, _ = make_app()
    counter = Counter(app)
    events: list[str] = []

    @counter.every(2)
    def refuse() -> None:
        raise TooManyRequests()

    counter.every(1, lambda: events.append("second before"))
    counter.after_every(1, lambda: events.append("after"))
    client = Client(app)
    assert [get(client).status_code for _ in range(3)] == [200, 429, 200]
    assert events == ["second before", "after", "second before", "after"]


def test_failing_after_callback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app, _, _ = make_app()
    counter = Counter(app)
    ran = []

    @counter.after_every(1)
    def broken() -> None:
        raise RuntimeError("boom")

    counter.after_every(1, lambda: ran.append(1))
    with caplog.at_level(logging.ERROR, logger="findig.counter"):
        response = get(Client(app))
    assert response.status_code == 200
    assert ran == [1]
    assert any("broken" in r.getMessage() for r in caplog.records)


# -- partitions -----------------------------------------------------------------


def test_partition_spec_filters_hits_and_passes_the_group() -> None:
    app, _, _ = make_app()
    counter = Counter(app)
    counter.partition("method", lambda r: r.method.upper())
    gets: list[tuple[str, int]] = []
    each: list[tuple[str, int]] = []

    @counter.every(2, method="GET")
    def on_gets(method: str) -> None:
        gets.append((method, counter.hits().count(method=method)))

    @counter.every(3, method=counter.any)
    def on_each(method: str) -> None:
        each.append((method, counter.hits().count(method=method)))

    client = Client(app)
    for method in ["GET", "PUT", "PUT", "GET", "PUT", "GET", "GET", "GET", "GET"]:
        client.open("/b", method=method, json={} if method == "PUT" else None)
    assert gets == [("GET", 2), ("GET", 4), ("GET", 6)]
    assert each == [("PUT", 3), ("GET", 3), ("GET", 6)]
    hits = counter.hits()
    assert (hits.count(), hits.count(method="GET"), hits.count(method="PUT")) == (
        9,
        6,
        3,
    )
    assert hits.count(method="DELETE") == 0


def test_several_partitions() -> None:
    app, _, _ = make_app()
    counter = Counter(app)

    @counter.partition("ip")
    def getip(request: Any) -> Any:
        return request.remote_addr

    assert getip.__name__ == "getip"
    counter.partition("method", lambda r: r.method)
    seen: list[dict[str, str]] = []
    counter.every(2, lambda **kw: seen.append(kw), ip=counter.any, method="GET")
    client = Client(app)
    for ip in ["1.1.1.1", "2.2.2.2", "1.1.1.1", "2.2.2.2", "1.1.1.1"]:
        get(client, "/a", ip)
    client.put("/b", json={}, environ_overrides={"REMOTE_ADDR": "1.1.1.1"})
    get(client, "/a", "1.1.1.1")
    assert seen == [
        {"ip": "1.1.1.1", "method": "GET"},
        {"ip": "2.2.2.2", "method": "GET"},
        {"ip": "1.1.1.1", "method": "GET"},
    ]
    hits = counter.hits()
    assert hits.count(ip="1.1.1.1") == 5
    assert hits.count(ip="1.1.1.1", method="GET") == 4
    assert hits.count(method="PUT", ip="1.1.1.1") == 1
    assert hits.count(method="PUT", ip="2.2.2.2") == 0
    records = list(hits)
    assert len(records) == 7
    assert all(isinstance(t, datetime) and t.tzinfo is not None for t, _ in records)
    assert records[-2][1] == {"ip": "1.1.1.1", "method": "PUT"}
    with pytest.raises(TypeError, match=r"Counter\.any"):
        hits.count(ip=counter.any)


# -- app-wide and per-resource counts ---------------------------------------------


def test_callbacks_without_resource_count_app_wide() -> None:
    app, res_a, res_b = make_app()
    counter = Counter(app)
    app_wide: list[int] = []
    on_b: list[int] = []
    counter.every(2, lambda: app_wide.append(counter.hits().count()))
    counter.every(2, lambda: on_b.append(counter.hits(res_b).count()), resource=res_b)
    client = Client(app)
    for path in ["/a", "/b", "/a", "/nowhere", "/b", "/b", "/a", "/b"]:
        client.get(path)
    assert app_wide == [2, 4, 6, 8]
    assert on_b == [2, 4]
    # Unmatched paths are counted app-wide only.
    assert counter.hits().count() == 8
    assert counter.hits(res_b).count() == 4
    assert counter.hits(res_b) is counter.hits(res_b)


def test_hits_for_a_resource_start_its_log() -> None:
    app, res_a, res_b = make_app()
    counter = Counter(app)
    log_a = counter.hits(res_a)
    client = Client(app)
    for path in ["/a", "/b", "/a"]:
        client.get(path)
    assert log_a.count() == 2
    assert log_a.resource is res_a
    # A resource's log created during a request counts from then on.
    log_b = counter.hits(res_b)
    client.get("/b")
    assert (log_b.count(), counter.hits().count()) == (1, 4)


def test_counter_attached_later_and_with_timedelta() -> None:
    app, _, _ = make_app()
    counter = Counter(duration=timedelta(hours=1))
    counter.attach_to(app)
    counter.attach_to(app)  # attaching twice changes nothing
    Client(app).get("/a")
    assert counter.hits().count() == 1
    assert counter.hits().window == 3600


# -- registration errors ----------------------------------------------------------


def test_registration_is_closed_after_the_first_request() -> None:
    app, res_a, _ = make_app()
    counter = Counter(app)
    counter.partition("ip", lambda r: r.remote_addr)
    Client(app).get("/a")
    with pytest.raises(RuntimeError, match="first request"):
        counter.every(1, lambda: None)
    with pytest.raises(RuntimeError, match="first request"):
        counter.after(1, lambda: None, resource=res_a)
    with pytest.raises(RuntimeError, match="first request"):
        counter.partition("method", lambda r: r.method)
    with pytest.raises(RuntimeError, match="first request"):
        Counter(app)


def test_invalid_registrations() -> None:
    app, _, _ = make_app()
    counter = Counter(app)
    counter.partition("ip", lambda r: r.remote_addr)
    with pytest.raises(ValueError, match="no partition named 'method'"):
        counter.every(1, lambda method: None, method="GET")
    with pytest.raises(ValueError, match="already has a partition"):
        counter.partition("ip", lambda r: r.remote_addr)
    for name in ["after", "resource", "n", "not an identifier"]:
        with pytest.raises(ValueError, match="Invalid partition name"):
            counter.partition(name, lambda r: None)
    with pytest.raises(ValueError, match="n must be"):
        counter.every(0, lambda: None)
    with pytest.raises(ValueError, match="n must be"):
        counter.at(True, lambda: None)
    with pytest.raises(ValueError, match="after must be"):
        counter.every(2, lambda: None, after=-1)
    with pytest.raises(ValueError, match="never be called"):
        counter.every(2, lambda: None, after=10, until=10)
    with pytest.raises(TypeError, match="not callable"):
        counter.every(2, "nope")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a resource"):
        counter.every(2, lambda: None, resource="/a")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        counter.every(2, lambda ip: None, ip=["unhashable"])
    for i in range(5):
        counter.partition(f"p{i}", lambda r: None)
    with pytest.raises(ValueError, match="at most 6"):
        counter.partition("p6", lambda r: None)


def test_invalid_counter_arguments() -> None:
    durations: list[Any] = [0, -2, timedelta(0)]
    for duration in durations:
        with pytest.raises(ValueError, match="duration"):
            Counter(duration=duration)
    with pytest.raises(TypeError, match="duration"):
        Counter(duration="1h")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AbstractLog"):
        Counter(storage=dict)  # type: ignore[arg-type]


# -- the in-memory log ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_log_drops_expired_hits() -> None:
    clock = FakeClock()

    class ClockedLog(MemoryLog):
        pass

    ClockedLog.clock = staticmethod(clock)
    log = ClockedLog(timedelta(seconds=10), None)
    for ip in ["a", "b", "a"]:
        log.track({"ip": ip})
    assert (log.count(), log.count(ip="a"), log.count(ip="b")) == (3, 2, 1)
    clock.now += 6
    assert log.track({"ip": "c"}) == {(): 4, ("ip",): 1}
    clock.now += 3.5
    assert log.count() == 4
    clock.now += 0.5
    # Exactly 10 s old: the first three hits left the window.
    assert (log.count(), log.count(ip="a"), log.count(ip="c")) == (1, 0, 1)
    assert [p for _, p in log] == [{"ip": "c"}]
    assert log.track({"ip": "a"}) == {(): 2, ("ip",): 1}
    clock.now += 10
    assert log.count() == 0
    assert list(log) == []
    # Nothing is left in memory once every hit expired.
    assert not log._counts and not log._hits


def test_memory_log_window_in_real_time() -> None:
    log = MemoryLog(timedelta(milliseconds=50), None)
    log.track({})
    assert log.count() == 1
    time.sleep(0.06)
    assert log.count() == 0


def test_memory_log_without_duration_keeps_bounded_history() -> None:
    class ShortLog(MemoryLog):
        max_history = 5

    log = ShortLog(-1, None)
    before = datetime.now(timezone.utc)
    for i in range(12):
        log.track({"n": i % 3})
    assert log.count() == 12
    assert log.count(n=0) == 4
    records = list(log)
    assert [p["n"] for _, p in records] == [1, 2, 0, 1, 2]
    assert all(before <= t <= datetime.now(timezone.utc) for t, _ in records)


def test_memory_log_counts_past_its_cache_of_groups() -> None:
    # The log caches the counters of each combination of groups, up to a
    # bound: counts stay exact when the cache is emptied.
    from findig.tools.counter import _CELLS_CACHE_SIZE

    log = MemoryLog(60, None)
    for i in range(_CELLS_CACHE_SIZE + 10):
        assert log.track({"ip": i, "m": "GET"}) == {
            (): i + 1,
            ("ip",): 1,
            ("m",): i + 1,
            ("ip", "m"): 1,
        }
    assert len(log._cells) <= _CELLS_CACHE_SIZE
    assert log.track({"ip": 0, "m": "GET"})[("ip",)] == 2
    assert log.track({"ip": 0, "m": "PUT"}) == {
        (): _CELLS_CACHE_SIZE + 12,
        ("ip",): 3,
        ("m",): 1,
        ("ip", "m"): 1,
    }


def test_memory_log_counts_are_exact_across_threads() -> None:
    log = MemoryLog(60, None)
    results: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [log.track({"k": "x"})[("k",)] for _ in range(300)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == list(range(1, 2401))
    assert log.count(k="x") == 2400


def test_callbacks_fire_exactly_once_under_concurrency() -> None:
    app, _, _ = make_app()
    counter = Counter(app)
    at_hits: list[int] = []
    every_hits: list[int] = []
    counter.at(137, lambda: at_hits.append(1))
    counter.every(10, lambda: every_hits.append(1))

    def work() -> None:
        client = Client(app)
        for _ in range(50):
            client.get("/a")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert counter.hits().count() == 400
    assert len(at_hits) == 1
    assert len(every_hits) == 40


class CountingOnlyLog(AbstractLog):
    """A log written for the original interface: track() returns nothing."""

    def __init__(self, duration: Any, resource: Any) -> None:
        super().__init__(duration, resource)
        self.records: list[dict[str, Any]] = []

    def track(self, partitions: Mapping[str, Hashable]) -> None:
        self.records.append(dict(partitions))

    def count(self, **partition_spec: Hashable) -> int:
        return sum(
            all(r.get(k) == v for k, v in partition_spec.items()) for r in self.records
        )

    def __iter__(self) -> Iterator[tuple[datetime, dict[str, Any]]]:
        now = datetime.now(timezone.utc)
        return iter([(now, r) for r in self.records])


def test_custom_log_without_counts_from_track() -> None:
    app, res_a, _ = make_app()
    counter = Counter(app, storage=CountingOnlyLog)
    counter.partition("ip", lambda r: r.remote_addr)
    fired: list[str] = []
    counter.every(2, lambda ip: fired.append(ip), ip=counter.any, resource=res_a)
    client = Client(app)
    for ip in ["1", "2", "1", "1", "2"]:
        get(client, "/a", ip)
    assert fired == ["1", "2"]
    assert isinstance(counter.hits(res_a), CountingOnlyLog)
    assert counter.hits().count(ip="1") == 3


# -- the user guide -----------------------------------------------------------------


def test_guide_examples_run() -> None:
    # The guide's blocks form one script; the Redis block only configures a
    # log (no request reaches Redis).
    namespace = run_guide("counter", min_blocks=5)
    assert namespace["counter"].hits().count() == 0
