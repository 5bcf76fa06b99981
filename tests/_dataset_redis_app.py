"""A module whose RedisSet derives its key: run as a script or imported, in
any process, the key must be the same (see test_redisset)."""

from __future__ import annotations

import os
import sys

import redis

from findig.extras.redis import RedisSet

CLIENT = redis.Redis.from_url(
    os.environ.get("FINDIG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    socket_timeout=2,
    socket_connect_timeout=2,
)


def items():
    return RedisSet(client=CLIENT)


def item(id):
    return items().fetch(id=id)


class NamedSet(RedisSet):
    def __init__(self):
        super().__init__(client=CLIENT)


def made_by_subclass():
    return NamedSet()


if __name__ == "__main__":
    collection = items()
    print(collection.key)
    print(made_by_subclass().key)
    if sys.argv[1:] == ["add"]:
        print(collection.add({"from": "child", "pid": os.getpid()})["id"])
