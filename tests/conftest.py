"""Shared fixtures: real PostgreSQL and Redis servers, isolated per test.

The servers are found through ``FINDIG_TEST_DATABASE_URL`` and
``FINDIG_TEST_REDIS_URL`` (defaulting to the local servers). When one is
unreachable, tests that need it skip with the reason, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from _support import POSTGRES_URL, REDIS_URL, unavailable


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL for the test PostgreSQL, in a schema of its own."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sqlalchemy.exc.OperationalError as exc:
        admin.dispose()
        unavailable(f"PostgreSQL is unreachable at {POSTGRES_URL}: {exc}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A client of the test Redis server; keys under ``redis_prefix`` are
    deleted after the test."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        unavailable(f"Redis is unreachable at {REDIS_URL}: {exc}")
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Any) -> Iterator[str]:
    """A key prefix of the test's own; its keys are removed afterwards."""
    prefix = f"findig-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        redis_client.delete(*keys)
