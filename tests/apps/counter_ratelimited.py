"""The documented rate limiter, served by gunicorn in tests/test_counter_redis.py.

Configured from the environment:

- ``FINDIG_COUNTER_STORAGE``: ``memory`` (default) or ``redis``;
- ``FINDIG_COUNTER_REDIS_URL``, ``FINDIG_COUNTER_PREFIX``: the Redis server
  and the key prefix of the test;
- ``FINDIG_COUNTER_FAIL_OPEN``: ``1`` (default) or ``0``;
- ``FINDIG_COUNTER_LIMIT``: the number of requests allowed per client.

Clients are told apart by an ``X-Client`` header (falling back to the
address), so that one test machine can act as several clients.
"""

from __future__ import annotations

import os
from typing import Any

from werkzeug.exceptions import TooManyRequests

from findig.json import App
from findig.tools.counter import AbstractLog, Counter

LIMIT = int(os.environ.get("FINDIG_COUNTER_LIMIT", "100"))

storage: type[AbstractLog] | None = None
if os.environ.get("FINDIG_COUNTER_STORAGE", "memory") == "redis":
    from findig.extras.redis import RedisLog

    storage = RedisLog.configure(
        url=os.environ.get("FINDIG_COUNTER_REDIS_URL", "redis://127.0.0.1:6379/0"),
        prefix=os.environ.get("FINDIG_COUNTER_PREFIX", "findig-test:ratelimited:"),
        fail_open=os.environ.get("FINDIG_COUNTER_FAIL_OPEN", "1") == "1",
    )

app = App()

# Using the counter's duration argument, we can set up a
# rate-limiter to only consider requests in the last hour.
counter = Counter(app, duration=3600, storage=storage)


@counter.partition("ip")
def get_ip(request: Any) -> Any:
    return request.headers.get("X-Client", request.remote_addr)


@counter.every(1, after=LIMIT, ip=counter.any)
def after_limit(ip: str) -> None:
    raise TooManyRequests(f"Limit exceeded for: {ip}")


@app.route("/")
@app.resource
def index() -> dict[str, int]:
    return {"pid": os.getpid()}
