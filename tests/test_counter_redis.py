"""Tests of the Redis hit log (findig.extras.redis.RedisLog), against a real
Redis server, in-process and behind gunicorn with several worker processes."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from _support import REDIS_URL
from werkzeug.exceptions import ServiceUnavailable, TooManyRequests
from werkzeug.test import Client

from findig.extras.redis import RedisLog
from findig.json import App
from findig.tools.counter import Counter

APPS = Path(__file__).parent / "apps"
UNREACHABLE = "redis://127.0.0.1:1/0"


def limited_app(storage: type[RedisLog], limit: int = 3) -> tuple[App, Counter]:
    """The documented rate limiter, on the given storage."""
    app = App()
    counter = Counter(app, duration=3600, storage=storage)

    @counter.partition("ip")
    def get_ip(request: Any) -> Any:
        return request.headers.get("X-Client", request.remote_addr)

    @counter.every(1, after=limit, ip=counter.any)
    def after_limit(ip: str) -> None:
        raise TooManyRequests(f"Limit exceeded for: {ip}")

    @app.route("/")
    @app.resource
    def index() -> dict[str, bool]:
        return {"ok": True}

    return app, counter


# -- the log itself ---------------------------------------------------------------


def test_counts_and_iteration(redis_client: Any, redis_prefix: str) -> None:
    storage = RedisLog.configure(redis_client, prefix=redis_prefix)
    log = storage(60, None)
    before = datetime.now(timezone.utc) - timedelta(seconds=5)
    assert log.track({"ip": "a", "method": "GET"}) == {
        (): 1,
        ("ip",): 1,
        ("method",): 1,
        ("ip", "method"): 1,
    }
    log.track({"ip": "b", "method": "GET"})
    counts = log.track({"ip": "a", "method": "PUT"})
    assert counts == {(): 3, ("ip",): 2, ("method",): 1, ("ip", "method"): 1}
    assert log.count() == 3
    assert log.count(ip="a") == 2
    assert log.count(method="GET") == 2
    assert log.count(method="GET", ip="a") == 1
    assert log.count(ip="zzz") == 0
    records = list(log)
    assert [p for _, p in records] == [
        {"ip": "a", "method": "GET"},
        {"ip": "b", "method": "GET"},
        {"ip": "a", "method": "PUT"},
    ]
    assert all(before < t < before + timedelta(seconds=15) for t, _ in records)
    # Every key is under the prefix and forgotten by Redis after the window.
    keys = list(redis_client.scan_iter(match=f"{redis_prefix}*"))
    # The hit numbering, the total, and the ip, method and ip+method groups.
    assert len(keys) == 1 + 1 + 2 + 2 + 3
    for key in keys:
        assert 0 < redis_client.pttl(key) <= 60_000
    with pytest.raises(TypeError, match=r"Counter\.any"):
        log.count(ip=Counter.any)


def test_iteration_keeps_arrival_order(redis_client: Any, redis_prefix: str) -> None:
    # Many hits share a millisecond: they still come out in arrival order.
    log = RedisLog.configure(redis_client, prefix=redis_prefix)(60, None)
    for i in range(200):
        log.track({"n": i})
    records = list(log)
    assert [p["n"] for _, p in records] == list(range(200))
    assert [t for t, _ in records] == sorted(t for t, _ in records)


def test_group_types_are_kept_apart(redis_client: Any, redis_prefix: str) -> None:
    log = RedisLog.configure(redis_client, prefix=redis_prefix)(-1, None)
    log.track({"user": 1})
    log.track({"user": "1"})
    log.track({"user": None})
    assert (log.count(user=1), log.count(user="1"), log.count(user=None)) == (1, 1, 1)
    assert [p["user"] for _, p in log] == [1, "1", None]


def test_counts_past_the_cache_of_keys(redis_client: Any, redis_prefix: str) -> None:
    # The log caches the keys of each combination of groups, up to a bound:
    # counts stay exact when the cache is emptied.
    from findig.extras._redis_log import _PLAN_CACHE_SIZE

    log = RedisLog.configure(redis_client, prefix=redis_prefix)(60, None)
    for i in range(_PLAN_CACHE_SIZE + 10):
        assert log.track({"ip": i}) == {(): i + 1, ("ip",): 1}
    assert len(log._plans) <= _PLAN_CACHE_SIZE
    assert log.track({"ip": 0}) == {(): _PLAN_CACHE_SIZE + 11, ("ip",): 2}


def test_expired_hits_are_dropped(redis_client: Any, redis_prefix: str) -> None:
    log = RedisLog.configure(redis_client, prefix=redis_prefix)(
        timedelta(milliseconds=500), None
    )
    log.track({"ip": "a"})
    log.track({"ip": "b"})
    assert log.count() == 2
    time.sleep(0.6)
    assert log.count() == 0
    assert list(log) == []
    # Idle groups expired from Redis altogether.
    assert redis_client.exists(log.cell_key(ip="b")) == 0
    assert log.track({"ip": "a"}) == {(): 1, ("ip",): 1}
    assert redis_client.zcard(log.cell_key()) == 1


def test_forever_log_counts_with_bounded_history(
    redis_client: Any, redis_prefix: str
) -> None:
    storage = RedisLog.configure(redis_client, prefix=redis_prefix, max_history=4)
    log = storage(-1, None)
    for i in range(10):
        counts = log.track({"n": i % 2})
    assert counts == {(): 10, ("n",): 5}
    assert (log.count(), log.count(n=0), log.count(n=1)) == (10, 5, 5)
    assert [p["n"] for _, p in log] == [0, 1, 0, 1]
    assert redis_client.llen(f"{log.key_base}h") == 4
    assert redis_client.pttl(log.cell_key()) == -1  # kept forever


def test_keys_are_stable_across_processes(redis_client: Any, redis_prefix: str) -> None:
    # Two logs for resources of the same name, made by separate (fresh)
    # configurations, as two worker processes would: they share counts.
    app = App()
    resource = app.resource(lambda: {}, name="api.items")
    first = RedisLog.configure(url=REDIS_URL, prefix=redis_prefix)(3600, resource)
    second = RedisLog.configure(url=REDIS_URL, prefix=redis_prefix)(3600, resource)
    assert first.key_base == f"{redis_prefix}{{r:api.items}}:w3600000:"
    assert first.track({}) == {(): 1}
    assert second.track({}) == {(): 2}
    # The app-wide log and another duration are counted apart.
    assert (
        RedisLog.configure(redis_client, prefix=redis_prefix)(3600, None).count() == 0
    )
    assert (
        RedisLog.configure(redis_client, prefix=redis_prefix)(60, resource).count() == 0
    )


def test_counts_are_exact_across_threads(redis_client: Any, redis_prefix: str) -> None:
    log = RedisLog.configure(url=REDIS_URL, prefix=redis_prefix)(3600, None)
    seen: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [log.track({"k": 1})[("k",)] for _ in range(100)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(seen) == list(range(1, 801))


def test_rate_limiter_in_process(redis_client: Any, redis_prefix: str) -> None:
    app, counter = limited_app(RedisLog.configure(redis_client, prefix=redis_prefix))
    client = Client(app)
    statuses = [
        client.get("/", headers={"X-Client": "c1"}).status_code for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    assert client.get("/", headers={"X-Client": "c2"}).status_code == 200
    assert counter.hits().count(ip="c1") == 5
    assert isinstance(counter.hits(), RedisLog)


def test_configure() -> None:
    storage = RedisLog.configure(url=UNREACHABLE, prefix="p:", fail_open=False)
    assert issubclass(storage, RedisLog)
    assert (storage.prefix, storage.fail_open, storage.timeout) == ("p:", False, 0.5)
    client = storage.get_client()
    assert client is storage.get_client()
    assert client is not RedisLog.configure(url=UNREACHABLE).get_client()
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] <= 0.5
    assert kwargs["socket_connect_timeout"] <= 0.5
    # Options not given are inherited.
    assert storage.configure(prefix="q:").fail_open is False
    with pytest.raises(ValueError, match="not both"):
        RedisLog.configure(client, url=UNREACHABLE)
    with pytest.raises(ValueError, match="timeout"):
        RedisLog.configure(timeout=0)


# -- one round trip per request ---------------------------------------------------


def two_log_app(storage: type[RedisLog], limit: int) -> tuple[App, Counter, Any]:
    """The documented rate limiter, plus a limit on the resource's own log."""
    app, counter = limited_app(storage, limit=limit)
    resource = app.resource(lambda: {"own": True}, name="own")
    app.route("/own")(resource)

    @counter.every(1, after=limit, resource=resource, ip=counter.any)
    def after_own_limit(ip: str) -> None:
        raise TooManyRequests(f"Resource limit exceeded for: {ip}")

    return app, counter, resource


