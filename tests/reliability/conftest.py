"""Fixtures of the reliability tests."""

from __future__ import annotations

import pytest

from .hostile_app import HostileApp, make_app


@pytest.fixture
def hostile() -> HostileApp:
    """:returns: A fresh hostile-input target app (see :mod:`hostile_app`)."""
    return make_app()
