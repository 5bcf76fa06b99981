"""Per-request overhead of Findig's tools, as ratios against the same request
without the tool, all measured in one process, interleaved round by round.

    python benchmarks/bench_tools.py [--rounds 20] [--requests 2000]

Scenarios: a Validator-enforced POST, a Counter-tracked GET (in-memory log
and Redis log; the Redis ones need the server at FINDIG_TEST_REDIS_URL, and
are measured beside a bare round trip to it: PING, and EVALSHA of a trivial
script), and a guarded GET (BasicProtector with a cached verifier; a token
GateKeeper).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from werkzeug.exceptions import Unauthorized
from werkzeug.test import EnvironBuilder

from findig.context import request
from findig.json import App
from findig.tools.counter import Counter
from findig.tools.protector import BasicProtector, GateKeeper, Protector
from findig.tools.validator import Validator

ITEM = {"id": 1, "name": "widget", "price": 3, "tags": ["a", "b"], "active": True}
BASIC = "Basic " + base64.b64encode(b"alice:secret").decode()
TOKEN = "Bearer " + "t" * 43


def item_app(setup: Callable[[App, Any], None] | None = None) -> App:
    app = App()

    @app.route("/items/<int:id>")
    def item(id):
        return ITEM

    @app.route("/items/")
    @item.collection
    def items():
        return [ITEM]

    @items.model("make")
    def make(data):
        return {"id": 1}

    if setup is not None:
        setup(app, item)
    return app


def with_validator(app: App, item: Any) -> None:
    validator = Validator(app)
    validator.restrict(item, "*name", "*price", "tags")
    validator.enforce(item, name="string(maxlength=50)", price="int(min=0)")


def with_counter(storage: Any = None, own: bool = False) -> Callable[[App, Any], None]:
    """A rate limiter by client address; *own*: the item resource is tracked
    in a log of its own too (one more log per request)."""

    def setup(app: App, item: Any) -> None:
        counter = Counter(app, duration=3600, storage=storage)
        counter.partition("ip", lambda request: request.remote_addr)

        @counter.every(1, after=10**9, ip=counter.any)
        def over_limit(ip):  # never reached in the benchmark
            raise AssertionError(ip)

        if own:
            counter.every(1, over_limit, after=10**9, resource=item, ip=counter.any)

    return setup


def with_basic(app: App, item: Any) -> None:
    protector = BasicProtector(app)
    verified: dict[tuple[str, str], bool] = {}

    @protector.auth_func
    def check(username: str, password: str) -> bool:
        # a cached verifier: the expensive hash check is done once
        key = (username, password)
        if key not in verified:
            verified[key] = username == "alice" and password == "secret"
        return verified[key]

    protector.guard(item)


class TokenKeeper(GateKeeper):
    TOKENS = {TOKEN[len("Bearer ") :]: ("alice", ["items"])}

    def check_auth(self):
        header = request.headers.get("Authorization", "")
        grant = self.TOKENS.get(header.removeprefix("Bearer "))
        if grant is None:
            raise Unauthorized()
        return grant

    def get_username(self, grant):
        return grant[0]

    def get_scopes(self, grant):
        return grant[1]


def with_token(app: App, item: Any) -> None:
    protector = Protector(app, gatekeeper=TokenKeeper())
    protector.guard(item, "items")


def environ_factory(**kwargs: Any) -> Callable[[], dict[str, Any]]:
    builder = EnvironBuilder(**kwargs)
    base = builder.get_environ()
    body = base["wsgi.input"].read()

    def make() -> dict[str, Any]:
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body)
        return environ

    return make


def per_request_us(app: App, make_environ: Callable[[], dict], n: int) -> float:
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    start = time.perf_counter()
    for _ in range(n):
        body = app(make_environ(), start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    elapsed = time.perf_counter() - start
    if not statuses[-1].startswith(("200", "201")):
        raise SystemExit(f"unexpected status {statuses[-1]}")
    return elapsed / n * 1e6


def redis_log() -> Any:
    try:
        import redis

        from findig.extras.redis import RedisLog
    except ImportError:
        return None
    url = os.environ.get("FINDIG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        return None
    return RedisLog.configure(client=client, prefix=f"bench:{uuid.uuid4().hex[:8]}:")


def redis_floor(client: Any, *command: Any) -> Any:
    """A WSGI app that only sends *command* to Redis: one bare round trip,
    the floor of a request tracked in Redis."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        client.execute_command(*command)
        start_response("200 OK", [])
        return [b""]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    get = environ_factory(path="/items/1")
    post = environ_factory(
        path="/items/", method="POST", json={"name": "x", "price": 3, "tags": ["a"]}
    )
    get_basic = environ_factory(path="/items/1", headers={"Authorization": BASIC})
    get_token = environ_factory(path="/items/1", headers={"Authorization": TOKEN})
    scenarios: dict[str, tuple[App, Callable[[], dict], str]] = {
        "POST, no validator": (item_app(), post, "POST"),
        "POST, Validator-enforced": (item_app(with_validator), post, "POST"),
        "GET, untracked": (item_app(), get, "GET"),
        "GET, Counter (in-memory log)": (item_app(with_counter()), get, "GET"),
        "GET, unguarded": (item_app(), get, "GUARD"),
        "GET, BasicProtector (cached verifier)": (
            item_app(with_basic),
            get_basic,
            "GUARD",
        ),
        "GET, token GateKeeper": (item_app(with_token), get_token, "GUARD"),
    }
    storage = redis_log()
    if storage is not None:
        scenarios["GET, Counter (Redis log)"] = (
            item_app(with_counter(storage)),
            get,
            "GET",
        )
        scenarios["GET, Counter (Redis log, and the resource's own)"] = (
            item_app(with_counter(storage, own=True)),
            get,
            "GET",
        )
        client = storage.get_client()
        trivial = client.script_load("return 1")
        scenarios["Redis PING alone (one round trip)"] = (
            redis_floor(client, "PING"),
            get,
            "GET",
        )
        scenarios["Redis EVALSHA of `return 1` alone"] = (
            redis_floor(client, "EVALSHA", trivial, 0),
            get,
            "GET",
        )
    baselines = {
        "POST": "POST, no validator",
        "GET": "GET, untracked",
        "GUARD": "GET, unguarded",
    }
    timings: dict[str, list[float]] = {name: [] for name in scenarios}
    names = list(scenarios)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            app, make, _ = scenarios[name]
            timings[name].append(per_request_us(app, make, args.requests))
    print("| scenario | µs/request | ratio to baseline |")
    print("|---|---:|---:|")
    for name in names:
        median = statistics.median(timings[name])
        base = statistics.median(timings[baselines[scenarios[name][2]]])
        print(f"| {name} | {median:.1f} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
