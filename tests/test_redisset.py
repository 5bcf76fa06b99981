"""RedisSet beyond the data set contract (see test_dataset_contract): value
types, storage layout, atomic updates and keys that are stable across
processes. Uses the Redis server of the ``redis_client`` fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import pytest
import redis

from findig.extras.redis import RedisSet

TESTS = Path(__file__).resolve().parent


def server_url(client: redis.Redis) -> str:
    """The URL of the server that *client* talks to."""
    kwargs = client.connection_pool.connection_kwargs
    user = kwargs.get("username") or ""
    password = kwargs.get("password")
    auth = f"{user}:{password}@" if password else ""
    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
    return f"redis://{auth}{host}:{port}/{kwargs.get('db', 0)}"


@pytest.fixture
def items(redis_client, redis_prefix):
    return RedisSet(f"{redis_prefix}items", client=redis_client)


def test_values_keep_their_types(items):
    value = {
        "int": 7,
        "big": 2**70,
        "float": 0.1,
        "whole_float": 2.0,
        "tiny": 1e-300,
        "text": "naïve — ✓",
        "empty": "",
        "true": True,
        "false": False,
        "none": None,
        "list": [1, "two", 3.0, [4], {"five": 5}],
        "nested": {"a": {"b": {"c": [datetime(2020, 1, 2, 3, 4, 5)]}}},
        "naive": datetime(2015, 7, 19, 0, 0),
        "aware": datetime(2015, 7, 19, tzinfo=timezone(timedelta(hours=4))),
        "day": date(1990, 2, 3),
        "clock": time(12, 30, 15, 500),
        "money": Decimal("12.50"),
        "uuid": UUID("12345678-1234-5678-1234-567812345678"),
        "bytes": b"\x00\xffraw",
    }
    token = items.add(value)
    stored = dict(items.fetch_now(id=token["id"]))
    assert stored == {"id": token["id"], **value}
    for key, original in value.items():
        assert type(stored[key]) is type(original), key
    assert stored["aware"].utcoffset() == timedelta(hours=4)
    assert str(stored["money"]) == "12.50"
    assert type(stored["list"][2]) is float
    assert stored["nested"]["a"]["b"]["c"][0] == datetime(2020, 1, 2, 3, 4, 5)


def test_mappings_that_look_like_tags_stay_mappings(items):
    value = {
        "a": {"$date": "2020-01-01"},
        "b": {"$dict": {"x": 1}},
        "c": {"$datetime": 5},
        "d": {"$x": 1, "$y": 2},
        "e": [{"$uuid": "not-a-uuid"}],
    }
    token = items.add(value)
    assert dict(items.fetch_now(id=token["id"])) == {"id": token["id"], **value}


def test_items_are_plain_json_and_never_evaluated(items, redis_client):
    token = items.add({"when": date(2020, 1, 1), "n": 1})
    raw = redis_client.get(items.item_key(token["id"]))
    assert json.loads(raw) == {"when": {"$date": "2020-01-01"}, "n": 1}
    # Whatever is stored comes back as data, never as code.
    hostile = {
        "code": "__import__('os').getcwd()",
        "repr": "datetime.datetime(2020, 1, 1, 0, 0)",
        "tag": {"$decimal": "__import__('os')"},
    }
    redis_client.set(items.item_key(token["id"]), json.dumps(hostile))
    record = items.fetch_now(id=token["id"])
    assert record["code"] == "__import__('os').getcwd()"
    assert record["repr"] == "datetime.datetime(2020, 1, 1, 0, 0)"
    assert record["tag"] == {"$decimal": "__import__('os')"}


def test_unstorable_values_are_refused_before_writing(items, redis_client):
    with pytest.raises(TypeError, match="set"):
        items.add({"tags": {1, 2}})
    with pytest.raises(TypeError, match="field names must be strings"):
        items.add({"nested": {1: "one"}})
    assert redis_client.exists(items.counter_key) == 0


def test_keys_are_cleaned_up_on_delete(items, redis_client, redis_prefix):
    first = items.add({"name": "ann"})
    second = items.add({"name": "bob"})
    assert (first, second) == ({"id": 1}, {"id": 2})
    keys = {k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}*")}
    base = f"{redis_prefix}items"
    assert keys == {f"{base}:next", f"{base}:index", f"{base}:item:1", f"{base}:item:2"}
    assert redis_client.zrange(items.index_key, 0, -1, withscores=True) == [
        (b"1", 1.0),
        (b"2", 2.0),
    ]

    items.fetch_now(id=1).delete()
    assert redis_client.exists(items.item_key(1)) == 0
    assert redis_client.zscore(items.index_key, "1") is None
    items.fetch_now(id=2).delete()
    keys = {k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}*")}
    assert keys == {f"{base}:next"}  # ids are never reused
    assert items.add({"name": "cid"}) == {"id": 3}


def test_an_id_in_the_data_is_ignored(items):
    assert items.add({"id": 50, "name": "ann"}) == {"id": 1}
    record = items.fetch_now(id=1)
    record.update({"id": 99, "name": "bob"})
    record.patch({"id": 98})
    assert dict(items.fetch_now(id=1)) == {"id": 1, "name": "bob"}
    with pytest.raises(LookupError):
        items.fetch_now(id=50)


def test_changes_never_resurrect_a_deleted_item(items, redis_client):
    items.add({"name": "ann"})
    stale = items.fetch_now(id=1)
    items.fetch_now(id=1).delete()
    with pytest.raises(LookupError):
        stale.update({"name": "zombie"})
    with pytest.raises(LookupError):
        stale.patch({"name": "zombie"})
    with pytest.raises(LookupError):
        stale.delete()
    assert redis_client.exists(items.item_key(1)) == 0
    assert list(items) == []


def test_concurrent_patches_lose_nothing(items):
    """Each thread patches its own field: a read-merge-write without WATCH
    would drop other threads' fields."""
    items.add({"name": "shared"})
    failures = []

    def work(n):
        record = items.fetch_now(id=1)
        try:
            for i in range(60):
                record.patch({f"t{n}": i})
        except Exception as exc:
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert dict(items.fetch_now(id=1)) == {
        "id": 1,
        "name": "shared",
        **{f"t{n}": 59 for n in range(8)},
    }