@contextmanager
def server_traffic(client: Any) -> Iterator[tuple[list[int], list[str]]]:
    """What *client* (a client of one connection) sends while the block runs:
    the number of writes to its socket (one per round trip), and the
    commands the server receives from it, as Redis's MONITOR reports them."""
    import redis

    address = client.client_info()["addr"]
    token = f"findig-test-end-{time.monotonic_ns()}"
    commands: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=10).monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                origin = f"{event['client_address']}:{event['client_port']}"
                if origin != address:
                    continue
                if event["command"] == f"ECHO {token}":
                    return
                commands.append(event["command"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(10)
    time.sleep(0.1)  # MONITOR is on once the server has answered it
    connection_class = client.connection_pool.connection_class
    writes = [connection_class.writes]
    yield writes, commands
    writes[0] = connection_class.writes - writes[0]
    client.echo(token)
    watcher.join(10)
    assert not watcher.is_alive(), "MONITOR never saw the end of the test"


def counting_client() -> Any:
    """A client of one connection that counts its writes to the socket."""
    import redis

    class Counting(redis.Connection):
        writes = 0

        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            Counting.writes += 1
            super().send_packed_command(command, check_health)

    pool = redis.ConnectionPool.from_url(
        REDIS_URL, connection_class=Counting, max_connections=1, socket_timeout=5
    )
    return redis.Redis(connection_pool=pool)


@pytest.mark.parametrize("path", ["/", "/own"])
def test_one_round_trip_per_request(redis_prefix: str, path: str) -> None:
    client = counting_client()
    app, counter, resource = two_log_app(
        RedisLog.configure(client, prefix=redis_prefix), limit=100
    )
    web = Client(app)
    # The first request may load the scripts into Redis.
    assert web.get(path, headers={"X-Client": "c1"}).status_code == 200
    with server_traffic(client) as (writes, commands):
        for _ in range(5):
            assert web.get(path, headers={"X-Client": "c1"}).status_code == 200
    logs = 2 if path == "/own" else 1
    assert writes == [5]
    # One script run per log, and no other command (no counting afterwards).
    assert [command.split()[0] for command in commands] == ["EVALSHA"] * 5 * logs
    assert counter.hits().count(ip="c1") == 6
    assert counter.hits(resource).count(ip="c1") == (6 if path == "/own" else 0)
    client.close()


def test_resource_limit_in_process(redis_client: Any, redis_prefix: str) -> None:
    # The app-wide and the resource's own log, tracked in one pipeline, count
    # exactly.
    app, counter, resource = two_log_app(
        RedisLog.configure(redis_client, prefix=redis_prefix), limit=3
    )
    client = Client(app)
    statuses = [
        client.get(path, headers={"X-Client": "c1"}).status_code
        for path in ["/own"] * 4 + ["/"]
    ]
    assert statuses == [200, 200, 200, 429, 429]
    assert counter.hits().count(ip="c1") == 5
    assert counter.hits(resource).count(ip="c1") == 4
    assert client.get("/own", headers={"X-Client": "c2"}).status_code == 200


def test_scripts_are_loaded_again(tmp_path: Path) -> None:
    # After SCRIPT FLUSH (or a restart), the log runs its scripts with EVAL,
    # which loads them again; on a Redis of the test's own.
    import redis
    from reliability.rel_fixtures import PrivateRedis

    server = PrivateRedis(tmp_path)
    server.start()
    try:
        client = redis.Redis.from_url(server.url, socket_timeout=5)
        app, counter, resource = two_log_app(RedisLog.configure(client), limit=100)
        web = Client(app)
        for round_ in (1, 2):
            client.script_flush()
            assert web.get("/own").status_code == 200
            assert web.get("/").status_code == 200
            assert counter.hits(resource).count() == round_
            assert counter.hits().count() == 2 * round_
        assert client.info("commandstats")["cmdstat_eval"]["calls"] >= 4
        client.close()
    finally:
        server.stop()


# -- Redis down: fail open or closed ----------------------------------------------


@pytest.mark.parametrize(("fail_open", "status"), [(True, 200), (False, 503)])
def test_unreachable_redis(
    fail_open: bool, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    storage = RedisLog.configure(url=UNREACHABLE, fail_open=fail_open)
    app, counter = limited_app(storage, limit=1)
    client = Client(app)
    with caplog.at_level(logging.WARNING, logger="findig.extras.redis"):
        for _ in range(3):
            started = time.perf_counter()
            response = client.get("/", headers={"X-Client": "c1"})
            elapsed = time.perf_counter() - started
            assert response.status_code == status
            assert elapsed < 2.0
    body = response.get_data(as_text=True)
    assert "127.0.0.1" not in body and "Error" not in body
    if status == 503:
        assert response.json == {
            "message": "The service is temporarily unavailable; try again later."
        }
    # One warning, not one per request.
    warnings = [r for r in caplog.records if r.name == "findig.extras.redis"]
    assert len(warnings) == 1
    assert "ConnectionError" in warnings[0].getMessage()
    if fail_open:
        assert counter.hits().count() == 0
        assert list(counter.hits()) == []


@pytest.mark.parametrize(("fail_open", "status"), [(True, 200), (False, 503)])
def test_unreachable_redis_with_resource_log(
    fail_open: bool, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    # Both logs, tracked in one pipeline, fail together: one warning, then
    # no waiting for the timeout again (retry_after).
    storage = RedisLog.configure(url=UNREACHABLE, fail_open=fail_open)
    app, counter, resource = two_log_app(storage, limit=1)
    client = Client(app)
    with caplog.at_level(logging.WARNING, logger="findig.extras.redis"):
        for _ in range(3):
            started = time.perf_counter()
            response = client.get("/own", headers={"X-Client": "c1"})
            assert time.perf_counter() - started < 2.0
            assert response.status_code == status
    warnings = [r for r in caplog.records if r.name == "findig.extras.redis"]
    assert len(warnings) == 1
    if fail_open:
        assert response.json == {"own": True}
        assert counter.hits(resource).count() == 0


# -- behind gunicorn: 4 worker processes ------------------------------------------


@contextmanager
def gunicorn(tmp_path: Path, env: dict[str, str]) -> Iterator[int]:
    """Serve tests/apps/counter_ratelimited.py with 4 sync workers; yield the
    port once every worker answers."""
    pytest.importorskip("gunicorn")
    log_path = tmp_path / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn",
        "--workers", "4", "--worker-class", "sync",
        "--bind", "127.0.0.1:0", "--pythonpath", str(APPS),
        "--no-control-socket", "--timeout", "30", "--graceful-timeout", "2",
        "counter_ratelimited:app",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env={**os.environ, **env},
        )
    try:
        port = None
        deadline = time.monotonic() + 20
        while port is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log_path.read_text()}")
            found = re.search(
                r"Listening at: http://127\.0\.0\.1:(\d+)", log_path.read_text()
            )
            if found:
                port = int(found.group(1))
            else:
                time.sleep(0.05)
        # Warm up until all 4 workers have loaded the app (each request is a
        # client of its own, so no limit is reached).
        pids: set[int] = set()
        with ThreadPoolExecutor(8) as pool:
            for batch in range(50):
                if len(pids) == 4 or time.monotonic() > deadline:
                    break
                ids = [f"warm-up-{batch}-{i}" for i in range(16)]
                for status, pid in pool.map(lambda c: request(port, c), ids):
                    assert status == 200 and pid is not None
                    pids.add(pid)
        assert len(pids) == 4, f"workers answering: {pids}\n{log_path.read_text()}"
        yield port
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def request(port: int, client_id: str) -> tuple[int, int | None]:
    """GET / as the given client; returns the status and the worker's pid."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers={"X-Client": client_id})
        response = connection.getresponse()
        body = json.loads(response.read())
        return response.status, body.get("pid")
    finally:
        connection.close()


def hammer(port: int) -> dict[str, list[tuple[int, int | None]]]:
    """1,000 concurrent requests from 32 threads, half from each of two
    clients; returns the (status, pid) of each, per client."""
    clients = ["alice", "bob"] * 500
    results: dict[str, list[tuple[int, int | None]]] = {"alice": [], "bob": []}
    with ThreadPoolExecutor(32) as pool:
        futures = {pool.submit(request, port, c): c for c in clients}
        for future in as_completed(futures, timeout=45):
            results[futures[future]].append(future.result())
    return results


def test_redis_limit_is_exact_across_workers(
    tmp_path: Path, redis_client: Any, redis_prefix: str
) -> None:
    env = {
        "FINDIG_COUNTER_STORAGE": "redis",
        "FINDIG_COUNTER_REDIS_URL": REDIS_URL,
        "FINDIG_COUNTER_PREFIX": redis_prefix,
        "FINDIG_COUNTER_LIMIT": "100",
    }
    with gunicorn(tmp_path, env) as port:
        results = hammer(port)
    for client_id, responses in results.items():
        assert Tally(status for status, _ in responses) == {200: 100, 429: 400}, (
            client_id
        )
        # Served by several workers, yet limited exactly once.
        assert len({pid for status, pid in responses if status == 200}) > 1
    log = RedisLog.configure(redis_client, prefix=redis_prefix)(3600, None)
    assert (log.count(ip="alice"), log.count(ip="bob")) == (500, 500)


def test_memory_limit_is_per_worker(tmp_path: Path) -> None:
    env = {"FINDIG_COUNTER_STORAGE": "memory", "FINDIG_COUNTER_LIMIT": "100"}
    with gunicorn(tmp_path, env) as port:
        results = hammer(port)
    for client_id, responses in results.items():
        statuses = Tally(status for status, _ in responses)
        assert set(statuses) <= {200, 429}, client_id
        # Each of the 4 workers lets 100 requests of each client through.
        assert 100 < statuses[200] <= 400, client_id
        per_worker = Tally(pid for status, pid in responses if status == 200)
        assert len(per_worker) > 1
        assert max(per_worker.values()) <= 100


def test_call_runs_commands_with_the_logs_failure_handling(redis_client, redis_prefix):
    log = RedisLog.configure(redis_client, prefix=redis_prefix)(60, None)
    key = f"{redis_prefix}call"
    assert log.call(lambda: redis_client.incr(key), None) == 1
    # Unreachable: fail open gives the fallback, and for retry_after seconds
    # Redis is not asked again; fail closed answers 503.
    asked: list[int] = []

    def command() -> int:
        asked.append(1)
        return int(broken.get_client().ping())

    broken = RedisLog.configure(url=UNREACHABLE, fail_open=True)
    broken.retry_after = 60.0
    broken_log = broken(60, None)
    assert broken_log.call(command, "fallback") == "fallback"
    assert broken_log.call(command, "fallback") == "fallback"
    assert asked == [1]
    closed = RedisLog.configure(url=UNREACHABLE, fail_open=False)(60, None)
    with pytest.raises(ServiceUnavailable):
        closed.call(lambda: closed.get_client().ping(), None)
