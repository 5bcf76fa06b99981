"""Fixtures of the auth app's tests: a project (the auth app plus a test
app, ``authtest_app``) on a real database, migrated with the app's own
migrations."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from findig.project.conf import settings

from .auth_helpers import FAST_HASH, AuthProject

# The test project's modules (authtest_settings, authtest_app) are imported
# by name, as a project's would be.
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def _project(url: str, prefix: str) -> Iterator[AuthProject]:
    from findig.project.db import dispose_engines
    from findig.project.migrations import prepare_database

    with ExitStack() as stack:
        stack.enter_context(
            settings.override(
                SECRET_KEY="auth-tests-" + uuid.uuid4().hex * 2,
                INSTALLED_APPS=["findig.contrib.auth", "authtest_app"],
                DATABASE_URL=url,
                REDIS_URL=None,
                ALLOWED_HOSTS=["localhost"],
                PASSWORD_HASH_OPTIONS=FAST_HASH,
                LOGIN_THROTTLE_PREFIX=prefix,
                LOG_LEVEL="WARNING",
            )
        )
        prepare_database(url)
        try:
            yield AuthProject(url, stack)
        finally:
            dispose_engines()


@pytest.fixture
def project(tmp_path: Any) -> Iterator[AuthProject]:
    """The test project on a SQLite file of its own."""
    yield from _project(
        f"sqlite:///{tmp_path / 'auth.sqlite3'}", f"t:{uuid.uuid4().hex}:"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def any_project(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[AuthProject]:
    """The test project on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'auth.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    yield from _project(url, f"t:{uuid.uuid4().hex}:")
