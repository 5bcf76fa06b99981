"""Findig's pytest plugin (registered as the ``findig`` pytest11 entry point).

It is inert, and costs nothing to import, unless a settings module is
configured, by (first found):

1. the command-line option ``--findig-settings mysite.settings``;
2. the ini key ``findig_settings`` (``[tool.pytest.ini_options]`` of
   ``pyproject.toml``, as in generated projects);
3. the ``FINDIG_SETTINGS_MODULE`` environment variable.

Then it provides the fixtures of :mod:`findig.project.testing`:
``settings``, ``db``, ``app`` and ``client``. Disable it with
``-p no:findig``.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

__all__ = ["pytest_addoption", "pytest_configure", "settings_module"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--findig-settings`` and the ``findig_settings`` ini key."""
    group = parser.getgroup("findig", "Findig projects")
    group.addoption(
        "--findig-settings",
        dest="findig_settings",
        default=None,
        metavar="MODULE",
        help="The Findig settings module of the project under test.",
    )
    parser.addini(
        "findig_settings", "The Findig settings module of the project under test."
    )


def settings_module(config: pytest.Config) -> str | None:
    """The settings module configured for this test run, or ``None``."""
    value = config.getoption("findig_settings", default=None)
    if not value:
        value = config.getini("findig_settings")
    if not value:
        value = os.environ.get("FINDIG_SETTINGS_MODULE")
    return str(value) if value else None


def pytest_configure(config: pytest.Config) -> None:
    """Activate the fixtures when a settings module is configured."""
    module = settings_module(config)
    if not module:
        return
    os.environ["FINDIG_SETTINGS_MODULE"] = module
    try:
        found = importlib.util.find_spec(module.partition(".")[0]) is not None
    except ImportError:
        found = False
    root = str(config.rootpath)
    if not found and root not in sys.path:
        sys.path.insert(0, root)
    from .conf import settings

    settings.reset()
    config.addinivalue_line(
        "markers",
        "findig_settings(**values): settings for this test, applied before "
        "the app fixture builds the application",
    )
    from . import testing

    config.pluginmanager.register(testing, "findig.project.testing")