def test_iteration_and_limits_cross_batches(items, redis_client):
    for n in range(1, 1201):
        items.add({"n": n})
    assert [r["n"] for r in items] == list(range(1, 1201))
    assert [r["id"] for r in items.limit(600, offset=550)] == list(range(551, 1151))
    assert [r["id"] for r in items.limit(600, 550).limit(2, 598)] == [1149, 1150]
    assert [r["n"] for r in items.limit(5, offset=1198)] == [1199, 1200]
    # Items deleted while the index is read are skipped.
    redis_client.delete(items.item_key(2))
    assert [r["n"] for r in items.limit(3)] == [1, 3]


def test_default_key_is_stable_across_processes(redis_client):
    sys.path.insert(0, str(TESTS))
    try:
        import _dataset_redis_app as module
    finally:
        sys.path.remove(str(TESTS))
    key = module.items().key
    assert key == "findig:redisset:_dataset_redis_app.items"
    assert module.made_by_subclass().key == (
        "findig:redisset:_dataset_redis_app.made_by_subclass"
    )
    env = {
        **os.environ,
        "FINDIG_TEST_REDIS_URL": server_url(redis_client),
        "PYTHONHASHSEED": "123",
    }
    try:
        # Run as a script (module __main__) in another process: same keys.
        script = subprocess.run(
            [sys.executable, str(TESTS / "_dataset_redis_app.py"), "add"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=True,
        )
        child_key, child_subclass_key, child_id = script.stdout.split()
        assert child_key == key
        assert child_subclass_key == module.made_by_subclass().key
        # Imported by yet another process: same key again.
        env["PYTHONHASHSEED"] = "456"
        imported = subprocess.run(
            [
                sys.executable,
                "-c",
                "import _dataset_redis_app as m; print(m.items().key)",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=TESTS,
            check=True,
        )
        assert imported.stdout.strip() == key
        # What the child process wrote is found here.
        record = module.item(child_id)
        assert record["from"] == "child"
        assert record["pid"] != os.getpid()
    finally:
        keys = list(redis_client.scan_iter(match="findig:redisset:_dataset_redis_app*"))
        if keys:
            redis_client.delete(*keys)


def test_index_size_bounds_the_ids(redis_client, redis_prefix):
    small = RedisSet(f"{redis_prefix}small", client=redis_client, index_size=1)
    assert small.max_id == 255
    redis_client.set(small.counter_key, 254)
    assert small.add({"n": 1}) == {"id": 255}
    with pytest.raises(OverflowError):
        small.add({"n": 2})
    assert [r["id"] for r in small] == [255]
    for bad in (0, 7):
        with pytest.raises(ValueError):
            RedisSet(f"{redis_prefix}bad", client=redis_client, index_size=bad)
    with pytest.raises(TypeError):
        RedisSet(f"{redis_prefix}bad", client=redis_client, index_size="4")
    with pytest.raises(ValueError):
        RedisSet("", client=redis_client)


def test_clients_that_decode_responses_work_too(redis_client, redis_prefix):
    kwargs = redis_client.connection_pool.connection_kwargs
    client = redis.Redis(
        connection_pool=redis.ConnectionPool(**{**kwargs, "decode_responses": True})
    )
    try:
        decoded = RedisSet(f"{redis_prefix}decoded", client=client)
        decoded.add({"when": date(2020, 1, 1), "tags": ["a"]})
        decoded.add({"when": None})
        assert [dict(r) for r in decoded] == [
            {"id": 1, "when": date(2020, 1, 1), "tags": ["a"]},
            {"id": 2, "when": None},
        ]
        assert [r["id"] for r in decoded.limit(1, 1)] == [2]
        decoded.fetch_now(id="1").patch({"tags": None})
        assert dict(decoded.fetch_now(id=1)) == {"id": 1, "when": date(2020, 1, 1)}
    finally:
        client.close()


def test_default_client_fails_fast_and_is_shared():
    first, second = RedisSet("findig-test:unused"), RedisSet("findig-test:unused2")
    assert first.client is second.client
    kwargs = first.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] <= 2
    assert kwargs["socket_connect_timeout"] <= 1
    assert repr(first) == "<RedisSet 'findig-test:unused'>"
